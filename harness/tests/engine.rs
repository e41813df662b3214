//! Engine steps that the first suites do not use yet (`peek`, `read N`), checked
//! against the reference implementation with inline cases: recorded once, then checked
//! against that recording, and against a changed expectation that must fail.

mod common;

use sockcheck::batch::reference_command;
use sockcheck::engine::{self, Mode, Timing, Verdict};
use sockcheck::fixture::Fixture;
use sockcheck::iut::IutSpec;
use sockcheck::script;

fn run_inline(program: &str, text: &str, mode: &Mode) -> engine::Outcome {
    let catalog = common::catalog();
    let suite = catalog.suite(program).expect("suite");
    let case = script::parse(program, "inline", text).expect("case parses");
    let spec = IutSpec {
        command: reference_command(&common::sockcheck_exe(), &suite.info, case.role),
        workdir: None,
        isolation: Default::default(),
        limits: Default::default(),
        hidden: Vec::new(),
    };
    engine::run(&case, &suite.info, &spec, mode, &Timing::default())
}

#[test]
fn peek_waits_for_buffered_bytes_and_read_n_takes_exactly_n() {
    // The echo1 client sends `hello` in one write: wait until all five bytes are buffered,
    // then take them in two exact reads.
    let text = "role client\nlisten\nspawn\naccept c1\npeek c1 5\nread c1 2\nread c1 3\nsend c1 \"HE\" + \"LLO\"\nread-end c1\nexit\n";
    let recorded = run_inline("echo1", text, &Mode::Record);
    assert_eq!(recorded.verdict, Verdict::Pass, "{:?}", recorded.message);
    assert_eq!(
        recorded.transcript,
        [
            "listen",
            "spawn",
            "accept c1",
            "peek c1 5",
            "read c1 2 => \"he\"",
            "read c1 3 => \"llo\"",
            "send c1 \"HELLO\"",
            "read-end c1 => eof",
            "exit => 0",
        ]
    );
    let fixture = Fixture {
        lines: recorded.transcript.clone(),
    };
    let checked = run_inline("echo1", text, &Mode::Check(fixture));
    assert_eq!(checked.verdict, Verdict::Pass, "{:?}", checked.message);

    let mut wrong = recorded.transcript.clone();
    wrong[4] = "read c1 2 => \"ha\"".into();
    let failed = run_inline("echo1", text, &Mode::Check(Fixture { lines: wrong }));
    assert_eq!(failed.verdict, Verdict::Fail);
    assert!(
        failed
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("expected \"ha\", got \"he\""),
        "{:?}",
        failed.message
    );
}

#[test]
fn a_fixture_of_another_case_is_an_error_not_a_verdict() {
    let text = "role server\nspawn\nconnect c1\nsend c1 \"hello\"\nread c1\n";
    let stale = Fixture {
        lines: vec![
            "spawn".into(),
            "connect c1".into(),
            "send c1 \"hi\"".into(),
            "read c1 => \"HI\"".into(),
        ],
    };
    let outcome = run_inline("echo1", text, &Mode::Check(stale));
    assert_eq!(outcome.verdict, Verdict::Error);
    assert!(
        outcome
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("record it again"),
        "{:?}",
        outcome.message
    );
}

#[test]
fn bytes_left_unread_at_a_close_or_the_end_of_the_case_fail_it_named() {
    // echo2 replies `helloSB` in one write; `read c1 4` takes `hell` and leaves `oSB`.
    let head = "role server\nspawn\nconnect c1\nsend c1 \"hello\"\nread c1 4\n";
    let lines = |extra: &[&str]| Fixture {
        lines: [
            "spawn",
            "connect c1",
            "send c1 \"hello\"",
            "read c1 4 => \"hell\"",
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect(),
    };
    for (text, fixture, whereabouts) in [
        (
            format!("{head}close c1\n"),
            lines(&["close c1"]),
            "step 5 `close c1`",
        ),
        (head.to_string(), lines(&[]), "at the end of the case"),
    ] {
        let outcome = run_inline("echo2", &text, &Mode::Check(fixture));
        assert_eq!(outcome.verdict, Verdict::Fail, "{:?}", outcome.message);
        let message = outcome.message.unwrap_or_default();
        assert!(
            message.starts_with(whereabouts)
                && message.contains("3 bytes arrived on `c1` that no step expected: \"oSB\""),
            "{message}"
        );
    }
}

/// A course that renames the chat's contacts and quit word changes program.toml's words
/// only: the cases use them by name, the reference is given them, and the fixtures (which
/// keep the names) hold unchanged.
#[test]
fn a_courses_words_reach_the_cases_and_the_reference() {
    let catalog = common::catalog();
    let suite = catalog.suite("udp-chat").expect("suite");
    let case = suite
        .cases
        .iter()
        .find(|c| c.name == "client-quit-and-second-contact")
        .expect("case");
    let fixture = suite.fixtures[&case.name].clone();
    let mut info = suite.info.clone();
    for (name, value) in [
        ("contacts", "alice bob"),
        ("contact", "alice"),
        ("other_contact", "bob"),
        ("unknown", "taibai"),
        ("quit", "bye"),
    ] {
        info.words.insert(name.into(), value.into());
    }
    let spec = |info: &sockcheck::engine::ProgramInfo| IutSpec {
        command: reference_command(&common::sockcheck_exe(), info, case.role),
        workdir: None,
        isolation: Default::default(),
        limits: Default::default(),
        hidden: Vec::new(),
    };
    let mode = Mode::Check(fixture);
    let renamed = engine::run(case, &info, &spec(&info), &mode, &Timing::default());
    assert_eq!(renamed.verdict, Verdict::Pass, "{:?}", renamed.message);
    // The reference left with the tutorial's words does not know `alice`: nothing is sent.
    // A run expected to fail waits out short deadlines, not the defaults.
    let short = Timing {
        connect: std::time::Duration::from_secs(1),
        observe: std::time::Duration::from_secs(1),
        grace: std::time::Duration::from_millis(200),
        ..Timing::default()
    };
    let tutorial = engine::run(case, &info, &spec(&suite.info), &mode, &short);
    assert_eq!(tutorial.verdict, Verdict::Fail, "{:?}", tutorial.transcript);
}
