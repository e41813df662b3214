//! The known-bad corpus: each sample folder of `fixtures/students/` (a manifest, Python
//! programs, and `expect.toml`) must get exactly the verdict listed for each program and
//! role, and exactly the hint listed (none where none is listed). This is what keeps the
//! suites honest: a check that cannot fail would let a buggy sample pass.

mod common;

use rstest::rstest;
use serde::Deserialize;
use sockcheck::batch;
use sockcheck::engine::{Timing, Verdict};
use sockcheck::manifest;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectation {
    verdict: String,
    hint: Option<String>,
    #[allow(dead_code)]
    why: String,
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
    let expected: BTreeMap<String, BTreeMap<String, Expectation>> =
        toml::from_str(&expect_text).expect("expect.toml parses");

    let jobs = batch::plan_implementations(&catalog, &impls, Some(&dir));
    let results = batch::run(&jobs, 8, &Timing::default(), &|_| {});

    // Worst verdict and the hints given, per program and role.
    let mut got: BTreeMap<(String, String), (Verdict, Vec<&'static str>)> = BTreeMap::new();
    for r in results
        .iter()
        .filter(|r| r.outcome.verdict != Verdict::Skipped)
    {
        let entry = got
            .entry((r.program.clone(), r.role.to_string()))
            .or_insert((Verdict::Pass, Vec::new()));
        entry.0 = entry.0.max(r.outcome.verdict);
        if let Some(h) = r.outcome.hint {
            if !entry.1.contains(&h.id()) {
                entry.1.push(h.id());
            }
        }
    }
    let report: String = results
        .iter()
        .filter(|r| r.outcome.verdict != Verdict::Pass)
        .map(sockcheck::report::details)
        .collect();
    let mut listed = 0;
    for (program, roles) in &expected {
        for (role, want) in roles {
            listed += 1;
            let (verdict, hints) = got
                .get(&(program.clone(), role.clone()))
                .unwrap_or_else(|| panic!("{}: no results for {program} {role}", dir.display()));
            assert_eq!(
                verdict.word(),
                want.verdict,
                "{}: {program} {role}\n{report}",
                dir.display()
            );
            let want_hints: Vec<&str> = want.hint.iter().map(String::as_str).collect();
            assert_eq!(
                hints,
                &want_hints,
                "{}: {program} {role} hints\n{report}",
                dir.display()
            );
        }
    }
    assert_eq!(
        listed,
        got.len(),
        "{}: expect.toml must list every program and role the manifest gives",
        dir.display()
    );
}
