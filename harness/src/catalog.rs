//! The catalogue of programs: for each, its suite (`suites/<id>/program.toml` and one
//! `<case>.case` file per case) and its fixtures (`fixtures/<id>/<case>.snap`), either
//! embedded in the binary at build time or read from a checkout.
//!
//! ```text
//! # suites/echo1/program.toml
//! title = "echo1: one client, one message (第一版)"
//! addr = "127.0.0.1:8080"      # the tutorial's address, the default for every role
//! prompts = []                  # stripped from printed lines wherever they appear
//! labels = []                   # the reference's labels before the data of a line ("1:")
//! tolerate = []                 # deviations the contract accepts as non-strict
//! # eof_reply = "SB"            # what its server sends for each b'' if it ignores the end
//!                               # (an echo server's: its `reply` to an empty message)
//! [words]                       # a course's literals: the reference is given them, and
//! quit = "q"                    # the cases use them by name: stdin "${quit}"
//! ```
//! The literals a course may change (address, prompts, replies, contacts) live here, one
//! place per program. The words the reference reads: the echo servers' `reply` (`upper`,
//! `suffix TEXT`, or `upper suffix TEXT`), sticky2's `recv` (its two buffer sizes),
//! udp-hello's `request` and `reply`, udp-chat's `contacts` and `quit`.

use crate::engine::ProgramInfo;
use crate::fixture::Fixture;
use crate::script::{self, Case, Role};
use crate::tolerance::Tolerance;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProgramToml {
    title: String,
    addr: String,
    #[serde(default)]
    prompts: Vec<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    tolerate: Vec<String>,
    eof_reply: Option<String>,
    eof_frames: Option<crate::framing::Format>,
    #[serde(default)]
    words: BTreeMap<String, String>,
    /// Another suite whose cases this program must pass too, against that suite's
    /// fixtures: sticky1 is the rexec1 pair, so it is held to everything rexec1 is.
    include: Option<String>,
    demo: Option<Demo>,
}

/// A classroom demonstration (`sockcheck demo <id>`): the case to run against a server
/// and against a client, and what the timeline shows, in a sentence.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demo {
    pub server: String,
    pub client: String,
    pub note: String,
}

/// One program's suite.
#[derive(Debug, Clone)]
pub struct Suite {
    pub info: ProgramInfo,
    pub title: String,
    /// The cases, sorted by role then name: its own and those of the suite it includes.
    pub cases: Vec<Case>,
    /// The suite whose cases it includes, if any (`include` in program.toml).
    pub includes: Option<String>,
    /// Fixtures by case name.
    pub fixtures: BTreeMap<String, Fixture>,
    pub demo: Option<Demo>,
}

impl Suite {
    pub fn roles(&self) -> Vec<Role> {
        let mut roles: Vec<Role> = self.cases.iter().map(|c| c.role).collect();
        roles.dedup();
        roles
    }
}

#[derive(Debug, Clone)]
pub struct Catalog {
    pub suites: Vec<Suite>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("`{path}`: {message}")]
    Bad { path: String, message: String },
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl Catalog {
    /// The suites and fixtures built into this binary.
    pub fn embedded() -> Result<Catalog, CatalogError> {
        let owned = |files: &[(&str, &str)]| -> Vec<(String, String)> {
            files
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect()
        };
        Catalog::from_files(
            &owned(embedded::SUITE_FILES),
            &owned(embedded::FIXTURE_FILES),
        )
    }

    /// The suites and fixtures of a checkout (`suites/`, `fixtures/`).
    /// The bundled suites' files (`<program>/<file>`, text): cases, `program.toml`,
    /// `COVERAGE.md`.
    pub fn bundled_suite_files() -> Vec<(String, String)> {
        embedded::SUITE_FILES
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect()
    }

    /// The bundled fixtures (`<program>/<case>.snap`, text).
    pub fn bundled_fixture_files() -> Vec<(String, String)> {
        embedded::FIXTURE_FILES
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect()
    }

    /// The files two levels under `base` (`<program>/<file>`, text), those ending in `.ext`
    /// where given.
    pub fn folder_files(
        base: &Path,
        ext: Option<&str>,
    ) -> Result<Vec<(String, String)>, CatalogError> {
        read_two_levels(base, ext)
    }

    pub fn from_dirs(suites: &Path, fixtures: &Path) -> Result<Catalog, CatalogError> {
        Catalog::from_files(
            &read_two_levels(suites, None)?,
            &read_two_levels(fixtures, Some("snap"))?,
        )
    }

    /// Builds the catalogue from `(<program>/<file>, text)` pairs.
    pub fn from_files(
        suite_files: &[(String, String)],
        fixture_files: &[(String, String)],
    ) -> Result<Catalog, CatalogError> {
        let fixtures = fixtures_by_case(fixture_files);
        let mut out = Vec::new();
        for (id, (toml, cases)) in parse_suite_files(suite_files)? {
            let toml = toml.ok_or_else(|| CatalogError::Bad {
                path: format!("suites/{id}/program.toml"),
                message: "missing: every suite says its title and address there".into(),
            })?;
            out.push(suite_of(&id, toml, cases, &fixtures)?);
        }
        include_suites(&mut out)?;
        Ok(Catalog { suites: out })
    }

    pub fn suite(&self, id: &str) -> Option<&Suite> {
        self.suites.iter().find(|s| s.info.id == id)
    }

    pub fn ids(&self) -> Vec<&str> {
        self.suites.iter().map(|s| s.info.id.as_str()).collect()
    }
}

/// Each suite's `program.toml` (if it has one) and parsed cases, by program id.
type SuiteFiles = BTreeMap<String, (Option<ProgramToml>, Vec<Case>)>;

/// Parses the suite files (`<program>/program.toml`, `<program>/<case>.case`).
fn parse_suite_files(suite_files: &[(String, String)]) -> Result<SuiteFiles, CatalogError> {
    let mut suites = SuiteFiles::new();
    for (path, text) in suite_files {
        let bad = |message: String| CatalogError::Bad {
            path: format!("suites/{path}"),
            message,
        };
        let Some((program, file)) = path.split_once('/') else {
            continue;
        };
        let entry = suites.entry(program.to_string()).or_default();
        if file == "program.toml" {
            entry.0 = Some(toml::from_str(text).map_err(|e| bad(e.message().to_string()))?);
        } else if let Some(name) = file.strip_suffix(".case") {
            entry
                .1
                .push(script::parse(program, name, text).map_err(|e| bad(e.to_string()))?);
        }
    }
    Ok(suites)
}

/// The fixtures (`<program>/<case>.snap`), by program and case.
fn fixtures_by_case(fixture_files: &[(String, String)]) -> BTreeMap<(String, String), Fixture> {
    let mut fixtures = BTreeMap::new();
    for (path, text) in fixture_files {
        if let Some((program, file)) = path.split_once('/') {
            if let Some(name) = file.strip_suffix(".snap") {
                fixtures.insert(
                    (program.to_string(), name.to_string()),
                    Fixture::from_snapshot(text),
                );
            }
        }
    }
    fixtures
}

/// One suite from its `program.toml`, its cases and the fixtures: the address, the demo's
/// cases, the tolerances and the words its cases use are checked here.
fn suite_of(
    id: &str,
    toml: ProgramToml,
    mut cases: Vec<Case>,
    fixtures: &BTreeMap<(String, String), Fixture>,
) -> Result<Suite, CatalogError> {
    let addr = toml.addr.parse().map_err(|_| CatalogError::Bad {
        path: format!("suites/{id}/program.toml"),
        message: format!("bad address `{}` (HOST:PORT)", toml.addr),
    })?;
    if let Some(demo) = &toml.demo {
        for name in [&demo.server, &demo.client] {
            if !cases.iter().any(|c| &c.name == name) {
                return Err(CatalogError::Bad {
                    path: format!("suites/{id}/program.toml"),
                    message: format!("the demo names `{name}`, which is no case of it"),
                });
            }
        }
    }
    let tolerances = toml
        .tolerate
        .iter()
        .map(|t| {
            Tolerance::from_id(t).ok_or_else(|| CatalogError::Bad {
                path: format!("suites/{id}/program.toml"),
                message: format!(
                    "unknown tolerance `{t}` (known: {})",
                    Tolerance::ALL
                        .iter()
                        .map(|t| t.id())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for case in &cases {
        for step in &case.steps {
            step.check_words(&toml.words)
                .map_err(|message| CatalogError::Bad {
                    path: format!("suites/{id}/{}.case", case.name),
                    message,
                })?;
        }
    }
    // The words the reference reads are checked with its own parsers, so a bad one is
    // named before any case runs; what an echo server sends for each b'' if it ignores the
    // end is its answer to an empty message.
    sockref::check_words(id, &toml.words).map_err(|e| CatalogError::Bad {
        path: format!("suites/{id}/program.toml"),
        message: e.to_string(),
    })?;
    // A course's names for framed-header's header keys: the cases are written with the
    // tutorial's, and every frame they send is renamed, so one case serves every course.
    let header_keys = match toml.words.get("keys") {
        Some(text) if toml.eof_frames == Some(crate::framing::Format::Header) => {
            sockref::frame::HeaderKeys::parse(text).map_err(|message| CatalogError::Bad {
                path: format!("suites/{id}/program.toml"),
                message: format!("the word `keys`: {message}"),
            })?
        }
        _ => sockref::frame::HeaderKeys::default(),
    };
    if header_keys != sockref::frame::HeaderKeys::default() {
        for step in cases.iter_mut().flat_map(|c| c.steps.iter_mut()) {
            step.rewrite_sent(|bytes| crate::framing::rename_keys(bytes, &header_keys));
        }
    }
    let echo_reply = match toml.words.get("reply") {
        Some(text) if id.starts_with("echo") => sockref::EchoReply::parse(text).ok(),
        _ => None,
    };
    let eof_reply = toml.eof_reply.map(String::into_bytes).or_else(|| {
        echo_reply
            .map(|reply| reply.answer(b""))
            .filter(|answer| !answer.is_empty())
    });
    cases.sort_by(|a, b| (a.role.to_string(), &a.name).cmp(&(b.role.to_string(), &b.name)));
    let fixtures = cases
        .iter()
        .filter_map(|c| {
            fixtures
                .get(&(id.to_string(), c.name.clone()))
                .map(|f| (c.name.clone(), f.clone()))
        })
        .collect();
    Ok(Suite {
        includes: toml.include,
        info: ProgramInfo {
            id: id.to_string(),
            addr,
            prompts: toml.prompts,
            labels: toml.labels,
            tolerances,
            eof_reply,
            eof_frames: toml.eof_frames,
            header_keys,
            words: toml.words,
        },
        title: toml.title,
        cases,
        fixtures,
        demo: toml.demo,
    })
}

/// Adds to each suite that includes another the other's cases and fixtures. A case of its
/// own with the same name, or an included suite that itself includes one, is refused:
/// one level, no shadowing, so a case name says which fixture it is checked against.
fn include_suites(suites: &mut [Suite]) -> Result<(), CatalogError> {
    let originals = suites.to_vec();
    for suite in suites.iter_mut() {
        let Some(other_id) = suite.includes.clone() else {
            continue;
        };
        let bad = |message: String| CatalogError::Bad {
            path: format!("suites/{}/program.toml", suite.info.id),
            message,
        };
        let other = originals
            .iter()
            .find(|s| s.info.id == other_id && s.info.id != suite.info.id)
            .ok_or_else(|| {
                bad(format!(
                    "`include` names `{other_id}`, which is no other suite"
                ))
            })?;
        if other.includes.is_some() {
            return Err(bad(format!(
                "`{other_id}` includes a suite itself: include one level only"
            )));
        }
        for case in &other.cases {
            if suite.cases.iter().any(|c| c.name == case.name) {
                return Err(bad(format!(
                    "its case `{}` has the name of a case of `{other_id}`, which it includes",
                    case.name
                )));
            }
            suite.cases.push(Case {
                program: suite.info.id.clone(),
                ..case.clone()
            });
            if let Some(fixture) = other.fixtures.get(&case.name) {
                suite.fixtures.insert(case.name.clone(), fixture.clone());
            }
        }
        suite
            .cases
            .sort_by(|a, b| (a.role.to_string(), &a.name).cmp(&(b.role.to_string(), &b.name)));
    }
    Ok(())
}

fn read_two_levels(base: &Path, ext: Option<&str>) -> Result<Vec<(String, String)>, CatalogError> {
    let io = |path: &Path, source| CatalogError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut files = Vec::new();
    let entries = std::fs::read_dir(base).map_err(|e| io(base, e))?;
    for dir in entries.flatten() {
        let dir_path = dir.path();
        if !dir_path.is_dir() || dir.file_name() == "students" {
            continue;
        }
        for file in std::fs::read_dir(&dir_path)
            .map_err(|e| io(&dir_path, e))?
            .flatten()
        {
            let path = file.path();
            if path.is_file() && ext.is_none_or(|e| path.extension().is_some_and(|x| x == e)) {
                let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
                files.push((
                    format!(
                        "{}/{}",
                        dir.file_name().to_string_lossy(),
                        file.file_name().to_string_lossy()
                    ),
                    text,
                ));
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect()
    }

    const CASE: &str = "role server\nspawn\nexit\n";

    #[test]
    fn an_included_suites_cases_run_with_its_fixtures_under_the_including_program() {
        let suites = files(&[
            ("a/program.toml", "title = \"a\"\naddr = \"127.0.0.1:1\"\n"),
            ("a/server-x.case", CASE),
            (
                "b/program.toml",
                "title = \"b\"\naddr = \"127.0.0.1:2\"\ninclude = \"a\"\n",
            ),
            ("b/server-y.case", CASE),
        ]);
        let fixtures = files(&[("a/server-x.snap", "---\n---\nspawn\nexit => 0\n")]);
        let catalog = Catalog::from_files(&suites, &fixtures).unwrap();
        let b = catalog.suite("b").unwrap();
        let names: Vec<&str> = b.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["server-x", "server-y"]);
        assert_eq!(b.cases[0].program, "b");
        assert!(b.fixtures.contains_key("server-x"));
        assert_eq!(catalog.suite("a").unwrap().cases.len(), 1);
    }

    #[test]
    fn an_include_that_names_no_suite_or_shadows_a_case_is_refused() {
        let unknown = files(&[
            (
                "b/program.toml",
                "title = \"b\"\naddr = \"127.0.0.1:2\"\ninclude = \"nope\"\n",
            ),
            ("b/server-y.case", CASE),
        ]);
        let e = Catalog::from_files(&unknown, &[]).unwrap_err().to_string();
        assert!(e.contains("`nope`, which is no other suite"), "{e}");
        let shadowing = files(&[
            ("a/program.toml", "title = \"a\"\naddr = \"127.0.0.1:1\"\n"),
            ("a/server-x.case", CASE),
            (
                "b/program.toml",
                "title = \"b\"\naddr = \"127.0.0.1:2\"\ninclude = \"a\"\n",
            ),
            ("b/server-x.case", CASE),
        ]);
        let e = Catalog::from_files(&shadowing, &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`server-x` has the name of a case of `a`"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_tolerance_is_refused_naming_the_known_ones() {
        let suites = files(&[
            (
                "a/program.toml",
                "title = \"a\"\naddr = \"127.0.0.1:1\"\ntolerate = [\"sloppy\"]\n",
            ),
            ("a/server-x.case", CASE),
        ]);
        let e = Catalog::from_files(&suites, &[]).unwrap_err().to_string();
        assert!(
            e.contains("suites/a/program.toml") && e.contains("sloppy"),
            "{e}"
        );
        assert!(e.contains("stdin-eof-traceback"), "{e}");
    }
}
