//! `sockcheck fuzz`: the same seed gives the same cases; the reference agrees with itself;
//! a single-bug sample the suites' literals never exercise differently is found and shrunk
//! to a small case that names its bug, and a framed client that counts the bytes it asked
//! for (not those it got) is found by cutting frames anew; the corrected sample is never
//! accused.

mod common;

use assert_cmd::Command;
use serde_json::Value;
use sockcheck::fuzz::{case_text, gen};
use sockcheck::script::Role;
use std::time::Duration;

fn sockcheck() -> Command {
    common::cheapest_python();
    let mut cmd = Command::new(common::sockcheck_exe());
    cmd.env("SOCKCHECK_LANG", "en")
        .timeout(Duration::from_secs(300));
    cmd
}

/// Runs `sockcheck fuzz` with `args` and a JSON summary: its exit code and the summary.
fn fuzz(args: &[&str]) -> (Option<i32>, Value, String) {
    let dir = tempfile::tempdir().expect("a temp folder");
    let json = dir.path().join("fuzz.json");
    let out = sockcheck()
        .arg("fuzz")
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("sockcheck runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("no summary ({e}): {text}")),
    )
    .expect("JSON");
    (out.status.code(), summary, text)
}

#[test]
fn the_same_seed_gives_the_same_cases_and_another_seed_others() {
    let catalog = common::catalog();
    for id in ["echo1", "echo2", "rexec2"] {
        let suite = catalog.suite(id).expect("a suite");
        for role in [Role::Server, Role::Client] {
            let templates = gen::templates(suite, role, b"q");
            let cases: Vec<String> = (0..20)
                .map(|i| case_text(&templates, role, 7, i).expect("a case"))
                .collect();
            let again: Vec<String> = (0..20)
                .map(|i| case_text(&templates, role, 7, i).expect("a case"))
                .collect();
            assert_eq!(cases, again, "{id} {role}");
            let other: Vec<String> = (0..20)
                .map(|i| case_text(&templates, role, 8, i).expect("a case"))
                .collect();
            assert_ne!(cases, other, "{id} {role}");
            // Every generated case parses as a case of the program.
            for (i, text) in cases.iter().enumerate() {
                sockcheck::script::parse(id, &format!("fuzz-{i}"), text)
                    .unwrap_or_else(|e| panic!("{id} {role} case {i}: {e}\n{text}"));
            }
        }
    }
}

#[test]
fn the_reference_agrees_with_itself() {
    for id in [
        "echo1",
        "echo2",
        "echo3",
        "rexec1",
        "rexec2",
        "framed-low",
        "framed-header",
        "udp-hello",
        "udp-chat",
    ] {
        let (code, summary, text) = fuzz(&[id, "--seed", "3", "--cases", "24", "--jobs", "16"]);
        assert_eq!(code, Some(0), "{text}");
        for role in summary.as_array().expect("a summary per role") {
            assert_eq!(
                role["disagreements"].as_array().map(Vec::len),
                Some(0),
                "{text}"
            );
            let run = role["run"].as_u64().expect("run");
            let invalid = role["invalid"].as_u64().expect("invalid");
            assert_eq!(run, 24, "{text}");
            // Nearly every generated case is one the reference plays cleanly.
            assert!(
                invalid * 10 <= run,
                "{id}: {invalid} of {run} not recorded: {text}"
            );
        }
    }
}

#[test]
fn a_bug_no_suite_literal_shows_is_found_and_shrunk_to_a_case_that_names_it() {
    let sample = common::root().join("fixtures/students/echo1-unicode-upper");
    let work = tempfile::tempdir().expect("a temp folder");
    let case = work.path().join("found.case");
    let dir = sample.to_string_lossy().into_owned();
    let out = case.to_string_lossy().into_owned();
    let (code, summary, text) = fuzz(&[
        "echo1", "--dir", &dir, "--seed", "1", "--cases", "40", "--jobs", "16", "--out", &out,
    ]);
    assert_eq!(code, Some(1), "{text}");
    let found = &summary[0]["found"];
    assert_eq!(found["hint"], "unicode-upper", "{text}");
    let shrunk = std::fs::read_to_string(&case).expect("the shrunk case");
    assert!(
        shrunk.starts_with("# found by `sockcheck fuzz echo1 --seed 1`"),
        "{shrunk}"
    );
    let parsed = sockcheck::script::parse("echo1", "found", &shrunk).expect("it parses");
    assert!(parsed.steps.len() <= 8, "{shrunk}");
    // Its message is down to a few bytes, one of them not ASCII: the bug's trigger.
    let send = shrunk
        .lines()
        .find(|l| l.starts_with("send c1 "))
        .expect("a send");
    let (message, _) =
        sockcheck::payload::parse_quoted(&send["send c1 ".len()..]).expect("a literal");
    assert!(message.len() <= 8 && !message.is_ascii(), "{send}");
}

#[test]
fn a_framed_client_that_counts_what_it_asked_for_is_found_by_cutting_frames_anew() {
    let sample = common::root().join("fixtures/students/framed-low-client-counts-asked-size");
    let dir = sample.to_string_lossy().into_owned();
    let (code, summary, text) = fuzz(&[
        "framed-low",
        "--dir",
        &dir,
        "--seed",
        "1",
        "--cases",
        "24",
        "--jobs",
        "16",
        "--shrink-time",
        "20",
    ]);
    assert_eq!(code, Some(1), "{text}");
    let shrunk = summary[0]["found"]["shrunk"]
        .as_str()
        .expect("a shrunk case");
    assert!(shrunk.contains(" split "), "the frame is cut: {shrunk}");
}

#[test]
fn the_corrected_sample_is_never_accused() {
    let sample = common::root().join("fixtures/students/corrected");
    let dir = sample.to_string_lossy().into_owned();
    for id in ["echo1", "echo2", "rexec1", "framed-header"] {
        let (code, summary, text) = fuzz(&[
            id, "--dir", &dir, "--seed", "5", "--cases", "24", "--jobs", "16",
        ]);
        assert_eq!(code, Some(0), "{text}");
        for role in summary.as_array().expect("roles") {
            assert_eq!(
                role["disagreements"].as_array().map(Vec::len),
                Some(0),
                "{text}"
            );
        }
    }
}
