//! Tolerances: deviations from a fixture that a program's contract accepts as non-strict.
//! A suite names the ones that apply to its program in `program.toml`
//! (`tolerate = ["stdin-eof-traceback"]`); the engine knows none of them by itself.

use crate::hints::Hint;
use crate::observation::ExitStatus;

/// Its id (`stdin-eof-traceback`, as `program.toml` names it) is the variant's name in
/// kebab case, derived once (strum).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString, strum::VariantArray,
)]
#[strum(serialize_all = "kebab-case")]
pub enum Tolerance {
    /// An interactive client that dies of `EOFError` when its input ends, its work done
    /// (SPEC.md: the tutorial's clients never end on their own).
    StdinEofTraceback,
}

/// What the `exit` step saw when the status differed from the fixture's.
pub struct ExitEvidence<'a> {
    pub expected: ExitStatus,
    pub observed: ExitStatus,
    pub stdin_closed: bool,
    /// The exception that ended the last traceback on stderr, if any.
    pub last_exception: Option<&'a str>,
}

impl Tolerance {
    pub const ALL: &'static [Tolerance] = <Tolerance as strum::VariantArray>::VARIANTS;

    pub fn id(self) -> &'static str {
        self.into()
    }

    pub fn from_id(id: &str) -> Option<Tolerance> {
        id.parse().ok()
    }

    /// Why the exit is tolerated, and the hint that says how to do it right; `None` when
    /// this tolerance does not cover what happened.
    pub fn excuse(self, e: &ExitEvidence) -> Option<(String, Hint)> {
        match self {
            // Python exits 1 after an uncaught exception; the traceback must end in EOFError
            // itself, not in another exception raised while handling it.
            Tolerance::StdinEofTraceback => (e.expected == ExitStatus::Code(0)
                && e.observed == ExitStatus::Code(1)
                && e.stdin_closed
                && e.last_exception == Some("EOFError"))
            .then(|| {
                (
                    "it died with an EOFError traceback when its input ended, after its work was done"
                        .to_string(),
                    Hint::StdinEofTraceback,
                )
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(last: Option<&str>) -> ExitEvidence<'_> {
        ExitEvidence {
            expected: ExitStatus::Code(0),
            observed: ExitStatus::Code(1),
            stdin_closed: true,
            last_exception: last,
        }
    }

    #[test]
    fn only_a_traceback_that_ends_in_eoferror_is_tolerated() {
        let t = Tolerance::StdinEofTraceback;
        assert!(t.excuse(&evidence(Some("EOFError"))).is_some());
        assert!(t.excuse(&evidence(Some("NameError"))).is_none());
        assert!(t.excuse(&evidence(None)).is_none());
        let open_stdin = ExitEvidence {
            stdin_closed: false,
            ..evidence(Some("EOFError"))
        };
        assert!(t.excuse(&open_stdin).is_none());
        for &t in Tolerance::ALL {
            assert_eq!(Tolerance::from_id(t.id()), Some(t));
        }
    }
}
