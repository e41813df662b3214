//! Containment as the command line gives it, in every mode this machine allows: the mode
//! said at the top of the run and in `--json`; an interrupt (SIGINT, SIGTERM) ends every
//! process of the case and removes its temp folder, then exits 130 or 143; a SIGKILL of
//! sockcheck mid-case leaves no process of the case; a program under test cannot write
//! outside its folder and its private /tmp.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The modes to test: the namespaces where this machine has them, and always the fallback.
fn modes() -> Vec<(&'static str, bool)> {
    let mut modes = vec![("shared", true)];
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        modes.push(("namespaces", false));
    }
    modes
}

/// A folder with `hang.py`: it starts a `setsid` grandchild and a double-forked daemon,
/// then sleeps without listening. Every process carries `marker` in its environment.
fn hanging_program() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("hang.py"),
        "import os, subprocess, time\n\
         subprocess.Popen(['sleep', '600'], start_new_session=True)\n\
         if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        os.execvp('sleep', ['sleep', '600'])\n    os._exit(0)\n\
         time.sleep(600)\n",
    )
    .expect("write");
    dir
}

/// Starts `sockcheck run echo1 --server "python3 hang.py"` in `dir` with `tmp` as TMPDIR,
/// and waits until the program and its two escapees run.
fn start_hanging(dir: &Path, tmp: &Path, shared: bool, marker: &str) -> Child {
    let mut command = Command::new(common::sockcheck_exe());
    command
        .args(["run", "echo1", "--jobs", "1", "--server", "python3 hang.py"])
        .current_dir(dir)
        .env("TMPDIR", tmp)
        .env("SOCKCHECK_TEST_MARKER", marker)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if shared {
        command.env("SOCKCHECK_NO_NAMESPACES", "1");
    } else {
        command.env_remove("SOCKCHECK_NO_NAMESPACES");
    }
    let child = command.spawn().expect("starts");
    let started = common::eventually(Duration::from_secs(20), || {
        common::processes_with(marker)
            .iter()
            .filter(|p| p.contains("sleep 600"))
            .count()
            >= 2
    });
    assert!(
        started,
        "the program's escapees never ran: {:?}",
        common::processes_with(marker)
    );
    child
}

fn case_folders(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .expect("read TMPDIR")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("sockcheck-iut-"))
        .collect()
}

#[test]
fn an_interrupt_ends_every_process_of_the_case_removes_its_folder_and_exits_128_plus_the_signal() {
    for (mode, shared) in modes() {
        for (signal, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
            let marker = format!("sockcheck-interrupt-{}-{mode}-{signal}", std::process::id());
            let dir = hanging_program();
            let tmp = tempfile::tempdir().expect("temp dir");
            let mut child = start_hanging(dir.path(), tmp.path(), shared, &marker);
            assert!(!case_folders(tmp.path()).is_empty(), "{mode}: a case runs");
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as libc::pid_t, signal) };
            let status = child.wait().expect("waits");
            assert_eq!(status.code(), Some(code), "{mode}, signal {signal}");
            // The harness waited for the case's processes before it exited.
            assert_eq!(
                common::processes_with(&marker),
                Vec::<String>::new(),
                "{mode}, signal {signal}"
            );
            assert_eq!(
                case_folders(tmp.path()),
                Vec::<String>::new(),
                "{mode}, signal {signal}"
            );
        }
    }
}

#[test]
fn a_sigkill_of_sockcheck_mid_case_leaves_no_process_of_the_case() {
    for (mode, shared) in modes() {
        let marker = format!("sockcheck-sigkill-{}-{mode}", std::process::id());
        let dir = hanging_program();
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut child = start_hanging(dir.path(), tmp.path(), shared, &marker);
        child.kill().expect("SIGKILL");
        child.wait().expect("waits");
        // The kernel tells each case's init (PR_SET_PDEATHSIG) and the init ends the rest:
        // that takes a moment after sockcheck is gone.
        let gone = common::eventually(Duration::from_secs(10), || {
            common::processes_with(&marker).is_empty()
        });
        assert!(gone, "{mode}: {:?}", common::processes_with(&marker));
    }
}

#[test]
fn the_isolation_mode_is_said_at_the_top_of_the_run_and_in_the_json() {
    for (mode, shared) in modes() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let json = tmp.path().join("out.json");
        let mut command = Command::new(common::sockcheck_exe());
        command.args(["run", "echo1", "--json"]).arg(&json);
        if shared {
            command.env("SOCKCHECK_NO_NAMESPACES", "1");
        } else {
            command.env_remove("SOCKCHECK_NO_NAMESPACES");
        }
        let out = command.output().expect("runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{text}");
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("isolation: {mode}")),
            "{mode}: {first}"
        );
        if shared {
            assert!(first.contains("NOT ISOLATED"), "{first}");
        }
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).expect("written")).expect("JSON");
        assert_eq!(report["isolation"]["mode"], mode);
    }
}
