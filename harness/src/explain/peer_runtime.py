# ----------------------------------------------------------------------------------------
# The peer's machinery, the same in every script `sockcheck explain --peer-script` writes.
# It does what sockcheck's peer does for each step (harness/src/steps/ in sockcheck's
# sources), with the same deadlines, and prints every event as it happens. The case itself
# is `play()` at the end of this file: add your own prints there, between the steps.
# Python 3 and its standard library only; Linux (the `dropped` and `sendto` steps and the
# clean close read /proc, as sockcheck does).
# ----------------------------------------------------------------------------------------
import argparse
import ast
import collections
import fcntl
import hashlib
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time

OBSERVE = 5.0  # how long an observation waits for its event (`sockcheck run --timeout`)
CONNECT = 10.0  # how long a server may take to listen, or a client to connect
PACE = 0.02  # the pause between the pieces of a `send ... split`, so each is a segment
GRACE = 1.0  # how long a program gets to exit once its input and connections are closed
SETTLE = 0.2  # bytes that keep coming where the connection should end: until this quiet
OVERRUN = 64 * 1024  # how many bytes past the expected ones a read looks at
MAX_BODY = 64 << 20  # the frame limits of sockcheck's peer (the reference's defaults)
MAX_HEADER = 1 << 20

T0 = time.monotonic()


def now():
    return time.monotonic()


def say(text):
    """Prints one event, with the time since the script started."""
    print("[%8.3fs] %s" % (now() - T0, text), flush=True)


def show(data, limit=160):
    """Bytes as Python writes them, cut when long (with their full size)."""
    if len(data) <= limit:
        return repr(bytes(data))
    return "%s... (%d bytes)" % (repr(bytes(data[:limit])), len(data))


class Stop(Exception):
    """The case stops here, as sockcheck's peer stops at a case's first failure."""


class Digest(collections.namedtuple("Digest", "length sha256")):
    """Bytes too long or too varied for the fixture to show: their length and the start
    of their SHA-256 in hex."""

    def __repr__(self):
        return "<%d bytes sha256:%s>" % (self.length, self.sha256)


# What a frame step expects: its body (bytes or a Digest) and, for framed-header, what the
# header says of it: md5 "verified", "placeholder" or "missing", the file name or None.
Frame = collections.namedtuple("Frame", "body header md5 file_name")
# What a recvfrom step expects: the datagram's bytes (or a Digest), and where it came from:
# "program" (the program's own address) or "127.0.0.1:[PORT]" (another port).
Datagram = collections.namedtuple("Datagram", "data source")


def shown(want):
    """Expected bytes as `show` writes bytes, or their digest."""
    return repr(want) if isinstance(want, Digest) else show(want)


def expected_len(want):
    return want.length if isinstance(want, Digest) else len(want)


def admits_prefix(want, got):
    """Whether the bytes so far can still grow into the expected ones."""
    if isinstance(want, Digest):
        return len(got) <= want.length
    return want.startswith(got)


def matches(want, got):
    if isinstance(want, Digest):
        return len(got) == want.length and hashlib.sha256(got).hexdigest().startswith(
            want.sha256
        )
    return bytes(want) == bytes(got)


# ---- printed lines, read leniently as sockcheck reads them (harness/src/stdout.rs) ----

ANSI = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[\]PX^_].*?(?:\x07|\x1b\\)|[ -/]*[0-~]?)", re.S
)
BYTES_LITERAL = re.compile(r"""(?<![\w])b('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""", re.S)
# A printed line's data is what it ends with, after a label of the program's own (text that
# ends in a space or a colon). sockcheck also learns each prompt (what the program printed
# without a newline before it read its input) and strips it; here, data after any text
# that ends as a prompt ends (>, ?, =) counts too, which finds the same data.
SEPARATORS = " \t:：>?？=》"


def as_data(text):
    """The bytes a printed text stands for: each Python bytes literal in it (b'h\\xc3\\xa9')
    is the bytes it denotes, the rest is UTF-8."""
    out = bytearray()
    at = 0
    for m in BYTES_LITERAL.finditer(text):
        try:
            value = ast.literal_eval(m.group(0))
        except (ValueError, SyntaxError):
            continue
        out += text[at : m.start()].encode("utf-8", "surrogateescape")
        out += value
        at = m.end()
    out += text[at:].encode("utf-8", "surrogateescape")
    return bytes(out)


def normalise(text):
    """A printed line as it is compared: colour codes and the suite's prompts gone, trimmed."""
    text = ANSI.sub("", text)
    for prompt in sorted((p for p in PROMPTS if p.strip()), key=len, reverse=True):
        text = text.replace(prompt, "").replace(prompt.strip(), "")
    return text.strip()


def logical_lines(raw):
    """The lines one printed line stands for, each with whether it ends open (in a space
    or a colon: a label with nothing after it). A bytes repr holding newlines
    (b'1\\n2\\n') stands for each of its lines."""
    text = raw.decode("utf-8", "replace")
    line = normalise(text)
    open_ = ANSI.sub("", text).rstrip("\r\n").endswith((" ", "\t", ":", "："))
    if "\\n" in line:
        data = as_data(line)
        if b"\n" in data:
            parts = [p.decode("utf-8", "replace").strip() for p in data.split(b"\n")]
            parts = [p for p in parts if p]
            if parts:
                return [(p, open_ and i == len(parts) - 1) for i, p in enumerate(parts)]
    return [(line, open_)]


class Wanted:
    """An expected printed line: the fixture's text and the data it carries."""

    def __init__(self, text):
        self.text = text
        label = next((l for l in LABELS if l and text.startswith(l)), None)
        self.labelled = label is not None
        self.shown = text[len(label) :].lstrip() if label else text
        self.data = as_data(self.shown)

    def matches(self, line, open_):
        if line == self.text:
            return True
        if not self.data and self.labelled and open_ and line:
            return True
        limit = 4 * len(self.data) + 8
        candidates = [(False, line)] + [
            (True, line[i + 1 :].strip()) for i, c in enumerate(line) if c in SEPARATORS
        ]
        for labelled, shown in candidates:
            if len(shown.encode("utf-8", "surrogateescape")) > limit:
                continue
            if not self.data:
                if shown in ("b''", 'b""') or (not shown and labelled and self.labelled):
                    return True
            elif as_data(shown) == self.data:
                return True
        return False


def last_exception(text):
    """The exception that ended the last Python traceback in `text`, if any."""
    start = text.rfind("Traceback (most recent call last):")
    if start < 0:
        return None
    name = None
    for line in text[start:].splitlines()[1:]:
        if not line:
            break
        if not line.startswith((" ", "\t")):
            name = line.split(":")[0].strip()
    if name and all(c.isalnum() or c in "_." for c in name):
        return name
    return None


# ---- frames, decoded as sockcheck's peer decodes them (sockref::frame) ----


class FrameError(Exception):
    pass


def decode_frame(fmt, buf):
    """One frame of `fmt` ("low" or "header") at the start of `buf`: (body, header info,
    bytes used), or None while more bytes are needed. A bad frame raises FrameError."""
    if len(buf) < 4:
        return None
    (length,) = struct.unpack("<i", bytes(buf[:4]))
    if fmt == "low":
        if length < 0:
            raise FrameError("the prefix declares a negative length, `%d`" % length)
        if length > MAX_BODY:
            raise FrameError("the prefix declares a length of `%d` bytes, over the limit" % length)
        if len(buf) < 4 + length:
            return None
        return bytes(buf[4 : 4 + length]), None, 4 + length
    if length == 0:
        raise FrameError("the prefix declares a header length of `0`")
    if length < 0:
        raise FrameError("the prefix declares a negative header length, `%d`" % length)
    if length > MAX_HEADER:
        raise FrameError("the prefix declares a header length of `%d` bytes, over the limit" % length)
    if len(buf) < 4 + length:
        return None
    try:
        header = json.loads(bytes(buf[4 : 4 + length]).decode("utf-8"))
    except UnicodeDecodeError:
        raise FrameError("the header is not UTF-8")
    except ValueError as e:
        raise FrameError("the header is not JSON: %s" % e)
    if not isinstance(header, dict):
        raise FrameError("the header is a JSON %s, not an object" % type(header).__name__)
    keys = HEADER_KEYS
    if keys["total_size"] not in header:
        raise FrameError("the header has no `%s`; its keys are %s" % (keys["total_size"], list(header)))
    size = header[keys["total_size"]]
    if isinstance(size, bool) or not isinstance(size, int):
        raise FrameError("`%s` is `%s`, not an integer" % (keys["total_size"], json.dumps(size)))
    if size < 0:
        raise FrameError("`%s` is negative, `%d`" % (keys["total_size"], size))
    if size > MAX_BODY:
        raise FrameError("`%s` is `%d` bytes, over the limit" % (keys["total_size"], size))
    end = 4 + length + size
    if len(buf) < end:
        return None
    body = bytes(buf[4 + length : end])
    md5 = header.get(keys["md5"], None) if keys["md5"] in header else None
    if keys["md5"] not in header:
        digest = "missing"
    elif isinstance(md5, str) and len(md5) == 32 and all(c in "0123456789abcdefABCDEF" for c in md5):
        actual = hashlib.md5(body).hexdigest()
        if md5.lower() != actual:
            raise FrameError("`%s` is `%s` but the body's MD5 is `%s`" % (keys["md5"], md5, actual))
        digest = "verified"
    else:
        digest = "placeholder"
    name = header.get(keys["file_name"])
    if keys["file_name"] not in header:
        file_name = None
    elif isinstance(name, str):
        file_name = name
    else:
        file_name = json.dumps(name)
    return body, (digest, file_name), end


# ---- /proc: what sockcheck's peer reads there too ----


def proc_sockets(kind):
    """The sockets of /proc/net/<kind>{,6}: (local (ip, port), remote (ip, port), state,
    inode); None where /proc cannot be read."""

    def addr(field, v6):
        ip, port = field.split(":")
        raw = bytes.fromhex(ip)
        if v6:
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
            if raw[:12] == b"\0" * 10 + b"\xff\xff":
                ip = socket.inet_ntop(socket.AF_INET, raw[12:])
            else:
                ip = socket.inet_ntop(socket.AF_INET6, raw)
        else:
            ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
        return ip, int(port, 16)

    found = []
    readable = False
    for name, v6 in ((kind, False), (kind + "6", True)):
        try:
            with open("/proc/net/" + name) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            try:
                found.append(
                    (addr(fields[1], v6), addr(fields[2], v6), int(fields[3], 16), int(fields[9]))
                )
            except (IndexError, ValueError):
                continue
    return found if readable else None


def udp_no_ports():
    """The kernel's count of datagrams that reached a port where nothing was bound."""
    try:
        with open("/proc/net/snmp") as f:
            udp = [l.split() for l in f if l.startswith("Udp:")]
        return int(udp[1][udp[0].index("NoPorts")])
    except (OSError, IndexError, ValueError):
        return None


# TIME_WAIT, FIN_WAIT1, FIN_WAIT2, CLOSING, LAST_ACK: states that keep a port bound.
LEFTOVER_STATES = (0x06, 0x04, 0x05, 0x0B, 0x09)


def same_addr(a, b):
    return a[0] == b[0] and a[1] == b[1]


class Conn:
    def __init__(self, name, sock):
        self.name = name
        self.sock = sock
        self.buf = bytearray()  # what arrived and no step took yet
        self.end = None  # "eof" or "reset", once the program ended the connection
        self.end_observed = False


class Sock:
    def __init__(self, name, sock):
        self.name = name
        self.sock = sock
        self.inbox = collections.deque()  # (bytes, source address)
        self.last_from = None


class Peer:
    """The peer's sockets and the program's process; every wait has a deadline."""

    def __init__(self, addr, command, observe, keep_going):
        host, _, port = addr.rpartition(":")
        self.host = host.strip("[]")
        self.port = int(port)
        self.addr_text = addr
        self.family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self.addr = (self.host, self.port)
        self.command = command
        self.observe = observe
        self.keep_going = keep_going
        self.proc = None
        self.out_fd = self.err_fd = None
        self.exit_r = None
        self.partial = b""
        self.last_printed = None
        self.repeats = 0
        self.out_eof = False
        self.err_text = ""
        self.err_partial = b""
        self.lines = collections.deque()  # (line, open, raw): printed, not yet taken
        self.stdin_closed = False
        self.listener = None
        self.conns = {}
        self.socks = {}
        self.step_no = 0
        self.observations = 0
        self.differences = 0
        self.failed = False
        self.no_ports_seen = udp_no_ports() or 0

    # -- the steps' headings and verdicts --

    def step(self, number, text, words):
        self.step_no = number
        say("step %d: %s    (%s)" % (number, text, words))

    def ok(self, text):
        self.observations += 1
        say("  OK: " + text)

    def different(self, text):
        """An observation the fixture does not have: the suite's verdict here is a failure."""
        self.observations += 1
        self.differences += 1
        say("  DIFFERENT: " + text)
        self.declared_hints()
        if not self.keep_going:
            raise Stop()

    def fail(self, text):
        """The step could not do its part (nothing listens, the connection is gone)."""
        self.failed = True
        say("  FAILED: " + text)
        self.declared_hints()
        raise Stop()

    def declared_hints(self):
        for hint, when, of, advice in HINTS.get(self.step_no, []):
            cond = "if " + when + (" of " + of if of else "")
            say("  the case's hint for this step (%s) [%s]: %s" % (cond, hint, advice))

    # -- waiting: the program's output is read (and printed) whatever else is awaited --

    def pump(self, timeout, rfds=(), wfds=()):
        """Waits at most `timeout` seconds for one of `rfds`/`wfds`, or for the program to
        print or exit; prints and keeps what it printed."""
        watch = list(rfds)
        for fd in (self.out_fd, self.err_fd, self.exit_r):
            if fd is not None:
                watch.append(fd)
        try:
            ready, _, _ = select.select(watch, list(wfds), [], max(0.0, timeout))
        except InterruptedError:
            return
        if self.out_fd is not None and self.out_fd in ready:
            self.read_stdout()
        if self.err_fd is not None and self.err_fd in ready:
            self.read_stderr()
        if self.exit_r is not None and self.exit_r in ready:
            os.read(self.exit_r, 1)
            os.close(self.exit_r)
            self.exit_r = None
            say("  program exited: %s" % describe(self.proc.returncode))

    def pause(self, seconds):
        until = now() + seconds
        while now() < until:
            self.pump(until - now())

    def read_stdout(self):
        data = os.read(self.out_fd, 65536)
        if not data:
            os.close(self.out_fd)
            self.out_fd = None
            self.out_eof = True
            if self.partial:
                self.printed(self.partial)
                self.partial = b""
            self.flush_repeats()
            return
        self.partial += data
        *complete, self.partial = self.partial.split(b"\n")
        for raw in complete:
            self.printed(raw)

    def printed(self, raw):
        # A program going round a loop prints the same line over and over: the first few
        # are shown, then how many more (every one is still matched).
        if raw == self.last_printed:
            self.repeats += 1
        else:
            self.flush_repeats()
            self.last_printed = raw
        if self.repeats < 3:
            say("  program stdout: %s" % raw.decode("utf-8", "replace"))
        for line, open_ in logical_lines(raw):
            self.lines.append((line, open_, raw.decode("utf-8", "replace")))

    def flush_repeats(self):
        if self.repeats >= 3:
            say("  program stdout: (the line above %d more times)" % (self.repeats - 2))
        self.repeats = 0
        self.last_printed = None

    def read_stderr(self):
        data = os.read(self.err_fd, 65536)
        if not data:
            os.close(self.err_fd)
            self.err_fd = None
            data, self.err_partial = self.err_partial + b"\n", b""
        data = self.err_partial + data
        *complete, self.err_partial = data.split(b"\n")
        for raw in complete:
            if raw:
                text = raw.decode("utf-8", "replace")
                say("  program stderr: %s" % text)
                self.err_text = (self.err_text + text + "\n")[-16384:]

    def exited(self):
        return self.proc is not None and self.proc.poll() is not None

    def status(self):
        return describe(self.proc.returncode) if self.exited() else "running"

    # -- the program's process --

    def spawn(self):
        if not self.command:
            say("  (this script does not start the program: start it yourself, at %s)" % self.addr_text)
            return
        subst = {"{host}": self.host, "{port}": str(self.port), "{addr}": self.addr_text}
        argv = []
        for arg in self.command:
            for k, v in subst.items():
                arg = arg.replace(k, v)
            argv.append(arg)
        env = dict(os.environ, SOCKCHECK_HOST=self.host, SOCKCHECK_PORT=str(self.port))
        try:
            # A session of its own: the end of the case ends every process it started.
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except OSError as e:
            self.fail("cannot start %s: %s" % (argv, e))
        self.out_fd = self.proc.stdout.fileno()
        self.err_fd = self.proc.stderr.fileno()
        os.set_blocking(self.proc.stdin.fileno(), False)
        # The program's exit wakes every wait, as its output does.
        self.exit_r, exit_w = os.pipe()
        proc = self.proc

        def waiter():
            proc.wait()
            os.write(exit_w, b"x")
            os.close(exit_w)

        threading.Thread(target=waiter, daemon=True).start()
        say("  started %s (pid %d)" % (" ".join(argv), self.proc.pid))

    def stdin(self, line):
        data = bytes(line) + b"\n"
        say("  stdin -> %s" % show(data))
        fd = self.proc.stdin.fileno()
        deadline = now() + self.observe
        while data:
            try:
                data = data[os.write(fd, data) :]
            except BlockingIOError:
                if now() >= deadline:
                    self.fail("its stdin is full: the program does not read its input")
                self.pump(deadline - now(), wfds=[fd])
            except (BrokenPipeError, OSError) as e:
                # A program that has ended does not read its input: the line is lost, and
                # the observations that follow judge what it did.
                if self.exits_within(GRACE):
                    say("  (the program had exited: the line was not read)")
                    return
                self.fail("cannot write to its stdin (%s); the program is still running" % e)

    def stdin_close(self):
        self.close_stdin()
        say("  stdin closed")

    def close_stdin(self):
        if self.proc is not None and not self.stdin_closed:
            self.stdin_closed = True
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def exits_within(self, seconds):
        until = now() + seconds
        while not self.exited() and now() < until:
            self.pump(until - now())
        return self.exited()

    def stdout(self, want):
        """The next printed line that carries the fixture's data; other lines are skipped."""
        wanted = Wanted(self.with_ports(want))
        deadline = now() + self.observe
        skipped = []
        while True:
            while self.lines:
                line, open_, raw = self.lines.popleft()
                if wanted.matches(line, open_):
                    return self.ok("printed %r, as the fixture expects %r" % (raw, want))
                if line:
                    skipped.append(raw)
            if self.out_eof or now() >= deadline:
                break
            self.pump(deadline - now())
        how = "before its stdout closed" if self.out_eof else "within %gs" % self.observe
        text = "expected the line %r %s; printed instead: %s" % (
            want,
            how,
            ", ".join(repr(s) for s in skipped[:5]) or "nothing",
        )
        # As sockcheck does: close its input and connections, let it exit, look again.
        self.close_stdin()
        for conn in list(self.conns.values()):
            conn.sock.close()
        self.conns.clear()
        self.exits_within(GRACE)
        if any(wanted.matches(line, open_) for line, open_, _ in self.lines):
            text += "; it was printed only when the program exited: flush after each print"
        self.different(text)

    def exit(self, want, nonzero=False):
        """Its exit status: `want` is a code, or minus a signal's number."""
        if not self.exits_within(self.observe):
            return self.different(
                "expected it to exit%s, it was still running after %gs"
                % (" with a non-zero status" if nonzero else " with status %s" % describe(want), self.observe)
            )
        got = self.proc.returncode
        if got == want or (nonzero and got > 0):
            return self.ok("it exited with status %s" % describe(got))
        died_of = last_exception(self.err_text)
        if (
            "stdin-eof-traceback" in TOLERATE
            and want == 0
            and got == 1
            and self.stdin_closed
            and died_of == "EOFError"
        ):
            return self.ok(
                "NON-STRICT: it died with an EOFError traceback when its input ended, after "
                "its work was done (tolerated; catch EOFError and exit 0)"
            )
        self.different(
            "expected %s, got %s%s"
            % (
                "a non-zero exit status (an error)" if nonzero else "exit status %s" % describe(want),
                describe(got),
                " (it died of %s)" % died_of if died_of else "",
            )
        )

    # -- TCP --

    def listen(self):
        s = socket.socket(self.family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(self.addr)
            s.listen(16)
        except OSError as e:
            self.fail("the peer cannot listen on %s: %s" % (self.addr_text, e))
        s.setblocking(False)
        self.listener = s
        say("  listening on %s" % self.addr_text)

    def accept(self, name):
        deadline = now() + CONNECT
        while True:
            try:
                s, addr = self.listener.accept()
                break
            except BlockingIOError:
                pass
            if self.exited():
                self.fail("the client exited (status %s) without connecting" % self.status())
            if now() >= deadline:
                self.fail("the client did not connect to %s within %gs" % (self.addr_text, CONNECT))
            self.pump(deadline - now(), [self.listener])
        self.opened(name, s)
        say("  %s: accepted the program's connection from %s:%d" % (name, addr[0], addr[1]))

    def connect(self, name):
        deadline = now() + CONNECT
        backoff = 0.002
        while True:
            s = socket.socket(self.family, socket.SOCK_STREAM)
            s.settimeout(max(0.001, deadline - now()))
            try:
                s.connect(self.addr)
                break
            except (ConnectionRefusedError, ConnectionResetError):
                s.close()
            except OSError as e:
                s.close()
                self.fail("cannot connect to %s: %s" % (self.addr_text, e))
            # Nothing listens yet: try again (sooner at first), until the deadline.
            if self.exited():
                self.fail(
                    "the server exited (status %s) and nothing accepts connections on %s"
                    % (self.status(), self.addr_text)
                )
            if now() >= deadline:
                self.fail("nothing accepts connections on %s within %gs" % (self.addr_text, CONNECT))
            self.pump(min(backoff, deadline - now()))
            backoff = min(backoff * 2, 0.05)
        self.opened(name, s)
        say("  %s: connected to %s from port %d" % (name, self.addr_text, s.getsockname()[1]))

    def opened(self, name, s):
        # Each write its own segment: the case decides how its bytes are cut.
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        self.conns[name] = Conn(name, s)

    def conn(self, name):
        if name not in self.conns:
            self.fail("no connection `%s` (it was closed)" % name)
        return self.conns[name]

    def send(self, name, data, sizes):
        """Writes `data` on the connection in pieces of `sizes`, PACE apart."""
        conn = self.conn(name)
        at = 0
        for i, size in enumerate(sizes):
            if i:
                self.pause(PACE)
            piece = data[at : at + size]
            at += size
            self.write_all(conn, piece)
            say("  %s -> %d bytes %s" % (name, len(piece), show(piece)))

    def write_all(self, conn, data):
        deadline = now() + self.observe
        while data:
            try:
                data = data[conn.sock.send(data) :]
            except BlockingIOError:
                if now() >= deadline:
                    self.fail(
                        "could not send on %s within %gs: the program does not read"
                        % (conn.name, self.observe)
                    )
                self.pump(deadline - now(), wfds=[conn.sock])
            except OSError as e:
                died = self.exits_within(GRACE)
                self.fail(
                    "could not send on %s: the connection is gone (%s)%s"
                    % (conn.name, e, "; the program exited (status %s)" % self.status() if died else "")
                )

    def fill(self, conn, limit):
        """Reads what has arrived on the connection, up to `limit` bytes held."""
        while conn.end is None and len(conn.buf) < limit:
            try:
                data = conn.sock.recv(min(limit - len(conn.buf), 65536))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                conn.end = "reset"
                say("  %s <- reset (the program reset the connection)" % conn.name)
                return
            if not data:
                conn.end = "eof"
                say("  %s <- eof (the program closed its end)" % conn.name)
                return
            say("  %s <- %d bytes %s" % (conn.name, len(data), show(data)))
            conn.buf += data

    def read(self, name, want, n=None, or_end=False):
        """Waits until the expected bytes have come (or what came differs, or the connection
        ended); then takes exactly `n` bytes, or everything that has come."""
        conn = self.conn(name)
        limit = n if n is not None else expected_len(want)
        deadline = now() + self.observe
        while True:
            self.fill(conn, limit)
            if len(conn.buf) >= limit or conn.end or not admits_prefix(want, conn.buf[:limit]):
                break
            if now() >= deadline:
                break
            self.pump(deadline - now(), [conn.sock])
        if n is None:
            self.fill(conn, limit + OVERRUN)
            take = len(conn.buf)
        else:
            take = min(len(conn.buf), limit)
        got = bytes(conn.buf[:take])
        del conn.buf[:take]
        if or_end and not got and conn.end:
            return self.ok("the connection ended (%s) with no byte, as `or-end` allows" % conn.end)
        if len(got) == limit and matches(want, got):
            return self.ok("%s, as the fixture expects" % show(got))
        if not admits_prefix(want, got) or len(got) >= limit:
            more = len(got) - limit if len(got) > limit and matches(want, got[:limit]) else 0
            self.different(
                "expected %s, got %s%s"
                % (shown(want), show(got),
                   ": %d bytes more than expected" % more if more else "")
            )
        elif conn.end:
            self.different(
                "expected %s, but the connection ended (%s) after %d bytes"
                % (shown(want), conn.end, len(got))
            )
        else:
            self.different(
                "expected %s, got %s and then nothing within %gs"
                % (shown(want),
                   show(got) if got else "nothing", self.observe)
            )

    def peek(self, name, count):
        """Waits until `count` bytes are buffered on the connection, reading none of them."""
        conn = self.conn(name)
        want = max(1, count - len(conn.buf))
        s = conn.sock
        # The kernel says "readable" only once `want` bytes are in (or the connection ended).
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, max(s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), want * 2))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, want)
        deadline = now() + self.observe
        try:
            while True:
                have = buffered(s)
                if have >= want:
                    say("  %s: %d bytes buffered, none read" % (name, have + len(conn.buf)))
                    return
                if peer_ended(s):
                    self.fail(
                        "only %d of %d bytes arrived on %s before the program ended it"
                        % (have + len(conn.buf), count, name)
                    )
                if now() >= deadline:
                    self.fail(
                        "only %d of %d bytes arrived on %s within %gs"
                        % (have + len(conn.buf), count, name, self.observe)
                    )
                self.pump(deadline - now(), [s])
        finally:
            if name in self.conns:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)

    def read_end(self, name, want):
        """Waits for the program to end the connection; a byte first is a difference."""
        conn = self.conn(name)
        deadline = now() + self.observe
        while True:
            self.fill(conn, len(conn.buf) + OVERRUN)
            if conn.buf:
                got = self.what_keeps_coming(conn)
                return self.different(
                    "expected the connection to end (%s), but %d bytes arrived: %s"
                    % (want, len(got), show(got))
                )
            if conn.end:
                break
            if now() >= deadline:
                return self.different(
                    "expected the connection to end (%s), it stayed open for %gs" % (want, self.observe)
                )
            self.pump(deadline - now(), [conn.sock])
        if conn.end != want:
            return self.different(
                "expected the connection to end with %s, it ended with %s" % (want, conn.end)
            )
        conn.end_observed = True
        self.ok("the program ended the connection: %s, as the fixture expects" % conn.end)

    def what_keeps_coming(self, conn):
        """Bytes came where the connection should have ended: what follows them, until
        they stop for SETTLE, the connection ends, OVERRUN bytes came or GRACE is over."""
        until = now() + GRACE
        last = now()
        while conn.end is None and len(conn.buf) < OVERRUN and now() < until and now() < last + SETTLE:
            before = len(conn.buf)
            self.pump(min(until, last + SETTLE) - now(), [conn.sock])
            self.fill(conn, OVERRUN)
            if len(conn.buf) > before:
                last = now()
        got = bytes(conn.buf)
        conn.buf.clear()
        return got

    def unread(self, conn):
        """Whatever arrived on the connection that no step took, as a difference."""
        self.fill(conn, len(conn.buf) + OVERRUN)
        if conn.buf:
            got = bytes(conn.buf)
            conn.buf.clear()
            self.different(
                "%d bytes arrived on %s that no step expected: %s" % (len(got), conn.name, show(got))
            )

    def shutdown(self, name):
        conn = self.conn(name)
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.fail("cannot shut down %s: %s" % (name, e))
        say("  %s: half-closed (FIN sent; the peer keeps reading)" % name)

    def close(self, name):
        conn = self.conn(name)
        self.unread(conn)
        del self.conns[name]
        if self.orphaned(conn.sock):
            # The program closed its end and no process holds it: it waits for our FIN,
            # which would leave its port in TIME_WAIT for a minute (and a server without
            # SO_REUSEADDR could not bind it again). A RST, which nothing can see, does not.
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.sock.close()
        say("  %s: closed" % name)

    def reset(self, name):
        conn = self.conn(name)
        self.unread(conn)
        del self.conns[name]
        self.abort(conn.sock)
        say("  %s: reset (RST sent)" % name)

    def abort(self, s):
        """Closes with a RST (SO_LINGER 0), and waits (at most a second) until the program's
        end of the connection is gone, so that its next call sees the reset."""
        try:
            ours, theirs = s.getsockname()[:2], s.getpeername()[:2]
        except OSError:
            ours = theirs = None
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        until, pause = now() + 1.0, 0.001
        while ours and now() < until:
            listed = proc_sockets("tcp") or []
            if not any(same_addr(l, theirs) and same_addr(r, ours) for l, r, _, _ in listed):
                break
            time.sleep(pause)  # no event says another process's socket is gone
            pause = min(pause * 2, 0.02)

    def orphaned(self, s):
        try:
            ours, theirs = s.getsockname()[:2], s.getpeername()[:2]
        except OSError:
            return False
        return any(
            same_addr(l, theirs) and same_addr(r, ours) and inode == 0 and state in LEFTOVER_STATES
            for l, r, state, inode in proc_sockets("tcp") or []
        )

    def read_frame(self, name, fmt, want):
        """One frame of `fmt` on the connection, decoded; bytes after it stay."""
        conn = self.conn(name)
        deadline = now() + self.observe
        while True:
            self.fill(conn, len(conn.buf) + 65536)
            try:
                frame = decode_frame(fmt, conn.buf)
            except FrameError as e:
                got = bytes(conn.buf)
                conn.buf.clear()
                return self.different("a bad frame: %s (%s)" % (e, show(got, 40)))
            if frame:
                break
            if conn.end:
                have = len(conn.buf)
                return self.different(
                    "the connection ended (%s) %s"
                    % (conn.end, "inside a frame, after %d bytes of it" % have if have else "before any byte of a frame")
                )
            if now() >= deadline:
                return self.different(
                    "expected a frame, got %d bytes of one within %gs" % (len(conn.buf), self.observe)
                )
            self.pump(deadline - now(), [conn.sock])
        body, header, used = frame
        del conn.buf[:used]
        say("  %s: a frame of %d bytes%s" % (name, len(body), "; header: md5 %s, file_name %r" % header if header else ""))
        if not matches(want.body, body):
            return self.different(
                "expected the body %s, got %s"
                % (shown(want.body), show(body))
            )
        if want.header and header:
            digest, file_name = header
            lacks = []
            if digest != want.md5:
                lacks.append("its md5 is %s (a real digest is 32 hex digits)" % digest)
            if file_name is None and want.file_name is not None:
                lacks.append("it has no file_name")
            if lacks:
                return self.ok(
                    "NON-STRICT: the frame's header interoperates, but " + " and ".join(lacks)
                )
        self.ok("the body %s, as the fixture expects" % show(body))

    # -- datagrams --

    def bind(self, name):
        if ROLE == "server":
            # A port of the peer's own, on the program's loopback.
            where = ("::1" if self.family == socket.AF_INET6 else "127.0.0.1", 0)
        else:
            # The peer is the program's server: its address.
            where = self.addr
        s = socket.socket(self.family, socket.SOCK_DGRAM)
        try:
            s.bind(where)
        except OSError as e:
            self.fail("the peer cannot bind a datagram socket on %s: %s" % (where, e))
        s.setblocking(False)
        self.socks[name] = Sock(name, s)
        say("  %s: a datagram socket on %s:%d" % ((name,) + s.getsockname()[:2]))

    def with_ports(self, text):
        """The fixture's `[PORT:u1]` as the port of this run's socket u1."""
        for name, sock in self.socks.items():
            text = text.replace("[PORT:%s]" % name, str(sock.sock.getsockname()[1]))
        return text

    def drain_datagrams(self):
        for sock in self.socks.values():
            while True:
                try:
                    data, source = sock.sock.recvfrom(65536)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    continue
                say("  %s <= %s:%d: a datagram of %d bytes %s" % ((sock.name,) + source[:2] + (len(data), show(data))))
                sock.inbox.append((data, source))

    def sendto(self, name, data):
        sock = self.socks[name]
        if ROLE == "server":
            self.wait_bound()
            to = self.addr
        else:
            if sock.last_from is None:
                self.fail("%s has no datagram to answer" % name)
            to = sock.last_from
        try:
            sock.sock.sendto(data, to)
        except OSError as e:
            self.fail("cannot send a datagram from %s to %s: %s" % (name, to, e))
        say("  %s => %s:%d: a datagram of %d bytes %s" % ((name,) + tuple(to[:2]) + (len(data), show(data))))

    def wait_bound(self):
        """Waits until the program has a datagram socket on its address: a datagram sent
        before it binds is lost, and the case would test nothing. Read from /proc, paced."""
        deadline = now() + CONNECT
        pause = 0.001
        while True:
            socks = proc_sockets("udp")
            if socks is None or any(
                l[1] == self.port and l[0] in (self.host, "0.0.0.0", "::") for l, _, _, _ in socks
            ):
                return
            if self.exited():
                self.fail(
                    "the server exited (status %s) without a datagram socket on %s"
                    % (self.status(), self.addr_text)
                )
            if now() >= deadline:
                self.fail("nothing was bound to udp %s within %gs" % (self.addr_text, CONNECT))
            self.pump(min(pause, deadline - now()))
            pause = min(pause * 2, 0.02)

    def first_contact_deadline(self):
        # A client's first datagram comes once it has started: a server's patience.
        first = all(s.last_from is None for s in self.socks.values())
        return now() + (CONNECT if ROLE == "client" and first else self.observe)

    def recvfrom(self, name, want):
        sock = self.socks[name]
        deadline = self.first_contact_deadline()
        while True:
            self.drain_datagrams()
            if sock.inbox:
                data, source = sock.inbox.popleft()
                break
            if self.exited():
                return self.different(
                    "expected a datagram on %s; the program exited (status %s) without sending it"
                    % (name, self.status())
                )
            if now() >= deadline:
                return self.different("expected a datagram on %s, none came" % name)
            self.pump(deadline - now(), [s.sock for s in self.socks.values()])
        sock.last_from = source
        seen = "program" if same_addr(source, self.addr) else "%s:[PORT]" % source[0]
        if matches(want.data, data) and seen == want.source:
            return self.ok("%s from %s, as the fixture expects" % (show(data), where(seen)))
        self.different(
            "expected the datagram %s from %s, got %s from %s"
            % (shown(want.data),
               where(want.source), show(data), where(seen))
        )

    def dropped(self):
        """Waits until a datagram of the program reached a port where nothing was bound
        (the kernel's Udp NoPorts count grows). On a busy machine another program's lost
        datagram counts too: sockcheck runs this step only in a network of the case's own."""
        deadline = self.first_contact_deadline()
        pause = 0.001
        while True:
            count = udp_no_ports()
            if count is None:
                self.fail("cannot read the Udp NoPorts count of /proc/net/snmp")
            if count > self.no_ports_seen:
                self.no_ports_seen = count
                return say("  a datagram was lost on a port where nothing was bound")
            if self.exited():
                self.fail(
                    "the program exited (status %s) and none of its datagrams was lost" % self.status()
                )
            if now() >= deadline:
                self.fail("the program sent no datagram to a port nobody bound yet")
            self.pump(min(pause, deadline - now()))
            pause = min(pause * 2, 0.02)

    # -- the silence window and the end of the case --

    def quiet(self, seconds, next_line=None):
        """For `seconds` nothing may happen: no byte or end on a connection, no datagram,
        no exit, not the next line the fixture expects (other printing is fine)."""
        until = now() + seconds
        wanted = Wanted(self.with_ports(next_line)) if next_line is not None else None
        while True:
            broken = self.breaks_silence(wanted)
            if broken:
                return self.different("expected nothing during the silence window, got " + broken)
            t = now()
            # A program woken during the window but not run yet (a loaded machine) gets
            # its chance to break it: at most a second more, while it is runnable.
            settling = until <= t < until + 1.0 and self.runnable()
            if t >= until and not settling:
                return self.ok("nothing happened for %d ms, as the fixture expects" % (seconds * 1000))
            fds = [c.sock for c in self.conns.values() if c.end is None]
            fds += [s.sock for s in self.socks.values()]
            self.pump(0.005 if settling else until - t, fds)

    def breaks_silence(self, wanted):
        for conn in self.conns.values():
            self.fill(conn, len(conn.buf) + 65536)
            if conn.buf:
                got = bytes(conn.buf)
                conn.buf.clear()
                return "%s %s" % (conn.name, show(got))
            if conn.end and not conn.end_observed:
                return "%s %s" % (conn.name, conn.end)
        self.drain_datagrams()
        for sock in self.socks.values():
            if sock.inbox:
                data, source = sock.inbox.popleft()
                return "the datagram %s %s from %s:%d" % ((sock.name, show(data)) + source[:2])
        if self.exited():
            return "exit %s" % self.status()
        if wanted is not None:
            for line, open_, raw in self.lines:
                if wanted.matches(line, open_):
                    return "stdout %r" % raw
        return None

    def runnable(self):
        """Whether a process of the program is running or waiting for a core."""
        if self.proc is None or self.exited():
            return False
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[2] == str(self.proc.pid) and fields[0] == "R":
                return True
        return False

    def end_of_case(self):
        """Every byte accounted for: what the program sent that no step took is a difference."""
        say("end of the case")
        for conn in list(self.conns.values()):
            self.unread(conn)
        self.drain_datagrams()
        for sock in self.socks.values():
            if sock.inbox:
                data, source = sock.inbox.popleft()
                self.different(
                    "the program sent a datagram that no step expected: %s %s from %s:%d"
                    % ((sock.name, show(data)) + source[:2])
                )

    def cleanup(self):
        """As sockcheck ends a case: the program's processes killed, the connections reset."""
        if self.proc is not None:
            if self.proc.poll() is None:
                say("the program is still running: it is stopped, as at the end of every case")
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
            else:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)  # what it left behind
                except OSError:
                    pass
            self.proc.wait()
            until = now() + GRACE
            while (self.out_fd is not None or self.err_fd is not None) and now() < until:
                self.pump(until - now())
            self.flush_repeats()
        for conn in self.conns.values():
            self.abort(conn.sock)
        for sock in self.socks.values():
            sock.sock.close()
        if self.listener is not None:
            self.listener.close()


def describe(status):
    if status is None:
        return "running"
    return "signal %d" % -status if status < 0 else str(status)


def where(source):
    return "the program's address" if source == "program" else source


def buffered(s):
    return struct.unpack("i", fcntl.ioctl(s.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


def peer_ended(s):
    poller = select.poll()
    poller.register(s, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(0))


def main(play):
    args = sys.argv[1:]
    command = []
    if "--" in args:
        at = args.index("--")
        args, command = args[:at], args[at + 1 :]
    parser = argparse.ArgumentParser(
        description="Plays the peer's side of sockcheck's case %s %s %s." % (PROGRAM, ROLE, CASE),
        usage="%(prog)s [--addr HOST:PORT] [--timeout SECS] [--keep-going] [-- COMMAND ...]",
        epilog="COMMAND runs your program (python3 %s.py); the script starts it and reads "
        "its stdin, stdout and exit." % ROLE,
    )
    parser.add_argument("--addr", default=ADDR, help="the program's address (default %(default)s)")
    parser.add_argument(
        "--timeout", type=float, default=OBSERVE, help="seconds an observation waits (default %(default)s)"
    )
    parser.add_argument(
        "--keep-going", action="store_true", help="go on after a difference (sockcheck stops there)"
    )
    options = parser.parse_args(args)
    if NEEDS_COMMAND and not command:
        print(
            "this case reads the program's stdin, stdout or exit status, so this script must "
            "start it: give its command after --, e.g.\n    python3 %s -- python3 %s.py"
            % (sys.argv[0], ROLE),
            file=sys.stderr,
        )
        return 2
    peer = Peer(options.addr, command, options.timeout, options.keep_going)
    say("sockcheck case %s %s %s: the peer plays the %s, the program at %s"
        % (PROGRAM, ROLE, CASE, "client" if ROLE == "server" else "server", options.addr))
    try:
        play(peer)
        peer.end_of_case()
    except Stop:
        pass
    except KeyboardInterrupt:
        peer.cleanup()
        return 130
    peer.cleanup()
    matched = peer.observations - peer.differences
    if peer.failed or peer.differences:
        say(
            "RESULT: %d of %d observations as the fixture expects%s; the case FAILS (exit 1)"
            % (matched, peer.observations, ", and a step failed" if peer.failed else "")
        )
        return 1
    say("RESULT: all %d observations as the fixture expects (exit 0)" % peer.observations)
    return 0
