//! What the harness promises about the processes it runs: nothing they start outlives the
//! case (not even a `setsid` grandchild), endless output neither blocks nor swells the
//! harness, and without namespaces cases still run (serialised per address).

mod common;

use sockcheck::batch::reference_command;
use sockcheck::engine::{self, Mode, Timing, Verdict};
use sockcheck::iut::IutSpec;
use std::time::Duration;

fn echo1_case(
    name: &str,
) -> (
    sockcheck::script::Case,
    sockcheck::engine::ProgramInfo,
    Mode,
) {
    let catalog = common::catalog();
    let suite = catalog.suite("echo1").expect("echo1");
    let case = suite
        .cases
        .iter()
        .find(|c| c.name == name)
        .expect("case")
        .clone();
    let fixture = suite.fixtures.get(name).expect("fixture").clone();
    (case, suite.info.clone(), Mode::Check(fixture))
}

fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) && !cmdline.contains("cargo") {
                found.push(format!(
                    "{}: {cmdline}",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
    }
    found
}

fn quick() -> Timing {
    Timing {
        observe: Duration::from_millis(500),
        connect: Duration::from_millis(1500),
        ..Timing::default()
    }
}

#[test]
fn a_hanging_program_and_its_setsid_grandchild_are_gone_after_the_case() {
    let marker = format!("sockcheck-marker-{}", std::process::id());
    let dir = tempfile::tempdir().expect("temp dir");
    // Starts a grandchild in a session of its own, then never listens.
    std::fs::write(
        dir.path().join("hang.py"),
        format!(
            "import subprocess, time\n\
             subprocess.Popen(['setsid', 'sh', '-c', 'sleep 600; : {marker}'], start_new_session=True)\n\
             time.sleep(600)\n"
        ),
    )
    .expect("write");
    let (case, info, mode) = echo1_case("server-upper");
    let spec = IutSpec {
        command: format!("python3 hang.py # {marker}"),
        workdir: Some(dir.path().to_path_buf()),
        isolation: Default::default(),
        limits: Default::default(),
    };
    let outcome = engine::run(&case, &info, &spec, &mode, &quick());
    assert_eq!(processes_with(&marker), Vec::<String>::new());
    assert_eq!(outcome.verdict, Verdict::Fail, "{:?}", outcome.message);
    assert!(
        outcome.deadlines >= 1,
        "waiting for a listener that never came is a deadline"
    );
    assert_eq!(
        outcome.hint.map(|h| h.id()),
        Some("not-listening"),
        "{:?}",
        outcome.message
    );
    assert!(
        outcome
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("listens nowhere"),
        "{:?}",
        outcome.message
    );
}

#[test]
fn output_of_any_size_is_seen_in_full_and_neither_blocks_nor_swells_the_harness() {
    let dir = tempfile::tempdir().expect("temp dir");
    // 256 MiB of debug lines before it listens, a correct echo1 server, 64 MiB after its
    // data line: extra lines are ignored (SPEC.md), so every expected line must be found.
    std::fs::write(
        dir.path().join("loud.py"),
        "import socket, sys\n\
         chunk = ('x' * 1023 + '\\n') * 64\n\
         def noise(mib):\n    for _ in range(mib * 16):\n        sys.stdout.write(chunk)\n\
         noise(256)\n\
         s = socket.socket(); s.bind(('127.0.0.1', 8080)); s.listen(5)\n\
         c, _ = s.accept(); d = c.recv(1024); print(d.decode()); sys.stdout.flush()\n\
         noise(64)\n\
         c.send(d.upper()); c.close(); s.close()\n",
    )
    .expect("write");
    let (case, info, mode) = echo1_case("server-upper");
    let spec = IutSpec {
        command: "python3 loud.py".into(),
        workdir: Some(dir.path().to_path_buf()),
        isolation: Default::default(),
        limits: Default::default(),
    };
    let timing = Timing {
        connect: Duration::from_secs(60),
        observe: Duration::from_secs(60),
        ..Timing::default()
    };
    let outcome = engine::run(&case, &info, &spec, &mode, &timing);
    assert_eq!(
        outcome.verdict,
        Verdict::Pass,
        "{:?}\n{}",
        outcome.message,
        outcome.transcript.join("\n")
    );
    assert_eq!(outcome.deadlines, 0);
    assert!(
        outcome.notes.iter().any(|n| n.contains("320 MiB")),
        "{:?}",
        outcome.notes
    );
}

#[test]
fn without_namespaces_cases_still_run_one_at_a_time_per_address() {
    let (case, info, mode) = echo1_case("client-hello");
    let spec = IutSpec {
        command: reference_command(&common::sockcheck_exe(), "echo1", case.role),
        workdir: None,
        isolation: sockcheck::sandbox::Policy::Shared,
        limits: Default::default(),
    };
    // Two at once on the same address: the lock makes them take turns, both pass.
    let runs: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| engine::run(&case, &info, &spec, &mode, &Timing::default())))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("joins"))
            .collect()
    });
    for outcome in runs {
        assert_eq!(outcome.verdict, Verdict::Pass, "{:?}", outcome.message);
    }
}
