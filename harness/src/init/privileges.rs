//! Privileges on both sides of the init: the capabilities the harness passes on to it, and
//! what the program may do beyond its folder (its resource limits, no capabilities nor any
//! way to gain one).

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
    capset(&[CapData::default(); 2]);
}

/// In the harness's user namespace (an ordinary user), a child loses its capabilities at
/// `execve`; the init needs `CAP_SYS_ADMIN` there to mount and cap its processes, and
/// `CAP_SETPCAP` to empty the program's bounding set, so they are passed on as ambient
/// capabilities (the init clears them for the program). The harness calls it in the init's
/// side of the fork.
///
/// # Safety
/// Only syscalls: callable between fork and exec.
pub(crate) unsafe fn keep_sys_admin() {
    const CAP_SETPCAP: usize = 8;
    const CAP_SYS_ADMIN: usize = 21;
    let Some(mut data) = capget() else {
        return;
    };
    for cap in [CAP_SETPCAP, CAP_SYS_ADMIN] {
        data[cap / 32].inheritable |= 1 << (cap % 32);
    }
    capset(&data);
    for cap in [CAP_SETPCAP, CAP_SYS_ADMIN] {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_RAISE,
            cap as libc::c_ulong,
            0,
            0,
        );
    }
}

/// The header of `capget` and `capset` (libc has no type for it).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// One 32-bit word of each capability set; version 3 takes two (capabilities 0 to 63).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `_LINUX_CAPABILITY_VERSION_3`.
const CAP_VERSION_3: u32 = 0x2008_0522;

/// This thread's capability sets, or `None` if the kernel refuses.
///
/// # Safety
/// Only a syscall: callable between fork and exec.
unsafe fn capget() -> Option<[CapData; 2]> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    let rc = libc::syscall(
        libc::SYS_capget,
        &mut header as *mut CapHeader,
        data.as_mut_ptr(),
    );
    (rc == 0).then_some(data)
}

/// Sets this thread's capability sets (a refusal leaves them as they were).
///
/// # Safety
/// Only a syscall: callable between fork and exec.
unsafe fn capset(data: &[CapData; 2]) {
    let header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr());
}
