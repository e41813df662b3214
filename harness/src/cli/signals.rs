//! The run's isolation, chosen once before any thread, and the thread that ends every case
//! on SIGINT, SIGTERM or SIGHUP.

use super::*;

/// The isolation the environment asks for and the privilege allows: chosen once, here.
pub(super) static ISOLATION: std::sync::OnceLock<(Policy, sandbox::Mode, Option<String>)> =
    std::sync::OnceLock::new();

/// Enters a user namespace where an ordinary user needs one for the namespaces, and
/// decides the run's isolation mode.
pub(super) fn prepare_isolation() {
    let mut policy = Policy::from_env();
    let mut why_not = None;
    if policy == Policy::Auto && !rustix::process::geteuid().is_root() {
        if let Err(e) = sandbox::enter_user_namespace() {
            why_not = Some(format!("no user namespace for an ordinary user ({e})"));
        }
    }
    if let Ok(exe) = std::env::current_exe() {
        crate::iut::set_init_program(exe);
    }
    let (mode, why) = match why_not {
        Some(why) => (sandbox::Mode::Shared, Some(why)),
        None => sandbox::detect(policy),
    };
    if mode == sandbox::Mode::Shared {
        // Decided once: no case tries the namespaces again.
        policy = Policy::Shared;
    }
    let _ = ISOLATION.set((policy, mode, why));
}

pub(super) fn isolation() -> (Policy, sandbox::Mode, Option<String>) {
    ISOLATION
        .get()
        .cloned()
        .unwrap_or((Policy::Auto, sandbox::Mode::Namespaces, None))
}

/// SIGINT, SIGTERM and SIGHUP are blocked in every thread and taken by one that ends every
/// case's processes, removes every case's temp folder, and exits 128 + the signal (130 for
/// SIGINT, 143 for SIGTERM).
pub(super) fn watch_interrupts() {
    // SAFETY: building a sigset and blocking it in the (still single-threaded) process;
    // threads spawned later inherit the mask, children get a clean one from std.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || {
        let mut sig: libc::c_int = 0;
        // SAFETY: sigwait on a set blocked in every thread.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            return;
        }
        crate::interrupt::terminate();
        let name = match sig {
            libc::SIGINT => "SIGINT",
            libc::SIGTERM => "SIGTERM",
            _ => "SIGHUP",
        };
        let _ = writeln!(
            io::stderr(),
            "sockcheck: interrupted ({name}): every case's processes ended, temp folders removed"
        );
        std::process::exit(128 + sig);
    });
}
