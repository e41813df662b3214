//! The files a case's program sees: a mount namespace of its own, read-only but for its
//! folder and private tmpfs, built with the new mount API (`open_tree`, `move_mount`,
//! `mount_setattr`).

use rustix::fs::CWD;
use rustix::mount::{MountFlags, MountPropagationFlags, MoveMountFlags, OpenTreeFlags};
use rustix::thread::UnshareFlags;
use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The folders replaced by a private tmpfs.
const PRIVATE_TMP: [&str; 3] = ["/tmp", "/var/tmp", "/dev/shm"];

/// A mount namespace where everything is read-only but `dir` (the program's copy of its
/// folder) and fresh tmpfs on /tmp, /var/tmp and /dev/shm; `hidden` folders are empty;
/// /proc shows the case's pid namespace only. The harness's own binary stays where it
/// was, even in /tmp or a hidden folder: the bundled reference runs from it.
pub(super) fn isolate_files(dir: &Path, pid_namespace: bool, hidden: &[PathBuf]) -> io::Result<()> {
    let exe = std::env::current_exe()?;
    own_mount_namespace()?;
    // Detached copies, still writable, of what must stay visible once /tmp and the hidden
    // folders are covered: the folder (which usually lies in /tmp) and the binary.
    let folder = detach(dir)?;
    let covered = |path: &Path| {
        PRIVATE_TMP.iter().any(|t| path.starts_with(t))
            || hidden.iter().any(|h| path.starts_with(h))
    };
    let binary = if covered(&exe) {
        Some(detach(&exe)?)
    } else {
        None
    };
    set_read_only(Path::new("/"), true, "read-only /")?;
    mount_private_tmp()?;
    hide(hidden)?;
    attach(&folder, dir, true)?;
    if let Some(binary) = binary {
        attach(&binary, &exe, false)?;
        // Read-only, as it was everywhere else.
        set_read_only(&exe, false, "read-only binary")?;
    }
    if pid_namespace {
        mount_own_proc();
    }
    // The working directory still points into the old, now read-only, folder.
    std::env::set_current_dir(dir)
}

/// A mount namespace of this process's own, whose mounts no longer propagate to the
/// host's (or the changes below would show there).
fn own_mount_namespace() -> io::Result<()> {
    // SAFETY: not CLONE_FILES (the only flag that makes unshare unsafe): the fd table stays
    // shared.
    named(
        unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNS) },
        "unshare(CLONE_NEWNS)",
    )?;
    named(
        rustix::mount::mount_change(
            "/",
            MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
        ),
        "private /",
    )
}

/// Makes the mount at `path` read-only (with every mount below it if `recursive`).
fn set_read_only(path: &Path, recursive: bool, what: &str) -> io::Result<()> {
    let path = cstring(path)?;
    let flags = if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: a zeroed mount_attr is valid (nothing set, nothing cleared); mount_setattr
    // reads it and a NUL-terminated path.
    unsafe {
        let mut attr: libc::mount_attr = std::mem::zeroed();
        attr.attr_set = libc::MOUNT_ATTR_RDONLY;
        check(
            libc::syscall(
                libc::SYS_mount_setattr,
                libc::AT_FDCWD,
                path.as_ptr(),
                flags,
                &attr as *const libc::mount_attr,
                std::mem::size_of::<libc::mount_attr>(),
            ),
            what,
        )?;
    }
    Ok(())
}

/// A fresh tmpfs on each of [`PRIVATE_TMP`] that is a folder here: what the program
/// writes there is its own, and goes with the case.
fn mount_private_tmp() -> io::Result<()> {
    for tmp in PRIVATE_TMP {
        let is_dir = std::fs::symlink_metadata(tmp).is_ok_and(|m| m.is_dir());
        if !is_dir {
            continue;
        }
        named(
            rustix::mount::mount(
                "tmpfs",
                tmp,
                "tmpfs",
                MountFlags::NOSUID | MountFlags::NODEV,
                c"mode=1777,size=256m",
            ),
            &format!("tmpfs on {tmp}"),
        )?;
    }
    Ok(())
}

/// An empty, read-only tmpfs over each hidden folder that exists: what was there (the
/// class's other submissions, say) is out of the program's sight and reach.
fn hide(hidden: &[PathBuf]) -> io::Result<()> {
    for dir in hidden.iter().filter(|d| d.is_dir()) {
        named(
            rustix::mount::mount(
                "tmpfs",
                dir,
                "tmpfs",
                MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC | MountFlags::RDONLY,
                c"mode=0555,size=4k",
            ),
            &format!("hiding {}", dir.display()),
        )?;
    }
    Ok(())
}

/// A /proc of the case's pid namespace, so the program sees only the case's processes.
fn mount_own_proc() {
    // Best effort: a container may refuse a new proc; the host's then stays, read-only.
    let _ = rustix::mount::mount(
        "proc",
        "/proc",
        "proc",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        None,
    );
}

fn cstring(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other)
}

/// The outcome of a libc call (below 0: errno), its error named by `what`.
fn check(rc: libc::c_long, what: &str) -> io::Result<libc::c_long> {
    if rc < 0 {
        Err(failed(io::Error::last_os_error(), what))
    } else {
        Ok(rc)
    }
}

/// The outcome of a rustix call, its error named by `what`.
fn named<T>(result: rustix::io::Result<T>, what: &str) -> io::Result<T> {
    result.map_err(|e| failed(e.into(), what))
}

/// `e`, its message led by `what`.
fn failed(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// A detached copy of the mount at `path` (a bind mount not attached anywhere yet).
fn detach(path: &Path) -> io::Result<OwnedFd> {
    named(
        rustix::mount::open_tree(
            CWD,
            path,
            OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
        ),
        &format!("open_tree {}", path.display()),
    )
}

/// Attaches a detached copy at `path`, making the path first if a fresh tmpfs hid it.
fn attach(tree: &OwnedFd, path: &Path, is_dir: bool) -> io::Result<()> {
    if is_dir {
        let _ = std::fs::create_dir_all(path);
    } else if !path.exists() {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::File::create(path);
    }
    named(
        rustix::mount::move_mount(tree, "", CWD, path, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH),
        &format!("mount {}", path.display()),
    )
}
