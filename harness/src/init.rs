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

use std::ffi::{CString, OsString};
use std::io::{self, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The hidden subcommand.
pub const SUBCOMMAND: &str = "__init";
/// The fd of the status pipe's write end in the init.
pub const STATUS_FD: RawFd = 3;

/// What the harness asks of the init.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Options {
    /// It is pid 1 of the case's pid namespace (otherwise: the shared network).
    pub pid_namespace: bool,
    /// The program's folder: the only one it may write, besides a private /tmp.
    pub files: Option<PathBuf>,
    /// The case's temp folder, removed when SIGTERM ends the case (so that a harness
    /// killed with SIGKILL leaves none behind).
    pub folder: Option<PathBuf>,
    pub limits: Limits,
    /// The program and its arguments.
    pub command: Vec<OsString>,
}

/// Resource limits of the program, with defaults a normal program never meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// CPU seconds, per process.
    pub cpu_secs: u64,
    /// Address space, MiB, per process.
    pub memory_mib: u64,
    /// Processes of the case at once.
    pub processes: u64,
    /// Largest file it may write, MiB.
    pub file_mib: u64,
    /// Open files, per process.
    pub open_files: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            cpu_secs: 120,
            memory_mib: 8 << 10,
            processes: 1024,
            file_mib: 256,
            open_files: 1024,
        }
    }
}

/// The smallest pid_max the kernel takes (it keeps 300 pids for itself).
const MIN_PID_MAX: u64 = 301;

impl Options {
    /// The arguments after `sockcheck`, for the harness to spawn.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![SUBCOMMAND.into()];
        if self.pid_namespace {
            args.push("--pid-namespace".into());
        }
        if let Some(dir) = &self.files {
            args.push("--files".into());
            args.push(dir.clone().into());
        }
        if let Some(dir) = &self.folder {
            args.push("--folder".into());
            args.push(dir.clone().into());
        }
        let l = self.limits;
        args.push("--limits".into());
        args.push(
            format!(
                "{},{},{},{},{}",
                l.cpu_secs, l.memory_mib, l.processes, l.file_mib, l.open_files
            )
            .into(),
        );
        args.push("--".into());
        args.extend(self.command.iter().cloned());
        args
    }

    /// Parses what [`Options::to_args`] wrote (after the subcommand).
    pub fn parse(args: &[OsString]) -> Result<Options, String> {
        let mut options = Options::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.to_str() {
                Some("--pid-namespace") => options.pid_namespace = true,
                Some("--files") => {
                    options.files = Some(it.next().ok_or("--files needs a folder")?.into())
                }
                Some("--folder") => {
                    options.folder = Some(it.next().ok_or("--folder needs a folder")?.into())
                }
                Some("--limits") => {
                    let text = it.next().and_then(|a| a.to_str()).ok_or("--limits")?;
                    let v: Vec<u64> = text
                        .split(',')
                        .map(|n| n.parse().map_err(|_| format!("bad --limits `{text}`")))
                        .collect::<Result<_, _>>()?;
                    let [cpu_secs, memory_mib, processes, file_mib, open_files] = v[..] else {
                        return Err(format!("bad --limits `{text}`"));
                    };
                    options.limits = Limits {
                        cpu_secs,
                        memory_mib,
                        processes,
                        file_mib,
                        open_files,
                    };
                }
                Some("--") => {
                    options.command = it.cloned().collect();
                    break;
                }
                _ => return Err(format!("unknown init argument {arg:?}")),
            }
        }
        if options.command.is_empty() {
            return Err("no command to run".into());
        }
        Ok(options)
    }
}

/// Signals passed on to the program.
const FORWARDED: [libc::c_int; 6] = [
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

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
        let parent = cstring(dir.parent()?).ok()?;
        // SAFETY: open of a NUL-terminated path; the fd is then owned.
        let fd = unsafe {
            libc::open(
                parent.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        (fd >= 0).then(|| Folder {
            // SAFETY: a fresh fd we own.
            parent: unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) },
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
        if open {
            // The program must not inherit it.
            // SAFETY: fcntl on our own fd.
            unsafe { libc::fcntl(STATUS_FD, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        // SAFETY: the harness gave us this fd, and only this struct owns it.
        Status(open.then(|| unsafe { std::fs::File::from_raw_fd(STATUS_FD) }))
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
    // SAFETY: getpid cannot fail.
    if options.pid_namespace && unsafe { libc::getpid() } == 1 {
        // The cap on processes: pid_max of the pid namespace (Linux 6.14 and later make it
        // per namespace; older kernels refuse, and the cap is then the rlimit's alone).
        let pid_max = (options.limits.processes + 1).max(MIN_PID_MAX);
        let _ = std::fs::write("/proc/sys/kernel/pid_max", pid_max.to_string());
    }
    if let Some(dir) = &options.files {
        isolate_files(dir, options.pid_namespace)
            .map_err(|e| format!("cannot make the files read-only: {e}"))?;
    }
    Ok(())
}

/// The folders replaced by a private tmpfs.
const PRIVATE_TMP: [&str; 3] = ["/tmp", "/var/tmp", "/dev/shm"];

/// A mount namespace where everything is read-only but `dir` (the program's copy of its
/// folder) and fresh tmpfs on /tmp, /var/tmp and /dev/shm; /proc shows the case's pid
/// namespace only. The harness's own binary stays where it was, even in /tmp: the bundled
/// reference runs from it.
fn isolate_files(dir: &Path, pid_namespace: bool) -> io::Result<()> {
    let exe = std::env::current_exe()?;
    // SAFETY: plain syscalls on NUL-terminated paths; every fd is owned and closed.
    unsafe {
        check(
            libc::unshare(libc::CLONE_NEWNS) as _,
            "unshare(CLONE_NEWNS)",
        )?;
        check(
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) as _,
            "private /",
        )?;
        // Detached copies, still writable, of what must stay visible once /tmp is
        // replaced: the folder (which usually lies in /tmp) and the binary.
        let folder = detach(dir)?;
        let binary = if PRIVATE_TMP.iter().any(|t| exe.starts_with(t)) {
            Some(detach(&exe)?)
        } else {
            None
        };
        let mut attr: libc::mount_attr = std::mem::zeroed();
        attr.attr_set = libc::MOUNT_ATTR_RDONLY;
        check(
            libc::syscall(
                libc::SYS_mount_setattr,
                libc::AT_FDCWD,
                c"/".as_ptr(),
                libc::AT_RECURSIVE,
                &attr as *const libc::mount_attr,
                std::mem::size_of::<libc::mount_attr>(),
            ),
            "read-only /",
        )?;
        for tmp in PRIVATE_TMP {
            let is_dir = std::fs::symlink_metadata(tmp).is_ok_and(|m| m.is_dir());
            if !is_dir {
                continue;
            }
            let target = cstring(Path::new(tmp))?;
            check(
                libc::mount(
                    c"tmpfs".as_ptr(),
                    target.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    c"mode=1777,size=256m".as_ptr().cast(),
                ) as _,
                &format!("tmpfs on {tmp}"),
            )?;
        }
        attach(&folder, dir, true)?;
        if let Some(binary) = binary {
            attach(&binary, &exe, false)?;
            // Read-only, as it was everywhere else.
            let mut attr: libc::mount_attr = std::mem::zeroed();
            attr.attr_set = libc::MOUNT_ATTR_RDONLY;
            let path = cstring(&exe)?;
            check(
                libc::syscall(
                    libc::SYS_mount_setattr,
                    libc::AT_FDCWD,
                    path.as_ptr(),
                    0,
                    &attr as *const libc::mount_attr,
                    std::mem::size_of::<libc::mount_attr>(),
                ),
                "read-only binary",
            )?;
        }
        if pid_namespace {
            // Best effort: a container may refuse a new proc; the host's then stays, read-only.
            libc::mount(
                c"proc".as_ptr(),
                c"/proc".as_ptr(),
                c"proc".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                std::ptr::null(),
            );
        }
    }
    // The working directory still points into the old, now read-only, folder.
    std::env::set_current_dir(dir)
}

fn cstring(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other)
}

fn check(rc: libc::c_long, what: &str) -> io::Result<libc::c_long> {
    if rc < 0 {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    } else {
        Ok(rc)
    }
}

/// A detached copy of the mount at `path` (a bind mount not attached anywhere yet).
fn detach(path: &Path) -> io::Result<std::os::fd::OwnedFd> {
    let c = cstring(path)?;
    // SAFETY: open_tree returns a new fd or -1.
    let fd = check(
        unsafe {
            libc::syscall(
                libc::SYS_open_tree,
                libc::AT_FDCWD,
                c.as_ptr(),
                libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC,
            )
        },
        &format!("open_tree {}", path.display()),
    )?;
    // SAFETY: a fresh fd we own.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Attaches a detached copy at `path`, making the path first if a fresh tmpfs hid it.
fn attach(tree: &std::os::fd::OwnedFd, path: &Path, is_dir: bool) -> io::Result<()> {
    if is_dir {
        let _ = std::fs::create_dir_all(path);
    } else if !path.exists() {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::File::create(path);
    }
    let c = cstring(path)?;
    // SAFETY: move_mount of an fd we own onto a NUL-terminated path.
    check(
        unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                std::os::fd::AsRawFd::as_raw_fd(tree),
                c"".as_ptr(),
                libc::AT_FDCWD,
                c.as_ptr(),
                libc::MOVE_MOUNT_F_EMPTY_PATH,
            )
        },
        &format!("mount {}", path.display()),
    )?;
    Ok(())
}

/// SIGCHLD, SIGTERM and the forwarded signals, blocked and read from a signalfd.
struct SignalFd(RawFd);

impl SignalFd {
    fn new() -> io::Result<SignalFd> {
        // SAFETY: building a sigset and blocking it in this single-threaded process.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for sig in FORWARDED.iter().chain(&[libc::SIGCHLD, libc::SIGTERM]) {
                libc::sigaddset(&mut set, *sig);
            }
            if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(SignalFd(fd))
        }
    }

    /// Waits at most `timeout` (`None`: forever) for a signal.
    fn next(&self, timeout: Option<Duration>) -> Option<libc::c_int> {
        let mut p = libc::pollfd {
            fd: self.0,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as libc::c_int);
        // SAFETY: one pollfd; read of one signalfd_siginfo into a zeroed struct.
        unsafe {
            if libc::poll(&mut p, 1, ms) <= 0 {
                return None;
            }
            let mut info: libc::signalfd_siginfo = std::mem::zeroed();
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            let n = libc::read(
                self.0,
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                size,
            );
            (n as usize == size).then_some(info.ssi_signo as libc::c_int)
        }
    }
}

/// Forks and execs the program.
fn start(options: &Options) -> io::Result<libc::pid_t> {
    let argv: Vec<CString> = options
        .command
        .iter()
        .map(|a| CString::new(a.as_bytes()).map_err(io::Error::other))
        .collect::<io::Result<_>>()?;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let nproc = (!options.pid_namespace).then(|| shared_nproc_limit(options.limits.processes));
    // SAFETY: this process is single-threaded, so the child may do anything before exec;
    // it only makes syscalls and then execs or exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: in the child, see above.
        unsafe { program_child(options.limits, nproc, &argv_ptrs) }
    }
    if !options.pid_namespace {
        // Orphans of the program come back to us, to be killed with the case.
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    Ok(pid)
}

/// On the shared network, the rlimit on processes counts every process of the user, so
/// the cap is what the user runs now plus the case's share. Root is exempt from it (the
/// kernel does not count processes of uid 0), so it bounds only ordinary users.
fn shared_nproc_limit(processes: u64) -> u64 {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let mut tasks = 0u64;
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
                continue;
            };
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse::<u64>().ok())
            };
            if field("Uid:") == Some(uid as u64) {
                tasks += field("Threads:").unwrap_or(1);
            }
        }
    }
    tasks + processes
}

/// The program's side of the fork: limits, no privileges, exec.
unsafe fn program_child(limits: Limits, nproc: Option<u64>, argv: &[*const libc::c_char]) -> ! {
    let parent = libc::getppid();
    let mut empty: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut empty);
    libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    // Rust's runtime ignores SIGPIPE; an ignored signal stays ignored across exec.
    libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    // Dies with the init, even when the init is killed.
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
    if libc::getppid() != parent {
        libc::_exit(126);
    }
    let limit = |resource, value: u64| {
        let lim = libc::rlimit {
            rlim_cur: value as libc::rlim_t,
            rlim_max: value as libc::rlim_t,
        };
        libc::setrlimit(resource, &lim);
    };
    limit(libc::RLIMIT_CORE, 0);
    limit(libc::RLIMIT_CPU, limits.cpu_secs);
    limit(libc::RLIMIT_AS, limits.memory_mib << 20);
    limit(libc::RLIMIT_FSIZE, limits.file_mib << 20);
    limit(libc::RLIMIT_NOFILE, limits.open_files);
    if let Some(n) = nproc {
        limit(libc::RLIMIT_NPROC, n);
    }
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

/// No capabilities now or after exec (even as root: the bounding set is emptied, so
/// `execve` gives root none), and no way to gain any (`no_new_privs`: set-uid binaries do
/// not raise privileges).
unsafe fn drop_privileges() {
    libc::prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL,
        0,
        0,
        0,
    );
    for cap in 0..64 {
        libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
    }
    libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr());
}

/// Points stdin, stdout and stderr at /dev/null.
fn detach_stdio() {
    // SAFETY: open and dup2 on standard fds of this process.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            libc::close(null);
        }
    }
}

/// Reaps children and forwards signals until the program exits (its raw wait status) or
/// SIGTERM ends the case (`None`).
fn supervise(options: &Options, signals: &SignalFd, program: libc::pid_t) -> Option<i32> {
    loop {
        // A child may have exited before the signalfd was read: reap first.
        if let Some(raw) = reap(program) {
            return Some(raw);
        }
        match signals.next(None) {
            Some(libc::SIGCHLD) | None => {}
            Some(libc::SIGTERM) => {
                kill_all(options.pid_namespace, signals);
                return None;
            }
            Some(sig) => {
                // SAFETY: signalling our own child.
                unsafe { libc::kill(program, sig) };
            }
        }
    }
}

/// Reaps every child that exited; the program's raw status if it was one of them.
fn reap(program: libc::pid_t) -> Option<i32> {
    let mut found = None;
    loop {
        let mut raw = 0;
        // SAFETY: waitpid on our children.
        let pid = unsafe { libc::waitpid(-1, &mut raw, libc::WNOHANG) };
        if pid <= 0 {
            return found;
        }
        if pid == program {
            found = Some(raw);
        }
    }
}

/// Kills every process of the case but the init, and reaps them.
fn kill_all(pid_namespace: bool, signals: &SignalFd) {
    loop {
        if pid_namespace {
            // Pid 1 signals every other process of its namespace with -1 (the kernel would
            // kill them when pid 1 exits; this makes the reaping explicit). Again on every
            // round, for a child that was being forked during the last one.
            // SAFETY: kill as pid 1 of the case's own pid namespace.
            unsafe { libc::kill(-1, libc::SIGKILL) };
        } else {
            for child in children() {
                // SAFETY: signalling our own child.
                unsafe { libc::kill(child, libc::SIGKILL) };
            }
        }
        loop {
            let mut raw = 0;
            // SAFETY: waitpid on our children.
            let pid = unsafe { libc::waitpid(-1, &mut raw, libc::WNOHANG) };
            if pid == 0 {
                break;
            }
            if pid < 0 {
                return; // ECHILD: nothing left
            }
        }
        // A killed child's own children come back to us (subreaper) when it dies, with no
        // signal of their own: look again at least every 20 ms.
        signals.next(Some(Duration::from_millis(20)));
    }
}

/// The init's children, from /proc (a subreaper's grow as orphans arrive).
fn children() -> Vec<libc::pid_t> {
    // SAFETY: getpid cannot fail.
    let me = unsafe { libc::getpid() };
    let path = format!("/proc/{me}/task/{me}/children");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return text
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
    }
    // Kernels without CONFIG_PROC_CHILDREN: every process whose parent is us.
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let mut fields = stat[close + 1..].split_whitespace();
        if fields.nth(1).and_then(|p| p.parse::<libc::pid_t>().ok()) == Some(me) {
            if let Ok(pid) = entry.file_name().to_string_lossy().parse() {
                found.push(pid);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_round_trip_through_arguments() {
        let options = Options {
            pid_namespace: true,
            files: Some("/tmp/sockcheck-iut-x".into()),
            folder: Some("/tmp/sockcheck-iut-x".into()),
            limits: Limits {
                cpu_secs: 5,
                ..Limits::default()
            },
            command: vec!["sh".into(), "-c".into(), "python3 -- s.py".into()],
        };
        let args = options.to_args();
        assert_eq!(args[0], SUBCOMMAND);
        assert_eq!(Options::parse(&args[1..]), Ok(options));
        assert!(Options::parse(&["--".into()]).is_err(), "no command");
        assert!(
            Options::parse(&["--limits".into(), "1,2".into(), "--".into(), "x".into()]).is_err()
        );
    }
}
