//! `sockcheck demo <id>`: a classroom demonstration. Runs the demo case a suite names
//! against the reference (or the given program) and prints a timeline people can read:
//! each step at its time, with the first and last bytes of what every read returned.

use crate::batch::CaseResult;
use crate::catalog::Suite;
use crate::engine::Verdict;
use std::fmt::Write as _;

/// The timeline of a demonstration run, with the suite's note on what it shows.
pub fn render(suite: &Suite, result: &CaseResult, note: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", suite.title);
    let _ = writeln!(
        out,
        "{}: the program plays the {}, sockcheck the other side",
        result.case, result.role
    );
    if let Some(command) = &result.command {
        let _ = writeln!(out, "program: {command}");
    }
    let _ = writeln!(out, "({})\n", result.about);
    for line in &result.outcome.timeline {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out);
    match result.outcome.verdict {
        Verdict::Pass | Verdict::NonStrict => {
            let _ = writeln!(out, "{}", textwrap(note, 92));
        }
        other => {
            let _ = writeln!(
                out,
                "the demonstration did not go as the tutorial's ({}): {}",
                other.word(),
                result.outcome.message.as_deref().unwrap_or("")
            );
        }
    }
    out
}

/// Folds a paragraph at `width` columns.
fn textwrap(text: &str, width: usize) -> String {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let last = lines.last_mut().expect("one line at least");
        if !last.is_empty() && last.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines.join("\n")
}
