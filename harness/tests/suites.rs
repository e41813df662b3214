//! One test per case file: the reference implementation, run as a separate process exactly
//! as a student's program is, must pass the case against its fixture. Where a case has no
//! fixture yet (or with `SOCKCHECK_RECORD=1`), the run records one and insta stores it as
//! `fixtures/<program>/<case>.snap.new` for `cargo insta review`. A suite that includes
//! another's cases (sticky1 includes rexec1's) has its reference checked against them too.

mod common;

use rstest::rstest;
use sockcheck::batch::reference_command;
use sockcheck::engine::{self, Mode, Timing, Verdict};
use sockcheck::iut::IutSpec;
use std::path::PathBuf;

#[rstest]
fn reference_passes(#[files("suites/*/*.case")] path: PathBuf) {
    let program = path
        .parent()
        .and_then(|p| p.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .expect("suites/<program>/<case>.case");
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .expect("a case file name");
    let catalog = common::catalog();
    let suite = catalog.suite(&program).expect("the case's suite");
    let case = suite
        .cases
        .iter()
        .find(|c| c.name == name)
        .expect("the case is in its suite");
    let transcript = reference_run(suite, case);
    insta::with_settings!({
        snapshot_path => common::root().join("fixtures").join(&program),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, transcript);
    });
}

#[test]
fn included_cases_pass_against_the_including_programs_reference() {
    let catalog = common::catalog();
    let mut checked = 0;
    for suite in catalog.suites.iter().filter(|s| s.includes.is_some()) {
        let included = catalog
            .suite(suite.includes.as_deref().unwrap_or_default())
            .expect("the included suite");
        for case in suite
            .cases
            .iter()
            .filter(|c| included.cases.iter().any(|i| i.name == c.name))
        {
            assert!(
                suite.fixtures.contains_key(&case.name),
                "{}/{}: the included case has no fixture",
                suite.info.id,
                case.name
            );
            reference_run(suite, case);
            checked += 1;
        }
    }
    assert!(checked > 0, "no suite includes another's cases");
}

/// Runs the reference of `suite` through `case`: it must pass (or record) without reaching
/// a deadline. Returns the transcript.
fn reference_run(suite: &sockcheck::catalog::Suite, case: &sockcheck::script::Case) -> String {
    let (program, name) = (&suite.info.id, &case.name);
    let spec = IutSpec {
        command: reference_command(&common::sockcheck_exe(), &suite.info, case.role),
        workdir: None,
        isolation: Default::default(),
        limits: Default::default(),
        hidden: Vec::new(),
    };
    let record = std::env::var_os("SOCKCHECK_RECORD").is_some_and(|v| v == "1");
    let mode = match suite.fixtures.get(name) {
        Some(fixture) if !record => Mode::Check(fixture.clone()),
        _ => Mode::Record,
    };
    let outcome = engine::run(case, &suite.info, &spec, &mode, &Timing::default());
    assert_eq!(
        outcome.verdict,
        Verdict::Pass,
        "{program}/{name}: {:?}\ntranscript:\n{}\nstderr:\n{}",
        outcome.message,
        outcome.transcript.join("\n"),
        outcome.stderr_tail
    );
    // Only failures wait for deadlines: a passing run reaches none, however loaded the
    // machine (this is the timing claim, checked without a clock).
    assert_eq!(
        outcome.deadlines, 0,
        "{program}/{name} passed but reached a deadline"
    );
    outcome.transcript.join("\n")
}
