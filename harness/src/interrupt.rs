//! What an interrupted run must undo: every case's init (and with it every process of the
//! case) and every case's temp folder. Each [`crate::iut::Iut`] registers both here, under
//! one lock, as it creates them; [`terminate`] (called by the command line on SIGINT or
//! SIGTERM) takes the lock for good, ends every init, waits for them, removes every folder,
//! and leaves the lock held so that no case starts anything more before the process exits.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Registry {
    interrupted: bool,
    next: u64,
    cases: BTreeMap<u64, Entry>,
}

struct Entry {
    dir: PathBuf,
    /// The init (a pidfd, which no other process can ever be, even once the init is reaped
    /// and its pid reused), its pid, and whether it is pid 1 of a pid namespace (SIGKILL
    /// ends it all) or a subreaper on the shared network (SIGTERM: it kills its
    /// descendants, then exits).
    init: Option<(OwnedFd, libc::pid_t, bool)>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    interrupted: false,
    next: 0,
    cases: BTreeMap::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    // A panic elsewhere while holding the lock leaves the data valid: go on with it.
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

fn interrupted() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "the run was interrupted")
}

/// A case's registration; [`release`] ends it.
#[derive(Debug)]
pub struct Ticket(u64);

/// Creates a case's temp folder and registers it, atomically with respect to
/// [`terminate`].
pub fn new_workdir() -> io::Result<(Ticket, tempfile::TempDir)> {
    let mut reg = registry();
    if reg.interrupted {
        return Err(interrupted());
    }
    let dir = tempfile::Builder::new()
        .prefix("sockcheck-iut-")
        .tempdir()?;
    reg.next += 1;
    let id = reg.next;
    reg.cases.insert(
        id,
        Entry {
            dir: dir.path().to_path_buf(),
            init: None,
        },
    );
    Ok((Ticket(id), dir))
}

/// Spawns a case's init with `spawn` and registers its pid, atomically with respect to
/// [`terminate`].
pub fn spawn_init(
    ticket: &Ticket,
    pid_namespace: bool,
    spawn: impl FnOnce() -> io::Result<std::process::Child>,
) -> io::Result<std::process::Child> {
    let mut reg = registry();
    if reg.interrupted {
        return Err(interrupted());
    }
    let child = spawn()?;
    let pid = child.id() as libc::pid_t;
    // SAFETY: pidfd_open returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if let (Some(entry), true) = (reg.cases.get_mut(&ticket.0), fd >= 0) {
        // SAFETY: a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
        entry.init = Some((fd, pid, pid_namespace));
    }
    Ok(child)
}

/// Returns once no case's init is being spawned. Between its fork and its exec a child
/// holds a copy of every fd of the harness, so a socket that another case has just closed
/// lives on until that exec; [`spawn_init`] spawns under the registry's lock (and
/// `Command::spawn` returns only once the child has exec'd), so taking the lock is the
/// wait.
pub fn spawns_settled() {
    drop(registry());
}

/// Ends a case's registration once its init is reaped, removing its folder.
pub fn release(ticket: &Ticket, dir: tempfile::TempDir) {
    let mut reg = registry();
    reg.cases.remove(&ticket.0);
    // Removed under the lock, so that an interrupt never exits half-way through.
    let _ = dir.close();
}

/// Ends every registered case: kills its init (and so every process of the case), waits
/// for it, removes its folder. Keeps the lock: call it only to exit right after.
pub fn terminate() {
    let mut reg = registry();
    reg.interrupted = true;
    for (fd, _, pid_namespace) in reg.cases.values().filter_map(|e| e.init.as_ref()) {
        let signal = if *pid_namespace {
            libc::SIGKILL
        } else {
            libc::SIGTERM
        };
        send(fd, signal);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for (fd, pid, _) in reg.cases.values().filter_map(|e| e.init.as_ref()) {
        if !wait_exit(fd, deadline) {
            // Still not exited, so its pid (and process group) is still its own.
            // SAFETY: signalling the group of an init that has not been reaped.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            send(fd, libc::SIGKILL);
            wait_exit(fd, Instant::now() + Duration::from_secs(1));
        }
    }
    for entry in reg.cases.values() {
        remove(&entry.dir);
    }
    std::mem::forget(reg);
}

fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

/// Sends `signal` to the process behind a pidfd (nothing if it was reaped already).
fn send(fd: &OwnedFd, signal: libc::c_int) {
    // SAFETY: pidfd_send_signal on a pidfd we own, with no siginfo.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
}

/// Waits until the process behind a pidfd has exited (a zombie is enough: its case's
/// processes are gone).
fn wait_exit(fd: &OwnedFd, deadline: Instant) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let left = deadline.saturating_duration_since(Instant::now());
    // SAFETY: one valid pollfd.
    unsafe {
        libc::poll(
            &mut p,
            1,
            left.as_millis().min(i32::MAX as u128) as libc::c_int,
        ) > 0
    }
}
