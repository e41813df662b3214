//! `sockcheck run`: its options, the plan (the bundled reference, a submission folder or
//! commands), the run and the report.

use super::*;

#[derive(clap::Args)]
pub(super) struct RunArgs {
    /// Program ids to check (default: all, or those the manifest lists).
    ids: Vec<String>,
    /// A course's suites folder instead of the bundled suites (`sockcheck variant init`).
    #[arg(long)]
    suites: Option<PathBuf>,
    /// A submission folder with a sockcheck.toml.
    #[arg(long, conflicts_with_all = ["server", "client"])]
    dir: Option<PathBuf>,
    /// Command that runs your server (one program id).
    #[arg(long)]
    server: Option<String>,
    /// Command that runs your client (one program id).
    #[arg(long)]
    client: Option<String>,
    /// Address of your program, if not the tutorial's.
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// Write the results as JSON to this file (schema: README, *Reports*).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the results as JUnit XML to this file (a test suite per program and role).
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write the results as Gradescope's results.json to this file.
    #[arg(long)]
    gradescope: Option<PathBuf>,
    /// Write an HTML report into this folder: an index of every case, and a page per case
    /// with its conversation drawn as a sequence diagram.
    #[arg(long, value_name = "DIR")]
    html: Option<PathBuf>,
    /// Cases run at once (1 to 64).
    #[arg(long, default_value_t = 8)]
    jobs: usize,
    /// Seconds an observation waits before it fails (1 to 600).
    #[arg(long, default_value_t = 5)]
    timeout: u64,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Resource limits of the programs under test; the defaults are far above what a course's
/// program needs.
#[derive(clap::Args)]
pub(super) struct LimitArgs {
    /// CPU seconds each process of the program may use.
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().cpu_secs)]
    limit_cpu: u64,
    /// Address space of each process of the program, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().memory_mib)]
    limit_memory: u64,
    /// Processes of one case at once (at least 300 in the namespace modes).
    #[arg(long, value_name = "N", default_value_t = Limits::default().processes)]
    limit_processes: u64,
    /// Largest file the program may write, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().file_mib)]
    limit_file_size: u64,
    /// Open files of each process of the program.
    #[arg(long, value_name = "N", default_value_t = Limits::default().open_files)]
    limit_open_files: u64,
}

impl LimitArgs {
    fn limits(&self) -> Result<Limits, String> {
        for (flag, value) in [
            ("--limit-cpu", self.limit_cpu),
            ("--limit-memory", self.limit_memory),
            ("--limit-processes", self.limit_processes),
            ("--limit-file-size", self.limit_file_size),
            ("--limit-open-files", self.limit_open_files),
        ] {
            if value == 0 {
                return Err(format!("{flag} must be at least 1"));
            }
        }
        Ok(Limits {
            cpu_secs: self.limit_cpu,
            memory_mib: self.limit_memory,
            processes: self.limit_processes,
            file_mib: self.limit_file_size,
            open_files: self.limit_open_files,
        })
    }
}

/// `--timeout`: 0 would fail every observation at once; beyond ten minutes a case looks
/// hung, and a huge value would overflow the clock when the deadline is computed.
pub(super) const TIMEOUT_SECS: RangeInclusive<u64> = 1..=600;
/// `--jobs`: every case holds a process, namespaces and a copy of the submission.
pub(super) const JOBS: RangeInclusive<usize> = 1..=64;

/// Refuses options the run cannot honour, before anything is planned.
pub(super) fn check_options(args: &RunArgs) -> Result<(), String> {
    check_timeout(args.timeout)?;
    check_jobs(args.jobs)?;
    args.limits.limits()?;
    for (flag, command) in [("--server", &args.server), ("--client", &args.client)] {
        if command.as_deref().is_some_and(|c| c.trim().is_empty()) {
            return Err(format!("{flag} is an empty command"));
        }
    }
    Ok(())
}

/// `--timeout` within [`TIMEOUT_SECS`].
pub(super) fn check_timeout(timeout: u64) -> Result<(), String> {
    if TIMEOUT_SECS.contains(&timeout) {
        return Ok(());
    }
    Err(format!(
        "--timeout must be {} to {} seconds, not {timeout}",
        TIMEOUT_SECS.start(),
        TIMEOUT_SECS.end()
    ))
}

/// `--jobs` within [`JOBS`].
pub(super) fn check_jobs(jobs: usize) -> Result<(), String> {
    if JOBS.contains(&jobs) {
        return Ok(());
    }
    Err(format!(
        "--jobs must be {} to {}, not {jobs}",
        JOBS.start(),
        JOBS.end()
    ))
}

/// Why a plan would check nothing, if it would: every case lacks a command for its role.
/// `how` says how a role's command is given (`--server`, or a line of the manifest).
pub(super) fn nothing_to_check(jobs: &[Job], how: &dyn Fn(Role) -> String) -> Option<String> {
    if jobs.iter().any(|j| j.spec.is_some()) {
        return None;
    }
    let mut needs: BTreeMap<&str, Vec<Role>> = BTreeMap::new();
    for job in jobs {
        let roles = needs.entry(job.suite.info.id.as_str()).or_default();
        if !roles.contains(&job.case.role) {
            roles.push(job.case.role);
        }
    }
    let reasons: Vec<String> = needs
        .iter()
        .map(|(id, roles)| {
            // Every case was skipped, so the roles given are those its cases do not play.
            let given = [Role::Server, Role::Client]
                .into_iter()
                .find(|r| !roles.contains(r))
                .map_or_else(|| "runnable".to_string(), |r| r.to_string());
            let need: Vec<String> = roles.iter().map(|r| how(*r)).collect();
            format!(
                "{id} has no {given} cases: nothing would be checked (its cases need {})",
                need.join(" and ")
            )
        })
        .collect();
    Some(if reasons.is_empty() {
        "no cases: nothing would be checked".to_string()
    } else {
        reasons.join("; ")
    })
}

pub(super) fn run(args: RunArgs, out: &Out) -> Result<u8, String> {
    check_options(&args)?;
    let catalog = catalog(args.suites.as_deref())?;
    let known = catalog.ids();
    for id in &args.ids {
        if !known.contains(&id.as_str()) {
            return Err(format!(
                "unknown program `{id}` (known: {})",
                known.join(", ")
            ));
        }
    }
    // The plan, the folder copied for every case (which must be small enough), and the
    // programs' points for Gradescope.
    let mut weights = BTreeMap::new();
    let (jobs, folder) = if let Some(dir) = &args.dir {
        let path = dir.join("sockcheck.toml");
        let mut impls = manifest::load(&path, &known).map_err(|e| e.to_string())?;
        if !args.ids.is_empty() {
            for id in &args.ids {
                if !impls.contains_key(id) {
                    return Err(format!("`{}` does not list `{id}`", path.display()));
                }
            }
            impls.retain(|id, _| args.ids.contains(id));
        }
        if let Some(addr) = args.addr {
            impls.values_mut().for_each(|i| i.addr = Some(addr));
        }
        weights = manifest::weights(&impls);
        let jobs = batch::plan_implementations(&catalog, &impls, Some(dir));
        if let Some(why) = nothing_to_check(&jobs, &|role| {
            format!("`{role} = \"...\"` in `{}`", path.display())
        }) {
            return Err(why);
        }
        (jobs, Some(dir.clone()))
    } else if args.server.is_some() || args.client.is_some() {
        let [id] = args.ids.as_slice() else {
            return Err("--server/--client check one program: name it, e.g. `sockcheck run echo2 --server \"python3 server.py\"`".into());
        };
        let imp = Implementation {
            server: args.server.clone(),
            client: args.client.clone(),
            addr: args.addr,
            weight: None,
        };
        let cwd =
            std::env::current_dir().map_err(|e| format!("cannot read the current folder: {e}"))?;
        let jobs =
            batch::plan_implementations(&catalog, &BTreeMap::from([(id.clone(), imp)]), Some(&cwd));
        if let Some(why) = nothing_to_check(&jobs, &|role| format!("--{role}")) {
            return Err(why);
        }
        (jobs, Some(cwd))
    } else {
        if args.addr.is_some() {
            return Err("--addr goes with --server/--client or --dir".into());
        }
        let ids: Vec<String> = if args.ids.is_empty() {
            known.iter().map(|s| s.to_string()).collect()
        } else {
            args.ids.clone()
        };
        let exe =
            std::env::current_exe().map_err(|e| format!("cannot find this program's path: {e}"))?;
        (batch::plan_reference(&catalog, &ids, &exe), None)
    };
    if let Some(folder) = &folder {
        workdir::check(folder)?;
    }
    // Opened now, so that a path that cannot be written is refused before the run, not
    // after it with the results lost.
    let mut files = ReportFiles::open(&args)?;
    let timing = Timing {
        observe: Duration::from_secs(args.timeout),
        ..Timing::default()
    };
    // The one place the environment chooses the isolation (`prepare_isolation`): a
    // container without namespaces asks for the shared network with
    // SOCKCHECK_NO_NAMESPACES=1.
    let limits = args.limits.limits()?;
    let mut jobs = jobs;
    let (policy, mode, why) = isolation();
    for spec in jobs.iter_mut().filter_map(|j| j.spec.as_mut()) {
        spec.isolation = policy;
        spec.limits = limits;
    }
    let info = report::IsolationInfo::new(mode, why);
    out.line(&info.line());
    let started = Instant::now();
    let bar = progress_bar("{bar:30} {pos}/{len} cases · {elapsed}");
    bar.set_length(jobs.len() as u64);
    let results = batch::run(&jobs, args.jobs, &timing, &|_, r: &CaseResult| {
        bar.inc(1);
        bar.suspend(|| out.line(&report::case_line_painted(r, out.paint)));
    });
    bar.finish_and_clear();
    let wall = started.elapsed();
    let troubled: Vec<&CaseResult> = results
        .iter()
        .filter(|r| !matches!(r.outcome.verdict, Verdict::Pass | Verdict::Skipped))
        .collect();
    for r in troubled {
        out.line("");
        out.print(&report::details_painted(r, out.paint));
    }
    out.line("");
    out.print(&report::program_table(&results, out.paint));
    out.line("");
    let summary = report::summary(&results, wall);
    out.line(&summary);
    files.write(&results, &info, &weights, &summary)?;
    Ok(report::exit_code(&results) as u8)
}

/// The report files a run was asked for, each opened before the run.
struct ReportFiles {
    json: Option<(std::fs::File, PathBuf)>,
    junit: Option<(std::fs::File, PathBuf)>,
    gradescope: Option<(std::fs::File, PathBuf)>,
    /// The HTML report's folder, made before the run.
    html: Option<PathBuf>,
}

impl ReportFiles {
    fn open(args: &RunArgs) -> Result<ReportFiles, String> {
        let open = |path: &Option<PathBuf>| -> Result<Option<(std::fs::File, PathBuf)>, String> {
            path.as_ref()
                .map(|p| {
                    std::fs::File::create(p)
                        .map(|f| (f, p.clone()))
                        .map_err(|e| format!("cannot write `{}`: {e}", p.display()))
                })
                .transpose()
        };
        Ok(ReportFiles {
            json: open(&args.json)?,
            junit: open(&args.junit)?,
            gradescope: open(&args.gradescope)?,
            html: args
                .html
                .as_ref()
                .map(|dir| {
                    std::fs::create_dir_all(dir)
                        .map(|()| dir.clone())
                        .map_err(|e| format!("cannot make `{}`: {e}", dir.display()))
                })
                .transpose()?,
        })
    }

    fn write(
        &mut self,
        results: &[CaseResult],
        info: &report::IsolationInfo,
        weights: &BTreeMap<String, f64>,
        summary: &str,
    ) -> Result<(), String> {
        let texts = [
            (&mut self.json, report::json(results, info)),
            (&mut self.junit, report::junit(results, info)?),
            (
                &mut self.gradescope,
                report::gradescope::json(results, weights, summary),
            ),
        ];
        for (file, text) in texts {
            if let Some((file, path)) = file {
                file.write_all((text + "\n").as_bytes())
                    .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
            }
        }
        if let Some(dir) = &self.html {
            report::html::write(dir, results, info, summary)?;
        }
        Ok(())
    }
}
