//! A cgroup per case on the shared network, where the machine lets one be made: its
//! `pids.max` caps the case's processes, which nothing else does for root there (the kernel
//! does not count root's processes against `RLIMIT_NPROC`; the namespace modes cap them
//! with the pid namespace's `pid_max`). Best effort: a container without the right to
//! write its cgroups, or a cgroup v2 whose own cgroup holds processes (v2 then refuses to
//! hand the `pids` controller down), runs without one, and the run's first line says so.
//!
//! The case's init makes `sockcheck-<its pid>` under its own cgroup of the `pids`
//! hierarchy, moves itself in before it starts the program (so every descendant starts
//! inside), and at the end, every other process of the case killed and reaped, moves back
//! and removes it. The harness removes it too once it has reaped the init, for an init
//! that was killed before it could.

use std::path::{Path, PathBuf};

/// The case's cgroup, which the calling process (the case's init) is in.
pub struct CaseCgroup {
    dir: PathBuf,
    parent: PathBuf,
}

impl CaseCgroup {
    /// Makes the cgroup of the calling process's case with room for `processes` besides
    /// itself, and moves the caller in. `None` where the machine does not allow it.
    pub fn enter(processes: u64) -> Option<CaseCgroup> {
        let parent = own_pids_cgroup()?;
        let pid = std::process::id();
        let cgroup = CaseCgroup {
            dir: parent.join(case_name(pid)),
            parent,
        };
        std::fs::create_dir(&cgroup.dir).ok()?;
        let limited = std::fs::write(
            cgroup.dir.join("pids.max"),
            processes.saturating_add(1).to_string(),
        )
        .is_ok();
        if !(limited && std::fs::write(cgroup.dir.join("cgroup.procs"), pid.to_string()).is_ok()) {
            let _ = std::fs::remove_dir(&cgroup.dir);
            return None;
        }
        Some(cgroup)
    }

    /// Moves the caller back to where it came from and removes the cgroup (empty by then:
    /// the caller has killed and reaped every other process of the case).
    pub fn leave(self) {
        let _ = std::fs::write(
            self.parent.join("cgroup.procs"),
            std::process::id().to_string(),
        );
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Removes the cgroup the case's init `pid` made, if it is still there (the init was killed
/// before it could); the kernel refuses while a process is in it.
pub fn remove_after(pid: u32) {
    if let Some(parent) = own_pids_cgroup() {
        let _ = std::fs::remove_dir(parent.join(case_name(pid)));
    }
}

/// Whether a case's cgroup can be made here, said at the top of a run on the shared
/// network: made once, and removed at once.
pub fn available() -> bool {
    let Some(parent) = own_pids_cgroup() else {
        return false;
    };
    let probe = parent.join(format!("sockcheck-probe-{}", std::process::id()));
    if std::fs::create_dir(&probe).is_err() {
        return false;
    }
    let works = std::fs::write(probe.join("pids.max"), "1024").is_ok();
    let _ = std::fs::remove_dir(&probe);
    works
}

fn case_name(pid: u32) -> String {
    format!("sockcheck-{pid}")
}

/// The folder of the calling process's cgroup that has the `pids` controller: in its v1
/// hierarchy, or in the v2 (unified) one where `pids` is among the controllers its
/// children may use.
fn own_pids_cgroup() -> Option<PathBuf> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    for line in cgroups.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        if controllers.split(',').any(|c| c == "pids") {
            return mounted(&mounts, path, |fstype, options| {
                fstype == "cgroup" && options.split(',').any(|o| o == "pids")
            });
        }
    }
    let path = cgroups.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = mounted(&mounts, path, |fstype, _| fstype == "cgroup2")?;
    let delegated = std::fs::read_to_string(dir.join("cgroup.subtree_control")).ok()?;
    delegated
        .split_whitespace()
        .any(|c| c == "pids")
        .then_some(dir)
}

/// Where cgroup `path` of the hierarchy `is_it` recognises (by file system type and
/// super-block options) is mounted, from `/proc/self/mountinfo`.
fn mounted(mounts: &str, path: &str, is_it: impl Fn(&str, &str) -> bool) -> Option<PathBuf> {
    mounts.lines().find_map(|line| {
        // id parent dev root mount-point options [optional...] - fstype source super-options
        let (before, after) = line.split_once(" - ")?;
        let before: Vec<&str> = before.split(' ').collect();
        let after: Vec<&str> = after.split(' ').collect();
        let (root, point) = (before.get(3)?, before.get(4)?);
        if !is_it(after.first()?, after.get(2).unwrap_or(&"")) {
            return None;
        }
        let inside = if *root == "/" {
            path
        } else {
            path.strip_prefix(root)?
        };
        Some(Path::new(point).join(inside.trim_start_matches('/')))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_where_a_cgroup_is_mounted() {
        let mounts = "30 25 0:26 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids\n\
                      31 25 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                      32 25 0:28 /ci/job /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let pids = |t: &str, o: &str| t == "cgroup" && o.split(',').any(|x| x == "pids");
        assert_eq!(
            mounted(mounts, "/a/b", pids),
            Some(PathBuf::from("/sys/fs/cgroup/pids/a/b"))
        );
        assert_eq!(
            mounted(mounts, "/", |t, _| t == "cgroup2"),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let memory = |t: &str, o: &str| t == "cgroup" && o.contains("memory");
        assert_eq!(
            mounted(mounts, "/ci/job/x", memory),
            Some(PathBuf::from("/sys/fs/cgroup/memory/x"))
        );
        assert_eq!(mounted(mounts, "/elsewhere", memory), None);
    }
}
