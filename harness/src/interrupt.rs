//! What an interrupted run must undo: every case's init (and with it every process of the
//! case) and every case's temp folder. Each [`crate::iut::Iut`] registers both here, under
//! one lock, as it creates them; [`terminate`] (called by the command line on SIGINT or
//! SIGTERM) takes the lock for good, ends every init, waits for them, removes every folder,
//! and leaves the lock held so that no case starts anything more before the process exits.

use std::collections::BTreeMap;
use std::io;
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
    /// The init's pid, and whether it is pid 1 of a pid namespace (SIGKILL ends it all) or
    /// a subreaper on the shared network (SIGTERM: it kills its descendants, then exits).
    init: Option<(libc::pid_t, bool)>,
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
    if let Some(entry) = reg.cases.get_mut(&ticket.0) {
        entry.init = Some((child.id() as libc::pid_t, pid_namespace));
    }
    Ok(child)
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
    let mut waiting = Vec::new();
    for entry in reg.cases.values() {
        if let Some((pid, pid_namespace)) = entry.init {
            let signal = if pid_namespace {
                libc::SIGKILL
            } else {
                libc::SIGTERM
            };
            // SAFETY: signalling an init this process spawned and has not reaped (a
            // registered init is released only after it is reaped).
            unsafe { libc::kill(pid, signal) };
            waiting.push(pid);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for pid in waiting {
        if !wait_exit(pid, deadline) {
            // SAFETY: as above; the init did not end its case in time.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
            }
            wait_exit(pid, Instant::now() + Duration::from_secs(1));
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

/// Waits until `pid` has exited (a zombie is enough: its case's processes are gone).
fn wait_exit(pid: libc::pid_t, deadline: Instant) -> bool {
    // SAFETY: pidfd_open returns a new fd or -1; it is closed below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as libc::c_int;
    if fd < 0 {
        return true; // already gone
    }
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let left = deadline.saturating_duration_since(Instant::now());
    // SAFETY: one pollfd; the fd is ours to close.
    unsafe {
        let n = libc::poll(
            &mut p,
            1,
            left.as_millis().min(i32::MAX as u128) as libc::c_int,
        );
        libc::close(fd);
        n > 0
    }
}
