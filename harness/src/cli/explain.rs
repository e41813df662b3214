//! `sockcheck explain PROGRAM CASE`: the case in plain words beside its fixture; with
//! `--verbose`, one run of it (against the reference, or `--server`/`--client`) and its
//! full wire log; with `--peer-script`, a Python script that plays the peer's side.

use super::*;
use crate::explain::{peer_script, wire, words};

#[derive(clap::Args)]
pub(super) struct ExplainArgs {
    /// Program id (`sockcheck list` shows them).
    program: String,
    /// Case name, e.g. server-three-clients.
    case: String,
    /// A course's suites folder instead of the bundled suites.
    #[arg(long)]
    suites: Option<PathBuf>,
    /// Run the case once and print every chunk of it, each direction with its offsets,
    /// as a hexdump; and the run's verdict.
    #[arg(long, conflicts_with = "peer_script")]
    verbose: bool,
    /// Print a standalone Python 3 script that plays the peer's side of the case.
    #[arg(long)]
    peer_script: bool,
    /// Write the script to this file instead of stdout.
    #[arg(long, requires = "peer_script")]
    out: Option<PathBuf>,
    /// With --verbose: run your server (a command) instead of the reference's.
    #[arg(long, requires = "verbose", conflicts_with = "client")]
    server: Option<String>,
    /// With --verbose: run your client (a command) instead of the reference's.
    #[arg(long, requires = "verbose")]
    client: Option<String>,
    /// The program's address, if not the case's (also the script's default).
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// With --verbose: seconds an observation waits before it fails (1 to 600).
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

impl ExplainArgs {
    /// Whether the command runs a case (and so needs the isolation and the interrupts).
    pub(super) fn runs_a_case(&self) -> bool {
        self.verbose
    }
}

pub(super) fn explain(args: ExplainArgs, out: &Out) -> Result<u8, String> {
    check_timeout(args.timeout)?;
    let catalog = catalog(args.suites.as_deref())?;
    let Some(suite) = catalog.suite(&args.program) else {
        return Err(format!(
            "unknown program `{}` (known: {})",
            args.program,
            catalog.ids().join(", ")
        ));
    };
    let mut suite = suite.clone();
    if let Some(addr) = args.addr {
        suite.info.addr = addr;
    }
    let Some(case) = suite.cases.iter().find(|c| c.name == args.case).cloned() else {
        let names: Vec<&str> = suite.cases.iter().map(|c| c.name.as_str()).collect();
        return Err(format!(
            "`{}` has no case `{}` (its cases: {})",
            args.program,
            args.case,
            names.join(", ")
        ));
    };
    let lang = crate::hints::language();
    if args.peer_script {
        let script = peer_script::script(&suite, &case, lang)?;
        match &args.out {
            Some(path) => std::fs::write(path, script)
                .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?,
            None => out.print(&script),
        }
        return Ok(0);
    }
    out.print(&words::explain(&suite, &case, lang));
    if !args.verbose {
        out.print(&footer(&args, &case, lang));
        return Ok(0);
    }
    let command = match (case.role, args.server, args.client) {
        (Role::Server, Some(c), None) | (Role::Client, None, Some(c)) => Some(c),
        (_, None, None) => None,
        (role, _, _) => {
            return Err(format!(
                "`{}` is a {role} case: give your {role}'s command with --{role}",
                case.name
            ))
        }
    };
    if command.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err("the program's command is empty".into());
    }
    verbose(&suite, &case, command, args.timeout, out, lang)
}

/// Runs the case once, keeping every chunk whole (up to 64 KiB each), and prints the
/// verdict and the wire log.
fn verbose(
    suite: &crate::catalog::Suite,
    case: &crate::script::Case,
    command: Option<String>,
    timeout: u64,
    out: &Out,
    lang: crate::hints::Lang,
) -> Result<u8, String> {
    let w = words::words(lang);
    crate::trace::keep_bytes(crate::trace::FULL_BYTES);
    let job = single_job(suite, case, command)?;
    let timing = Timing {
        observe: Duration::from_secs(timeout),
        ..Timing::default()
    };
    let (_, mode, why) = isolation();
    out.line("");
    out.line(&report::IsolationInfo::new(mode, why).line());
    if let Some(spec) = &job.spec {
        let command = crate::iut::expand(&spec.command, suite.info.addr);
        out.line(&format!("{}: {command}", w.run_against));
    }
    let result = batch::run_one(&job, &timing);
    let o = &result.outcome;
    out.line(&format!(
        "{}: {} ({:.2}s)",
        w.verdict,
        report::verdict_word(o.verdict),
        o.duration.as_secs_f64()
    ));
    if let Some(message) = &o.message {
        out.line(message);
    }
    if let Some(hint) = o.hint {
        out.line(&format!(
            "{} [{}]: {}",
            w.hint,
            hint.id(),
            hint.text_in(lang)
        ));
    }
    out.line(w.wire_log);
    out.print(&wire::log(&o.events, o.events_dropped, lang));
    Ok(report::exit_code(std::slice::from_ref(&result)) as u8)
}

/// How to see more: the run's every byte, and the peer as a script.
fn footer(args: &ExplainArgs, case: &crate::script::Case, lang: crate::hints::Lang) -> String {
    let w = words::words(lang);
    let mut base = format!("sockcheck explain {} {}", args.program, args.case);
    if let Some(dir) = &args.suites {
        base.push_str(&format!(" --suites {}", dir.display()));
    }
    let program = format!("python3 {}.py", case.role);
    format!(
        "\n{}\n  {base} --verbose [--{} \"{program}\"]\n{}\n  {base} --peer-script --out peer.py\n  python3 peer.py -- {program}\n",
        w.see_run, case.role, w.by_hand
    )
}
