//! The `sockcheck` command line as a user meets it: exit statuses, the summary line, the
//! JSON report, and clear errors for bad input.

mod common;

use assert_cmd::Command;
use std::time::Instant;

fn sockcheck() -> Command {
    Command::new(common::sockcheck_exe())
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_reference_passes_every_suite_within_its_silence_windows_plus_two_seconds() {
    let started = Instant::now();
    let out = sockcheck().arg("run").output().expect("runs");
    let wall = started.elapsed();
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let catalog = common::catalog();
    let cases: usize = catalog.suites.iter().map(|s| s.cases.len()).sum();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("PASS ")).count(),
        cases,
        "{text}"
    );
    let silence: std::time::Duration = catalog
        .suites
        .iter()
        .flat_map(|s| s.cases.iter().map(|c| c.silence()))
        .sum();
    assert!(silence > std::time::Duration::ZERO);
    assert!(
        wall <= silence + std::time::Duration::from_secs(2),
        "took {wall:?}, silence windows {silence:?}"
    );
    let summary = text.lines().last().unwrap_or_default();
    assert!(
        summary.contains(&format!("{cases} cases: {cases} passed"))
            && summary.contains(&format!(
                "declared silence windows: {:.2}s",
                silence.as_secs_f64()
            )),
        "{summary}"
    );
}

#[test]
fn json_report_has_one_entry_per_case_with_the_documented_fields() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("out.json");
    let sample = common::root().join("fixtures/students/tutorial");
    let out = sockcheck()
        .args(["run", "echo2", "--dir"])
        .arg(&sample)
        .arg("--json")
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", stdout_of(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("written")).expect("JSON");
    let results = report["results"].as_array().expect("results");
    assert_eq!(
        results.len(),
        common::catalog().suite("echo2").expect("echo2").cases.len()
    );
    for r in results {
        for key in [
            "program",
            "role",
            "case",
            "verdict",
            "duration_ms",
            "hint",
            "message",
        ] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
    }
    let half_close = results
        .iter()
        .find(|r| r["case"] == "server-half-close")
        .expect("the half-close case");
    assert_eq!(half_close["verdict"], "fail");
    assert_eq!(half_close["role"], "server");
    assert_eq!(half_close["hint"], "eof-loop");
    let client = results
        .iter()
        .find(|r| r["role"] == "client")
        .expect("the client case");
    assert_eq!(client["verdict"], "non-strict");
    assert_eq!(client["hint"], "stdin-eof-traceback");
}

#[test]
fn the_same_hard_coded_server_runs_twice_in_a_row() {
    // The tutorial's echo1 server closes first and sets no SO_REUSEADDR: on a shared
    // loopback its second run would fail with "address already in use" for a minute.
    let sample = common::root().join("fixtures/students/tutorial");
    for _ in 0..2 {
        let out = sockcheck()
            .args(["run", "echo1", "--dir"])
            .arg(&sample)
            .output()
            .expect("runs");
        let text = stdout_of(&out);
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(!text.contains("already in use"), "{text}");
    }
}

#[test]
fn bad_invocations_exit_2_and_say_what_was_wrong() {
    let empty = tempfile::tempdir().expect("temp dir");
    let bad_manifest = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        bad_manifest.path().join("sockcheck.toml"),
        "[echo9]\nserver = \"x\"\n",
    )
    .expect("write");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["run".into(), "echo9".into()],
            "unknown program `echo9`",
        ),
        (
            vec!["run".into(), "--server".into(), "python3 s.py".into()],
            "check one program",
        ),
        (
            vec![
                "run".into(),
                "--dir".into(),
                empty.path().display().to_string(),
            ],
            "sockcheck.toml",
        ),
        (
            vec![
                "run".into(),
                "--dir".into(),
                bad_manifest.path().display().to_string(),
            ],
            "unknown program `echo9`",
        ),
        (
            vec!["run".into(), "--addr".into(), "nowhere".into()],
            "nowhere",
        ),
        (vec!["frobnicate".into()], "frobnicate"),
    ];
    for (args, needle) in cases {
        let out = sockcheck().args(&args).output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn a_failing_program_from_the_command_line_exits_1_with_a_hint() {
    let sample = common::root().join("fixtures/students/tutorial");
    let out = sockcheck()
        .current_dir(&sample)
        .args(["run", "echo3", "--server", "python3 echo3_server.py"])
        .output()
        .expect("runs");
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("hint [eof-loop]"), "{text}");
    assert!(
        text.contains("SKIPPED"),
        "the client cases are skipped: {text}"
    );
    assert!(text.contains("+ read-end c1 => \"SB\""), "{text}");
}

#[test]
fn list_names_every_program_and_case() {
    let out = sockcheck().arg("list").output().expect("runs");
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0));
    for suite in &common::catalog().suites {
        assert!(text.contains(&suite.info.id), "{text}");
        for case in &suite.cases {
            assert!(text.contains(&case.name), "{text}");
        }
    }
}
