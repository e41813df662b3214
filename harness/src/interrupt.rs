//! What an interrupted run must undo: every case's init (and with it every process of the
//! case) and every case's temp folder. Each [`crate::iut::Iut`] registers both here, under
//! one lock, as it creates them; [`terminate`] (called by the command line on SIGINT or
//! SIGTERM) takes the lock for good, ends every init, waits for them, removes every folder,
//! and leaves the lock held so that no case starts anything more before the process exits.

use rustix::process::{Pid, Signal};
use std::collections::BTreeMap;
use std::io;
use std::os::fd::OwnedFd;
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
    init: Option<(OwnedFd, Pid, bool)>,
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
    let pid = Pid::from_child(&child);
    if let (Some(entry), Some(fd)) = (
        reg.cases.get_mut(&ticket.0),
        crate::poll::pidfd_open(child.id()),
    ) {
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
            Signal::KILL
        } else {
            Signal::TERM
        };
        send(fd, signal);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for (fd, pid, _) in reg.cases.values().filter_map(|e| e.init.as_ref()) {
        if !crate::poll::wait_exit(fd, deadline) {
            // Still not exited, so its pid (and process group) is still its own.
            let _ = rustix::process::kill_process_group(*pid, Signal::KILL);
            send(fd, Signal::KILL);
            crate::poll::wait_exit(fd, Instant::now() + Duration::from_secs(1));
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
fn send(fd: &OwnedFd, signal: Signal) {
    let _ = rustix::process::pidfd_send_signal(fd, signal);
}
