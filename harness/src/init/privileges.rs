//! Privileges on both sides of the init: the capabilities the harness passes on to it, and
//! what the program may do beyond its folder (its resource limits, no capabilities nor any
//! way to gain one).

use super::Limits;
use rustix::process::{setrlimit, Resource, Rlimit};
use rustix::thread::{CapabilitySet, CapabilitySets};

/// Sets the program's resource limits (soft and hard alike, so it cannot raise them), and
/// no core dumps; `nproc`, the cap on processes, on the shared network only. Only
/// syscalls: callable between fork and exec.
pub(super) fn set_limits(limits: Limits, nproc: Option<u64>) {
    let limit = |resource, value: u64| {
        let lim = Rlimit {
            current: Some(value),
            maximum: Some(value),
        };
        let _ = setrlimit(resource, lim);
    };
    limit(Resource::Core, 0);
    limit(Resource::Cpu, limits.cpu_secs);
    limit(Resource::As, limits.memory_mib << 20);
    limit(Resource::Fsize, limits.file_mib << 20);
    limit(Resource::Nofile, limits.open_files);
    if let Some(n) = nproc {
        limit(Resource::Nproc, n);
    }
}

/// On the shared network, the rlimit on processes counts every process of the user, so
/// the cap is what the user runs now plus the case's share. Root is exempt from it (the
/// kernel does not count processes of uid 0), so it bounds only ordinary users.
pub(super) fn shared_nproc_limit(processes: u64) -> u64 {
    let uid = rustix::process::getuid().as_raw();
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

/// No capabilities now or after exec (even as root: the bounding set is emptied, so
/// `execve` gives root none), and no way to gain any (`no_new_privs`: set-uid binaries do
/// not raise privileges).
pub(super) fn drop_privileges() {
    let _ = rustix::thread::clear_ambient_capability_set();
    // Every capability number, also those rustix has no name for (a newer kernel's).
    for cap in 0..64 {
        let _ = rustix::thread::remove_capability_from_bounding_set(
            CapabilitySet::from_bits_retain(1 << cap),
        );
    }
    let _ = rustix::thread::set_no_new_privs(true);
    let none = CapabilitySet::empty();
    let _ = rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: none,
            permitted: none,
            inheritable: none,
        },
    );
}

/// In the harness's user namespace (an ordinary user), a child loses its capabilities at
/// `execve`; the init needs `CAP_SYS_ADMIN` there to mount and cap its processes, and
/// `CAP_SETPCAP` to empty the program's bounding set, so they are passed on as ambient
/// capabilities (the init clears them for the program). The harness calls it in the init's
/// side of the fork: only syscalls, callable between fork and exec.
pub(crate) fn keep_sys_admin() {
    let kept = [CapabilitySet::SETPCAP, CapabilitySet::SYS_ADMIN];
    let Ok(mut sets) = rustix::thread::capabilities(None) else {
        return;
    };
    for cap in kept {
        sets.inheritable |= cap;
    }
    let _ = rustix::thread::set_capabilities(None, sets);
    for cap in kept {
        let _ = rustix::thread::configure_capability_in_ambient_set(cap, true);
    }
}
