//! The `sockcheck` command line: run suites, list them, show a demonstration, explain a
//! case, or play the reference implementation. The binary only calls [`main`]; `run.rs`
//! plans and runs the cases, `explain.rs` tells one case, `signals.rs` chooses the
//! isolation once and ends everything on an interrupt.

mod explain;
mod fuzz;
mod grade;
mod gradescope;
mod run;
mod signals;
mod variant;

use crate::batch::{self, CaseResult, Job};
use crate::catalog::Catalog;
use crate::engine::{Timing, Verdict};
use crate::init::Limits;
use crate::manifest::{self, Implementation};
use crate::report;
use crate::sandbox::{self, Policy};
use crate::script::Role;
use crate::workdir;
use clap::{Parser, Subcommand};
use explain::*;
use fuzz::*;
use grade::*;
use gradescope::*;
use run::*;
use signals::*;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use variant::*;

#[derive(Parser)]
#[command(
    name = "sockcheck",
    version,
    about = "Checks socket programs against the suites of the classic Python socket tutorial"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The language of hints and reports: zh or en (default: the locale's, LANG=zh_CN.UTF-8
    /// gives Chinese).
    #[arg(long, global = true, value_parser = parse_lang)]
    lang: Option<crate::hints::Lang>,
    /// Colours on the terminal: auto (on a terminal, unless NO_COLOR is set), always or
    /// never. Report files are never coloured.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    color: clap::ColorChoice,
}

fn parse_lang(word: &str) -> Result<crate::hints::Lang, String> {
    crate::hints::Lang::parse(word).ok_or_else(|| format!("`{word}`: zh or en"))
}

#[derive(Subcommand)]
enum Command {
    /// Run suites: against the bundled reference implementation, a submission folder, or a command.
    Run(RunArgs),
    /// List the programs and their cases.
    List {
        /// A course's suites folder instead of the bundled suites.
        #[arg(long)]
        suites: Option<PathBuf>,
    },
    /// Show a sticky-packet demonstration as a timeline (sticky1, sticky2).
    Demo {
        /// Program id: sticky1 or sticky2.
        program: String,
        /// A course's suites folder instead of the bundled suites.
        #[arg(long)]
        suites: Option<PathBuf>,
        /// Run it against this server instead of the reference.
        #[arg(long, conflicts_with = "client")]
        server: Option<String>,
        /// Run it against this client instead of the reference server.
        #[arg(long)]
        client: Option<String>,
        /// Also draw it as a sequence diagram, in an HTML report in this folder.
        #[arg(long, value_name = "DIR")]
        html: Option<PathBuf>,
    },
    /// A case in plain words beside its fixture; --verbose: one run's every byte;
    /// --peer-script: a Python script that plays the peer's side of it.
    Explain(ExplainArgs),
    /// Generated cases, each recorded from the reference and checked against your program
    /// (or the reference itself); the first disagreement shrunk to a small `.case` file.
    Fuzz(FuzzArgs),
    /// Grade a class: every folder of CLASS is a submission; the summary and each
    /// student's report go to --out.
    Grade(GradeArgs),
    /// A course's own suites folder: the bundled suites with the course's words.
    Variant {
        #[command(subcommand)]
        command: VariantCommand,
    },
    /// Record a suites folder's fixtures: from the bundled reference given the folder's
    /// words, or from your own solution (--server/--client).
    Record(RecordArgs),
    /// Gradescope: write an autograder to zip and upload (`gradescope init DIR`).
    Gradescope {
        #[command(subcommand)]
        command: GradescopeCommand,
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

/// The whole command line: what the `sockcheck` binary runs.
pub fn main() -> ExitCode {
    // The case's init: the harness's own binary, re-executed by every case (`init/`).
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == crate::init::SUBCOMMAND) {
        return ExitCode::from(crate::init::main(&args[2..]).clamp(0, 255) as u8);
    }
    let cli = Cli::parse();
    crate::hints::set_language(cli.lang.unwrap_or_else(crate::hints::Lang::from_locale));
    let out = Out {
        paint: report::Paint {
            colour: match cli.color {
                clap::ColorChoice::Always => true,
                clap::ColorChoice::Never => false,
                // NO_COLOR, CLICOLOR_FORCE, TERM=dumb and whether stdout is a terminal.
                clap::ColorChoice::Auto => {
                    anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never
                }
            },
        },
        ..Out::default()
    };
    let runs_cases = match &cli.command {
        Command::Explain(args) => args.runs_a_case(),
        command => matches!(
            command,
            Command::Run(_)
                | Command::Demo { .. }
                | Command::Variant { .. }
                | Command::Record(_)
                | Command::Grade(_)
                | Command::Fuzz(_)
        ),
    };
    if runs_cases {
        // Before any thread: a user namespace can only be entered by a single-threaded
        // process, and the interrupt signals must be blocked in every thread to come.
        prepare_isolation();
        watch_interrupts();
    }
    match cli.command {
        // The reference's own command line: the suites run the reference through it.
        Command::Reference { args } => ExitCode::from(sockref::cli::main(args)),
        Command::List { suites } => list(suites.as_deref(), &out),
        Command::Demo {
            program,
            suites,
            server,
            client,
            html,
        } => match demo(&program, suites.as_deref(), server, client, html, &out) {
            Ok(code) => ExitCode::from(code),
            Err(message) => refuse(&message),
        },
        Command::Run(args) => match run(args, &out) {
            Ok(code) => ExitCode::from(code),
            Err(message) => refuse(&message),
        },
        Command::Variant { command } => match variant(command, &out) {
            Ok(code) => ExitCode::from(code),
            Err(message) => refuse(&message),
        },
        Command::Explain(args) => match explain(args, &out) {
            Ok(code) => ExitCode::from(code),
            Err(message) => refuse(&message),
        },
        Command::Fuzz(args) => match fuzz(args, &out) {
            Ok(code) => ExitCode::from(code),
            Err(message) => refuse(&message),
        },
        Command::Grade(args) => match grade(args, &out) {
            Ok(code) => ExitCode::from(code),
            Err(message) => refuse(&message),
        },
        Command::Record(args) => match record(args, &out) {
            Ok(code) => ExitCode::from(code),
            Err(message) => refuse(&message),
        },
        Command::Gradescope { command } => match gradescope(command, &out) {
            Ok(code) => ExitCode::from(code),
            Err(message) => refuse(&message),
        },
    }
}

/// A bad invocation: one line on stderr, exit status 2. A write error is ignored: a closed
/// stderr leaves nobody to tell.
pub(super) fn refuse(message: &str) -> ExitCode {
    let _ = writeln!(io::stderr(), "sockcheck: {message}");
    ExitCode::from(2)
}

/// Standard output that a closed pipe silences: once a write fails (`sockcheck run | head
/// -1`), nothing more is printed, where `println!` would panic. The cases still run to the
/// end: their results still go to `--json` and the exit status.
#[derive(Default)]
pub(super) struct Out {
    closed: AtomicBool,
    /// Whether what it prints may be coloured.
    pub(super) paint: report::Paint,
}

impl Out {
    pub(super) fn print(&self, text: &str) {
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

    pub(super) fn line(&self, text: &str) {
        self.print(&format!("{text}\n"));
    }
}

/// A bar of the cases done, drawn on standard error when it is a terminal (someone
/// watching) and not at all otherwise (a CI log gets the lines alone); `{msg}` says what.
pub(super) fn progress_bar(template: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

/// Runs a suite's demonstration case and prints its timeline.
pub(super) fn demo(
    program: &str,
    suites: Option<&std::path::Path>,
    server: Option<String>,
    client: Option<String>,
    html: Option<PathBuf>,
    out: &Out,
) -> Result<u8, String> {
    let catalog = catalog(suites)?;
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
    let job = single_job(suite, case, command)?;
    let started = Instant::now();
    let result = batch::run_one(&job, &Timing::default());
    out.print(&crate::demo::render(suite, &result, &demo.note));
    if let Some(dir) = html {
        let (_, mode, why) = isolation();
        let results = std::slice::from_ref(&result);
        let summary = format!(
            "{}\n{}",
            demo.note,
            report::summary(results, started.elapsed())
        );
        report::html::write(
            &dir,
            results,
            &report::IsolationInfo::new(mode, why),
            &summary,
        )?;
        out.line(&format!(
            "diagram: {}",
            dir.join("cases")
                .join(report::html::case_file(&result))
                .display()
        ));
    }
    Ok(report::exit_code(std::slice::from_ref(&result)) as u8)
}

/// One case as a job, in the run's isolation: against `command`, run in a copy of the
/// current folder, or else against the bundled reference (given the suite's words and
/// address). `demo` and `explain --verbose` run a single case this way.
pub(super) fn single_job(
    suite: &crate::catalog::Suite,
    case: &crate::script::Case,
    command: Option<String>,
) -> Result<Job, String> {
    let mut spec = match command {
        Some(command) => {
            let cwd = std::env::current_dir()
                .map_err(|e| format!("cannot read the current folder: {e}"))?;
            workdir::check(&cwd)?;
            crate::iut::IutSpec {
                command,
                workdir: Some(cwd),
                isolation: Default::default(),
                limits: Default::default(),
                hidden: Vec::new(),
            }
        }
        None => {
            let exe = std::env::current_exe()
                .map_err(|e| format!("cannot find this program's path: {e}"))?;
            batch::reference_spec(&exe, &suite.info, case.role)
        }
    };
    spec.isolation = isolation().0;
    Ok(Job {
        suite: suite.clone(),
        case: case.clone(),
        spec: Some(spec),
    })
}

/// The bundled suites, or a course's folder (refused when its fixtures are stale).
pub(super) fn catalog(suites: Option<&std::path::Path>) -> Result<Catalog, String> {
    match suites {
        Some(dir) => crate::variant::load(dir),
        None => Catalog::embedded().map_err(|e| format!("the built-in suites are broken: {e}")),
    }
}

pub(super) fn list(suites: Option<&std::path::Path>, out: &Out) -> ExitCode {
    let catalog = match catalog(suites) {
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
