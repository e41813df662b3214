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
    if !JOBS.contains(&args.jobs) {
        return Err(format!(
            "--jobs must be {} to {}, not {}",
            JOBS.start(),
            JOBS.end(),
            args.jobs
        ));
    }
    if !TIMEOUT_SECS.contains(&args.timeout) {
        return Err(format!(
            "--timeout must be {} to {} seconds, not {}",
            TIMEOUT_SECS.start(),
            TIMEOUT_SECS.end(),
            args.timeout
        ));
    }
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
    let mut students = Vec::new();
    for (i, sub) in submissions.iter().enumerate() {
        let counter = format!("[{}/{}]", i + 1, submissions.len());
        let result = grade_one(
            sub,
            template.as_deref(),
            &catalog,
            &version,
            &args,
            (policy, &hidden),
            &timing,
        )?;
        let line = match (&result, &result.error) {
            (Graded::Kept(r), _) => {
                format!("{counter} {}: graded before, kept ({})", sub.name, brief(r))
            }
            (Graded::New(_), Some(e)) => format!("{counter} {}: not checked: {e}", sub.name),
            (Graded::New(r), None) => format!("{counter} {}: {}", sub.name, brief(r)),
        };
        out.line(&line);
        students.push(result.into_inner());
    }
    out.line("");
    write_summary(&args.out, &students, out)?;
    Ok(0)
}

/// A submission's result: graded now, or kept from an earlier grading of the same files.
enum Graded {
    New(StudentResult),
    Kept(StudentResult),
}

impl std::ops::Deref for Graded {
    type Target = StudentResult;
    fn deref(&self) -> &StudentResult {
        match self {
            Graded::New(r) | Graded::Kept(r) => r,
        }
    }
}

impl Graded {
    fn into_inner(self) -> StudentResult {
        match self {
            Graded::New(r) | Graded::Kept(r) => r,
        }
    }
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

/// Grades one submission into `OUT/<student>/`, unless its result there has the same key.
fn grade_one(
    sub: &Submission,
    template: Option<&str>,
    catalog: &Catalog,
    version: &str,
    args: &GradeArgs,
    (policy, hidden): (Policy, &[PathBuf]),
    timing: &Timing,
) -> Result<Graded, String> {
    let folder = args.out.join(&sub.name);
    std::fs::create_dir_all(&folder)
        .map_err(|e| format!("cannot make `{}`: {e}", folder.display()))?;
    let own = sub.dir.join("sockcheck.toml");
    let manifest = if own.is_file() {
        std::fs::read_to_string(&own).map_err(|e| format!("cannot read `{}`: {e}", own.display()))
    } else {
        template
            .map(str::to_string)
            .ok_or_else(|| "it has no sockcheck.toml, and no --manifest was given".to_string())
    };
    let key = grade::content_key(&sub.dir, manifest.as_deref().unwrap_or(""), version)?;
    let kept = folder.join(grade::RESULT_FILE);
    if let Ok(previous) = grade::read_result(&kept) {
        if previous.key == key {
            return Ok(Graded::Kept(previous));
        }
    }
    let not_checked = |error: String| StudentResult {
        student: sub.name.clone(),
        key: key.clone(),
        error: Some(error),
        programs: BTreeMap::new(),
    };
    let which = if own.is_file() {
        "sockcheck.toml"
    } else {
        "the --manifest template"
    };
    let plan = manifest.and_then(|text| {
        let impls = manifest::parse(&text, &catalog.ids()).map_err(|e| format!("{which}: {e}"))?;
        workdir::check(&sub.dir)?;
        Ok(batch::plan_implementations(catalog, &impls, Some(&sub.dir)))
    });
    let result = match plan {
        Err(error) => not_checked(error),
        Ok(mut jobs) => {
            let limits = Limits::default();
            for spec in jobs.iter_mut().filter_map(|j| j.spec.as_mut()) {
                spec.isolation = policy;
                spec.limits = limits;
                spec.hidden = hidden.to_vec();
            }
            let started = Instant::now();
            let results = batch::run(&jobs, args.jobs, timing, &|_| {});
            let (_, mode, why) = isolation();
            let info = report::IsolationInfo::new(mode, why);
            grade::write_whole(&folder.join("report.json"), &report::json(&results, &info))?;
            let mut text = String::new();
            for r in results
                .iter()
                .filter(|r| !matches!(r.outcome.verdict, Verdict::Pass | Verdict::Skipped))
            {
                text.push_str(&report::details(r));
                text.push('\n');
            }
            text.push_str(&report::summary(&results, started.elapsed()));
            text.push('\n');
            grade::write_whole(&folder.join("report.txt"), &text)?;
            StudentResult {
                student: sub.name.clone(),
                key,
                error: None,
                programs: grade::score(&results),
            }
        }
    };
    let json = serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?;
    grade::write_whole(&kept, &json)?;
    Ok(Graded::New(result))
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
    out.line(&format!(
        "summary: {} and {}",
        dir.join("summary.csv").display(),
        dir.join("summary.json").display()
    ));
    Ok(())
}
