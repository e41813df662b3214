//! Containment as the command line gives it, in every mode this machine allows (as root:
//! the namespaces, an ordinary user's user namespace through `setpriv`, the fallback): the mode
//! said at the top of the run and in `--json`; an interrupt (SIGINT, SIGTERM) ends every
//! process of the case and removes its temp folder, then exits 130 or 143; a SIGKILL of
//! sockcheck mid-case leaves no process and no temp folder of the case; a TCP and a UDP
//! suite pass.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A mode to test, and how to get it.
#[derive(Clone, Copy)]
struct Mode {
    name: &'static str,
    /// SOCKCHECK_NO_NAMESPACES=1.
    shared: bool,
    /// Run as `nobody` (uid 65534), through setpriv.
    nobody: bool,
}

/// The modes this machine allows: the fallback always; as root, the namespaces, and the
/// user namespace of an ordinary user where `setpriv` and user namespaces are there.
fn modes() -> Vec<Mode> {
    let mut modes = vec![Mode {
        name: "shared",
        shared: true,
        nobody: false,
    }];
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        // Shown by nextest even when the test passes (.config/nextest.toml).
        eprintln!("SKIPPED here: the namespaces and user-namespace modes (they need root)");
        return modes;
    }
    modes.push(Mode {
        name: "namespaces",
        shared: false,
        nobody: false,
    });
    let setpriv = Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if setpriv {
        modes.push(Mode {
            name: "user-namespace",
            shared: false,
            nobody: true,
        });
    } else {
        eprintln!("SKIPPED here: the user-namespace mode (no `setpriv` to become nobody)");
    }
    modes
}

/// Runs `sockcheck` in one mode. As `nobody` it runs a copy of the binary in a folder of
/// its own open to all: the checkout may sit in a folder other users cannot enter (root's
/// home is mode 700, as is a `mktemp -d`). The copy goes with the runner.
struct Runner {
    mode: Mode,
    exe: Option<tempfile::TempDir>,
}

impl Runner {
    fn new(mode: Mode) -> Runner {
        let exe = mode.nobody.then(|| {
            let dir = open_to_all();
            std::fs::copy(common::sockcheck_exe(), dir.path().join("sockcheck"))
                .expect("copy the binary");
            dir
        });
        Runner { mode, exe }
    }

    /// `sockcheck` in the mode; the folders it uses must be open to `nobody` (see
    /// [`open_to_all`]).
    fn command(&self) -> Command {
        let mut command = match &self.exe {
            Some(dir) => {
                let mut c = Command::new("setpriv");
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                    .arg(dir.path().join("sockcheck"))
                    .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                    .env_remove("XDG_RUNTIME_DIR");
                c
            }
            None => Command::new(common::sockcheck_exe()),
        };
        if self.mode.shared {
            command.env("SOCKCHECK_NO_NAMESPACES", "1");
        } else {
            command.env_remove("SOCKCHECK_NO_NAMESPACES");
        }
        command
    }
}

/// A temp folder anyone may use (so that `nobody` can read and write it).
fn open_to_all() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    dir
}

/// A folder with `hang.py`: it starts a `setsid` grandchild and a double-forked daemon,
/// then sleeps without listening. Every process carries `marker` in its environment.
fn hanging_program() -> tempfile::TempDir {
    let dir = open_to_all();
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
/// and waits until the program and its two escapees run. The runner goes with the child:
/// the child runs its copy of the binary.
fn start_hanging(dir: &Path, tmp: &Path, mode: Mode, marker: &str) -> (Child, Runner) {
    // An address of its own: on the shared network the case does not queue for 8080's
    // lock behind other tests' cases (the program never listens anyway).
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let runner = Runner::new(mode);
    let mut command = runner.command();
    command
        .args(["run", "echo1", "--jobs", "1", "--server", "python3 hang.py"])
        .args(["--addr", &addr])
        .current_dir(dir)
        .env("TMPDIR", tmp)
        .env("SOCKCHECK_TEST_MARKER", marker)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
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
    (child, runner)
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
    for mode in modes() {
        let name = mode.name;
        for (signal, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
            let marker = format!("sockcheck-interrupt-{}-{name}-{signal}", std::process::id());
            let dir = hanging_program();
            let tmp = open_to_all();
            let (mut child, _runner) = start_hanging(dir.path(), tmp.path(), mode, &marker);
            assert!(!case_folders(tmp.path()).is_empty(), "{name}: a case runs");
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as libc::pid_t, signal) };
            let status = child.wait().expect("waits");
            assert_eq!(status.code(), Some(code), "{name}, signal {signal}");
            // The harness waited for the case's processes before it exited.
            assert_eq!(
                common::processes_with(&marker),
                Vec::<String>::new(),
                "{name}, signal {signal}"
            );
            assert_eq!(
                case_folders(tmp.path()),
                Vec::<String>::new(),
                "{name}, signal {signal}"
            );
        }
    }
}

#[test]
fn a_sigkill_of_sockcheck_mid_case_leaves_no_process_and_no_folder_of_the_case() {
    for mode in modes() {
        let name = mode.name;
        let marker = format!("sockcheck-sigkill-{}-{name}", std::process::id());
        let dir = hanging_program();
        let tmp = open_to_all();
        let (mut child, _runner) = start_hanging(dir.path(), tmp.path(), mode, &marker);
        child.kill().expect("SIGKILL");
        child.wait().expect("waits");
        // The kernel tells each case's init (PR_SET_PDEATHSIG) and the init ends the rest
        // and removes the case's folder: that takes a moment after sockcheck is gone.
        let gone = common::eventually(Duration::from_secs(10), || {
            common::processes_with(&marker).is_empty()
        });
        assert!(gone, "{name}: {:?}", common::processes_with(&marker));
        let removed = common::eventually(Duration::from_secs(10), || {
            case_folders(tmp.path()).is_empty()
        });
        assert!(removed, "{name}: {:?}", case_folders(tmp.path()));
    }
}

#[test]
fn the_isolation_mode_is_said_at_the_top_of_the_run_and_in_the_json() {
    for mode in modes() {
        let name = mode.name;
        let tmp = open_to_all();
        let json = tmp.path().join("out.json");
        let out = Runner::new(mode)
            .command()
            .args(["run", "echo1", "--json"])
            .arg(&json)
            .current_dir(tmp.path())
            .output()
            .expect("runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{text}");
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("isolation: {name}")),
            "{name}: {first}"
        );
        if mode.shared {
            assert!(first.contains("NOT ISOLATED"), "{first}");
        }
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).expect("written")).expect("JSON");
        assert_eq!(report["isolation"]["mode"], name);
    }
}

/// A TCP and a UDP program of the reference pass in every mode (the whole suite runs once,
/// in `cli.rs`: here each mode needs a case of each transport, not every case).
#[test]
fn the_reference_passes_a_tcp_and_a_udp_suite_in_every_mode() {
    for mode in modes() {
        let tmp = open_to_all();
        let out = Runner::new(mode)
            .command()
            .args(["run", "echo2", "udp-hello"])
            .current_dir(tmp.path())
            .env("HOME", tmp.path())
            .output()
            .expect("runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {text}{}",
            mode.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let summary = text.lines().last().unwrap_or_default();
        assert!(
            // The shared network skips the cases that need a network of their own.
            summary.contains(" 0 failed, 0 errors,") && !summary.contains(": 0 passed"),
            "{}: {summary}",
            mode.name
        );
    }
}

#[test]
fn the_limit_flags_reach_the_program_and_a_zero_limit_is_refused() {
    let tmp = open_to_all();
    let out = Command::new(common::sockcheck_exe())
        .args([
            "run",
            "echo1",
            "--limit-file-size",
            "1",
            "--server",
            "python3 -c 'open(\"big\", \"wb\").write(b\"x\" * (2 << 20))'",
        ])
        .current_dir(tmp.path())
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("File too large"), "{text}");
    for flag in [
        "--limit-cpu",
        "--limit-memory",
        "--limit-processes",
        "--limit-file-size",
        "--limit-open-files",
    ] {
        let out = Command::new(common::sockcheck_exe())
            .args(["run", "echo1", flag, "0"])
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}: {err}");
        assert!(err.contains(&format!("{flag} must be at least 1")), "{err}");
    }
}

#[test]
fn on_the_shared_network_a_cgroup_caps_the_cases_processes_where_one_can_be_made() {
    // The kernel does not count root's processes against RLIMIT_NPROC: on the shared
    // network only a cgroup of the case's own stops a fork loop. The run's first line says
    // whether it has one, and that must be true.
    let tmp = open_to_all();
    std::fs::write(
        tmp.path().join("forker.py"),
        "import os, sys, time\n\
         n = 0\n\
         try:\n\
         \x20   while n < 400:\n\
         \x20       if os.fork() == 0:\n\
         \x20           time.sleep(600); os._exit(0)\n\
         \x20       n += 1\n\
         except OSError as e:\n\
         \x20   print('stopped after', n, 'children', file=sys.stderr)\n\
         sys.exit(3)\n",
    )
    .expect("write");
    let out = Runner::new(modes()[0])
        .command()
        .args([
            "run",
            "echo1",
            "--limit-processes",
            "50",
            "--server",
            "python3 forker.py",
        ])
        .current_dir(tmp.path())
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default();
    assert!(first.starts_with("isolation: shared"), "{first}");
    if sockcheck::cgroup::available() {
        assert!(
            first.contains("a cgroup of each case's own caps its processes"),
            "{first}"
        );
        // The program and 49 children: 50.
        assert!(text.contains("stopped after 49 children"), "{text}");
    } else {
        assert!(first.contains("no cgroup could be made"), "{first}");
    }
}
