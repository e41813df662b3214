//! `sockcheck explain`: a case in plain words beside its fixture (in English and Chinese),
//! one run's full wire log (`--verbose`), and the peer's side as a Python script
//! (`--peer-script`) that, run by hand against the bundled reference, behaves as the
//! suite's peer does: it exits 0 and prints the observations the fixture expects, for a
//! TCP server case, a TCP client case and a UDP case; against a wrong server it exits 1
//! and says DIFFERENT. Every wait has a deadline, and every process a test starts is
//! killed and reaped when the test ends, however it ends.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// How long a script or a command may take: a passing case takes well under a second,
/// a failing one its deadlines (5 s each); a loaded machine stretches both.
const PATIENCE: Duration = Duration::from_secs(90);

fn sockcheck() -> Command {
    let mut cmd = Command::new(common::sockcheck_exe());
    cmd.env_remove("SOCKCHECK_LANG");
    cmd
}

/// The Python the scripts are run with: Debian's own where there is one.
fn python() -> &'static str {
    if Path::new("/usr/bin/python3").is_file() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// A port of 127.0.0.1 free for TCP and UDP alike, not the tutorial's.
fn free_addr() -> SocketAddr {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("a port");
        let addr = tcp.local_addr().expect("its address");
        if UdpSocket::bind(addr).is_ok() {
            return addr;
        }
    }
}

/// Every process started under one marker (in its environment, which children inherit):
/// all of them are killed when the marker is dropped, so that a script killed at its
/// deadline leaves no program behind (it starts the program in a session of its own).
struct Marker(String);

impl Marker {
    fn new() -> Marker {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        Marker(format!(
            "sockcheck-explain-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ))
    }

    fn mark(&self, cmd: &mut Command) {
        cmd.env("SOCKCHECK_EXPLAIN_TEST", &self.0);
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        for line in common::processes_with(&self.0) {
            if let Some(pid) = line.split(':').next().and_then(|p| p.parse::<i32>().ok()) {
                // SAFETY: a plain kill(2) of a process this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// A process that is killed and reaped when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `cmd` to its end, at most `PATIENCE` (then it is killed: the test fails saying so).
fn run(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("starts");
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(output) => output.expect("runs"),
        Err(_) => {
            // SAFETY: a plain kill(2) of the child this test started and has not reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let output = rx.recv().expect("reaped").expect("runs");
            panic!(
                "{cmd:?} did not end within {PATIENCE:?}:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `sockcheck explain ARGS`, its output as text, expecting `status`.
fn explain(args: &[&str], status: i32) -> String {
    let mut cmd = sockcheck();
    cmd.arg("explain").args(args);
    let output = run(cmd);
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(status), "{args:?}: {shown}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Writes the peer script of `program case`, with the program's address `addr`.
fn peer_script(dir: &Path, program: &str, case: &str, addr: SocketAddr) -> PathBuf {
    let path = dir.join(format!("{program}-{case}.py"));
    let addr = addr.to_string();
    let out = path.to_str().expect("a UTF-8 path");
    explain(
        &[
            program,
            case,
            "--peer-script",
            "--addr",
            &addr,
            "--out",
            out,
        ],
        0,
    );
    path
}

/// Runs a peer script, with the program's command after `--` (if any), under `marker`.
fn run_script(script: &Path, program: &[&str], marker: &Marker) -> Output {
    let mut cmd = Command::new(python());
    cmd.arg(script);
    if !program.is_empty() {
        cmd.arg("--").args(program);
    }
    marker.mark(&mut cmd);
    run(cmd)
}

/// The bundled reference playing `role` of `program` at `addr`, as a command line.
fn reference(program: &str, role: &str, addr: SocketAddr) -> Vec<String> {
    vec![
        common::sockcheck_exe().display().to_string(),
        "reference".into(),
        program.into(),
        role.into(),
        "--addr".into(),
        addr.to_string(),
    ]
}

/// Checks that a script passed: exit 0, and an OK line holding each of `observed` (what
/// the fixture expects, as the script prints it), in that order.
fn assert_passed(output: &Output, observed: &[&str]) {
    let shown = text(output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    assert!(!shown.contains("DIFFERENT"), "{shown}");
    let mut oks = shown.lines().filter(|l| l.contains("  OK: "));
    for what in observed {
        assert!(
            oks.any(|l| l.contains(what)),
            "an OK line with `{what}` (in order) in:\n{shown}"
        );
    }
    assert!(
        shown.contains("RESULT: all ") && shown.contains("as the fixture expects (exit 0)"),
        "{shown}"
    );
}

#[test]
fn a_case_in_plain_words_beside_its_fixture() {
    let en = explain(&["echo3", "client-stdin", "--lang", "en"], 0);
    // `--lang` is global: given before the subcommand as well.
    let en_global = {
        let mut cmd = sockcheck();
        cmd.args(["--lang", "en", "explain", "echo3", "client-stdin"]);
        String::from_utf8_lossy(&run(cmd).stdout).into_owned()
    };
    for text in [&en, &en_global] {
        for line in [
            "echo3 client client-stdin (echo3: communication and connection loops",
            "what it checks: the client sends each stdin line and prints each reply",
            "your program is the client; the peer (sockcheck) plays its server, at 127.0.0.1:8080",
            "   1. the peer listens on 127.0.0.1:8080, as the program's server",
            "   2. the program (your client) starts",
            "   3. the peer accepts the program's connection as c1",
            "   4. the peer types the line \"hello\" on the program's stdin",
            "   5. the peer reads everything the program has sent on c1 => \"hello\"",
            "   6. the peer sends \"helloSB\" on c1",
            "   7. the program must print a line => \"helloSB\"",
            "  12. the peer closes the program's stdin",
            "  13. the program must end the connection c1 (eof or reset), sending nothing more first => eof",
            "  14. the program must exit => 0",
            "tolerated at its exit, as non-strict: stdin-eof-traceback",
        ] {
            assert!(text.contains(line), "`{line}` in:\n{text}");
        }
    }
    // A split send, the hints a case declares, another address.
    let hinted = explain(
        &[
            "rexec1",
            "server-large-stderr",
            "--addr",
            "127.0.0.1:9999",
            "--lang",
            "en",
        ],
        0,
    );
    assert!(hinted.contains("at 127.0.0.1:9999"), "{hinted}");
    assert!(
        hinted.contains("hints the case declares:")
            && hinted.contains("if none of the expected bytes come [stderr-deadlock]: "),
        "{hinted}"
    );
    let split = explain(
        &["framed-low", "client-one-byte-segments", "--lang", "en"],
        0,
    );
    assert!(
        split.contains(
            "the peer sends the frame low(\"hello world\\n\") (16 bytes) on c1 in 16 pieces of 1 byte, paced apart"
        ),
        "{split}"
    );
    // The same in Chinese, as the locale asks.
    let mut cmd = sockcheck();
    cmd.args(["explain", "echo3", "client-stdin"])
        .env("LANG", "zh_CN.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES");
    let zh = String::from_utf8_lossy(&run(cmd).stdout).into_owned();
    for line in [
        "你的程序是客户端；测试方（sockcheck）扮演它的服务端，地址 127.0.0.1:8080",
        "   1. 测试方在 127.0.0.1:8080 上监听，充当程序的服务端",
        "   4. 测试方在程序的标准输入中输入一行 \"hello\"",
        "   7. 程序必须打印一行 => \"helloSB\"",
    ] {
        assert!(zh.contains(line), "`{line}` in:\n{zh}");
    }
    // An unknown case is refused, naming the program's cases.
    let mut cmd = sockcheck();
    cmd.args(["explain", "echo3", "server-nope"]);
    let refused = run(cmd);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`echo3` has no case `server-nope`") && err.contains("server-three-clients"),
        "{err}"
    );
}

#[test]
fn verbose_prints_every_chunk_with_its_offset_as_a_hexdump() {
    let out = explain(&["echo3", "client-stdin", "--verbose", "--lang", "en"], 0);
    assert!(out.contains("verdict: PASS"), "{out}");
    // The peer's second reply starts after the 7 bytes of its first on c1.
    let line = out
        .lines()
        .position(|l| l.contains("c1 -> 7 bytes, at offset 7 (peer wrote)"))
        .unwrap_or_else(|| panic!("the second reply's event in:\n{out}"));
    let dump = out.lines().nth(line + 1).unwrap_or_default();
    assert_eq!(dump.trim(), xxd(7, "776f 726c 6453 42", "worldSB"), "{out}");
    // The program's side, and the stdin lines, count from 0 each.
    assert!(
        out.contains("c1 <- 5 bytes, at offset 0 (program sent)"),
        "{out}"
    );
    assert!(
        out.contains("stdin -> 6 bytes, at offset 6 (peer wrote)"),
        "{out}"
    );
    assert!(out.contains(&xxd(0, "6865 6c6c 6f0a", "hello.")), "{out}");
}

/// A line of `xxd -o OFFSET`: the hex column is 39 characters wide.
fn xxd(offset: usize, hex: &str, text: &str) -> String {
    format!("{offset:08x}: {hex:<39}  {text}")
}

#[test]
fn the_peer_script_of_a_tcp_server_case_passes_against_the_reference() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let addr = free_addr();
    let script = peer_script(dir.path(), "echo3", "server-three-clients", addr);
    let marker = Marker::new();
    let server = reference("echo3", "server", addr);
    let program: Vec<&str> = server.iter().map(String::as_str).collect();
    let output = run_script(&script, &program, &marker);
    assert_passed(
        &output,
        &[
            "b'oneSB', as the fixture expects",
            "printed 'one', as the fixture expects 'one'",
            "the program ended the connection: eof",
            "b'twoSB'",
            "b'threeSB'",
            "b'fourSB'",
            "printed 'four'",
            "the program ended the connection: eof",
        ],
    );
}

#[test]
fn the_peer_script_of_a_tcp_client_case_passes_against_the_reference() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let addr = free_addr();
    let script = peer_script(dir.path(), "echo3", "client-stdin", addr);
    let marker = Marker::new();
    let client = reference("echo3", "client", addr);
    let program: Vec<&str> = client.iter().map(String::as_str).collect();
    let output = run_script(&script, &program, &marker);
    assert_passed(
        &output,
        &[
            "b'hello', as the fixture expects",
            "as the fixture expects 'helloSB'",
            "b'world', as the fixture expects",
            "as the fixture expects 'worldSB'",
            "the program ended the connection: eof",
            "it exited with status 0",
        ],
    );
    // A case that reads the program's stdio cannot be played without its command.
    let alone = run_script(&script, &[], &marker);
    assert_eq!(alone.status.code(), Some(2), "{}", text(&alone));
    assert!(
        text(&alone).contains("give its command after --"),
        "{}",
        text(&alone)
    );
}

#[test]
fn the_peer_script_of_a_udp_case_passes_against_the_reference() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let addr = free_addr();
    let script = peer_script(dir.path(), "udp-hello", "server-hello", addr);
    let marker = Marker::new();
    let server = reference("udp-hello", "server", addr);
    let program: Vec<&str> = server.iter().map(String::as_str).collect();
    let output = run_script(&script, &program, &marker);
    assert_passed(
        &output,
        &[
            "b'hi' from the program's address, as the fixture expects",
            "printed \"b'hello'\", as the fixture expects \"b'hello'\"",
            "it exited with status 0",
        ],
    );
}

#[test]
fn the_peer_script_plays_against_a_server_already_running() {
    // sticky1's leftover case reads nothing of the program's stdio: the server may run on
    // its own. It waits for a buffered reply (peek), reads exact counts and digests.
    let dir = tempfile::tempdir().expect("a temp folder");
    let addr = free_addr();
    let script = peer_script(dir.path(), "sticky1", "server-leftover", addr);
    let marker = Marker::new();
    let argv = reference("sticky1", "server", addr);
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    marker.mark(&mut cmd);
    let _server = Child(cmd.spawn().expect("the reference starts"));
    // Up when it accepts a connection (which it serves and closes: it serves in turn).
    assert!(
        common::eventually(PATIENCE, || TcpStream::connect(addr).is_ok()),
        "the reference never listened"
    );
    let output = run_script(&script, &[], &marker);
    assert_passed(
        &output,
        &[
            "(1024 bytes), as the fixture expects",
            "(1024 bytes), as the fixture expects",
            "(1856 bytes), as the fixture expects",
            "the program ended the connection: eof",
        ],
    );
}

/// An echo server that upper-cases, as many courses teach: not echo3's contract.
const UPPER_ECHO: &str = r#"
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen(5)
while True:
    conn, _ = s.accept()
    while True:
        data = conn.recv(1024)
        if not data:
            break
        print(data.decode(), flush=True)
        conn.sendall(data.upper())
    conn.close()
"#;

#[test]
fn the_peer_script_says_different_and_exits_1_against_a_wrong_server() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let addr = free_addr();
    let script = peer_script(dir.path(), "echo3", "server-three-clients", addr);
    let server = dir.path().join("upper.py");
    std::fs::write(&server, UPPER_ECHO).expect("writes");
    let marker = Marker::new();
    let (host, port) = (addr.ip().to_string(), addr.port().to_string());
    let program = [python(), server.to_str().expect("UTF-8"), &host, &port];
    let output = run_script(&script, &program, &marker);
    let shown = text(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("DIFFERENT: expected b'oneSB', got b'ONE'"),
        "{shown}"
    );
    assert!(shown.contains("the case FAILS (exit 1)"), "{shown}");
    // Like the suite's peer, it stopped at the first difference.
    assert!(!shown.contains("step 5:"), "{shown}");
}

#[test]
fn every_bundled_case_has_a_peer_script_python_compiles() {
    const CASE_PART: &str = "# ---- the case:";
    let runtime =
        std::fs::read_to_string(common::root().join("harness/src/explain/peer_runtime.py"))
            .expect("the peer's runtime");
    assert!(!runtime.contains(CASE_PART));
    let catalog = sockcheck::catalog::Catalog::embedded().expect("the bundled suites");
    let dir = tempfile::tempdir().expect("a temp folder");
    let mut files = Vec::new();
    for suite in &catalog.suites {
        for case in &suite.cases {
            let script =
                sockcheck::explain::peer_script::script(suite, case, sockcheck::hints::Lang::En)
                    .unwrap_or_else(|e| panic!("{} {}: {e}", suite.info.id, case.name));
            // Every script is the one runtime and its case's part: the runtime is compiled
            // once, below, and each case's part on its own (compiling 190 whole scripts
            // took 44 s of a loaded run).
            assert!(script.contains(runtime.as_str()), "{}", case.name);
            let part = &script[script.find(CASE_PART).expect("the case's part")..];
            let path = dir
                .path()
                .join(format!("{}-{}.py", suite.info.id, case.name));
            std::fs::write(&path, part).expect("writes");
            files.push(path);
        }
    }
    assert!(files.len() > 100, "{}", files.len());
    let whole = dir.path().join("runtime.py");
    std::fs::write(&whole, &runtime).expect("writes");
    files.push(whole);
    let mut cmd = Command::new(python());
    cmd.args(["-m", "py_compile"]).args(&files);
    let output = run(cmd);
    assert!(output.status.success(), "{}", text(&output));
}
