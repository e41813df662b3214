//! The `sockcheck` command line: run suites, list them, or play the reference implementation.

use clap::{Parser, Subcommand};
use sockcheck::batch::{self, CaseResult};
use sockcheck::catalog::Catalog;
use sockcheck::engine::{Timing, Verdict};
use sockcheck::manifest::{self, Implementation};
use sockcheck::report;
use sockcheck::script::Role;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
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
    /// Play a program of the reference implementation.
    Reference {
        /// Program id, e.g. echo2.
        program: String,
        /// server or client.
        role: String,
        /// Address to bind or connect to (default: the program's).
        #[arg(long)]
        addr: Option<SocketAddr>,
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
    /// Cases run at once.
    #[arg(long, default_value_t = 8)]
    jobs: usize,
    /// Seconds an observation waits before it fails.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Reference {
            program,
            role,
            addr,
        } => reference(&program, &role, addr),
        Command::List => list(),
        Command::Run(args) => match run(args) {
            Ok(code) => ExitCode::from(code),
            Err(message) => {
                eprintln!("sockcheck: {message}");
                ExitCode::from(2)
            }
        },
    }
}

fn reference(program: &str, role: &str, addr: Option<SocketAddr>) -> ExitCode {
    let role = match role.parse::<Role>() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sockcheck: {e}");
            return ExitCode::from(2);
        }
    };
    match sockref::run(program, role, addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sockcheck reference: {e}");
            ExitCode::from(1)
        }
    }
}

fn catalog() -> Result<Catalog, String> {
    Catalog::embedded().map_err(|e| format!("the built-in suites are broken: {e}"))
}

fn list() -> ExitCode {
    let catalog = match catalog() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sockcheck: {e}");
            return ExitCode::from(2);
        }
    };
    for suite in &catalog.suites {
        println!("{}  ({}, {})", suite.info.id, suite.title, suite.info.addr);
        for case in &suite.cases {
            println!(
                "  {:<6} {:<28} {}",
                case.role.to_string(),
                case.name,
                case.about
            );
        }
    }
    ExitCode::SUCCESS
}

fn run(args: RunArgs) -> Result<u8, String> {
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
    let jobs = if let Some(dir) = &args.dir {
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
        batch::plan_implementations(&catalog, &impls, Some(dir))
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
        batch::plan_implementations(&catalog, &BTreeMap::from([(id.clone(), imp)]), Some(&cwd))
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
        batch::plan_reference(&catalog, &ids, &exe)
    };
    if args.jobs == 0 {
        return Err("--jobs must be at least 1".into());
    }
    let timing = Timing {
        observe: Duration::from_secs(args.timeout.max(1)),
        ..Timing::default()
    };
    let started = Instant::now();
    let results = batch::run(&jobs, args.jobs, &timing, &|r: &CaseResult| {
        println!("{}", report::case_line(r))
    });
    let wall = started.elapsed();
    let troubled: Vec<&CaseResult> = results
        .iter()
        .filter(|r| !matches!(r.outcome.verdict, Verdict::Pass | Verdict::Skipped))
        .collect();
    for r in troubled {
        println!();
        print!("{}", report::details(r));
    }
    println!();
    println!("{}", report::summary(&results, wall));
    if let Some(path) = &args.json {
        std::fs::write(path, report::json(&results) + "\n")
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    }
    Ok(report::exit_code(&results) as u8)
}
