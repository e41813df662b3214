//! Reports: the terminal summary (one line per case, then each failure with its transcript
//! against the fixture as a diff, the stderr tail and the hint) and the JSON file; the
//! JUnit and Gradescope files beside, each drawn from the same case results.

pub mod gradescope;
pub mod html;
mod junit;

pub use junit::{class_junit, junit};

use crate::hints::{language, Lang};

/// The report's fixed words in the run's language (`--lang`, or the locale).
struct Words {
    hint: &'static str,
    transcript: &'static str,
    stderr: &'static str,
    wire_log: &'static str,
    note: &'static str,
    command: &'static str,
}

fn words() -> &'static Words {
    match language() {
        Lang::En => &Words {
            hint: "hint",
            transcript: "transcript (- fixture, + this run):",
            stderr: "stderr (last lines):",
            wire_log: "wire log (last events; <- from the program, -> from the peer):",
            note: "note",
            command: "command",
        },
        Lang::Zh => &Words {
            hint: "提示",
            transcript: "记录（- 预期，+ 本次运行）：",
            stderr: "stderr（最后几行）：",
            wire_log: "网络记录（最后的事件；<- 来自程序，-> 来自测试方）：",
            note: "注",
            command: "命令",
        },
    }
}

/// A verdict as the terminal shows it: `FAIL`, or `失败`.
pub fn verdict_word(v: Verdict) -> String {
    match language() {
        Lang::En => v.word().to_uppercase(),
        Lang::Zh => match v {
            Verdict::Pass => "通过",
            Verdict::NonStrict => "不严格",
            Verdict::Skipped => "跳过",
            Verdict::Fail => "失败",
            Verdict::Error => "错误",
        }
        .to_string(),
    }
}

use crate::batch::CaseResult;
use crate::engine::Verdict;
use serde::Serialize;
use std::fmt::Write as _;
use std::time::Duration;

/// How terminal output is painted: plain for files, pipes and `NO_COLOR`, in ANSI colours
/// on a terminal (the CLI decides, from `--color` and the environment). Every file a run
/// writes is plain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Paint {
    pub colour: bool,
}

impl Paint {
    pub const PLAIN: Paint = Paint { colour: false };

    fn with(self, style: anstyle::Style, text: &str) -> String {
        if self.colour {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    /// A verdict's colour: green, yellow, red, magenta, dim.
    fn verdict(self, v: Verdict, text: &str) -> String {
        use anstyle::{AnsiColor, Style};
        let colour = match v {
            Verdict::Pass => AnsiColor::Green,
            Verdict::NonStrict => AnsiColor::Yellow,
            Verdict::Fail => AnsiColor::Red,
            Verdict::Error => AnsiColor::Magenta,
            Verdict::Skipped => AnsiColor::BrightBlack,
        };
        self.with(Style::new().fg_color(Some(colour.into())).bold(), text)
    }

    fn bold(self, text: &str) -> String {
        self.with(anstyle::Style::new().bold(), text)
    }

    fn colour(self, c: anstyle::AnsiColor, text: &str) -> String {
        self.with(anstyle::Style::new().fg_color(Some(c.into())), text)
    }
}

/// The one line printed for a case as soon as it finishes.
pub fn case_line(r: &CaseResult) -> String {
    case_line_painted(r, Paint::PLAIN)
}

/// [`case_line`], its verdict in its colour.
pub fn case_line_painted(r: &CaseResult, paint: Paint) -> String {
    let word = format!("{:<10}", verdict_word(r.outcome.verdict));
    let line = format!(
        "{} {:<13} {:<6} {:<28} {:>6.2}s",
        paint.verdict(r.outcome.verdict, &word),
        r.program,
        r.role.to_string(),
        r.case,
        r.outcome.duration.as_secs_f64()
    );
    // A skipped case gets no details below: its reason goes on its line.
    match (&r.outcome.verdict, &r.outcome.message) {
        (crate::engine::Verdict::Skipped, Some(why)) => format!("{line}  ({why})"),
        _ => line,
    }
}

/// Everything a reader needs about a case that did not pass.
pub fn details(r: &CaseResult) -> String {
    details_painted(r, Paint::PLAIN)
}

/// [`details`], painted: the heading in the verdict's colour, the hint's id, the diff's
/// lines in red and green.
pub fn details_painted(r: &CaseResult, paint: Paint) -> String {
    use anstyle::AnsiColor;
    let mut out = String::new();
    let heading = format!(
        "--- {} {} {}: {}",
        r.program,
        r.role,
        r.case,
        verdict_word(r.outcome.verdict)
    );
    let _ = writeln!(
        out,
        "{}{}",
        paint.verdict(r.outcome.verdict, &heading),
        if r.about.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.about)
        }
    );
    if let Some(m) = &r.outcome.message {
        let _ = writeln!(out, "{m}");
    }
    if let Some(hint) = r.outcome.hint {
        let _ = writeln!(
            out,
            "{}: {}",
            paint.colour(
                AnsiColor::Yellow,
                &format!("{} [{}]", words().hint, hint.id())
            ),
            hint.text()
        );
    }
    if let Some(expected) = &r.expected {
        if !r.outcome.transcript.is_empty() {
            let _ = writeln!(out, "{}", paint.bold(words().transcript));
            out.push_str(&diff_painted(expected, &r.outcome.transcript, paint));
        }
    }
    if !r.outcome.stderr_tail.trim().is_empty() {
        let _ = writeln!(out, "{}", paint.bold(words().stderr));
        for line in r.outcome.stderr_tail.lines() {
            let _ = writeln!(out, "  | {line}");
        }
    }
    if !r.outcome.wire_log.is_empty() && r.outcome.verdict != Verdict::NonStrict {
        let _ = writeln!(out, "{}", paint.bold(words().wire_log));
        for line in &r.outcome.wire_log {
            let _ = writeln!(out, "  {line}");
        }
    }
    for note in &r.outcome.notes {
        let _ = writeln!(out, "{}: {note}", words().note);
    }
    if let Some(cmd) = &r.command {
        let _ = writeln!(out, "{}: {cmd}", words().command);
    }
    out
}

/// The transcript against the fixture, line by line; the fixture's lines after the point
/// where the run stopped are left out (the run never got there).
pub fn diff(expected: &[String], actual: &[String]) -> String {
    diff_painted(expected, actual, Paint::PLAIN)
}

fn diff_painted(expected: &[String], actual: &[String], paint: Paint) -> String {
    use anstyle::AnsiColor;
    let shown = &expected[..actual.len().min(expected.len())];
    let old = shown.join("\n") + "\n";
    let new = actual.join("\n") + "\n";
    let mut out = String::new();
    for change in similar::TextDiff::from_lines(&old, &new).iter_all_changes() {
        let line = change.value().trim_end_matches('\n');
        let _ = writeln!(
            out,
            "  {}",
            match change.tag() {
                similar::ChangeTag::Delete => paint.colour(AnsiColor::Red, &format!("- {line}")),
                similar::ChangeTag::Insert => paint.colour(AnsiColor::Green, &format!("+ {line}")),
                similar::ChangeTag::Equal => format!("  {line}"),
            }
        );
    }
    if expected.len() > actual.len() {
        let _ = writeln!(
            out,
            "    ({} more steps not run)",
            expected.len() - actual.len()
        );
    }
    out
}

/// A row per program and role: its cases passed, failed, non-strict and skipped, and the
/// time its cases took together (they overlap in a parallel run).
pub fn program_table(results: &[CaseResult], paint: Paint) -> String {
    let mut rows: Vec<((&str, String), [usize; 5], Duration)> = Vec::new();
    for r in results {
        let key = (r.program.as_str(), r.role.to_string());
        let at = match rows.iter().position(|(k, _, _)| *k == key) {
            Some(at) => at,
            None => {
                rows.push((key, [0; 5], Duration::ZERO));
                rows.len() - 1
            }
        };
        let column = match r.outcome.verdict {
            Verdict::Pass => 0,
            Verdict::NonStrict => 1,
            Verdict::Fail => 2,
            Verdict::Error => 3,
            Verdict::Skipped => 4,
        };
        rows[at].1[column] += 1;
        rows[at].2 += r.outcome.duration;
    }
    let (program, role, cases, time) = match language() {
        Lang::En => ("program", "role", "cases", "time"),
        Lang::Zh => ("程序", "角色", "用例", "用时"),
    };
    let mut out = format!(
        "{program:<13} {role:<6} {cases:>5} {:>9} {:>9} {:>9} {:>9} {:>9} {time:>8}\n",
        verdict_word(Verdict::Pass),
        verdict_word(Verdict::NonStrict),
        verdict_word(Verdict::Fail),
        verdict_word(Verdict::Error),
        verdict_word(Verdict::Skipped),
    );
    for ((program, role), counts, took) in rows {
        let total: usize = counts.iter().sum();
        // The row in the colour of its worst verdict (skipped cases aside).
        let worst = if counts[3] > 0 {
            Verdict::Error
        } else if counts[2] > 0 {
            Verdict::Fail
        } else if counts[1] > 0 {
            Verdict::NonStrict
        } else if counts[0] > 0 {
            Verdict::Pass
        } else {
            Verdict::Skipped
        };
        let row = format!(
            "{program:<13} {role:<6} {total:>5} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7.2}s",
            counts[0],
            counts[1],
            counts[2],
            counts[3],
            counts[4],
            took.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "{}",
            if worst == Verdict::Pass {
                row
            } else {
                paint.verdict(worst, &row)
            }
        );
    }
    out
}

/// Counts per verdict, the wall time, the declared silence windows, and how many waits ran
/// into their deadline (none in a passing run: only failures wait for deadlines).
pub fn summary(results: &[CaseResult], wall: Duration) -> String {
    let count = |v: Verdict| results.iter().filter(|r| r.outcome.verdict == v).count();
    let silence: Duration = results.iter().map(|r| r.silence).sum();
    let deadlines: u32 = results.iter().map(|r| r.outcome.deadlines).sum();
    let (n, pass, non_strict, fail, error, skipped) = (
        results.len(),
        count(Verdict::Pass),
        count(Verdict::NonStrict),
        count(Verdict::Fail),
        count(Verdict::Error),
        count(Verdict::Skipped),
    );
    let (wall, silence) = (wall.as_secs_f64(), silence.as_secs_f64());
    match language() {
        Lang::En => format!(
            "{n} cases: {pass} passed, {non_strict} non-strict, {fail} failed, {error} errors, {skipped} skipped; took {wall:.2}s (declared silence windows: {silence:.2}s; deadlines reached: {deadlines})"
        ),
        Lang::Zh => format!(
            "共 {n} 个用例：{pass} 通过，{non_strict} 不严格，{fail} 失败，{error} 错误，{skipped} 跳过；用时 {wall:.2} 秒（声明的静默窗口：{silence:.2} 秒；到达期限的等待：{deadlines}）"
        ),
    }
}

/// The version of the JSON report's layout: a reader checks it, and a change of a field's
/// meaning or a removed field raises it (added fields do not).
pub const JSON_SCHEMA: u32 = 1;

#[derive(Serialize)]
struct JsonResult<'a> {
    program: &'a str,
    role: String,
    case: &'a str,
    /// What the case checks, in a sentence.
    about: &'a str,
    verdict: Verdict,
    duration_ms: u64,
    hint: Option<&'static str>,
    /// The hint's advice, in words.
    hint_text: Option<&'static str>,
    message: Option<&'a str>,
    deadlines: u32,
    /// What each step observed (the flakiness check compares runs by it).
    transcript: &'a [String],
    /// The fixture's lines, where the case has one.
    expected: Option<&'a [String]>,
    /// The last lines the program wrote to stderr.
    stderr_tail: &'a str,
    /// The command that played the role.
    command: Option<&'a str>,
}

/// How the run's cases were isolated, as said at its top.
#[derive(Debug, Clone, Serialize)]
pub struct IsolationInfo {
    /// `namespaces`, `user-namespace` or `shared`.
    pub mode: &'static str,
    pub description: String,
    /// Why the isolation is weaker than namespaces, when it is.
    pub why: Option<String>,
}

impl IsolationInfo {
    pub fn new(mode: crate::sandbox::Mode, why: Option<String>) -> IsolationInfo {
        IsolationInfo {
            mode: mode.word(),
            description: match mode {
                // Said once, from a probe: whether the case's processes are capped.
                crate::sandbox::Mode::Shared if crate::cgroup::available() => format!(
                    "{}; a cgroup of each case's own caps its processes",
                    mode.describe()
                ),
                crate::sandbox::Mode::Shared => format!(
                    "{}; no cgroup could be made, so only an ordinary user's processes are \
                     capped (RLIMIT_NPROC), not root's",
                    mode.describe()
                ),
                _ => mode.describe().to_string(),
            },
            why,
        }
    }

    /// The line at the top of a run.
    pub fn line(&self) -> String {
        match &self.why {
            Some(why) => format!("isolation: {} ({why}): {}", self.mode, self.description),
            None => format!("isolation: {}: {}", self.mode, self.description),
        }
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    schema: u32,
    isolation: &'a IsolationInfo,
    results: Vec<JsonResult<'a>>,
}

pub fn json(results: &[CaseResult], isolation: &IsolationInfo) -> String {
    let report = JsonReport {
        schema: JSON_SCHEMA,
        isolation,
        results: results
            .iter()
            .map(|r| JsonResult {
                program: &r.program,
                role: r.role.to_string(),
                case: &r.case,
                about: &r.about,
                verdict: r.outcome.verdict,
                duration_ms: r.outcome.duration.as_millis() as u64,
                hint: r.outcome.hint.map(|h| h.id()),
                hint_text: r.outcome.hint.map(|h| h.text()),
                message: r.outcome.message.as_deref(),
                deadlines: r.outcome.deadlines,
                transcript: &r.outcome.transcript,
                expected: r.expected.as_deref(),
                stderr_tail: &r.outcome.stderr_tail,
                command: r.command.as_deref(),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&report).unwrap_or_else(|_| "{\"results\": []}".into())
}

/// Exit status: 0 when nothing failed (non-strict and skipped allowed), 1 otherwise.
pub fn exit_code(results: &[CaseResult]) -> i32 {
    if results
        .iter()
        .any(|r| matches!(r.outcome.verdict, Verdict::Fail | Verdict::Error))
    {
        1
    } else {
        0
    }
}
