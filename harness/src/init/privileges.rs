//! What the program may do beyond its folder: its resource limits, and no capabilities nor
//! any way to gain one.

use super::Limits;

/// Sets the program's resource limits (soft and hard alike, so it cannot raise them), and
/// no core dumps; `nproc`, the cap on processes, on the shared network only.
///
/// # Safety
/// Only syscalls: callable between fork and exec.
pub(super) unsafe fn set_limits(limits: Limits, nproc: Option<u64>) {
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
}

/// On the shared network, the rlimit on processes counts every process of the user, so
/// the cap is what the user runs now plus the case's share. Root is exempt from it (the
/// kernel does not count processes of uid 0), so it bounds only ordinary users.
pub(super) fn shared_nproc_limit(processes: u64) -> u64 {
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

/// No capabilities now or after exec (even as root: the bounding set is emptied, so
/// `execve` gives root none), and no way to gain any (`no_new_privs`: set-uid binaries do
/// not raise privileges).
pub(super) unsafe fn drop_privileges() {
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
