//! Isolation of one case: a network namespace of its own (a fresh loopback, so hard-coded
//! `127.0.0.1:8080` servers never collide and leave no `TIME_WAIT` behind for the next case)
//! and a pid namespace (the case's init, `init.rs`, is its pid 1: when the case ends,
//! everything the program started dies with it, even a child that left its process group
//! with `setsid`).
//!
//! Both are entered by the thread that runs the case, with `unshare`; its children inherit
//! them, other threads keep theirs. A thread that unshared the pid namespace can spawn one
//! child (the namespace's init) and no more threads, so the engine is single-threaded per
//! case and spawns the init once.
//!
//! Three modes, chosen once per run ([`detect`]): as root, the namespaces directly; as an
//! ordinary user, the same namespaces inside a user namespace that the whole harness
//! enters at the start of `main` ([`enter_user_namespace`], while it is single-threaded,
//! which the kernel requires); and, where neither works (a container without
//! `CAP_SYS_ADMIN`), the host's loopback shared: cases on one address then take a lock in
//! the user's runtime folder and run one at a time, a program already listening there is
//! named before the case, and `TIME_WAIT` left on the address by an earlier case is
//! cleared ([`purge_time_wait`]) so that a server without `SO_REUSEADDR` can bind again.

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How a case is isolated.
#[derive(Debug)]
pub enum Isolation {
    /// Private network and pid namespaces.
    Namespaces,
    /// The host's network, serialised per address by a lock held until the case ends;
    /// with a note when something on the address could not be cleared.
    Shared {
        _lock: AddressLock,
        note: Option<String>,
    },
}

/// The lock of an address on the shared network, held for one case. When the case ends
/// it clears what the case left on the address before it lets the next case in: the other
/// ends' ports are surely free then (the program is dead, the peer's sockets closed),
/// while by the time the next case comes, another connection may have taken one of them.
#[derive(Debug)]
pub struct AddressLock {
    _file: File,
    addr: SocketAddr,
    transport: Transport,
}

impl Drop for AddressLock {
    fn drop(&mut self) {
        if self.transport == Transport::Tcp {
            // The case's sockets are closed for good only once no spawn holds a copy.
            crate::interrupt::spawns_settled();
            purge_time_wait(self.addr);
        }
    }
}

impl Isolation {
    pub fn is_private(&self) -> bool {
        matches!(self, Isolation::Namespaces)
    }

    /// A remark for the report about what the shared network left on the address.
    pub fn note(&self) -> Option<String> {
        match self {
            Isolation::Namespaces => None,
            Isolation::Shared { note, .. } => note.clone(),
        }
    }
}

/// The command line's switch (`SOCKCHECK_NO_NAMESPACES=1`) that forces the fallback; the
/// library itself only ever takes a [`Policy`] value.
pub const NO_NAMESPACES_ENV: &str = "SOCKCHECK_NO_NAMESPACES";

/// How a case may be isolated: chosen once by the caller and passed in, never read from
/// the environment behind its back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Policy {
    /// Namespaces where the privilege allows, the shared network otherwise.
    #[default]
    Auto,
    /// The shared network, as in a container without namespaces.
    Shared,
}

impl Policy {
    /// The policy the environment asks for (the command line reads it once).
    pub fn from_env() -> Policy {
        if std::env::var_os(NO_NAMESPACES_ENV).is_some_and(|v| v == "1") {
            Policy::Shared
        } else {
            Policy::Auto
        }
    }
}

/// The isolation a run gets, said once at its top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Root: network, pid and mount namespaces per case.
    Namespaces,
    /// An ordinary user: the same namespaces, inside a user namespace of the harness.
    UserNamespace,
    /// No namespaces: the host's loopback, one case per address at a time.
    Shared,
}

impl Mode {
    /// The word reports and `--json` use.
    pub fn word(self) -> &'static str {
        match self {
            Mode::Namespaces => "namespaces",
            Mode::UserNamespace => "user-namespace",
            Mode::Shared => "shared",
        }
    }

    /// What the mode gives, in one sentence.
    pub fn describe(self) -> &'static str {
        match self {
            Mode::Namespaces => {
                "each case in network, pid and mount namespaces of its own (as root): a private \
                 loopback, every process of the case ends with it, the program sees the files \
                 read-only except its folder and a private /tmp, with no capabilities"
            }
            Mode::UserNamespace => {
                "each case in network, pid and mount namespaces of its own, inside an \
                 unprivileged user namespace: a private loopback, every process of the case \
                 ends with it, the program keeps your uid and sees the files read-only except \
                 its folder and a private /tmp"
            }
            Mode::Shared => {
                "NOT ISOLATED: no namespaces, so cases share this machine's loopback and run \
                 one at a time per address; the program can write wherever you can, and its \
                 processes are tracked as the descendants of the case's init"
            }
        }
    }
}

/// Whether this process entered a user namespace of its own ([`enter_user_namespace`]).
static IN_USER_NAMESPACE: AtomicBool = AtomicBool::new(false);

pub fn in_user_namespace() -> bool {
    IN_USER_NAMESPACE.load(Ordering::Relaxed)
}

/// For an ordinary user: moves the whole process into a new user namespace that maps the
/// user's uid and gid to themselves, so that it holds the capabilities the per-case
/// network and pid namespaces need, while the programs it starts keep the user's identity
/// (and, not being uid 0 there, lose every capability at `execve`). Must be called while
/// the process has one thread: the kernel refuses `CLONE_NEWUSER` to a multi-threaded one.
pub fn enter_user_namespace() -> io::Result<()> {
    // SAFETY: getuid/getgid cannot fail; unshare only changes this (single-threaded)
    // process's user namespace.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // `setgroups` must be denied before an unprivileged process may write gid_map.
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1"))?;
    std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1"))?;
    IN_USER_NAMESPACE.store(true, Ordering::Relaxed);
    Ok(())
}

/// The mode a run gets under `policy`, with the reason when it is the shared network.
/// Tries the namespaces in a throwaway thread (they die with it).
pub fn detect(policy: Policy) -> (Mode, Option<String>) {
    if policy == Policy::Shared {
        return (
            Mode::Shared,
            Some(format!(
                "{NO_NAMESPACES_ENV}=1 asked for the shared network"
            )),
        );
    }
    let probe = std::thread::spawn(|| {
        // SAFETY: unshare only changes this thread's namespaces; the thread then ends.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET | libc::CLONE_NEWPID) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    })
    .join();
    match probe {
        Ok(Ok(())) if in_user_namespace() => (Mode::UserNamespace, None),
        Ok(Ok(())) => (Mode::Namespaces, None),
        Ok(Err(e)) => (
            Mode::Shared,
            Some(format!("namespaces are not available here ({e})")),
        ),
        Err(_) => (Mode::Shared, Some("the namespace probe failed".into())),
    }
}

/// Moves the calling thread into fresh network and pid namespaces with loopback up, or
/// (where that is not allowed, or `policy` says so) takes the lock of `addr` on the shared
/// network, refuses an address another program listens on, and clears the `TIME_WAIT`
/// earlier cases left there.
pub fn enter(addr: SocketAddr, transport: Transport, policy: Policy) -> io::Result<Isolation> {
    if policy == Policy::Shared {
        return shared(addr, transport);
    }
    // SAFETY: unshare only changes this thread's namespaces.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET | libc::CLONE_NEWPID) };
    if rc != 0 {
        return shared(addr, transport);
    }
    loopback_up()?;
    Ok(Isolation::Namespaces)
}

/// What `find` finds on the address, unless it is held by a process `/proc` does not show
/// and goes within a second. Seen once, on a busy shared network, for a UDP socket of
/// the case before (after every spawn had ended, see [`crate::interrupt::spawns_settled`]),
/// most likely a process in the middle of its exit, whose fds are gone from `/proc` while
/// its sockets are still being closed. A holder `/proc` shows is another program at once; one it does
/// not show gets the second, polled by the clock since nothing signals a socket's end.
fn unless_gone_soon(find: impl Fn() -> Option<String>) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut pause = Duration::from_millis(1);
    loop {
        let found = find()?;
        if !found.starts_with(UNSEEN) || Instant::now() >= deadline {
            return Some(found);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// What a case's program talks over, which says what on the shared network would be in its
/// way: a TCP listener or connection, or a bound UDP socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

fn shared(addr: SocketAddr, transport: Transport) -> io::Result<Isolation> {
    let path = runtime_dir()?.join(lock_name(addr));
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| named(e, "cannot open the lock file", &path))?;
    lock.lock()
        .map_err(|e| named(e, "cannot lock the lock file", &path))?;
    let lock = AddressLock {
        _file: lock,
        addr,
        transport,
    };
    // A socket of the case before on this address may live on in a child that another
    // case is spawning (a copy of the harness's fds, until its exec): only what is left
    // once no spawn is under way belongs to another program.
    crate::interrupt::spawns_settled();
    if transport == Transport::Udp {
        if let Some(holder) = unless_gone_soon(|| foreign_datagram_socket(addr)) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "another program already has a UDP socket bound on `{addr}` ({holder}), \
                     and without namespaces the case's datagrams would reach it: stop it and \
                     run again"
                ),
            ));
        }
        return Ok(Isolation::Shared {
            _lock: lock,
            note: None,
        });
    }
    if let Some(holder) = unless_gone_soon(|| foreign_listener(addr)) {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "another program already listens on `{addr}` ({holder}), and without \
                 namespaces the case would talk to it: stop it and run again"
            ),
        ));
    }
    if let Some(holder) = unless_gone_soon(|| foreign_connection(addr)) {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "another program holds a connection on `{addr}` ({holder}), so nothing \
                 else can bind it without SO_REUSEADDR: stop it and run again"
            ),
        ));
    }
    let stuck = purge_time_wait(addr);
    let note = (!stuck.is_empty()).then(|| {
        format!(
            "closed connections on `{addr}` could not be cleared, so a server without \
             SO_REUSEADDR cannot bind it for up to a minute: {}",
            stuck.join("; ")
        )
    });
    Ok(Isolation::Shared { _lock: lock, note })
}

fn named(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} `{}`: {e}", path.display()))
}

fn lock_name(addr: SocketAddr) -> String {
    format!("{}-{}.lock", addr.ip(), addr.port()).replace(':', "_")
}

/// The user's own folder for the locks: `$XDG_RUNTIME_DIR/sockcheck`, or
/// `/tmp/sockcheck-UID`; created private, and refused (named) when it belongs to someone
/// else, so that one user's locks never block or mislead another's run. Not `$TMPDIR`:
/// every run of the user must find the same locks, whatever its TMPDIR.
pub fn runtime_dir() -> io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(base) if base.is_absolute() && base.is_dir() => base.join("sockcheck"),
        _ => PathBuf::from(format!("/tmp/sockcheck-{uid}")),
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(named(e, "cannot create the lock folder", &dir)),
    }
    let meta = std::fs::symlink_metadata(&dir)
        .map_err(|e| named(e, "cannot read the lock folder", &dir))?;
    if !meta.is_dir() || meta.uid() != uid {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the lock folder `{}` is not a folder of yours (uid {uid}): remove it or set \
                 XDG_RUNTIME_DIR",
                dir.display()
            ),
        ));
    }
    Ok(dir)
}

/// A program listening on `addr` in the calling thread's network namespace, described by
/// its pid and command line where `/proc` shows them.
pub fn foreign_listener(addr: SocketAddr) -> Option<String> {
    let sockets = proc_net_tcp();
    let found = sockets
        .iter()
        .find(|s| s.state == LISTEN && s.local.port() == addr.port() && same_ip(s.local, addr))?;
    Some(describe_owner(found.inode))
}

/// "pid N, `command line`" of the process holding socket `inode`, where `/proc` shows it.
fn describe_owner(inode: u64) -> String {
    match owner_of(inode) {
        Some((pid, cmdline)) => format!("pid {pid}, `{cmdline}`"),
        None => UNSEEN.to_string(),
    }
}

/// How a holder that `/proc` does not show is described.
const UNSEEN: &str = "a process this user cannot see";

/// A UDP socket bound on `addr` (UDP leaves nothing behind a closed socket, so any is a
/// live program's), described as [`foreign_listener`] does.
fn foreign_datagram_socket(addr: SocketAddr) -> Option<String> {
    let sockets = proc_net_udp();
    let found = sockets
        .iter()
        .find(|s| s.local.port() == addr.port() && same_ip(s.local, addr))?;
    Some(describe_owner(found.inode))
}

/// A connection on `addr` that a live process owns (the harness holds no socket between
/// cases), described as [`foreign_listener`] does.
fn foreign_connection(addr: SocketAddr) -> Option<String> {
    let sockets = proc_net_tcp();
    let found = sockets.iter().find(|s| {
        s.state != LISTEN && s.inode != 0 && s.local.port() == addr.port() && same_ip(s.local, addr)
    })?;
    Some(match owner_of(found.inode) {
        Some((pid, cmdline)) => format!("pid {pid}, `{cmdline}`, to `{}`", found.remote),
        None => format!("{UNSEEN}, to `{}`", found.remote),
    })
}

fn same_ip(local: SocketAddr, addr: SocketAddr) -> bool {
    local.ip() == addr.ip() || local.ip().is_unspecified() || addr.ip().is_unspecified()
}

/// The pid and command line of the process holding socket `inode`.
fn owner_of(inode: u64) -> Option<(u32, String)> {
    if inode == 0 {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if socket_inodes(&[pid]).contains(&inode) {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline)
                .trim_end_matches('\0')
                .replace('\0', " ");
            return Some((pid, cmdline));
        }
    }
    None
}

/// Clears what earlier connections left on `addr` on the shared network: `TIME_WAIT` (and
/// orphaned `FIN_WAIT`/`LAST_ACK`/`CLOSING` sockets), which make a server that does not set
/// `SO_REUSEADDR` fail with `Address already in use` for a minute.
///
/// How, without privilege: for each such socket, connect to it from its own remote address
/// (both ends are on loopback, and that port is free again once its socket closed). The
/// leftover answers the SYN with an ACK for the old connection; that ACK finds no socket
/// (the first probe is closed at once) or a second probe that did not send what it
/// acknowledges, and either answers it with a RST carrying exactly the sequence number the
/// leftover expects; Linux drops a `TIME_WAIT` on such a RST (RFC 1337's assassination, on
/// unless `net.ipv4.tcp_rfc1337=1`). The second probe's own SYN then finds nothing and is
/// refused: that refusal is the event that says the leftover is gone. Nothing is sent
/// while something listens on `addr`, so no SYN ever opens a connection. A leftover whose
/// remote port is taken again is left alone. Returns what stays, each with its state and
/// why.
pub fn purge_time_wait(addr: SocketAddr) -> Vec<String> {
    let sockets = proc_net_tcp();
    let before = leftovers(addr, &sockets);
    let listening = sockets
        .iter()
        .any(|s| s.state == LISTEN && s.local.port() == addr.port() && same_ip(s.local, addr));
    if listening {
        // A SYN to a TIME_WAIT goes to a listener on its port, which it would connect to.
        return before
            .iter()
            .map(|l| {
                format!(
                    "{} from `{}` to `{}`: not cleared while a program listens there",
                    state_name(l.state),
                    l.local,
                    l.remote
                )
            })
            .collect();
    }
    let mut confirmations = Vec::new();
    // Why a leftover could not be reached, by its (local, remote).
    let mut unreachable = Vec::new();
    for leftover in &before {
        let (local, remote) = (leftover.local, leftover.remote);
        let probes = probe(local, remote).and_then(|first| {
            drop(first);
            probe(local, remote)
        });
        match probes {
            Ok(Some(second)) => confirmations.push(second),
            Ok(None) => {}
            Err(e) => unreachable.push((
                (local, remote),
                format!(
                    "nothing can be sent from its other end's port ({e}){}",
                    holder_of_port(remote, &sockets, leftover)
                ),
            )),
        }
    }
    // The exchanges are a few packets on loopback: wait for every second probe's refusal,
    // at most until a deadline (a leftover that stays only means a server without
    // SO_REUSEADDR may fail to bind, as it would without sockcheck).
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut fds: Vec<libc::pollfd> = confirmations
        .iter()
        .map(|s| libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(s),
            events: libc::POLLOUT,
            revents: 0,
        })
        .collect();
    while !fds.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        // SAFETY: a valid array of pollfds for sockets that outlive the call.
        let n = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                left.as_millis().clamp(1, 2000) as libc::c_int,
            )
        };
        if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            break;
        }
        fds.retain(|p| p.revents == 0);
    }
    drop(confirmations);
    let left = leftovers(addr, &proc_net_tcp());
    left.iter()
        .map(|l| {
            let key = (l.local, l.remote);
            let why = match unreachable.iter().find(|(k, _)| *k == key) {
                Some((_, why)) => why.clone(),
                None if before.iter().any(|b| (b.local, b.remote) == key) => {
                    "it outlived the reset (is net.ipv4.tcp_rfc1337 set to 1?)".to_string()
                }
                None => "it appeared while the others were cleared".to_string(),
            };
            format!(
                "{} from `{}` to `{}`: {why}",
                state_name(l.state),
                l.local,
                l.remote
            )
        })
        .collect()
}

/// A socket bound to `from` that has sent a SYN to `to`; `None` when the connection was
/// refused at once (nothing was there to clear).
fn probe(to: SocketAddr, from: SocketAddr) -> io::Result<Option<socket2::Socket>> {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let sock = Socket::new(Domain::for_address(from), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.bind(&SockAddr::from(from))?;
    sock.set_nonblocking(true)?;
    match sock.connect(&SockAddr::from(to)) {
        Ok(()) => Ok(Some(sock)),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(Some(sock)),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(None),
        Err(e) => Err(e),
    }
}

/// Who holds port `remote` now, besides `leftover`, for the note on an uncleared leftover.
fn holder_of_port(remote: SocketAddr, sockets: &[ProcSocket], leftover: &ProcSocket) -> String {
    let holder = sockets.iter().find(|s| {
        s.local.port() == remote.port()
            && same_ip(s.local, remote)
            && (s.local, s.remote) != (leftover.local, leftover.remote)
    });
    match holder {
        Some(s) if s.inode != 0 => format!(
            ": {} holds it, {} to `{}`",
            describe_owner(s.inode),
            state_name(s.state),
            s.remote
        ),
        Some(s) => format!(
            ": a closed connection holds it, {} to `{}`",
            state_name(s.state),
            s.remote
        ),
        None => String::new(),
    }
}

/// The name of a TCP state as `/proc/net/tcp` numbers it.
fn state_name(state: u8) -> &'static str {
    match state {
        0x01 => "ESTABLISHED",
        0x02 => "SYN_SENT",
        0x03 => "SYN_RECV",
        0x04 => "FIN_WAIT1",
        0x05 => "FIN_WAIT2",
        0x06 => "TIME_WAIT",
        0x07 => "CLOSE",
        0x08 => "CLOSE_WAIT",
        0x09 => "LAST_ACK",
        0x0A => "LISTEN",
        0x0B => "CLOSING",
        _ => "a socket",
    }
}

/// Whether the other end of our connection `ours`–`theirs` is a socket that its program
/// has closed and no process holds any more (it waits for our FIN, in `FIN_WAIT2`).
pub fn orphaned_end(ours: SocketAddr, theirs: SocketAddr) -> bool {
    proc_net_tcp().iter().any(|s| {
        s.local == theirs && s.remote == ours && s.inode == 0 && LEFTOVER_STATES.contains(&s.state)
    })
}

/// The closed connections on `addr` that keep it bound (`TIME_WAIT` and the like), as
/// (local, remote): what a server without `SO_REUSEADDR` would trip on now.
pub fn leftovers_on(addr: SocketAddr) -> Vec<(SocketAddr, SocketAddr)> {
    leftovers(addr, &proc_net_tcp())
        .into_iter()
        .map(|s| (s.local, s.remote))
        .collect()
}

/// The orphaned sockets on `addr` that keep it bound.
fn leftovers(addr: SocketAddr, sockets: &[ProcSocket]) -> Vec<ProcSocket> {
    sockets
        .iter()
        .filter(|s| {
            LEFTOVER_STATES.contains(&s.state)
                && s.inode == 0
                && s.local.port() == addr.port()
                && same_ip(s.local, addr)
                && s.remote.ip().is_loopback()
        })
        .cloned()
        .collect()
}

const LISTEN: u8 = 0x0A;
/// TIME_WAIT, FIN_WAIT1, FIN_WAIT2, CLOSING, LAST_ACK: states that keep the local port bound.
const LEFTOVER_STATES: [u8; 5] = [0x06, 0x04, 0x05, 0x0B, 0x09];

/// One line of `/proc/net/tcp{,6}`.
#[derive(Debug, Clone, PartialEq)]
struct ProcSocket {
    local: SocketAddr,
    remote: SocketAddr,
    state: u8,
    inode: u64,
}

fn proc_net_tcp() -> Vec<ProcSocket> {
    let mut found = Vec::new();
    for (file, v6) in [
        ("/proc/thread-self/net/tcp", false),
        ("/proc/thread-self/net/tcp6", true),
    ] {
        if let Ok(text) = std::fs::read_to_string(file) {
            found.extend(parse_proc_net(&text, v6));
        }
    }
    found
}

/// Raises `lo` in the current network namespace (a new one starts with it down).
fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket and ioctl calls on a zeroed `ifreq` that names `lo`; the fd is
    // closed on every path.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        let mut result = Ok(());
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            result = Err(io::Error::last_os_error());
        } else {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) < 0 {
                result = Err(io::Error::last_os_error());
            }
        }
        libc::close(fd);
        result
    }
}

/// The TCP sockets listening in the calling thread's network namespace (in a private
/// namespace: exactly the implementation's).
pub fn tcp_listeners() -> Vec<SocketAddr> {
    proc_net_tcp()
        .into_iter()
        .filter(|s| s.state == LISTEN)
        .map(|s| s.local)
        .collect()
}

/// The TCP sockets listening that process `root` or one of its descendants holds: on the
/// shared network, the program's own (its processes descend from the case's init, which
/// is a subreaper, so even a daemon's do).
pub fn listeners_of(root: u32) -> Vec<SocketAddr> {
    let inodes = socket_inodes(&descendants(root));
    proc_net_tcp()
        .into_iter()
        .filter(|s| s.state == LISTEN && inodes.contains(&s.inode))
        .map(|s| s.local)
        .collect()
}

/// `root` and every process that descends from it, from the parent pids in `/proc`.
fn descendants(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces and parentheses.
        let ppid = stat
            .rfind(')')
            .and_then(|close| stat[close + 1..].split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    found
}

/// The inodes of the sockets processes `pids` hold open.
fn socket_inodes(pids: &[u32]) -> Vec<u64> {
    let mut inodes = Vec::new();
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let link = link.to_string_lossy();
            if let Some(inode) = link
                .strip_prefix("socket:[")
                .and_then(|l| l.strip_suffix(']'))
                .and_then(|i| i.parse().ok())
            {
                inodes.push(inode);
            }
        }
    }
    inodes
}

/// The UDP sockets bound in the calling thread's network namespace (`/proc/net/udp{,6}`),
/// whatever their address.
pub fn udp_sockets() -> Vec<SocketAddr> {
    proc_net_udp().into_iter().map(|s| s.local).collect()
}

fn proc_net_udp() -> Vec<ProcSocket> {
    let mut found = Vec::new();
    for (file, v6) in [
        ("/proc/thread-self/net/udp", false),
        ("/proc/thread-self/net/udp6", true),
    ] {
        if let Ok(text) = std::fs::read_to_string(file) {
            // Every state: a socket that connect()ed shows as established, not as 07.
            found.extend(parse_proc_net(&text, v6));
        }
    }
    found
}

/// How many datagrams reached a UDP port of this network namespace where no socket was
/// bound (the kernel's `Udp: NoPorts` counter, each answered with ICMP port unreachable).
pub fn udp_no_ports() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/net/snmp").ok()?;
    parse_udp_no_ports(&text)
}

fn parse_udp_no_ports(text: &str) -> Option<u64> {
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let names = udp.next()?;
    let values = udp.next()?;
    let column = names.split_whitespace().position(|n| n == "NoPorts")?;
    values.split_whitespace().nth(column)?.parse().ok()
}

/// Parses `/proc/net/tcp{,6}`.
fn parse_proc_net(text: &str, v6: bool) -> Vec<ProcSocket> {
    let addr = |field: &str| -> Option<SocketAddr> {
        let (ip, port) = field.split_once(':')?;
        let port = u16::from_str_radix(port, 16).ok()?;
        let ip = if v6 {
            let mut octets = [0u8; 16];
            for (word, chunk) in octets.chunks_mut(4).enumerate() {
                let w = u32::from_str_radix(ip.get(word * 8..word * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&w.to_le_bytes());
            }
            let v6 = Ipv6Addr::from(octets);
            v6.to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6))
        } else {
            let w = u32::from_str_radix(ip, 16).ok()?;
            IpAddr::V4(Ipv4Addr::from(w.to_le_bytes()))
        };
        Some(SocketAddr::new(ip, port))
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            Some(ProcSocket {
                local: addr(fields.get(1)?)?,
                remote: addr(fields.get(2)?)?,
                state: u8::from_str_radix(fields.get(3)?, 16).ok()?,
                inode: fields.get(9).and_then(|i| i.parse().ok()).unwrap_or(0),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_udp_no_ports_counter() {
        let snmp = "Tcp: RtoAlgorithm RtoMin\nTcp: 1 200\n\
                    Udp: InDatagrams NoPorts InErrors OutDatagrams\nUdp: 12 3 0 15\n\
                    UdpLite: InDatagrams NoPorts\nUdpLite: 0 0\n";
        assert_eq!(parse_udp_no_ports(snmp), Some(3));
        assert_eq!(parse_udp_no_ports("Tcp: A\nTcp: 1\n"), None);
    }

    #[test]
    fn parses_listening_sockets_of_proc_net() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue\n\
   0: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0 \n\
   1: 0100007F:1F90 0100007F:A000 01 00000000:00000000 00:00000000 00000000     0 \n";
        let parsed = parse_proc_net(v4, false);
        assert_eq!(parsed.len(), 2);
        assert_eq!(
            parsed[0].local,
            "127.0.0.1:8081".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(parsed[0].state, LISTEN);
        assert_eq!(
            parsed[1].remote,
            "127.0.0.1:40960".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(parsed[1].state, 1);
        let v6 = "  sl  local_address\n   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 0\n";
        let parsed = parse_proc_net(v6, true);
        assert_eq!(parsed[0].local, "[::]:8080".parse::<SocketAddr>().unwrap());
        assert_eq!(parsed[0].state, LISTEN);
    }
}
