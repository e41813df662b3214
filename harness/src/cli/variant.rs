//! `sockcheck variant init` and `sockcheck record`: a course's own suites folder, written
//! from the bundled suites with the course's words, and its fixtures recorded from the
//! reference given those words or from the teacher's own solution.

use super::*;
use crate::variant::{self, Knob, Source};

#[derive(Subcommand)]
pub(super) enum VariantCommand {
    /// Write the bundled suites of PROGRAMs (default: all) into DIR with a course's words
    /// set, and record their fixtures from the reference given those words.
    Init {
        /// The course's folder (made if missing; its programs must not be there yet).
        dir: PathBuf,
        /// Program ids (default: all).
        programs: Vec<String>,
        /// A course's word, e.g. `--set echo2.reply=upper` (the words: each program.toml).
        #[arg(long = "set", value_name = "PROGRAM.WORD=VALUE")]
        set: Vec<Knob>,
        /// Cases recorded at once (1 to 64).
        #[arg(long, default_value_t = 8)]
        jobs: usize,
    },
}

#[derive(clap::Args)]
pub(super) struct RecordArgs {
    /// The course's suites folder (`sockcheck variant init` makes one).
    #[arg(long)]
    suites: PathBuf,
    /// Program ids (default: every suite of the folder).
    programs: Vec<String>,
    /// Record the server cases from this command (your trusted solution; one program).
    #[arg(long)]
    server: Option<String>,
    /// Record the client cases from this command (your trusted solution; one program).
    #[arg(long)]
    client: Option<String>,
    /// Cases recorded at once (1 to 64).
    #[arg(long, default_value_t = 8)]
    jobs: usize,
}

pub(super) fn variant(command: VariantCommand, out: &Out) -> Result<u8, String> {
    match command {
        VariantCommand::Init {
            dir,
            programs,
            set,
            jobs,
        } => {
            check_jobs(jobs)?;
            let written = variant::write_suites(&dir, &programs, &set)?;
            out.line(&format!(
                "wrote the suites of {} into `{}`",
                written.join(", "),
                dir.join("suites").display()
            ));
            let source = reference_source()?;
            let count = record_into(&dir, &written, &source, jobs, out)?;
            out.line(&format!(
                "recorded {count} fixtures from the bundled reference given the course's words into `{}`",
                dir.join("fixtures").display()
            ));
            out.line(&format!(
                "check a program against them: sockcheck run --suites {} {} --server \"python3 server.py\"",
                shlex::try_quote(&dir.display().to_string()).unwrap_or_default(),
                written.first().map_or("PROGRAM", String::as_str)
            ));
            Ok(0)
        }
    }
}

pub(super) fn record(args: RecordArgs, out: &Out) -> Result<u8, String> {
    check_jobs(args.jobs)?;
    let mut source = reference_source()?;
    if args.server.is_some() || args.client.is_some() {
        if args.programs.len() != 1 {
            return Err("--server/--client record one program: name it, e.g. `sockcheck record --suites course echo2 --server \"python3 server.py\"`".into());
        }
        for (flag, command) in [("--server", &args.server), ("--client", &args.client)] {
            if command.as_deref().is_some_and(|c| c.trim().is_empty()) {
                return Err(format!("{flag} is an empty command"));
            }
        }
        let cwd =
            std::env::current_dir().map_err(|e| format!("cannot read the current folder: {e}"))?;
        workdir::check(&cwd)?;
        source.server = args.server;
        source.client = args.client;
        source.workdir = cwd;
        for (role, given) in [("server", &source.server), ("client", &source.client)] {
            if given.is_none() {
                out.line(&format!(
                    "no --{role} given: the {role} cases are recorded from the bundled reference given the folder's words"
                ));
            }
        }
    }
    let count = record_into(&args.suites, &args.programs, &source, args.jobs, out)?;
    out.line(&format!(
        "recorded {count} fixtures into `{}`",
        args.suites.join("fixtures").display()
    ));
    Ok(0)
}

fn reference_source() -> Result<Source, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find this program's path: {e}"))?;
    Ok(Source {
        exe,
        server: None,
        client: None,
        workdir: PathBuf::new(),
    })
}

fn record_into(
    dir: &std::path::Path,
    programs: &[String],
    source: &Source,
    jobs: usize,
    out: &Out,
) -> Result<usize, String> {
    let (policy, mode, why) = isolation();
    out.line(&report::IsolationInfo::new(mode, why).line());
    variant::record(dir, programs, source, policy, jobs, &Timing::default())
}
