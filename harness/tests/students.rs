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
//! [sample]                # optional
//! max_seconds = 15        # no case may take longer (the hostile samples bound each)
//! modes = ["namespaces", "shared"]        # default: namespaces (where the machine has them);
//!                                         # "shared-with-cgroup": shared where a cgroup can be made
//! untouched = ["~/escape"]                # paths it must not write (with namespaces)
//! limit_processes = 300                   # --limit-processes for its cases
//! timeout = 30                            # --timeout (default 5 s)
//! [variant]               # optional: a course's own suites, and what the sample gets there
//! programs = ["echo2"]    # `sockcheck variant init DIR echo2 --set echo2.reply=upper`
//! set = ["echo2.reply=upper"]
//! [variant.echo2.server]  # laid out as above, for the runs against that folder
//! ```
//!
//! In every mode, no process a sample started may be left once its cases are over: each
//! carries a marker in its environment, and `/proc` is searched for it.

mod common;

use rstest::rstest;
use serde::Deserialize;
use sockcheck::batch::{self, CaseResult};
use sockcheck::engine::{Timing, Verdict};
use sockcheck::manifest;
use sockcheck::sandbox::{Mode, Policy};
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

/// The optional `[sample]` table: how long a case may take, in which modes the sample
/// runs, and what it must not have written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SampleExpectation {
    /// No case may take longer (its own time, not the wait for the address's lock).
    max_seconds: Option<f64>,
    /// `namespaces` (the default: the namespaces where the machine has them, the shared
    /// network otherwise) and `shared` (forced, as SOCKCHECK_NO_NAMESPACES=1).
    #[serde(default)]
    modes: Vec<String>,
    /// Paths that must not exist after a run with namespaces (`~/` is the home folder,
    /// `$TMPDIR/` the temp folder, which holds the case's folder); removed after every run.
    #[serde(default)]
    untouched: Vec<String>,
    /// `--limit-processes` for its cases, where the default would make it slow.
    limit_processes: Option<u64>,
    /// `--timeout`: seconds an observation waits, where the default 5 is not enough on a
    /// loaded machine for what the sample does on purpose.
    timeout: Option<u64>,
}

fn expand_path(path: &str) -> PathBuf {
    if let Some(rest) = path.strip_prefix("~/") {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(rest)
    } else if let Some(rest) = path.strip_prefix("$TMPDIR/") {
        std::env::temp_dir().join(rest)
    } else {
        PathBuf::from(path)
    }
}

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
fn sample_gets_its_verdicts(#[files("fixtures/students/*/sockcheck.toml")] manifest_path: PathBuf) {
    let dir = manifest_path
        .parent()
        .expect("the sample folder")
        .to_path_buf();
    common::cheapest_python();
    let catalog = common::catalog();
    let impls =
        manifest::load(&manifest_path, &catalog.ids()).expect("the sample's manifest is valid");
    let expect_text =
        std::fs::read_to_string(dir.join("expect.toml")).expect("expect.toml beside the manifest");
    let mut table: toml::Table = toml::from_str(&expect_text).expect("expect.toml parses");
    let sample: SampleExpectation = table
        .remove("sample")
        .map(|t| t.try_into().expect("[sample] parses"))
        .unwrap_or_default();
    let variant: Option<Variant> = table.remove("variant").map(|t| {
        let mut t: toml::Table = t.try_into().expect("[variant] is a table");
        let words = |key: &str, t: &mut toml::Table| -> Vec<String> {
            t.remove(key)
                .map(|v| {
                    v.try_into()
                        .expect("[variant]'s programs and set are lists of text")
                })
                .unwrap_or_default()
        };
        Variant {
            programs: words("programs", &mut t),
            set: words("set", &mut t),
            expected: t.try_into().expect("[variant]'s expectations parse"),
        }
    });
    let expected: Expectations = table.try_into().expect("expect.toml parses");

    let mut problems = check_expectations(&expected);
    if let Some(v) = &variant {
        problems.extend(
            check_expectations(&v.expected)
                .into_iter()
                .map(|p| format!("[variant] {p}")),
        );
    }
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
    assert_eq!(
        roles_of(&expected),
        given,
        "{}: expect.toml must list exactly the programs and roles the manifest gives",
        dir.display()
    );

    run_in_modes(&dir, "", &catalog, &impls, &expected, &sample);

    // The course's own suites, made as a teacher makes them, from this build's binary.
    if let Some(v) = variant {
        let folder = tempfile::Builder::new()
            .prefix("sockcheck-course-")
            .tempdir()
            .expect("a temp folder for the course's suites");
        let made = std::process::Command::new(env!("CARGO_BIN_EXE_sockcheck"))
            .args(["variant", "init"])
            .arg(folder.path())
            .args(&v.programs)
            .args(v.set.iter().flat_map(|s| ["--set", s.as_str()]))
            .output()
            .expect("sockcheck runs");
        assert!(
            made.status.success(),
            "{}: `sockcheck variant init` failed: {}",
            dir.display(),
            String::from_utf8_lossy(&made.stderr)
        );
        let course = sockcheck::variant::load(folder.path()).expect("the course's folder loads");
        assert_eq!(
            roles_of(&v.expected),
            given
                .into_iter()
                .filter(|(program, _)| v.programs.contains(program))
                .collect(),
            "{}: [variant] must list exactly the roles the manifest gives of its programs",
            dir.display()
        );
        let impls: BTreeMap<String, manifest::Implementation> = impls
            .into_iter()
            .filter(|(program, _)| v.programs.contains(program))
            .collect();
        run_in_modes(
            &dir,
            " against [variant]",
            &course,
            &impls,
            &v.expected,
            &sample,
        );
    }
}

/// The (program, role) pairs an expectation lists.
fn roles_of(expected: &Expectations) -> BTreeSet<(String, String)> {
    expected
        .iter()
        .flat_map(|(program, roles)| roles.keys().map(|role| (program.clone(), role.clone())))
        .collect()
}

/// A course's suites for a sample: the programs and words given to `variant init`, and
/// what the sample must get against them.
struct Variant {
    programs: Vec<String>,
    set: Vec<String>,
    expected: Expectations,
}

/// Runs the sample's cases in each of its modes and compares the results with `expected`.
fn run_in_modes(
    dir: &std::path::Path,
    against: &str,
    catalog: &sockcheck::catalog::Catalog,
    impls: &BTreeMap<String, manifest::Implementation>,
    expected: &Expectations,
    sample: &SampleExpectation,
) {
    // Every process a sample starts inherits this marker: none may be left after a run.
    let marker = format!("sockcheck-sample-{}", std::process::id());
    std::env::set_var("SOCKCHECK_SAMPLE_MARKER", &marker);
    let modes = if sample.modes.is_empty() {
        vec!["namespaces".to_string()]
    } else {
        sample.modes.clone()
    };
    for mode in &modes {
        let policy = match mode.as_str() {
            "namespaces" => Policy::Auto,
            "shared" => Policy::Shared,
            // The shared network where this machine lets each case have a cgroup (which
            // caps root's processes there); the run's first line says when it cannot.
            "shared-with-cgroup" if !sockcheck::cgroup::available() => {
                // Shown by nextest even when the test passes (.config/nextest.toml).
                eprintln!(
                    "SKIPPED here: {}: no cgroup can be made here: shared-with-cgroup not run",
                    dir.display()
                );
                continue;
            }
            "shared-with-cgroup" => Policy::Shared,
            other => panic!("{}: unknown mode `{other}`", dir.display()),
        };
        let untouched: Vec<PathBuf> = sample.untouched.iter().map(|p| expand_path(p)).collect();
        for path in &untouched {
            let _ = std::fs::remove_file(path);
        }
        let mut jobs = batch::plan_implementations(catalog, impls, Some(dir));
        for spec in jobs.iter_mut().filter_map(|j| j.spec.as_mut()) {
            spec.isolation = policy;
            if let Some(n) = sample.limit_processes {
                spec.limits.processes = n;
            }
        }
        let timing = Timing {
            observe: sample
                .timeout
                .map_or(Timing::default().observe, std::time::Duration::from_secs),
            ..Timing::default()
        };
        let results = batch::run(&jobs, 8, &timing, &|_, _| {});
        let left = common::processes_with(&marker);
        let written: Vec<&PathBuf> = untouched.iter().filter(|p| p.exists()).collect();
        let written = format!("{written:?}");
        for path in &untouched {
            let _ = std::fs::remove_file(path);
        }
        assert_eq!(
            left,
            Vec::<String>::new(),
            "{} ({mode}): processes of the sample outlived its cases",
            dir.display()
        );
        if policy == Policy::Auto && sockcheck::sandbox::detect(policy).0 != Mode::Shared {
            assert_eq!(
                written,
                "[]",
                "{} ({mode}): the program wrote outside its folder",
                dir.display()
            );
        }
        check_results(dir, &format!("{mode}{against}"), expected, sample, &results);
    }
}

fn check_results(
    dir: &std::path::Path,
    mode: &str,
    expected: &Expectations,
    sample: &SampleExpectation,
    results: &[CaseResult],
) {
    let mut problems = Vec::new();
    for (program, roles) in expected {
        for (role, want) in roles {
            let of_role: Vec<&CaseResult> = results
                .iter()
                .filter(|r| &r.program == program && &r.role.to_string() == role)
                .filter(|r| r.outcome.verdict != Verdict::Skipped)
                .collect();
            problems.extend(check_role(program, role, want, &of_role));
        }
    }
    if let Some(max) = sample.max_seconds {
        for r in results {
            let took = r.outcome.duration.as_secs_f64();
            if took > max {
                problems.push(format!(
                    "{} {} {}: took {took:.1}s, more than the {max}s the sample allows",
                    r.program, r.role, r.case
                ));
            }
        }
    }
    let report: String = results
        .iter()
        .filter(|r| !matches!(r.outcome.verdict, Verdict::Pass | Verdict::Skipped))
        .map(sockcheck::report::details)
        .collect();
    assert!(
        problems.is_empty(),
        "{} ({mode}): the results differ from expect.toml:\n{}\n\nreport of the cases that did not pass:\n{report}",
        dir.display(),
        problems.join("\n")
    );
}
