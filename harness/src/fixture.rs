//! Fixtures: the transcript the reference implementation produced, stored as an insta
//! snapshot, read back as the expectation of every later run.
//!
//! ```text
//! ---
//! source: harness/tests/suites.rs
//! expression: transcript
//! ---
//! spawn
//! connect c1
//! send c1 "hello"
//! read c1 => "HELLO"
//! ```
//! One line per step of the case: the step as the case writes it, and for observations
//! `=> ` and what was observed.

use crate::observation::Observation;
use crate::script::{Case, Step};

/// The separator between a step and what was observed.
pub const ARROW: &str = " => ";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixture {
    pub lines: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StaleFixture {
    #[error("the fixture has {fixture} lines but the case has {case} steps")]
    Length { fixture: usize, case: usize },
    #[error("fixture line {line} is `{found}`, but step {line} of the case is `{step}`")]
    Step {
        line: usize,
        found: String,
        step: String,
    },
    #[error("fixture line {line} records nothing for the observation `{step}`")]
    NoValue { line: usize, step: String },
    #[error("fixture line {line}: {message}")]
    BadValue { line: usize, message: String },
}

impl Fixture {
    /// Reads an insta `.snap` file (or a bare transcript) into its lines.
    pub fn from_snapshot(text: &str) -> Fixture {
        let body = text
            .strip_prefix("---\n")
            .and_then(|rest| rest.split_once("\n---\n"))
            .map(|(_, body)| body)
            .unwrap_or(text);
        Fixture {
            lines: body.lines().map(str::to_string).collect(),
        }
    }

    /// Checks that the fixture was recorded from this very case, and returns for each step
    /// the value recorded after `=>` (observations), parsed, or `None` (actions).
    pub fn expectations(&self, case: &Case) -> Result<Vec<Option<Observation>>, StaleFixture> {
        if self.lines.len() != case.steps.len() {
            return Err(StaleFixture::Length {
                fixture: self.lines.len(),
                case: case.steps.len(),
            });
        }
        self.lines
            .iter()
            .zip(&case.steps)
            .enumerate()
            .map(|(i, (line, step))| expectation(i + 1, line, step))
            .collect()
    }
}

fn expectation(
    line_no: usize,
    line: &str,
    step: &Step,
) -> Result<Option<Observation>, StaleFixture> {
    let canonical = step.to_string();
    let stale = || StaleFixture::Step {
        line: line_no,
        found: line.to_string(),
        step: canonical.clone(),
    };
    let rest = line.strip_prefix(canonical.as_str()).ok_or_else(stale)?;
    match (step.observes(), rest.strip_prefix(ARROW)) {
        (Some(kind), Some(value)) => Observation::parse(kind, value)
            .map(Some)
            .map_err(|message| StaleFixture::BadValue {
                line: line_no,
                message,
            }),
        (Some(_), None) => Err(StaleFixture::NoValue {
            line: line_no,
            step: canonical.clone(),
        }),
        (None, None) if rest.is_empty() => Ok(None),
        (None, _) => Err(stale()),
    }
}

/// Formats a transcript line.
pub fn line(step: &Step, value: Option<&str>) -> String {
    match value {
        Some(v) => format!("{step}{ARROW}{v}"),
        None => step.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script;

    const CASE: &str = "role server\nspawn\nconnect c1\nsend c1 \"hello\"\nread c1\n";

    #[test]
    fn reads_insta_snapshots_and_aligns_them_with_the_case() {
        let case = script::parse("echo1", "x", CASE).unwrap();
        let snap = "---\nsource: harness/tests/suites.rs\nexpression: transcript\n---\nspawn\nconnect c1\nsend c1 \"hello\"\nread c1 => \"HELLO\"\n";
        let fixture = Fixture::from_snapshot(snap);
        assert_eq!(
            fixture.expectations(&case).unwrap(),
            [
                None,
                None,
                None,
                Some(Observation::Bytes(crate::payload::Expected::Exact(
                    b"HELLO".to_vec()
                )))
            ]
        );
    }

    #[test]
    fn a_fixture_from_another_case_is_stale() {
        let case = script::parse("echo1", "x", CASE).unwrap();
        let other =
            Fixture::from_snapshot("spawn\nconnect c1\nsend c1 \"hi\"\nread c1 => \"HI\"\n");
        assert!(matches!(
            other.expectations(&case),
            Err(StaleFixture::Step { line: 3, .. })
        ));
        let short = Fixture::from_snapshot("spawn\n");
        assert!(matches!(
            short.expectations(&case),
            Err(StaleFixture::Length { .. })
        ));
        let no_value = Fixture::from_snapshot("spawn\nconnect c1\nsend c1 \"hello\"\nread c1\n");
        assert!(matches!(
            no_value.expectations(&case),
            Err(StaleFixture::NoValue { line: 4, .. })
        ));
        let bad_value =
            Fixture::from_snapshot("spawn\nconnect c1\nsend c1 \"hello\"\nread c1 => HELLO\n");
        assert!(matches!(
            bad_value.expectations(&case),
            Err(StaleFixture::BadValue { line: 4, .. })
        ));
    }
}
