//! Gradescope's `results.json` (its autograder specification): a test per case, each
//! worth a share of its program's points (the manifest's `weight`, else one point a case),
//! full marks when it passed or was non-strict, none otherwise; the total is their sum.

use super::details;
use crate::batch::CaseResult;
use crate::engine::Verdict;
use serde::Serialize;
use std::collections::BTreeMap;

/// One test of `results.json`, with every field the specification reads.
#[derive(Debug, Serialize)]
pub struct Test {
    pub name: String,
    pub score: f64,
    pub max_score: f64,
    /// `passed` or `failed`: what Gradescope colours the test by.
    pub status: &'static str,
    pub output: String,
    pub output_format: &'static str,
    pub visibility: &'static str,
}

/// The whole file.
#[derive(Debug, Serialize)]
pub struct Results {
    pub score: f64,
    pub output: String,
    pub output_format: &'static str,
    pub visibility: &'static str,
    pub stdout_visibility: &'static str,
    pub tests: Vec<Test>,
}

/// `results` as Gradescope's results; `weights` gives a program's points (shared equally
/// among its cases), a program without one is worth a point a case.
pub fn results(results: &[CaseResult], weights: &BTreeMap<String, f64>, summary: &str) -> Results {
    let mut cases_of: BTreeMap<&str, usize> = BTreeMap::new();
    for r in results {
        *cases_of.entry(r.program.as_str()).or_default() += 1;
    }
    let tests: Vec<Test> = results
        .iter()
        .map(|r| {
            let cases = cases_of.get(r.program.as_str()).copied().unwrap_or(1) as f64;
            let max_score = weights.get(&r.program).map_or(1.0, |w| w / cases);
            let passed = matches!(r.outcome.verdict, Verdict::Pass | Verdict::NonStrict);
            Test {
                name: format!("{} {} {}", r.program, r.role, r.case),
                score: if passed { max_score } else { 0.0 },
                max_score,
                status: if passed { "passed" } else { "failed" },
                output: match r.outcome.verdict {
                    Verdict::Pass => r.about.clone(),
                    _ => details(r),
                },
                output_format: "text",
                visibility: "visible",
            }
        })
        .collect();
    Results {
        score: tests.iter().map(|t| t.score).sum(),
        output: summary.to_string(),
        output_format: "text",
        visibility: "visible",
        stdout_visibility: "visible",
        tests,
    }
}

/// [`results`] as the JSON text of `results.json`.
pub fn json(results_: &[CaseResult], weights: &BTreeMap<String, f64>, summary: &str) -> String {
    serde_json::to_string_pretty(&results(results_, weights, summary))
        .unwrap_or_else(|_| "{\"tests\": []}".into())
}
