//! The init of each case: the harness's own binary, re-executed as `sockcheck __init`, is
//! what the case thread spawns, and it starts the program under test. In the case's pid
//! namespace it is pid 1, so the program is an ordinary process (its default signal
//! actions work, and orphans are not its to reap); on the shared network it is a
//! subreaper, so every descendant that loses its parent (a `setsid` child, a double-forked
//! daemon) comes back to it and can be killed with the case.
//!
//! In order: it makes the files read-only except the program's folder and a private
//! `/tmp` (when asked: namespaces only), caps the number of processes of its pid namespace,
//! says "ready" on the status pipe, forks the program (resource limits, no capabilities,
//! `no_new_privs`, `PR_SET_PDEATHSIG`), then reaps every child, forwards the signals a
//! supervisor or a terminal sends (SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH),
//! and when the program exits, kills what it left and exits with its status (also written
//! on the status pipe as the raw wait status, so a death by signal is reported as one).
//! SIGTERM ends the case: the harness sends it at the end of a case on the shared network,
//! and the kernel sends it when the harness dies (`PR_SET_PDEATHSIG`, set before exec).
//!
//! This file is that flow; `options.rs` is what the harness asks (as a command line),
//! `mounts.rs` the files the program sees, `privileges.rs` its limits and capabilities,
//! `reaper.rs` the signals, the reaping and the end of every process of the case.

mod mounts;
mod options;
mod privileges;
mod reaper;

pub use options::{Limits, Options, SUBCOMMAND};
// The harness's side of the fork that starts the init passes on what it needs.
pub(crate) use privileges::keep_sys_admin;

use mounts::isolate_files;
use privileges::{drop_privileges, set_limits, shared_nproc_limit};
use reaper::{kill_all, supervise, SignalFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::FdFlags;
use rustix::process::{Pid, Signal};
use std::ffi::{CString, OsString};
use std::io::{self, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The fd of the status pipe's write end in the init.
pub const STATUS_FD: RawFd = 3;

/// The smallest pid_max the kernel takes (it keeps 300 pids for itself).
const MIN_PID_MAX: u64 = 301;

/// Runs the init; returns its exit status.
pub fn main(args: &[OsString]) -> i32 {
    let mut status = Status::new();
    let options = match Options::parse(args) {
        Ok(o) => o,
        Err(e) => {
            status.send(&format!("E{e}"));
            return 125;
        }
    };
    // Opened before the mount namespace hides or freezes it: through this fd the folder
    // stays removable on the host's own mount.
    let folder = options.folder.as_deref().and_then(Folder::open);
    if let Err(e) = prepare(&options) {
        status.send(&format!("E{e}"));
        return 125;
    }
    // On the shared network, a cgroup of the case's own caps its processes where one can be
    // made (in the pid namespace, its pid_max does).
    let cgroup = if options.pid_namespace {
        None
    } else {
        crate::cgroup::CaseCgroup::enter(options.limits.processes)
    };
    let signals = match SignalFd::new() {
        Ok(s) => s,
        Err(e) => {
            status.send(&format!("Ecannot block signals: {e}"));
            return 125;
        }
    };
    let program = match start(&options) {
        Ok(pid) => pid,
        Err(e) => {
            status.send(&format!("Ecannot start the program: {e}"));
            return 125;
        }
    };
    status.send("R");
    // The program's stdio are pipes the harness reads to their end: holding them open here
    // would hide that end until the init exits.
    detach_stdio();
    let raw = supervise(&options, &signals, program);
    // Whatever the program left dies too.
    kill_all(options.pid_namespace, &signals);
    if let Some(cgroup) = cgroup {
        cgroup.leave();
    }
    match raw {
        Some(raw) => {
            status.send(&format!("S{raw}"));
            if libc::WIFEXITED(raw) {
                libc::WEXITSTATUS(raw)
            } else {
                128 + libc::WTERMSIG(raw)
            }
        }
        // Ended before the program did (SIGTERM: the end of the case on the shared network,
        // or the harness died): nobody else may be left to remove the folder.
        None => {
            if let Some(folder) = folder {
                folder.remove();
            }
            128 + libc::SIGTERM
        }
    }
}

/// The case's folder, held by its parent's fd and its name.
struct Folder {
    parent: std::os::fd::OwnedFd,
    name: OsString,
}

impl Folder {
    fn open(dir: &Path) -> Option<Folder> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let parent = rustix::fs::open(dir.parent()?, flags, Mode::empty()).ok()?;
        Some(Folder {
            parent,
            name: dir.file_name().unwrap_or_default().to_os_string(),
        })
    }

    /// Removes the folder through the parent's fd (`/proc/self/fd/N` resolves to the
    /// host's mount, which this process's read-only view does not cover).
    fn remove(self) {
        let path = Path::new("/proc/self/fd")
            .join(std::os::fd::AsRawFd::as_raw_fd(&self.parent).to_string())
            .join(&self.name);
        let _ = std::fs::remove_dir_all(path);
    }
}

/// The status pipe: `R` ready, `E<why>` the init could not start the program, `S<raw>`
/// the program's wait status. One line each.
struct Status(Option<std::fs::File>);

impl Status {
    fn new() -> Status {
        // SAFETY: fstat on a small fd number only inspects it.
        let open = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            libc::fstat(STATUS_FD, &mut st) == 0
        };
        // SAFETY: the harness gave us this fd, and only this struct owns it.
        let file = open.then(|| unsafe { std::fs::File::from_raw_fd(STATUS_FD) });
        if let Some(f) = &file {
            // The program must not inherit it.
            let _ = rustix::io::fcntl_setfd(f, FdFlags::CLOEXEC);
        }
        Status(file)
    }

    fn send(&mut self, line: &str) {
        match &mut self.0 {
            Some(f) => {
                let _ = f.write_all(format!("{}\n", line.replace('\n', " ")).as_bytes());
            }
            None => {
                let _ = writeln!(io::stderr(), "sockcheck init: {line}");
            }
        }
    }
}

/// Everything before the program starts: the files it sees and the process cap.
fn prepare(options: &Options) -> Result<(), String> {
    if options.pid_namespace && rustix::process::getpid().is_init() {
        // The cap on processes: pid_max of the pid namespace (Linux 6.14 and later make it
        // per namespace; older kernels refuse, and the cap is then the rlimit's alone).
        let pid_max = (options.limits.processes + 1).max(MIN_PID_MAX);
        let _ = std::fs::write("/proc/sys/kernel/pid_max", pid_max.to_string());
    }
    if let Some(dir) = &options.files {
        isolate_files(dir, options.pid_namespace, &options.hidden)
            .map_err(|e| format!("cannot make the files read-only: {e}"))?;
    }
    Ok(())
}

/// Forks and execs the program.
fn start(options: &Options) -> io::Result<Pid> {
    let argv = Argv::new(&options.command)?;
    let nproc = (!options.pid_namespace).then(|| shared_nproc_limit(options.limits.processes));
    // SAFETY: this process is single-threaded, so the child may do anything before exec;
    // it only makes syscalls and then execs or exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    // No pid (0): this is the child.
    let Some(pid) = Pid::from_raw(pid) else {
        // SAFETY: in the child, see above.
        unsafe { program_child(options.limits, nproc, &argv.pointers) }
    };
    if !options.pid_namespace {
        // Orphans of the program come back to us, to be killed with the case (the kernel
        // takes any pid as yes).
        let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    }
    Ok(pid)
}

/// The program's command line as `execvp` takes it, made before the fork: NUL-terminated
/// strings and a null-terminated array of pointers into them.
struct Argv {
    /// Owns what `pointers` points to (moving the vector does not move the strings).
    _strings: Vec<CString>,
    pointers: Vec<*const libc::c_char>,
}

impl Argv {
    fn new(command: &[OsString]) -> io::Result<Argv> {
        let strings: Vec<CString> = command
            .iter()
            .map(|a| CString::new(a.as_bytes()).map_err(io::Error::other))
            .collect::<io::Result<_>>()?;
        let mut pointers: Vec<*const libc::c_char> = strings.iter().map(|a| a.as_ptr()).collect();
        pointers.push(std::ptr::null());
        Ok(Argv {
            _strings: strings,
            pointers,
        })
    }
}

/// The program's side of the fork: default signals, death with the init, limits, no
/// privileges, exec.
unsafe fn program_child(limits: Limits, nproc: Option<u64>, argv: &[*const libc::c_char]) -> ! {
    let parent = rustix::process::getppid();
    default_signals();
    die_with(parent);
    set_limits(limits, nproc);
    drop_privileges();
    libc::execvp(argv[0], argv.as_ptr());
    let e = io::Error::last_os_error();
    let _ = writeln!(
        io::stderr(),
        "sockcheck: cannot run {:?}: {e}",
        std::ffi::CStr::from_ptr(argv[0])
    );
    libc::_exit(127);
}

/// Undoes what the init did to signals, which exec would keep: the blocked mask (the
/// signalfd's signals) and Rust's runtime ignoring SIGPIPE.
unsafe fn default_signals() {
    let mut empty: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut empty);
    libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    // Rust's runtime ignores SIGPIPE; an ignored signal stays ignored across exec.
    libc::signal(libc::SIGPIPE, libc::SIG_DFL);
}

/// Dies with the init, even when the init is killed. `parent` is the init's pid as read
/// first thing after the fork: if the init died before the death signal was set, this
/// child has another parent by now, and exits at once.
unsafe fn die_with(parent: Option<Pid>) {
    let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
    if rustix::process::getppid() != parent {
        libc::_exit(126);
    }
}

/// Points stdin, stdout and stderr at /dev/null.
fn detach_stdio() {
    let flags = OFlags::RDWR | OFlags::CLOEXEC;
    if let Ok(null) = rustix::fs::open("/dev/null", flags, Mode::empty()) {
        let _ = rustix::stdio::dup2_stdin(&null);
        let _ = rustix::stdio::dup2_stdout(&null);
        let _ = rustix::stdio::dup2_stderr(&null);
    }
}
