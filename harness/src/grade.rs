//! Grading a class: every folder of a class folder is a submission, checked as `run --dir`
//! checks one; each submission's score per program, kept under the output folder with the
//! key of what was graded (the submission's files and the suites' version), so that a
//! grading started again skips what it finished, and shards of a class merge into one
//! summary.

use crate::batch::CaseResult;
use crate::engine::Verdict;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One student's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub name: String,
    pub dir: PathBuf,
}

/// The submissions of a class folder: its folders, by name (hidden ones left out, and
/// `out`, the grading's own output, if it lies there).
pub fn submissions(class: &Path, out: &Path) -> Result<Vec<Submission>, String> {
    let out = out.canonicalize().ok();
    let entries = std::fs::read_dir(class)
        .map_err(|e| format!("cannot read the class folder `{}`: {e}", class.display()))?;
    let mut found: Vec<Submission> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter(|e| out.is_none() || e.path().canonicalize().ok() != out)
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            (!name.starts_with('.')).then(|| Submission {
                name,
                dir: e.path(),
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// `--shard K/N`: the K-th of N (1-based).
pub fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("--shard is K/N with 1 <= K <= N (e.g. 2/3), not `{text}`");
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || k == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// Whether submission `name` is in shard `k` of `n`: by a hash of its name, so the split
/// does not change when other submissions come or go.
pub fn in_shard(name: &str, (k, n): (u64, u64)) -> bool {
    let hash = Sha256::digest(name.as_bytes());
    let first = u64::from_be_bytes(hash[..8].try_into().expect("8 bytes"));
    first % n == k - 1
}

/// A digest of texts (the suites' files, say), as hex.
pub fn digest_of<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hex(&hash.finalize()[..16])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What was graded: every file of the submission (its path and bytes), its manifest (a
/// template for folders without one), and the suites' version.
pub fn content_key(dir: &Path, manifest: &str, suites: &str) -> Result<String, String> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
    files.sort();
    let mut hash = Sha256::new();
    for (path, bytes) in &files {
        hash.update((path.len() as u64).to_be_bytes());
        hash.update(path.as_bytes());
        hash.update((bytes.len() as u64).to_be_bytes());
        hash.update(bytes);
    }
    hash.update(manifest.as_bytes());
    hash.update([0]);
    hash.update(suites.as_bytes());
    Ok(hex(&hash.finalize()[..16]))
}

fn collect(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect(base, &path, out)?;
        } else if kind.is_file() {
            let rel = path.strip_prefix(base).unwrap_or(&path).to_string_lossy();
            out.push((rel.into_owned(), std::fs::read(&path)?));
        } else if kind.is_symlink() {
            let rel = path.strip_prefix(base).unwrap_or(&path).to_string_lossy();
            let target = std::fs::read_link(&path)?;
            out.push((
                rel.into_owned(),
                target.to_string_lossy().as_bytes().to_vec(),
            ));
        }
    }
    Ok(())
}

/// A student's result for one program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramScore {
    pub passed: usize,
    pub total: usize,
    /// The worst verdict of its cases (`pass`, `non-strict`, `fail`, `error`, `skipped`).
    pub verdict: String,
}

/// A student's grading, as kept in `OUT/<student>/result.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudentResult {
    pub student: String,
    /// What was graded (see [`content_key`]).
    pub key: String,
    /// Why nothing could be checked (no manifest, a bad one, a folder too big), if so.
    pub error: Option<String>,
    pub programs: BTreeMap<String, ProgramScore>,
}

impl StudentResult {
    pub fn passed(&self) -> usize {
        self.programs.values().map(|p| p.passed).sum()
    }

    pub fn total(&self) -> usize {
        self.programs.values().map(|p| p.total).sum()
    }
}

/// Each program's cases passed (non-strict counts as passed: the contract lets it be),
/// its case count, and its worst verdict.
pub fn score(results: &[CaseResult]) -> BTreeMap<String, ProgramScore> {
    let mut scores: BTreeMap<String, (usize, usize, Verdict)> = BTreeMap::new();
    for r in results {
        let entry = scores
            .entry(r.program.clone())
            .or_insert((0, 0, Verdict::Pass));
        if matches!(r.outcome.verdict, Verdict::Pass | Verdict::NonStrict) {
            entry.0 += 1;
        }
        entry.1 += 1;
        entry.2 = entry.2.max(r.outcome.verdict);
    }
    scores
        .into_iter()
        .map(|(id, (passed, total, worst))| {
            (
                id,
                ProgramScore {
                    passed,
                    total,
                    verdict: worst.word().to_string(),
                },
            )
        })
        .collect()
}

/// The programs any student was graded on, in order.
pub fn programs_of(students: &[StudentResult]) -> Vec<String> {
    let mut ids: Vec<String> = students
        .iter()
        .flat_map(|s| s.programs.keys().cloned())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The class summary as CSV: a row per student, for each program `passed/total verdict`,
/// then the student's cases passed, total and score (passed / total, 0 to 1).
pub fn summary_csv(students: &[StudentResult]) -> String {
    let programs = programs_of(students);
    let field = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = String::from("student");
    for p in &programs {
        out.push_str(&format!(",{p}"));
    }
    out.push_str(",passed,total,score,error\n");
    for s in students {
        out.push_str(&field(&s.student));
        for p in &programs {
            let cell = s
                .programs
                .get(p)
                .map(|x| format!("{}/{} {}", x.passed, x.total, x.verdict))
                .unwrap_or_default();
            out.push_str(&format!(",{cell}"));
        }
        out.push_str(&format!(
            ",{},{},{},{}\n",
            s.passed(),
            s.total(),
            score_of(s),
            field(s.error.as_deref().unwrap_or(""))
        ));
    }
    out
}

fn score_of(s: &StudentResult) -> String {
    if s.total() == 0 {
        "0".to_string()
    } else {
        format!("{:.3}", s.passed() as f64 / s.total() as f64)
    }
}

/// The class summary for a terminal: a row per student, a column per program.
pub fn summary_table(students: &[StudentResult]) -> String {
    let programs = programs_of(students);
    let width = students
        .iter()
        .map(|s| s.student.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    let mut out = format!("{:<width$}", "student");
    for p in &programs {
        out.push_str(&format!("  {:>13}", p));
    }
    out.push_str("   passed   score\n");
    for s in students {
        out.push_str(&format!("{:<width$}", s.student));
        for p in &programs {
            let cell = s.programs.get(p).map_or("-".to_string(), |x| {
                let mark = if x.verdict == "pass" || x.verdict == "non-strict" {
                    ""
                } else {
                    " ✗"
                };
                format!("{}/{}{mark}", x.passed, x.total)
            });
            out.push_str(&format!("  {cell:>13}"));
        }
        out.push_str(&format!(
            "  {:>4}/{:<4} {}",
            s.passed(),
            s.total(),
            score_of(s)
        ));
        if let Some(e) = &s.error {
            out.push_str(&format!("  ({e})"));
        }
        out.push('\n');
    }
    out
}

/// The summary as JSON: `{"schema": 1, "students": [...]}`, each a [`StudentResult`].
pub fn summary_json(students: &[StudentResult]) -> String {
    serde_json::json!({ "schema": 1, "students": students }).to_string()
}

/// The results kept under grading folders `outs` (each `OUT/<student>/result.json`), one
/// per student; a student graded in two of them with different keys is refused.
pub fn kept_results(outs: &[PathBuf]) -> Result<Vec<StudentResult>, String> {
    let mut all: BTreeMap<String, StudentResult> = BTreeMap::new();
    for out in outs {
        let entries =
            std::fs::read_dir(out).map_err(|e| format!("cannot read `{}`: {e}", out.display()))?;
        for entry in entries.flatten() {
            let path = entry.path().join(RESULT_FILE);
            if !path.is_file() {
                continue;
            }
            let result = read_result(&path)?;
            if let Some(other) = all.get(&result.student) {
                if other.key != result.key {
                    return Err(format!(
                        "`{}` was graded twice, from different files (`{}`)",
                        result.student,
                        path.display()
                    ));
                }
            }
            all.insert(result.student.clone(), result);
        }
    }
    Ok(all.into_values().collect())
}

/// The file under `OUT/<student>/` that says a submission's grading is complete.
pub const RESULT_FILE: &str = "result.json";

pub fn read_result(path: &Path) -> Result<StudentResult, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("`{}`: {e}", path.display()))
}

/// Writes `text` to `path` whole or not at all (a temp file renamed over it), so an
/// interrupted grading never leaves half a result that looks finished.
pub fn write_whole(path: &Path, text: &str) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn student(name: &str, programs: &[(&str, usize, usize, &str)]) -> StudentResult {
        StudentResult {
            student: name.into(),
            key: "k".into(),
            error: None,
            programs: programs
                .iter()
                .map(|(p, passed, total, v)| {
                    (
                        p.to_string(),
                        ProgramScore {
                            passed: *passed,
                            total: *total,
                            verdict: v.to_string(),
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn shards_split_a_class_into_parts_that_cover_it_once() {
        assert_eq!(parse_shard("2/3"), Ok((2, 3)));
        for bad in ["0/3", "4/3", "1/0", "x/2", "3", "1/2/3"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
        let names: Vec<String> = (0..60).map(|i| format!("student{i:02}")).collect();
        let mut seen = 0;
        for k in 1..=3 {
            let part: Vec<&String> = names.iter().filter(|n| in_shard(n, (k, 3))).collect();
            assert!(
                !part.is_empty() && part.len() < 40,
                "shard {k}: {}",
                part.len()
            );
            seen += part.len();
        }
        assert_eq!(seen, names.len());
        assert!(names.iter().all(|n| in_shard(n, (1, 1))));
    }

    #[test]
    fn the_summary_has_a_row_per_student_and_a_column_per_program() {
        let class = vec![
            student(
                "alice",
                &[("echo1", 5, 5, "pass"), ("echo2", 8, 8, "non-strict")],
            ),
            student("bob, jr", &[("echo1", 3, 5, "fail")]),
        ];
        let csv = summary_csv(&class);
        assert_eq!(
            csv,
            "student,echo1,echo2,passed,total,score,error\n\
             alice,5/5 pass,8/8 non-strict,13,13,1.000,\n\
             \"bob, jr\",3/5 fail,,3,5,0.600,\n"
        );
        let table = summary_table(&class);
        assert!(table.contains("3/5 ✗"), "{table}");
        let json: serde_json::Value = serde_json::from_str(&summary_json(&class)).unwrap();
        assert_eq!(json["schema"], 1);
        assert_eq!(json["students"][1]["programs"]["echo1"]["passed"], 3);
    }

    #[test]
    fn submissions_are_the_class_folders_but_hidden_ones_and_the_output() {
        let class = tempfile::tempdir().unwrap();
        for dir in ["bob", "alice", ".git", "grades"] {
            std::fs::create_dir(class.path().join(dir)).unwrap();
        }
        std::fs::write(class.path().join("echo.toml"), "").unwrap();
        let found = submissions(class.path(), &class.path().join("grades")).unwrap();
        let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob"]);
        let elsewhere = submissions(class.path(), Path::new("/nonexistent")).unwrap();
        assert_eq!(elsewhere.len(), 3);
    }

    #[test]
    fn the_key_changes_with_any_file_the_manifest_or_the_suites() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/server.py"), "print(1)").unwrap();
        let key = content_key(dir.path(), "m", "s").unwrap();
        assert_eq!(key, content_key(dir.path(), "m", "s").unwrap());
        assert_ne!(key, content_key(dir.path(), "m2", "s").unwrap());
        assert_ne!(key, content_key(dir.path(), "m", "s2").unwrap());
        std::fs::write(dir.path().join("sub/server.py"), "print(2)").unwrap();
        assert_ne!(key, content_key(dir.path(), "m", "s").unwrap());
    }
}
