//! The JUnit XML report (quick-junit), for GitLab's, Jenkins' and GitHub's test views: a
//! test suite per program and role, a test case per case. A case that did not pass carries
//! its message and its type (the hint's id, or the verdict) as attributes, and in its body
//! everything `run` prints about it: the hint, the transcript's diff against the fixture,
//! the stderr excerpt, the wire log. A non-strict case is a success whose output says why.

use super::{details, IsolationInfo};
use crate::batch::CaseResult;
use crate::engine::Verdict;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

/// The report of `results`, as XML text.
pub fn junit(results: &[CaseResult], isolation: &IsolationInfo) -> Result<String, String> {
    let mut report = Report::new("sockcheck");
    // Suites in the order their first case comes, as the run lists them.
    let mut suites: Vec<(String, TestSuite)> = Vec::new();
    for r in results {
        let name = format!("{} {}", r.program, r.role);
        let at = match suites.iter().position(|(n, _)| *n == name) {
            Some(at) => at,
            None => {
                let mut suite = TestSuite::new(name.clone());
                suite.add_property(Property::new("isolation", isolation.line()));
                suites.push((name, suite));
                suites.len() - 1
            }
        };
        suites[at].1.add_test_case(test_case(r));
    }
    report.add_test_suites(suites.into_iter().map(|(_, s)| s));
    report
        .to_string()
        .map_err(|e| format!("cannot write the JUnit report: {e}"))
}

fn test_case(r: &CaseResult) -> TestCase {
    let message = r.outcome.message.clone().unwrap_or_default();
    let kind = r.outcome.hint.map_or_else(
        || r.outcome.verdict.word().to_string(),
        |h| h.id().to_string(),
    );
    let status = match r.outcome.verdict {
        Verdict::Pass | Verdict::NonStrict => TestCaseStatus::success(),
        Verdict::Skipped => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(message);
            status
        }
        Verdict::Fail | Verdict::Error => {
            let mut status = TestCaseStatus::non_success(match r.outcome.verdict {
                Verdict::Error => NonSuccessKind::Error,
                _ => NonSuccessKind::Failure,
            });
            status
                .set_message(message)
                .set_type(kind)
                .set_description(details(r));
            status
        }
    };
    let mut case = TestCase::new(r.case.clone(), status);
    case.set_classname(format!("{}.{}", r.program, r.role))
        .set_time(r.outcome.duration);
    if r.outcome.verdict == Verdict::NonStrict {
        case.set_system_out(details(r));
    }
    if !r.outcome.stderr_tail.trim().is_empty() {
        case.set_system_err(r.outcome.stderr_tail.clone());
    }
    case
}

/// The class's report: a test suite per student, a test case per program, failed when any
/// of its cases did not pass; each student's own `junit.xml` has the cases.
pub fn class_junit(students: &[crate::grade::StudentResult]) -> Result<String, String> {
    let mut report = Report::new("sockcheck class");
    for s in students {
        let mut suite = TestSuite::new(s.student.clone());
        if let Some(error) = &s.error {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(format!("not checked: {error}"));
            suite.add_test_case(TestCase::new("submission", status));
        }
        for (program, score) in &s.programs {
            let status = if score.passed == score.total {
                TestCaseStatus::success()
            } else {
                let mut status = TestCaseStatus::non_success(if score.verdict == "error" {
                    NonSuccessKind::Error
                } else {
                    NonSuccessKind::Failure
                });
                status
                    .set_message(format!(
                        "{} of {} cases passed (worst: {}); the cases: {}/junit.xml",
                        score.passed, score.total, score.verdict, s.student
                    ))
                    .set_type(score.verdict.clone());
                status
            };
            let mut case = TestCase::new(program.clone(), status);
            case.set_classname(s.student.clone());
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report
        .to_string()
        .map_err(|e| format!("cannot write the class's JUnit report: {e}"))
}
