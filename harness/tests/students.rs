//! The known-bad corpus: each sample folder of `fixtures/students/` (a manifest, Python
//! programs, and `expect.toml`) must get exactly the verdicts and hints its `expect.toml`
//! lists, case by case. This is what keeps the suites honest: a check that cannot fail would
//! let a buggy sample pass, and a hint given to the wrong case would send a student the
//! wrong way.
//!
//! ```toml
//! [echo2.server]
//! verdict = "fail"        # the worst verdict of the role's cases (a summary)
//! why = "..."             # what the program does wrong (or right), in plain words
//! [echo2.server.cases]    # every case that does not pass; every other case must pass
//! server-half-close = { verdict = "fail", hint = "eof-loop" }
//! server-close = { verdict = "fail" }     # no hint: none may be given
//! ```

mod common;

use rstest::rstest;
use serde::Deserialize;
use sockcheck::batch::{self, CaseResult};
use sockcheck::engine::{Timing, Verdict};
use sockcheck::manifest;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// What one program and role of a sample must get.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleExpectation {
    /// The worst verdict of the role's cases.
    verdict: String,
    #[allow(dead_code)]
    why: String,
    /// The cases that do not pass, by name.
    #[serde(default)]
    cases: BTreeMap<String, CaseExpectation>,
}

/// What one case must get.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseExpectation {
    verdict: String,
    /// Absent: the case must get no hint.
    hint: Option<String>,
}

/// program -> role -> expectation, as `expect.toml` is laid out.
type Expectations = BTreeMap<String, BTreeMap<String, RoleExpectation>>;

const VERDICTS: [Verdict; 5] = [
    Verdict::Pass,
    Verdict::NonStrict,
    Verdict::Skipped,
    Verdict::Fail,
    Verdict::Error,
];

fn verdict_named(word: &str) -> Option<Verdict> {
    VERDICTS.into_iter().find(|v| v.word() == word)
}

/// What went wrong in `expect.toml` itself, before anything runs: unknown verdict words,
/// cases listed as passing (every unlisted case must pass anyway), and a role verdict that
/// is not the worst of its cases.
fn check_expectations(expected: &Expectations) -> Vec<String> {
    let mut problems = Vec::new();
    for (program, roles) in expected {
        for (role, want) in roles {
            let mut worst = Verdict::Pass;
            for (case, c) in &want.cases {
                match verdict_named(&c.verdict) {
                    None => problems.push(format!(
                        "{program} {role} {case}: unknown verdict `{}`",
                        c.verdict
                    )),
                    Some(Verdict::Pass) => problems.push(format!(
                        "{program} {role} {case}: listed as passing; list only the cases that do not pass"
                    )),
                    Some(v) => worst = worst.max(v),
                }
            }
            match verdict_named(&want.verdict) {
                None => problems.push(format!(
                    "{program} {role}: unknown verdict `{}`",
                    want.verdict
                )),
                Some(v) if v != worst => problems.push(format!(
                    "{program} {role}: verdict `{}` is not the worst of its cases (`{}`)",
                    want.verdict,
                    worst.word()
                )),
                Some(_) => {}
            }
        }
    }
    problems
}

/// Compares one role's results with its expectation, case by case.
fn check_role(
    program: &str,
    role: &str,
    want: &RoleExpectation,
    results: &[&CaseResult],
) -> Vec<String> {
    let mut problems = Vec::new();
    if results.is_empty() {
        problems.push(format!(
            "{program} {role}: no results (does the suite have cases for this role?)"
        ));
        return problems;
    }
    for name in want.cases.keys() {
        if !results.iter().any(|r| &r.case == name) {
            problems.push(format!(
                "{program} {role} {name}: listed in expect.toml, but the suite has no such case"
            ));
        }
    }
    let mut worst = Verdict::Pass;
    for r in results {
        worst = worst.max(r.outcome.verdict);
        let got = (r.outcome.verdict.word(), r.outcome.hint.map(|h| h.id()));
        let expected = match want.cases.get(&r.case) {
            Some(c) => (c.verdict.as_str(), c.hint.as_deref()),
            None => ("pass", None),
        };
        if got != expected {
            problems.push(format!(
                "{program} {role} {}: expected {}, got {}",
                r.case,
                show(expected),
                show(got)
            ));
        }
    }
    if worst.word() != want.verdict {
        problems.push(format!(
            "{program} {role}: expected the worst verdict {}, got {}",
            want.verdict,
            worst.word()
        ));
    }
    problems
}

fn show((verdict, hint): (&str, Option<&str>)) -> String {
    match hint {
        Some(h) => format!("{verdict} with hint `{h}`"),
        None => format!("{verdict} with no hint"),
    }
}

#[rstest]
fn sample_gets_its_verdicts(
    #[files("../fixtures/students/*/sockcheck.toml")] manifest_path: PathBuf,
) {
    let dir = manifest_path
        .parent()
        .expect("the sample folder")
        .to_path_buf();
    let catalog = common::catalog();
    let impls =
        manifest::load(&manifest_path, &catalog.ids()).expect("the sample's manifest is valid");
    let expect_text =
        std::fs::read_to_string(dir.join("expect.toml")).expect("expect.toml beside the manifest");
    let expected: Expectations = toml::from_str(&expect_text).expect("expect.toml parses");

    let problems = check_expectations(&expected);
    assert!(
        problems.is_empty(),
        "{}/expect.toml is inconsistent:\n{}",
        dir.display(),
        problems.join("\n")
    );

    // The manifest's programs and roles must be exactly those expect.toml lists.
    let given: BTreeSet<(String, String)> = impls
        .iter()
        .flat_map(|(program, imp)| {
            [("server", &imp.server), ("client", &imp.client)]
                .into_iter()
                .filter(|(_, command)| command.is_some())
                .map(|(role, _)| (program.clone(), role.to_string()))
        })
        .collect();
    let listed: BTreeSet<(String, String)> = expected
        .iter()
        .flat_map(|(program, roles)| roles.keys().map(|role| (program.clone(), role.clone())))
        .collect();
    assert_eq!(
        listed,
        given,
        "{}: expect.toml must list exactly the programs and roles the manifest gives",
        dir.display()
    );

    let jobs = batch::plan_implementations(&catalog, &impls, Some(&dir));
    let results = batch::run(&jobs, 8, &Timing::default(), &|_| {});

    let mut problems = Vec::new();
    for (program, roles) in &expected {
        for (role, want) in roles {
            let of_role: Vec<&CaseResult> = results
                .iter()
                .filter(|r| &r.program == program && &r.role.to_string() == role)
                .filter(|r| r.outcome.verdict != Verdict::Skipped)
                .collect();
            problems.extend(check_role(program, role, want, &of_role));
        }
    }
    let report: String = results
        .iter()
        .filter(|r| !matches!(r.outcome.verdict, Verdict::Pass | Verdict::Skipped))
        .map(sockcheck::report::details)
        .collect();
    assert!(
        problems.is_empty(),
        "{}: the results differ from expect.toml:\n{}\n\nreport of the cases that did not pass:\n{report}",
        dir.display(),
        problems.join("\n")
    );
}
