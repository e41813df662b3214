//! A course's own suites folder: the bundled suites copied with the course's words set
//! (`sockcheck variant init`), and their fixtures recorded from the bundled reference given
//! those words, or from the teacher's own solution (`sockcheck record`). Each recorded
//! fixture carries the digest of the `program.toml` and the case it was recorded for, so a
//! folder whose cases or words changed since is refused ([`load`]) rather than trusted.
//!
//! ```text
//! DIR/suites/<program>/program.toml, <case>.case, COVERAGE.md
//! DIR/fixtures/<program>/<case>.snap
//! ```

use crate::batch::reference_command;
use crate::catalog::{Catalog, Suite};
use crate::engine::{self, Mode, Timing, Verdict};
use crate::fixture::Fixture;
use crate::iut::IutSpec;
use crate::sandbox::Policy;
use crate::script::{Case, Role};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The header line of a recorded fixture that names what it was recorded for.
const STAMP: &str = "recorded_for: ";

/// What a fixture was recorded for: its program's `program.toml` (the words, the address,
/// the prompts) and its case, as text.
pub fn digest(program_toml: &str, case_text: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(program_toml.as_bytes());
    hash.update([0]);
    hash.update(case_text.as_bytes());
    hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fixture file as insta writes one, its header naming where the transcript came from
/// and what it was recorded for.
pub fn snapshot(transcript: &[String], digest: &str, source: &str) -> String {
    let source = source.replace(['\n', '\r'], " ");
    format!(
        "---\nsource: {source}\n{STAMP}{digest}\n---\n{}\n",
        transcript.join("\n")
    )
}

/// The digest in a fixture's header, if it has one.
pub fn stamp_of(snapshot: &str) -> Option<&str> {
    let header = snapshot.strip_prefix("---\n")?.split_once("\n---\n")?.0;
    header
        .lines()
        .find_map(|line| line.strip_prefix(STAMP))
        .map(str::trim)
}

/// A fixture that does not belong to its case any more: program, case, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub program: String,
    pub case: String,
    pub why: &'static str,
}

/// The cases of a folder whose fixture is missing or was recorded for another version of
/// the case or of its `program.toml`.
pub fn stale(suite_files: &[(String, String)], fixture_files: &[(String, String)]) -> Vec<Stale> {
    let tomls: BTreeMap<&str, &str> = suite_files
        .iter()
        .filter_map(|(path, text)| {
            let program = path.strip_suffix("/program.toml")?;
            Some((program, text.as_str()))
        })
        .collect();
    let fixtures: BTreeMap<&str, &str> = fixture_files
        .iter()
        .map(|(path, text)| (path.as_str(), text.as_str()))
        .collect();
    let mut found = Vec::new();
    for (path, text) in suite_files {
        let Some((program, case)) = path.strip_suffix(".case").and_then(|p| p.split_once('/'))
        else {
            continue;
        };
        let toml = tomls.get(program).copied().unwrap_or_default();
        let why = match fixtures.get(format!("{program}/{case}.snap").as_str()) {
            None => Some("it has no fixture"),
            Some(snap) => match stamp_of(snap) {
                None => Some("its fixture was not recorded by `sockcheck record`"),
                Some(stamp) if stamp != digest(toml, text) => {
                    Some("the case or its program.toml changed since its fixture was recorded")
                }
                Some(_) => None,
            },
        };
        if let Some(why) = why {
            found.push(Stale {
                program: program.to_string(),
                case: case.to_string(),
                why,
            });
        }
    }
    found
}

/// Files as `(<program>/<file>, text)`.
type Files = Vec<(String, String)>;

/// The folder's suite files and recorded fixtures.
fn folder_files(dir: &Path) -> Result<(Files, Files), String> {
    let suites = dir.join("suites");
    if !suites.is_dir() {
        return Err(format!(
            "`{}` has no `suites` folder: make one with `sockcheck variant init {}`",
            dir.display(),
            dir.display()
        ));
    }
    let suite_files = Catalog::folder_files(&suites, None).map_err(|e| e.to_string())?;
    let fixtures = dir.join("fixtures");
    let fixture_files = if fixtures.is_dir() {
        Catalog::folder_files(&fixtures, Some("snap")).map_err(|e| e.to_string())?
    } else {
        Vec::new()
    };
    Ok((suite_files, fixture_files))
}

/// Loads a course's folder to run its cases: refused, with the command that records them
/// again, when a fixture is stale against its case.
pub fn load(dir: &Path) -> Result<Catalog, String> {
    let (suite_files, fixture_files) = folder_files(dir)?;
    let stale = stale(&suite_files, &fixture_files);
    if let Some(first) = stale.first() {
        let mut programs: Vec<&str> = stale.iter().map(|s| s.program.as_str()).collect();
        programs.dedup();
        return Err(format!(
            "`{}`: {} case(s) cannot be checked, as their fixtures are stale ({}/{}: {}); \
             record them again: sockcheck record --suites {} {}",
            dir.display(),
            stale.len(),
            first.program,
            first.case,
            first.why,
            shell_word(&dir.display().to_string()),
            programs.join(" ")
        ));
    }
    Catalog::from_files(&suite_files, &fixture_files)
        .map_err(|e| format!("`{}`: {e}", dir.display()))
}

fn shell_word(text: &str) -> String {
    shlex::try_quote(text).map_or_else(|_| text.to_string(), |q| q.into_owned())
}

/// The knob that is no word but the program's address (`--set echo2.addr=127.0.0.1:9090`):
/// the bundled reference and the peer use it as they use the tutorial's.
const ADDR: &str = "addr";

/// A course's value for one word of one program: `--set echo2.reply=upper`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Knob {
    pub program: String,
    pub word: String,
    pub value: String,
}

impl std::str::FromStr for Knob {
    type Err = String;

    fn from_str(text: &str) -> Result<Knob, String> {
        let bad = || format!("`{text}` is not PROGRAM.WORD=VALUE (e.g. echo2.reply=upper)");
        let (name, value) = text.split_once('=').ok_or_else(bad)?;
        let (program, word) = name.split_once('.').ok_or_else(bad)?;
        if program.is_empty() || word.is_empty() {
            return Err(bad());
        }
        Ok(Knob {
            program: program.to_string(),
            word: word.to_string(),
            value: value.to_string(),
        })
    }
}

/// Sets `word` of the `[words]` table of a `program.toml` text to `value` (or, for `addr`,
/// the program's address), leaving every other line (and comment) as it is; the new line
/// says what the tutorial's value was.
fn set_word(toml_text: &str, word: &str, value: &str) -> Result<String, String> {
    let table: toml::Table = toml::from_str(toml_text).map_err(|e| e.to_string())?;
    let (section, found) = if word == ADDR {
        ("", table.get(ADDR))
    } else {
        ("[words]", table.get("words").and_then(|w| w.get(word)))
    };
    let old = found
        .and_then(|v| v.as_str())
        .ok_or_else(|| format!("no word `{word}`"))?
        .to_string();
    let quoted = toml::Value::String(value.to_string()).to_string();
    let was = toml::Value::String(old).to_string();
    // The top level is the section before the first header.
    let mut in_section = section.is_empty();
    let mut done = false;
    let mut lines = Vec::new();
    for line in toml_text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_section = !section.is_empty() && trimmed.starts_with(section);
        }
        let is_it = in_section
            && !done
            && trimmed
                .strip_prefix(word)
                .is_some_and(|rest| rest.trim_start().starts_with('='));
        if is_it {
            lines.push(format!(
                "{word} = {quoted}   # the course's (the tutorial's: {was})"
            ));
            done = true;
        } else {
            lines.push(line.to_string());
        }
    }
    let text = lines.join("\n") + "\n";
    // Read back: the line written must say exactly the value, and nothing else moved.
    let again: toml::Table = toml::from_str(&text).map_err(|e| e.to_string())?;
    let now = if word == ADDR {
        again.get(ADDR)
    } else {
        again.get("words").and_then(|w| w.get(word))
    };
    match now {
        Some(toml::Value::String(v)) if done && v == value => Ok(text),
        _ => Err(format!("could not set the word `{word}` in program.toml")),
    }
}

/// Writes the bundled suites of `ids` (all when empty, and the suites they include) into
/// `dir/suites`, each with its course's words set. Refuses, writing nothing, a program
/// the folder already has, an unknown program, or a word the program does not have.
/// Returns the programs written.
pub fn write_suites(dir: &Path, ids: &[String], knobs: &[Knob]) -> Result<Vec<String>, String> {
    let bundled =
        Catalog::embedded().map_err(|e| format!("the built-in suites are broken: {e}"))?;
    let known = bundled.ids();
    for id in ids {
        if !known.contains(&id.as_str()) {
            return Err(format!(
                "unknown program `{id}` (known: {})",
                known.join(", ")
            ));
        }
    }
    let mut chosen: Vec<String> = if ids.is_empty() {
        known.iter().map(|s| s.to_string()).collect()
    } else {
        ids.to_vec()
    };
    // A suite that includes another's cases needs that suite beside it.
    for id in chosen.clone() {
        if let Some(other) = bundled.suite(&id).and_then(|s| s.includes.clone()) {
            if !chosen.contains(&other) {
                chosen.push(other);
            }
        }
    }
    chosen.sort();
    let files = Catalog::bundled_suite_files();
    let mut out: Vec<(PathBuf, String)> = Vec::new();
    for knob in knobs {
        if !chosen.contains(&knob.program) {
            return Err(format!(
                "--set {}.{}: `{}` is not among the programs written ({})",
                knob.program,
                knob.word,
                knob.program,
                chosen.join(", ")
            ));
        }
        let words = &bundled.suite(&knob.program).expect("chosen").info.words;
        if knob.word != ADDR && !words.contains_key(&knob.word) {
            let have: Vec<&str> = words.keys().map(String::as_str).collect();
            return Err(format!(
                "--set {}.{}: {} has no word `{}` ({})",
                knob.program,
                knob.word,
                knob.program,
                knob.word,
                if have.is_empty() {
                    "it has none besides `addr`".to_string()
                } else {
                    format!("its words: {}, and `addr`", have.join(", "))
                }
            ));
        }
    }
    for id in &chosen {
        let target = dir.join("suites").join(id);
        if target.exists() {
            return Err(format!(
                "`{}` exists: nothing was written (to change a word there, edit its \
                 program.toml and run `sockcheck record --suites {} {id}`)",
                target.display(),
                shell_word(&dir.display().to_string())
            ));
        }
        for (path, text) in files
            .iter()
            .filter(|(p, _)| p.starts_with(&format!("{id}/")))
        {
            let mut text = text.clone();
            if path.ends_with("/program.toml") {
                for knob in knobs.iter().filter(|k| &k.program == id) {
                    text = set_word(&text, &knob.word, &knob.value)
                        .map_err(|e| format!("--set {}.{}: {e}", knob.program, knob.word))?;
                }
            }
            out.push((dir.join("suites").join(path), text));
        }
    }
    // Every value is checked as the catalogue checks it (an echo reply that does not
    // parse, say) before anything is written.
    let written: Vec<(String, String)> = out
        .iter()
        .map(|(p, t)| {
            let rel = p
                .strip_prefix(dir.join("suites"))
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned();
            (rel, t.clone())
        })
        .collect();
    Catalog::from_files(&written, &[]).map_err(|e| e.to_string())?;
    for (path, text) in &out {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot make `{}`: {e}", parent.display()))?;
        }
        std::fs::write(path, text)
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    }
    Ok(chosen)
}

/// Where `record` takes the transcripts from: the bundled reference (through this binary),
/// given the folder's words; for a role given a command, the teacher's solution.
pub struct Source {
    pub exe: PathBuf,
    pub server: Option<String>,
    pub client: Option<String>,
    /// The folder the solution's commands run in (copied for every case).
    pub workdir: PathBuf,
}

impl Source {
    fn spec(&self, suite: &Suite, role: Role) -> (IutSpec, String) {
        let command = match role {
            Role::Server => self.server.clone(),
            Role::Client => self.client.clone(),
        };
        match command {
            Some(command) => (
                IutSpec {
                    command: command.clone(),
                    workdir: Some(self.workdir.clone()),
                    isolation: Default::default(),
                    limits: Default::default(),
                    hidden: Vec::new(),
                },
                format!("sockcheck record --{role} {command:?}"),
            ),
            None => (
                IutSpec {
                    command: reference_command(&self.exe, &suite.info, role),
                    workdir: None,
                    isolation: Default::default(),
                    limits: Default::default(),
                    hidden: Vec::new(),
                },
                "sockcheck record (the bundled reference)".to_string(),
            ),
        }
    }
}

/// The steps whose observations no course's variant changes: how the program ends its
/// connections and how it exits (SPEC.md's common rules).
const UNCHANGED_BY_VARIANTS: &[&str] = &["exit", "read-end"];

/// Records the fixtures of the folder's programs `ids` (all when empty): every case of
/// their own (not those they include) is run twice, and must pass with no deadline
/// reached and give the same transcript both times; where the bundled suite has the same
/// case, how the program ends and exits must be what the bundled fixture says. Nothing
/// is written unless every case records. Returns how many fixtures were written.
pub fn record(
    dir: &Path,
    ids: &[String],
    source: &Source,
    policy: Policy,
    jobs: usize,
    timing: &Timing,
) -> Result<usize, String> {
    let (suite_files, _) = folder_files(dir)?;
    let catalog =
        Catalog::from_files(&suite_files, &[]).map_err(|e| format!("`{}`: {e}", dir.display()))?;
    let known = catalog.ids();
    for id in ids {
        if !known.contains(&id.as_str()) {
            return Err(format!(
                "`{}` has no suite `{id}` (it has: {})",
                dir.display(),
                known.join(", ")
            ));
        }
    }
    let texts: BTreeMap<&str, &str> = suite_files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let bundled =
        Catalog::embedded().map_err(|e| format!("the built-in suites are broken: {e}"))?;
    // Each case of the chosen programs' own files, with its spec and its stamp.
    let mut plan: Vec<(&Suite, &Case, IutSpec, String, String)> = Vec::new();
    for suite in &catalog.suites {
        let id = suite.info.id.as_str();
        if !ids.is_empty() && !ids.iter().any(|i| i == id) {
            continue;
        }
        let toml = texts
            .get(format!("{id}/program.toml").as_str())
            .copied()
            .unwrap_or_default();
        for case in &suite.cases {
            let Some(case_text) = texts.get(format!("{id}/{}.case", case.name).as_str()) else {
                continue; // an included case: recorded with its own program
            };
            let (mut spec, from) = source.spec(suite, case.role);
            spec.isolation = policy;
            plan.push((suite, case, spec, digest(toml, case_text), from));
        }
    }
    let recorded = run_twice(&plan, jobs, timing);
    let mut files = Vec::new();
    for ((suite, case, _, stamp, from), outcome) in plan.iter().zip(recorded) {
        let name = format!("{}/{}", suite.info.id, case.name);
        let lines = outcome.map_err(|why| format!("{name}: {why}; nothing was recorded"))?;
        if let Some(fixture) = bundled
            .suite(&suite.info.id)
            .and_then(|s| s.fixtures.get(&case.name))
        {
            unchanged_by_variants(&lines, fixture)
                .map_err(|why| format!("{name}: {why}; nothing was recorded"))?;
        }
        let path = dir
            .join("fixtures")
            .join(&suite.info.id)
            .join(format!("{}.snap", case.name));
        files.push((path, snapshot(&lines, stamp, from)));
    }
    for (path, text) in &files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot make `{}`: {e}", parent.display()))?;
        }
        std::fs::write(path, text)
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    }
    Ok(files.len())
}

/// Runs each planned case twice, `jobs` at a time: its transcript, or why it cannot be a
/// fixture.
fn run_twice(
    plan: &[(&Suite, &Case, IutSpec, String, String)],
    jobs: usize,
    timing: &Timing,
) -> Vec<Result<Vec<String>, String>> {
    crate::batch::in_parallel(plan, jobs, |_, (suite, case, spec, _, _)| {
        let once = || {
            let outcome = engine::run(case, &suite.info, spec, &Mode::Record, timing);
            match (outcome.verdict, outcome.deadlines) {
                (Verdict::Pass, 0) => Ok(outcome.transcript),
                (Verdict::Pass, _) => Err("a wait reached its deadline".to_string()),
                (verdict, _) => Err(format!(
                    "{}: {}",
                    verdict.word(),
                    outcome.message.unwrap_or_default()
                )),
            }
        };
        let first = once()?;
        let second = once()?;
        match first.iter().zip(&second).position(|(a, b)| a != b) {
            None if first.len() == second.len() => Ok(first),
            at => {
                let at = at.unwrap_or(first.len().min(second.len()));
                Err(format!(
                    "two recordings differ at line {}: `{}` then `{}`",
                    at + 1,
                    first.get(at).map_or("(nothing)", String::as_str),
                    second.get(at).map_or("(nothing)", String::as_str)
                ))
            }
        }
    })
}

/// Checks that a recording ends its connections and exits as the bundled fixture of the
/// same case does, step for step (a step the course changed or added is not compared).
fn unchanged_by_variants(lines: &[String], bundled: &Fixture) -> Result<(), String> {
    let step = |line: &str| line.split(" => ").next().unwrap_or_default().to_string();
    for (line, want) in lines.iter().zip(&bundled.lines) {
        let word = line.split_whitespace().next().unwrap_or_default();
        if UNCHANGED_BY_VARIANTS.contains(&word) && step(line) == step(want) && line != want {
            return Err(format!(
                "`{line}` where SPEC.md's reference gives `{want}` (a course's variant \
                 changes words, not how a program ends its connections or exits)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_read_back_and_changes_with_the_case_or_the_words() {
        let d = digest("title = \"x\"\n", "role server\nspawn\n");
        let snap = snapshot(&["spawn".into()], &d, "sockcheck record\n(x)");
        assert_eq!(stamp_of(&snap), Some(d.as_str()));
        assert!(snap.starts_with("---\nsource: sockcheck record (x)\n"));
        assert_eq!(Fixture::from_snapshot(&snap).lines, vec!["spawn"]);
        assert_ne!(d, digest("title = \"y\"\n", "role server\nspawn\n"));
        assert_ne!(d, digest("title = \"x\"\n", "role server\nspawn\nexit\n"));
        assert_eq!(
            stamp_of("---\nsource: harness/tests/suites.rs\n---\nspawn\n"),
            None
        );
    }

    #[test]
    fn stale_fixtures_are_named_with_the_reason() {
        let toml = "title = \"t\"\naddr = \"127.0.0.1:1\"\n".to_string();
        let case = "role server\nspawn\n".to_string();
        let suites = vec![
            ("p/program.toml".to_string(), toml.clone()),
            ("p/fresh.case".to_string(), case.clone()),
            ("p/missing.case".to_string(), case.clone()),
            ("p/unstamped.case".to_string(), case.clone()),
            ("p/changed.case".to_string(), case.clone()),
            ("p/COVERAGE.md".to_string(), "| a | b |".to_string()),
        ];
        let good = snapshot(&["spawn".into()], &digest(&toml, &case), "s");
        let fixtures = vec![
            ("p/fresh.snap".to_string(), good),
            (
                "p/unstamped.snap".to_string(),
                "---\nsource: s\n---\nspawn\n".into(),
            ),
            (
                "p/changed.snap".to_string(),
                snapshot(&["spawn".into()], &digest(&toml, "role client\n"), "s"),
            ),
        ];
        let found: Vec<(String, &str)> = stale(&suites, &fixtures)
            .into_iter()
            .map(|s| (s.case, s.why))
            .collect();
        assert_eq!(
            found,
            vec![
                ("missing".into(), "it has no fixture"),
                (
                    "unstamped".into(),
                    "its fixture was not recorded by `sockcheck record`"
                ),
                (
                    "changed".into(),
                    "the case or its program.toml changed since its fixture was recorded"
                ),
            ]
        );
    }

    #[test]
    fn a_word_is_set_in_place_and_a_missing_one_refused() {
        let text = "title = \"echo2\"\n\n# words\n[words]\nreply = \"suffix SB\"   # tutorial\nother = \"x\"\n";
        let set = set_word(text, "reply", "upper \"quoted\"").unwrap();
        let table: toml::Table = toml::from_str(&set).unwrap();
        assert_eq!(table["words"]["reply"].as_str(), Some("upper \"quoted\""));
        assert_eq!(table["words"]["other"].as_str(), Some("x"));
        assert!(set.contains("# words\n[words]\n"));
        assert!(set.contains("(the tutorial's: \"suffix SB\")"));
        assert_eq!(set_word(text, "nope", "x").unwrap_err(), "no word `nope`");
        let text = "title = \"t\"\naddr = \"127.0.0.1:8080\"\n[words]\naddr = \"w\"\n";
        let moved = set_word(text, "addr", "127.0.0.1:9090").unwrap();
        let table: toml::Table = toml::from_str(&moved).unwrap();
        assert_eq!(table["addr"].as_str(), Some("127.0.0.1:9090"));
        assert_eq!(table["words"]["addr"].as_str(), Some("w"));
    }

    #[test]
    fn knobs_are_program_word_value() {
        let knob: Knob = "echo2.reply=upper suffix =".parse().unwrap();
        assert_eq!(
            knob,
            Knob {
                program: "echo2".into(),
                word: "reply".into(),
                value: "upper suffix =".into()
            }
        );
        for bad in ["echo2.reply", "reply=upper", ".reply=x", "echo2.=x"] {
            assert!(bad
                .parse::<Knob>()
                .unwrap_err()
                .contains("PROGRAM.WORD=VALUE"));
        }
    }

    #[test]
    fn a_recording_must_end_and_exit_as_the_bundled_fixture() {
        let bundled = Fixture {
            lines: vec![
                "spawn".into(),
                "read-end c1 => eof".into(),
                "exit => 0".into(),
            ],
        };
        let same: Vec<String> = bundled.lines.clone();
        assert!(unchanged_by_variants(&same, &bundled).is_ok());
        let mut exits_1 = same.clone();
        exits_1[2] = "exit => 1".into();
        let why = unchanged_by_variants(&exits_1, &bundled).unwrap_err();
        assert!(why.starts_with("`exit => 1` where SPEC.md's reference gives `exit => 0`"));
        let mut resets = same.clone();
        resets[1] = "read-end c1 => reset".into();
        assert!(unchanged_by_variants(&resets, &bundled).is_err());
        // A course's case with a step of its own where the bundled one ends: not compared.
        let mut edited = same;
        edited[1] = "read-end c2 => reset".into();
        assert!(unchanged_by_variants(&edited, &bundled).is_ok());
    }
}
