//! Isolation of one case: a network namespace of its own (a fresh loopback, so hard-coded
//! `127.0.0.1:8080` servers never collide and leave no `TIME_WAIT` behind for the next case)
//! and a pid namespace (the case's init, `init/`, is its pid 1: when the case ends,
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
//!
//! Here: the modes, their detection and the entering of a case's namespaces or of the
//! shared network's lock; `foreign` names what stands in the way there, `time_wait`
//! clears what earlier cases left, `procnet` reads `/proc` for both, `diag` asks sock_diag
//! what `/proc` would cost too much to read.

mod diag;
mod foreign;
mod procnet;
mod time_wait;

// The parts see each other's items through the parent; the public ones are its API.
use foreign::*;
use procnet::*;

pub use foreign::foreign_listener;
pub use procnet::{connection_listed, listeners_of, tcp_listeners, udp_no_ports, udp_sockets};
pub use time_wait::{leftovers_on, orphaned_end, purge_time_wait};

use rustix::thread::UnshareFlags;
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
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    // SAFETY: unshare only changes this (single-threaded) process's user namespace (not
    // CLONE_FILES, the only flag that makes it unsafe).
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWUSER) }?;
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
        // SAFETY: unshare only changes this thread's namespaces (not CLONE_FILES, the only
        // flag that makes it unsafe); the thread then ends.
        unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET | UnshareFlags::NEWPID) }
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
    // SAFETY: unshare only changes this thread's namespaces (not CLONE_FILES, the only flag
    // that makes it unsafe).
    if unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET | UnshareFlags::NEWPID) }
        .is_err()
    {
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
    let uid = rustix::process::geteuid().as_raw();
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
