//! `sockcheck grade`: every folder of a class folder checked as `run --dir` checks one, a
//! line per submission, and the class summary (terminal, CSV, JSON) with each student's
//! own report beside it; `--shard K/N` grades a stable part, `--merge` joins the parts.

use super::*;
use crate::grade::{self, StudentResult, Submission};

#[derive(clap::Args)]
pub(super) struct GradeArgs {
    /// The class folder: each folder in it is a submission.
    #[arg(required_unless_present = "merge")]
    class: Option<PathBuf>,
    /// Where the summary and each student's report go; a grading started again with the
    /// same folder skips the submissions it finished.
    #[arg(long)]
    out: PathBuf,
    /// The manifest of the submissions that have no sockcheck.toml of their own.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// A course's suites folder instead of the bundled suites.
    #[arg(long)]
    suites: Option<PathBuf>,
    /// Grade only the K-th of N parts of the class (1-based), the same part every time.
    #[arg(long, value_name = "K/N")]
    shard: Option<String>,
    /// Join the results of these grading folders (of shards) into --out's summary.
    #[arg(long, num_args = 1.., conflicts_with_all = ["class", "manifest", "shard"])]
    merge: Vec<PathBuf>,
    /// Cases run at once (1 to 64).
    #[arg(long, default_value_t = 8)]
    jobs: usize,
    /// Seconds an observation waits before it fails (1 to 600).
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

pub(super) fn grade(args: GradeArgs, out: &Out) -> Result<u8, String> {
    check_jobs(args.jobs)?;
    check_timeout(args.timeout)?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot make `{}`: {e}", args.out.display()))?;
    if !args.merge.is_empty() {
        let students = grade::kept_results(&args.merge)?;
        return write_summary(&args.out, &students, out).map(|()| 0);
    }
    let class = args
        .class
        .as_deref()
        .expect("clap requires it without --merge");
    let shard = args.shard.as_deref().map(grade::parse_shard).transpose()?;
    let template = match &args.manifest {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?,
        ),
        None => None,
    };
    let catalog = catalog(args.suites.as_deref())?;
    let version = suites_version(args.suites.as_deref())?;
    let submissions: Vec<Submission> = grade::submissions(class, &args.out)?
        .into_iter()
        .filter(|s| shard.is_none_or(|part| grade::in_shard(&s.name, part)))
        .collect();
    if submissions.is_empty() {
        return Err(format!(
            "`{}` holds no submission folder{}",
            class.display(),
            if shard.is_some() {
                " in this shard"
            } else {
                ""
            }
        ));
    }
    let (policy, mode, why) = isolation();
    out.line(&report::IsolationInfo::new(mode, why).line());
    // What no submission may see: the class (its classmates' folders), the grading's
    // output and the course's suites. Each runs from its own copy, elsewhere.
    let hidden: Vec<PathBuf> = [
        Some(class),
        Some(args.out.as_path()),
        args.suites.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter_map(|p| p.canonicalize().ok())
    .collect();
    let timing = Timing {
        observe: Duration::from_secs(args.timeout),
        ..Timing::default()
    };
    // Each submission is planned (or kept, or found uncheckable); then the cases of all of
    // them run in one batch, `--jobs` at a time, so one submission's deadlines overlap the
    // next one's work; a submission is written up as soon as its last case is done.
    let numbered = |n: usize, line: String| format!("[{n}/{}] {line}", submissions.len());
    let done = std::sync::atomic::AtomicUsize::new(0);
    let bar = progress_bar("{bar:30} {pos}/{len} cases · {msg} · {elapsed}");
    bar.set_message(format!("0/{} submissions", submissions.len()));
    let say = |line: String| {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        bar.set_message(format!("{n}/{} submissions", submissions.len()));
        bar.suspend(|| out.line(&numbered(n, line)));
    };
    let mut students = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut jobs = Vec::new();
    let mut owner = Vec::new();
    for sub in &submissions {
        match plan_one(sub, template.as_deref(), &catalog, &version, &args.out)? {
            Planned::Kept(r) => {
                let what = match &r.error {
                    Some(e) => format!("not checked: {e}"),
                    None => brief(&r),
                };
                say(format!("{}: graded before, kept ({what})", sub.name));
                students.push(r);
            }
            Planned::Unchecked(r) => {
                write_result(&args.out, &r)?;
                say(format!(
                    "{}: not checked: {}",
                    sub.name,
                    r.error.as_deref().unwrap_or_default()
                ));
                students.push(r);
            }
            Planned::Jobs(key, weights, mut planned) => {
                for spec in planned.iter_mut().filter_map(|j| j.spec.as_mut()) {
                    spec.isolation = policy;
                    spec.limits = Limits::default();
                    spec.hidden = hidden.clone();
                }
                owner.extend(std::iter::repeat_n(pending.len(), planned.len()));
                pending.push(Pending {
                    name: sub.name.clone(),
                    key,
                    weights,
                    first: jobs.len(),
                    results: vec![None; planned.len()],
                    left: planned.len(),
                    started: Instant::now(),
                });
                jobs.extend(planned);
            }
        }
    }
    let (_, mode, why) = isolation();
    let info = report::IsolationInfo::new(mode, why);
    bar.set_length(jobs.len() as u64);
    let state = std::sync::Mutex::new((pending, Vec::new(), Vec::new()));
    let finish = |p: Pending| -> Result<StudentResult, String> {
        let results: Vec<CaseResult> = p.results.into_iter().flatten().collect();
        let result = write_reports(
            &args.out, &p.name, p.key, &p.weights, &results, &info, p.started,
        )?;
        say(format!("{}: {}", p.name, brief(&result)));
        Ok(result)
    };
    batch::run(&jobs, args.jobs, &timing, &|i, r| {
        bar.inc(1);
        let Ok(mut guard) = state.lock() else { return };
        let (pending, finished, errors) = &mut *guard;
        let p = &mut pending[owner[i]];
        p.results[i - p.first] = Some(r.clone());
        p.left -= 1;
        if p.left == 0 {
            let whole = Pending {
                results: std::mem::take(&mut p.results),
                name: p.name.clone(),
                key: p.key.clone(),
                weights: std::mem::take(&mut p.weights),
                ..*p
            };
            match finish(whole) {
                Ok(result) => finished.push(result),
                Err(e) => errors.push(e),
            }
        }
    });
    let (_, finished, errors) = state
        .into_inner()
        .map_err(|_| "a grading thread panicked")?;
    if let Some(error) = errors.into_iter().next() {
        return Err(error);
    }
    bar.finish_and_clear();
    students.extend(finished);
    students.sort_by(|a, b| a.student.cmp(&b.student));
    out.line("");
    write_summary(&args.out, &students, out)?;
    Ok(0)
}

/// A submission whose cases are running: where they start in the batch, their results so
/// far, and how many are left.
struct Pending {
    name: String,
    key: String,
    /// The programs' points for the Gradescope report (the manifest's `weight`s).
    weights: BTreeMap<String, f64>,
    first: usize,
    results: Vec<Option<CaseResult>>,
    left: usize,
    started: Instant,
}

/// `150/158 cases passed; not passed: echo2 (fail)`.
fn brief(r: &StudentResult) -> String {
    let failed: Vec<String> = r
        .programs
        .iter()
        .filter(|(_, p)| p.verdict != "pass" && p.verdict != "non-strict")
        .map(|(id, p)| format!("{id} ({})", p.verdict))
        .collect();
    format!(
        "{}/{} cases passed{}",
        r.passed(),
        r.total(),
        if failed.is_empty() {
            String::new()
        } else {
            format!("; not passed: {}", failed.join(", "))
        }
    )
}

/// What grading a submission takes.
enum Planned {
    /// Its result from an earlier grading of the same files.
    Kept(StudentResult),
    /// Nothing can be checked (no manifest, a bad one, a folder too big): the reason.
    Unchecked(StudentResult),
    /// Its key, its programs' points and its cases.
    Jobs(String, BTreeMap<String, f64>, Vec<batch::Job>),
}

/// Plans one submission, unless `OUT/<student>/` holds its result with the same key.
fn plan_one(
    sub: &Submission,
    template: Option<&str>,
    catalog: &Catalog,
    version: &str,
    out: &std::path::Path,
) -> Result<Planned, String> {
    let own = sub.dir.join("sockcheck.toml");
    let manifest = if own.is_file() {
        std::fs::read_to_string(&own).map_err(|e| format!("cannot read `{}`: {e}", own.display()))
    } else {
        template
            .map(str::to_string)
            .ok_or_else(|| "it has no sockcheck.toml, and no --manifest was given".to_string())
    };
    let key = grade::content_key(&sub.dir, manifest.as_deref().unwrap_or(""), version)?;
    if let Ok(previous) = grade::read_result(&out.join(&sub.name).join(grade::RESULT_FILE)) {
        if previous.key == key {
            return Ok(Planned::Kept(previous));
        }
    }
    let which = if own.is_file() {
        "sockcheck.toml"
    } else {
        "the --manifest template"
    };
    let plan = manifest.and_then(|text| {
        let impls = manifest::parse(&text, &catalog.ids()).map_err(|e| format!("{which}: {e}"))?;
        workdir::check(&sub.dir)?;
        let weights = manifest::weights(&impls);
        Ok((
            weights,
            batch::plan_implementations(catalog, &impls, Some(&sub.dir)),
        ))
    });
    Ok(match plan {
        Ok((weights, jobs)) => Planned::Jobs(key, weights, jobs),
        Err(error) => Planned::Unchecked(StudentResult {
            student: sub.name.clone(),
            key,
            error: Some(error),
            programs: BTreeMap::new(),
        }),
    })
}

/// Writes a graded submission's reports into `OUT/<student>/` (the text and JSON reports,
/// JUnit XML and Gradescope's results), then its result (last: it says the grading of these
/// files is complete).
fn write_reports(
    out: &std::path::Path,
    name: &str,
    key: String,
    weights: &BTreeMap<String, f64>,
    results: &[CaseResult],
    info: &report::IsolationInfo,
    started: Instant,
) -> Result<StudentResult, String> {
    let folder = out.join(name);
    std::fs::create_dir_all(&folder)
        .map_err(|e| format!("cannot make `{}`: {e}", folder.display()))?;
    grade::write_whole(&folder.join("report.json"), &report::json(results, info))?;
    let mut text = String::new();
    for r in results
        .iter()
        .filter(|r| !matches!(r.outcome.verdict, Verdict::Pass | Verdict::Skipped))
    {
        text.push_str(&report::details(r));
        text.push('\n');
    }
    let summary = report::summary(results, started.elapsed());
    text.push_str(&summary);
    text.push('\n');
    grade::write_whole(&folder.join("report.txt"), &text)?;
    grade::write_whole(&folder.join("junit.xml"), &report::junit(results, info)?)?;
    grade::write_whole(
        &folder.join("gradescope.json"),
        &report::gradescope::json(results, weights, &summary),
    )?;
    report::html::write(&folder.join("html"), results, info, &summary)?;
    let result = StudentResult {
        student: name.to_string(),
        key,
        error: None,
        programs: grade::score(results),
    };
    write_result(out, &result)?;
    Ok(result)
}

fn write_result(out: &std::path::Path, result: &StudentResult) -> Result<(), String> {
    let folder = out.join(&result.student);
    std::fs::create_dir_all(&folder)
        .map_err(|e| format!("cannot make `{}`: {e}", folder.display()))?;
    let json = serde_json::to_string_pretty(result).map_err(|e| e.to_string())?;
    grade::write_whole(&folder.join(grade::RESULT_FILE), &json)
}

/// The version of the suites a grading used: the digest of every suite and fixture file.
fn suites_version(suites: Option<&std::path::Path>) -> Result<String, String> {
    let (suite_files, fixture_files) = match suites {
        None => (
            Catalog::bundled_suite_files(),
            Catalog::bundled_fixture_files(),
        ),
        Some(dir) => (
            Catalog::folder_files(&dir.join("suites"), None).map_err(|e| e.to_string())?,
            Catalog::folder_files(&dir.join("fixtures"), Some("snap"))
                .map_err(|e| e.to_string())?,
        ),
    };
    Ok(grade::digest_of(
        suite_files
            .iter()
            .chain(&fixture_files)
            .flat_map(|(p, t)| [p.as_str(), t.as_str()]),
    ))
}

fn write_summary(
    dir: &std::path::Path,
    students: &[StudentResult],
    out: &Out,
) -> Result<(), String> {
    out.print(&grade::summary_table(students));
    grade::write_whole(&dir.join("summary.csv"), &grade::summary_csv(students))?;
    grade::write_whole(&dir.join("summary.json"), &grade::summary_json(students))?;
    grade::write_whole(&dir.join("junit.xml"), &report::class_junit(students)?)?;
    grade::write_whole(
        &dir.join("index.html"),
        &report::html::class_index(students),
    )?;
    out.line(&format!(
        "summary: {}, {}, {} and {}",
        dir.join("summary.csv").display(),
        dir.join("summary.json").display(),
        dir.join("junit.xml").display(),
        dir.join("index.html").display()
    ));
    Ok(())
}
