//! What the harness asks of the init, and its encoding as the init's command line (the
//! harness writes it with [`Options::to_args`], the init reads it with [`Options::parse`]).

use std::ffi::OsString;
use std::path::PathBuf;

/// The hidden subcommand.
pub const SUBCOMMAND: &str = "__init";

/// What the harness asks of the init.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Options {
    /// It is pid 1 of the case's pid namespace (otherwise: the shared network).
    pub pid_namespace: bool,
    /// The program's folder: the only one it may write, besides a private /tmp.
    pub files: Option<PathBuf>,
    /// Folders hidden from the program (with `files` only: they need its mount namespace).
    pub hidden: Vec<PathBuf>,
    /// The case's temp folder, removed when SIGTERM ends the case (so that a harness
    /// killed with SIGKILL leaves none behind).
    pub folder: Option<PathBuf>,
    pub limits: Limits,
    /// The program and its arguments.
    pub command: Vec<OsString>,
}

/// Resource limits of the program, with defaults a normal program never meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// CPU seconds, per process.
    pub cpu_secs: u64,
    /// Address space, MiB, per process.
    pub memory_mib: u64,
    /// Processes of the case at once.
    pub processes: u64,
    /// Largest file it may write, MiB.
    pub file_mib: u64,
    /// Open files, per process.
    pub open_files: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            cpu_secs: 120,
            memory_mib: 8 << 10,
            processes: 1024,
            file_mib: 256,
            open_files: 1024,
        }
    }
}

impl Options {
    /// The arguments after `sockcheck`, for the harness to spawn.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![SUBCOMMAND.into()];
        if self.pid_namespace {
            args.push("--pid-namespace".into());
        }
        if let Some(dir) = &self.files {
            args.push("--files".into());
            args.push(dir.clone().into());
        }
        for dir in &self.hidden {
            args.push("--hide".into());
            args.push(dir.clone().into());
        }
        if let Some(dir) = &self.folder {
            args.push("--folder".into());
            args.push(dir.clone().into());
        }
        let l = self.limits;
        args.push("--limits".into());
        args.push(
            format!(
                "{},{},{},{},{}",
                l.cpu_secs, l.memory_mib, l.processes, l.file_mib, l.open_files
            )
            .into(),
        );
        args.push("--".into());
        args.extend(self.command.iter().cloned());
        args
    }

    /// Parses what [`Options::to_args`] wrote (after the subcommand).
    pub fn parse(args: &[OsString]) -> Result<Options, String> {
        let mut options = Options::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.to_str() {
                Some("--pid-namespace") => options.pid_namespace = true,
                Some("--files") => {
                    options.files = Some(it.next().ok_or("--files needs a folder")?.into())
                }
                Some("--hide") => options
                    .hidden
                    .push(it.next().ok_or("--hide needs a folder")?.into()),
                Some("--folder") => {
                    options.folder = Some(it.next().ok_or("--folder needs a folder")?.into())
                }
                Some("--limits") => {
                    let text = it.next().and_then(|a| a.to_str()).ok_or("--limits")?;
                    let v: Vec<u64> = text
                        .split(',')
                        .map(|n| n.parse().map_err(|_| format!("bad --limits `{text}`")))
                        .collect::<Result<_, _>>()?;
                    let [cpu_secs, memory_mib, processes, file_mib, open_files] = v[..] else {
                        return Err(format!("bad --limits `{text}`"));
                    };
                    options.limits = Limits {
                        cpu_secs,
                        memory_mib,
                        processes,
                        file_mib,
                        open_files,
                    };
                }
                Some("--") => {
                    options.command = it.cloned().collect();
                    break;
                }
                _ => return Err(format!("unknown init argument {arg:?}")),
            }
        }
        if options.command.is_empty() {
            return Err("no command to run".into());
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_round_trip_through_arguments() {
        let options = Options {
            pid_namespace: true,
            files: Some("/tmp/sockcheck-iut-x".into()),
            hidden: vec!["/home/teacher/class".into(), "/srv/out".into()],
            folder: Some("/tmp/sockcheck-iut-x".into()),
            limits: Limits {
                cpu_secs: 5,
                ..Limits::default()
            },
            command: vec!["sh".into(), "-c".into(), "python3 -- s.py".into()],
        };
        let args = options.to_args();
        assert_eq!(args[0], SUBCOMMAND);
        assert_eq!(Options::parse(&args[1..]), Ok(options));
        assert!(Options::parse(&["--".into()]).is_err(), "no command");
        assert!(
            Options::parse(&["--limits".into(), "1,2".into(), "--".into(), "x".into()]).is_err()
        );
    }
}
