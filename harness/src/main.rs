//! The `sockcheck` command line: run suites, list them, or play the reference implementation.

use clap::{Parser, Subcommand};
use sockcheck::batch::{self, CaseResult, Job};
use sockcheck::catalog::Catalog;
use sockcheck::engine::{Timing, Verdict};
use sockcheck::init::Limits;
use sockcheck::manifest::{self, Implementation};
use sockcheck::report;
use sockcheck::sandbox::{self, Policy};
use sockcheck::script::Role;
use sockcheck::workdir;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "sockcheck",
    version,
    about = "Checks socket programs against the suites of the classic Python socket tutorial"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run suites: against the bundled reference implementation, a submission folder, or a command.
    Run(RunArgs),
    /// List the programs and their cases.
    List,
    /// Show a sticky-packet demonstration as a timeline (sticky1, sticky2).
    Demo {
        /// Program id: sticky1 or sticky2.
        program: String,
        /// Run it against this server instead of the reference.
        #[arg(long, conflicts_with = "client")]
        server: Option<String>,
        /// Run it against this client instead of the reference server.
        #[arg(long)]
        client: Option<String>,
    },
    /// Play a program of the reference implementation.
    /// `sockcheck reference <program-id> <server|client> [--addr HOST:PORT]`
    #[command(disable_help_flag = true)]
    Reference {
        /// Program id, role and options, as the `sockref` binary takes them.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Program ids to check (default: all, or those the manifest lists).
    ids: Vec<String>,
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
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
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
struct LimitArgs {
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
const TIMEOUT_SECS: RangeInclusive<u64> = 1..=600;
/// `--jobs`: every case holds a process, namespaces and a copy of the submission.
const JOBS: RangeInclusive<usize> = 1..=64;

fn main() -> ExitCode {
    // The case's init: the harness's own binary, re-executed by every case (`init.rs`).
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args
        .get(1)
        .is_some_and(|a| a == sockcheck::init::SUBCOMMAND)
    {
        return ExitCode::from(sockcheck::init::main(&args[2..]).clamp(0, 255) as u8);
    }
    let cli = Cli::parse();
    let out = Out::default();
    if matches!(cli.command, Command::Run(_) | Command::Demo { .. }) {
        // Before any thread: a user namespace can only be entered by a single-threaded
        // process, and the interrupt signals must be blocked in every thread to come.
        prepare_isolation();
        watch_interrupts();
    }
    match cli.command {
        // The reference's own command line: the suites run the reference through it.
        Command::Reference { args } => ExitCode::from(sockref::cli::main(args)),
        Command::List => list(&out),
        Command::Demo {
            program,
            server,
            client,
        } => match demo(&program, server, client, &out) {
            Ok(code) => ExitCode::from(code),
            Err(message) => refuse(&message),
        },
        Command::Run(args) => match run(args, &out) {
            Ok(code) => ExitCode::from(code),
            Err(message) => refuse(&message),
        },
    }
}

/// The isolation the environment asks for and the privilege allows: chosen once, here.
static ISOLATION: std::sync::OnceLock<(Policy, sandbox::Mode, Option<String>)> =
    std::sync::OnceLock::new();

/// Enters a user namespace where an ordinary user needs one for the namespaces, and
/// decides the run's isolation mode.
fn prepare_isolation() {
    let mut policy = Policy::from_env();
    let mut why_not = None;
    // SAFETY: geteuid cannot fail.
    if policy == Policy::Auto && unsafe { libc::geteuid() } != 0 {
        if let Err(e) = sandbox::enter_user_namespace() {
            why_not = Some(format!("no user namespace for an ordinary user ({e})"));
        }
    }
    if let Ok(exe) = std::env::current_exe() {
        sockcheck::iut::set_init_program(exe);
    }
    let (mode, why) = match why_not {
        Some(why) => (sandbox::Mode::Shared, Some(why)),
        None => sandbox::detect(policy),
    };
    if mode == sandbox::Mode::Shared {
        // Decided once: no case tries the namespaces again.
        policy = Policy::Shared;
    }
    let _ = ISOLATION.set((policy, mode, why));
}

fn isolation() -> (Policy, sandbox::Mode, Option<String>) {
    ISOLATION
        .get()
        .cloned()
        .unwrap_or((Policy::Auto, sandbox::Mode::Namespaces, None))
}

/// SIGINT, SIGTERM and SIGHUP are blocked in every thread and taken by one that ends every
/// case's processes, removes every case's temp folder, and exits 128 + the signal (130 for
/// SIGINT, 143 for SIGTERM).
fn watch_interrupts() {
    // SAFETY: building a sigset and blocking it in the (still single-threaded) process;
    // threads spawned later inherit the mask, children get a clean one from std.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || {
        let mut sig: libc::c_int = 0;
        // SAFETY: sigwait on a set blocked in every thread.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            return;
        }
        sockcheck::interrupt::terminate();
        let name = match sig {
            libc::SIGINT => "SIGINT",
            libc::SIGTERM => "SIGTERM",
            _ => "SIGHUP",
        };
        let _ = writeln!(
            io::stderr(),
            "sockcheck: interrupted ({name}): every case's processes ended, temp folders removed"
        );
        std::process::exit(128 + sig);
    });
}

/// A bad invocation: one line on stderr, exit status 2. A write error is ignored: a closed
/// stderr leaves nobody to tell.
fn refuse(message: &str) -> ExitCode {
    let _ = writeln!(io::stderr(), "sockcheck: {message}");
    ExitCode::from(2)
}

/// Standard output that a closed pipe silences: once a write fails (`sockcheck run | head
/// -1`), nothing more is printed, where `println!` would panic. The cases still run to the
/// end: their results still go to `--json` and the exit status.
#[derive(Default)]
struct Out {
    closed: AtomicBool,
}

impl Out {
    fn print(&self, text: &str) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        let mut stdout = io::stdout().lock();
        if stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .is_err()
        {
            self.closed.store(true, Ordering::Relaxed);
        }
    }

    fn line(&self, text: &str) {
        self.print(&format!("{text}\n"));
    }
}

/// Runs a suite's demonstration case and prints its timeline.
fn demo(
    program: &str,
    server: Option<String>,
    client: Option<String>,
    out: &Out,
) -> Result<u8, String> {
    let catalog = catalog()?;
    let with_demo: Vec<&str> = catalog
        .suites
        .iter()
        .filter(|s| s.demo.is_some())
        .map(|s| s.info.id.as_str())
        .collect();
    let Some((suite, demo)) = catalog
        .suite(program)
        .and_then(|s| s.demo.as_ref().map(|d| (s, d)))
    else {
        return Err(format!(
            "no demonstration for `{program}` (there are: {})",
            with_demo.join(", ")
        ));
    };
    let (case_name, command) = match (&server, &client) {
        (_, Some(c)) => (&demo.client, Some(c.clone())),
        (s, None) => (&demo.server, s.clone()),
    };
    if command.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err("the program's command is empty".into());
    }
    let case = suite
        .cases
        .iter()
        .find(|c| &c.name == case_name)
        .ok_or_else(|| format!("the demo case `{case_name}` is missing"))?;
    let mut job = match command {
        Some(command) => {
            let cwd = std::env::current_dir()
                .map_err(|e| format!("cannot read the current folder: {e}"))?;
            workdir::check(&cwd)?;
            batch::Job {
                suite: suite.clone(),
                case: case.clone(),
                spec: Some(sockcheck::iut::IutSpec {
                    command,
                    workdir: Some(cwd),
                    isolation: Default::default(),
                    limits: Default::default(),
                }),
            }
        }
        None => {
            let exe = std::env::current_exe()
                .map_err(|e| format!("cannot find this program's path: {e}"))?;
            batch::plan_reference(&catalog, &[program.to_string()], &exe)
                .into_iter()
                .find(|j| &j.case.name == case_name)
                .ok_or_else(|| format!("the demo case `{case_name}` is missing"))?
        }
    };
    if let Some(spec) = job.spec.as_mut() {
        spec.isolation = isolation().0;
    }
    let result = batch::run_one(&job, &Timing::default());
    out.print(&sockcheck::demo::render(suite, &result, &demo.note));
    Ok(report::exit_code(std::slice::from_ref(&result)) as u8)
}

fn catalog() -> Result<Catalog, String> {
    Catalog::embedded().map_err(|e| format!("the built-in suites are broken: {e}"))
}

fn list(out: &Out) -> ExitCode {
    let catalog = match catalog() {
        Ok(c) => c,
        Err(e) => return refuse(&e),
    };
    for suite in &catalog.suites {
        out.line(&format!(
            "{}  ({}, {})",
            suite.info.id, suite.title, suite.info.addr
        ));
        for case in &suite.cases {
            out.line(&format!(
                "  {:<6} {:<28} {}",
                case.role.to_string(),
                case.name,
                case.about
            ));
        }
    }
    ExitCode::SUCCESS
}

/// Refuses options the run cannot honour, before anything is planned.
fn check_options(args: &RunArgs) -> Result<(), String> {
    if !TIMEOUT_SECS.contains(&args.timeout) {
        return Err(format!(
            "--timeout must be {} to {} seconds, not {}",
            TIMEOUT_SECS.start(),
            TIMEOUT_SECS.end(),
            args.timeout
        ));
    }
    if !JOBS.contains(&args.jobs) {
        return Err(format!(
            "--jobs must be {} to {}, not {}",
            JOBS.start(),
            JOBS.end(),
            args.jobs
        ));
    }
    args.limits.limits()?;
    for (flag, command) in [("--server", &args.server), ("--client", &args.client)] {
        if command.as_deref().is_some_and(|c| c.trim().is_empty()) {
            return Err(format!("{flag} is an empty command"));
        }
    }
    Ok(())
}

/// Why a plan would check nothing, if it would: every case lacks a command for its role.
/// `how` says how a role's command is given (`--server`, or a line of the manifest).
fn nothing_to_check(jobs: &[Job], how: &dyn Fn(Role) -> String) -> Option<String> {
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

fn run(args: RunArgs, out: &Out) -> Result<u8, String> {
    check_options(&args)?;
    let catalog = catalog()?;
    let known = catalog.ids();
    for id in &args.ids {
        if !known.contains(&id.as_str()) {
            return Err(format!(
                "unknown program `{id}` (known: {})",
                known.join(", ")
            ));
        }
    }
    // The plan, and the folder copied for every case, which must be small enough.
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
    let mut json = match &args.json {
        Some(path) => Some((
            std::fs::File::create(path)
                .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?,
            path,
        )),
        None => None,
    };
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
    let results = batch::run(&jobs, args.jobs, &timing, &|r: &CaseResult| {
        out.line(&report::case_line(r))
    });
    let wall = started.elapsed();
    let troubled: Vec<&CaseResult> = results
        .iter()
        .filter(|r| !matches!(r.outcome.verdict, Verdict::Pass | Verdict::Skipped))
        .collect();
    for r in troubled {
        out.line("");
        out.print(&report::details(r));
    }
    out.line("");
    out.line(&report::summary(&results, wall));
    if let Some((file, path)) = &mut json {
        file.write_all((report::json(&results, &info) + "\n").as_bytes())
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    }
    Ok(report::exit_code(&results) as u8)
}
