//! The silence window as written: `quiet 300ms` (from 1 ms to 10 s), whose fixture line
//! is `=> nothing`. Its execution is in [`crate::steps::quiet`].

use super::{Action, Syntax};
use crate::observation::Kind;
use std::fmt;
use std::time::Duration;

pub const WORDS: &[&str] = &["quiet"];

/// Longest silence window a case may declare.
const MAX_QUIET: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step(pub Duration);

pub fn parse(word: &str, args: &[&str]) -> Option<Result<Step, String>> {
    if word != "quiet" {
        return None;
    }
    Some(match args {
        [d] => duration(d).and_then(|d| {
            if d.is_zero() || d > MAX_QUIET {
                Err(format!(
                    "a silence window lasts from 1ms to {}s",
                    MAX_QUIET.as_secs()
                ))
            } else {
                Ok(Step(d))
            }
        }),
        _ => Err("`quiet` takes a duration: `quiet 300ms`".into()),
    })
}

fn duration(s: &str) -> Result<Duration, String> {
    let parsed = if let Some(ms) = s.strip_suffix("ms") {
        ms.parse().ok().map(Duration::from_millis)
    } else if let Some(secs) = s.strip_suffix('s') {
        secs.parse().ok().map(Duration::from_secs)
    } else {
        None
    };
    parsed.ok_or_else(|| format!("bad duration `{s}` (e.g. `300ms` or `2s`)"))
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "quiet {}ms", self.0.as_millis())
    }
}
impl Syntax for Step {
    const WORDS: &'static [&'static str] = WORDS;

    fn parse(word: &str, _rest: &str, args: &[&str]) -> Option<Result<Step, String>> {
        parse(word, args)
    }

    fn observes(&self) -> Option<Kind> {
        Some(Kind::Nothing)
    }

    fn action(&self) -> Action {
        Action::Quiet(self.0)
    }
}
