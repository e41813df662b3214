//! `sockcheck fuzz PROGRAM`: generated cases, each recorded from the reference and checked
//! against a program (`--server`, `--client`, or a submission folder's `--dir`), or against
//! the reference itself; the first disagreement shrunk and printed as a `.case` file.

use super::*;
use crate::fuzz::{self, Found, Plan, Summary};
use serde::Serialize;

#[derive(clap::Args)]
pub(super) struct FuzzArgs {
    /// Program id (`sockcheck list` shows them).
    program: String,
    /// Command that runs your server.
    #[arg(long, conflicts_with = "client")]
    server: Option<String>,
    /// Command that runs your client.
    #[arg(long)]
    client: Option<String>,
    /// A submission folder with a sockcheck.toml: the program's roles it lists.
    #[arg(long, conflicts_with_all = ["server", "client"])]
    dir: Option<PathBuf>,
    /// With no program given: which role of the reference to check against itself.
    #[arg(long, value_parser = ["server", "client"])]
    role: Option<String>,
    /// A course's suites folder instead of the bundled suites.
    #[arg(long)]
    suites: Option<PathBuf>,
    /// The seed of the cases (default: drawn, and printed): the same seed, the same cases.
    #[arg(long)]
    seed: Option<u64>,
    /// How many cases (1 to 1000000).
    #[arg(long, default_value_t = 100)]
    cases: u64,
    /// Stop starting cases after this many seconds.
    #[arg(long, value_name = "SECS")]
    time: Option<u64>,
    /// Cases run at once (1 to 64).
    #[arg(long, default_value_t = 8)]
    jobs: usize,
    /// Seconds an observation waits before it fails (1 to 600).
    #[arg(long, default_value_t = 5)]
    timeout: u64,
    /// At most this many shrinking steps (each a run of the reference and the program).
    #[arg(long, default_value_t = 200)]
    shrink_steps: usize,
    /// At most this many seconds of shrinking.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    shrink_time: u64,
    /// Write the shrunk case to this file (a `.case` to drop into a suite).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the summary as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Print case N of the seed (and role) and run nothing: what `--seed` replays.
    #[arg(long, value_name = "N", requires = "seed")]
    show: Option<u64>,
}

#[derive(Serialize)]
struct JsonFound<'a> {
    index: u64,
    case: &'a str,
    shrunk: &'a str,
    shrink_steps: usize,
    verdict: &'static str,
    message: Option<&'a str>,
    hint: Option<&'static str>,
}

#[derive(Serialize)]
struct JsonSummary<'a> {
    schema: u32,
    program: &'a str,
    role: String,
    target: &'a str,
    seed: u64,
    run: u64,
    agreed: u64,
    invalid: u64,
    disagreements: &'a [u64],
    nothing_to_vary: bool,
    found: Option<JsonFound<'a>>,
    elapsed_ms: u64,
}

pub(super) fn fuzz(args: FuzzArgs, out: &Out) -> Result<u8, String> {
    check_jobs(args.jobs)?;
    check_timeout(args.timeout)?;
    if !(1..=1_000_000).contains(&args.cases) {
        return Err(format!("--cases {}: 1 to 1000000", args.cases));
    }
    let catalog = catalog(args.suites.as_deref())?;
    let known = catalog.ids();
    if !known.contains(&args.program.as_str()) {
        return Err(format!(
            "unknown program `{}` (known: {})",
            args.program,
            known.join(", ")
        ));
    }
    if let Some(index) = args.show {
        let suite = catalog.suite(&args.program).expect("a known id");
        let quit = suite.info.words.get("quit").map_or("q", String::as_str);
        for role in suite.roles() {
            if args.role.as_deref().is_none_or(|r| r == role.to_string()) {
                let templates = crate::fuzz::gen::templates(suite, role, quit.as_bytes());
                let seed = args.seed.expect("clap requires it");
                if let Some(text) = fuzz::case_text(&templates, role, seed, index) {
                    out.print(&text);
                }
            }
        }
        return Ok(0);
    }
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find this program's path: {e}"))?;
    let (policy, mode, why) = isolation();
    out.line(&report::IsolationInfo::new(mode, why).line());
    // Each role to fuzz: its suite (with the program's address) and its command.
    let mut targets: Vec<(Role, crate::catalog::Suite, Option<crate::iut::IutSpec>)> = Vec::new();
    let implementation = match (&args.dir, &args.server, &args.client) {
        (Some(dir), _, _) => {
            let path = dir.join("sockcheck.toml");
            let mut impls = manifest::load(&path, &known).map_err(|e| e.to_string())?;
            let Some(imp) = impls.remove(&args.program) else {
                return Err(format!(
                    "`{}` does not list `{}`",
                    path.display(),
                    args.program
                ));
            };
            workdir::check(dir)?;
            Some((imp, dir.clone()))
        }
        (None, None, None) => None,
        (None, server, client) => {
            let cwd = std::env::current_dir()
                .map_err(|e| format!("cannot read the current folder: {e}"))?;
            workdir::check(&cwd)?;
            if [server, client]
                .into_iter()
                .flatten()
                .any(|c| c.trim().is_empty())
            {
                return Err("the program's command is empty".into());
            }
            Some((
                Implementation {
                    server: server.clone(),
                    client: client.clone(),
                    addr: None,
                    weight: None,
                },
                cwd,
            ))
        }
    };
    match implementation {
        Some((imp, dir)) => {
            let impls = BTreeMap::from([(args.program.clone(), imp)]);
            for job in batch::plan_implementations(&catalog, &impls, Some(&dir)) {
                if job.spec.is_some() && !targets.iter().any(|(r, _, _)| *r == job.case.role) {
                    targets.push((job.case.role, job.suite, job.spec));
                }
            }
        }
        None => {
            let suite = catalog.suite(&args.program).expect("a known id");
            for role in suite.roles() {
                if args.role.as_deref().is_none_or(|r| r == role.to_string()) {
                    targets.push((role, suite.clone(), None));
                }
            }
        }
    }
    if targets.is_empty() {
        return Err(format!("nothing to fuzz for `{}`", args.program));
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let timing = Timing {
        observe: Duration::from_secs(args.timeout),
        ..Timing::default()
    };
    let mut code = 0;
    let mut reports = Vec::new();
    for (role, suite, target) in targets {
        let mut reference = batch::reference_spec(&exe, &suite.info, role);
        reference.isolation = policy;
        let against = match &target {
            Some(spec) => format!("`{}`", spec.command),
            None => "the reference itself".to_string(),
        };
        let target = target.map_or_else(
            || reference.clone(),
            |mut spec| {
                spec.isolation = policy;
                spec
            },
        );
        out.line(&format!(
            "fuzz {} {role} against {against}: seed {seed}, {} cases{}, {} at once",
            args.program,
            args.cases,
            args.time.map(|t| format!(" or {t} s")).unwrap_or_default(),
            args.jobs
        ));
        let plan = Plan {
            suite: &suite,
            role,
            reference,
            target,
            seed,
            cases: args.cases,
            time: args.time.map(Duration::from_secs),
            jobs: args.jobs,
            timing: timing.clone(),
            shrink_steps: args.shrink_steps,
            shrink_time: Duration::from_secs(args.shrink_time),
        };
        let summary = fuzz::run(&plan);
        out.line(&describe(&summary));
        if let Some(why) = &summary.first_invalid {
            out.line(&format!("  (not recorded: {why})"));
        }
        if let Some(found) = &summary.found {
            code = 1;
            let file = fuzz::case_file(&args.program, seed, found);
            out.line(&format!(
                "the first disagreement, shrunk in {} steps ({}):",
                found.shrink_steps,
                found.outcome.message.as_deref().unwrap_or("failed")
            ));
            if let Some(hint) = found.outcome.hint {
                out.line(&format!("hint [{}]: {}", hint.id(), hint.text()));
            }
            out.print(&file);
            if let Some(path) = &args.out {
                std::fs::write(path, &file)
                    .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
                out.line(&format!("written to {}", path.display()));
            }
        }
        reports.push((role, against, summary));
    }
    if let Some(path) = &args.json {
        let json: Vec<JsonSummary> = reports
            .iter()
            .map(|(role, against, s)| JsonSummary {
                schema: 1,
                program: &args.program,
                role: role.to_string(),
                target: against,
                seed,
                run: s.run,
                agreed: s.agreed,
                invalid: s.invalid,
                disagreements: &s.disagreements,
                nothing_to_vary: s.nothing_to_vary,
                found: s.found.as_ref().map(json_found),
                elapsed_ms: s.elapsed.as_millis() as u64,
            })
            .collect();
        let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n")
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    }
    Ok(code)
}

fn json_found(f: &Found) -> JsonFound<'_> {
    JsonFound {
        index: f.index,
        case: &f.case,
        shrunk: &f.shrunk,
        shrink_steps: f.shrink_steps,
        verdict: f.outcome.verdict.word(),
        message: f.outcome.message.as_deref(),
        hint: f.outcome.hint.map(|h| h.id()),
    }
}

fn describe(s: &Summary) -> String {
    if s.nothing_to_vary {
        return "nothing to vary: SPEC.md fixes every byte the peer sends in these cases, so the suite's own cases are all there is (`sockcheck run` checks them)".into();
    }
    format!(
        "{} cases: {} agreed, {} disagreed{}, {} the reference could not record; {:.1}s",
        s.run,
        s.agreed,
        s.disagreements.len(),
        s.disagreements
            .first()
            .map(|i| format!(" (the first: case {i})"))
            .unwrap_or_default(),
        s.invalid,
        s.elapsed.as_secs_f64()
    )
}
