//! The reference's command line, `<program-id> <server|client> [--addr HOST:PORT]` and
//! the remote shells' `--allow-remote`, `--time-limit SECS`, `--max-reply BYTES`: parsed
//! by hand, and shared by the `sockref` binary and `sockcheck reference`, so that the
//! suites, which run the reference through `sockcheck`, exercise this very code.

use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::{Options, Role, PROGRAMS};

/// The longest `--time-limit`: about eleven days, far beyond any use, and a bound that
/// keeps the deadline arithmetic away from overflow.
const MAX_TIME_LIMIT_SECS: f64 = 1e6;

/// What the command line asks for.
enum Command {
    Help,
    Run {
        program: &'static str,
        role: Role,
        options: Options,
    },
}

/// Runs the command line `<program-id> <server|client> [--addr HOST:PORT] [...]` (the
/// arguments after the binary's name) and returns the exit status: 0 when the program
/// finished as the tutorial's would, 1 on a runtime error, 2 on bad arguments, and on a
/// remote shell asked to serve beyond loopback without `--allow-remote`. The `sockref`
/// binary and `sockcheck reference` both run this, so the suites drive it.
pub fn main(args: Vec<OsString>) -> u8 {
    match parse(args) {
        // Only on request: otherwise stdout carries the program's prints and nothing else.
        Ok(Command::Help) => {
            println!("{}", usage());
            0
        }
        Ok(Command::Run {
            program,
            role,
            options,
        }) => match crate::run_with(program, role, &options) {
            Ok(()) => 0,
            // A refusal of what was asked, as bad arguments are; the usage would not help.
            Err(err @ crate::Error::RemoteShell { .. }) => {
                eprintln!("sockref: {err}");
                2
            }
            Err(err) => {
                eprintln!("sockref: {err}");
                1
            }
        },
        Err(message) => {
            eprintln!("sockref: {message}\n\n{}", usage());
            2
        }
    }
}

/// The usage text, with every program and its roles.
fn usage() -> String {
    let mut text = String::from(
        "usage: sockref <program-id> <server|client> [--addr HOST:PORT]\n\
         \n\
         for the servers that run commands (rexec1, rexec2, sticky1):\n\
         \x20 --allow-remote     serve an address other than loopback (anyone who can reach\n\
         \x20                    it gets a shell)\n\
         \x20 --time-limit SECS  kill a command's process group after SECS (default 10)\n\
         \x20 --max-reply BYTES  send at most BYTES of a command's output (default 67108864)\n\
         \n\
         programs:",
    );
    for program in PROGRAMS {
        let roles: Vec<String> = program.roles.iter().map(Role::to_string).collect();
        text.push_str(&format!(
            "\n  {:<14}{:<16}default address {}",
            program.id,
            roles.join(", "),
            program.default_addr
        ));
    }
    text
}

/// Reads the arguments (after the binary's name); an error is the message to show above
/// the usage text.
fn parse(args: Vec<OsString>) -> Result<Command, String> {
    let mut positional = Vec::new();
    let mut options = Options::default();
    // The options given, to refuse repeats and the shell's options where no shell runs.
    let mut given: Vec<&'static str> = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|arg| format!("argument {arg:?} is not valid UTF-8"))?;
        if arg == "-h" || arg == "--help" {
            return Ok(Command::Help);
        }
        if !arg.starts_with('-') {
            positional.push(arg);
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        let (option, what) = match name {
            "--addr" => ("--addr", "HOST:PORT"),
            "--time-limit" => ("--time-limit", "SECS"),
            "--max-reply" => ("--max-reply", "BYTES"),
            "--allow-remote" if inline.is_none() => ("--allow-remote", ""),
            _ => return Err(format!("unknown option `{arg}`")),
        };
        if given.contains(&option) {
            return Err(format!("`{option}` given twice"));
        }
        given.push(option);
        if option == "--allow-remote" {
            options.allow_remote = true;
            continue;
        }
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .ok_or_else(|| format!("`{option}` needs a value: {what}"))?
                .into_string()
                .map_err(|value| format!("value {value:?} of `{option}` is not valid UTF-8"))?,
        };
        match option {
            "--addr" => options.addr = Some(parse_addr(&value)?),
            "--time-limit" => options.limits.time_limit = parse_time_limit(&value)?,
            _ => options.limits.max_reply = parse_max_reply(&value)?,
        }
    }
    let [id, role] = <[String; 2]>::try_from(positional).map_err(|positional| {
        format!(
            "expected a program id and a role, got {} argument(s)",
            positional.len()
        )
    })?;
    let program = crate::find(&id).ok_or_else(|| crate::Error::UnknownProgram(id).to_string())?;
    let role: Role = role.parse().map_err(|err: crate::Error| err.to_string())?;
    if !program.roles.contains(&role) {
        return Err(crate::Error::NoRole {
            program: program.id,
            role,
        }
        .to_string());
    }
    // Accepted and ignored, they would suggest a bound or a danger that is not there.
    let shell_runs = program.runs_commands && role == Role::Server;
    if let Some(option) = given.iter().find(|option| **option != "--addr") {
        if !shell_runs {
            return Err(format!(
                "`{option}` applies only to the servers that run commands \
                 (rexec1, rexec2, sticky1), not to the {} {role}",
                program.id
            ));
        }
    }
    Ok(Command::Run {
        program: program.id,
        role,
        options,
    })
}

/// `--time-limit SECS`: a positive number of seconds, fractions allowed.
fn parse_time_limit(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= MAX_TIME_LIMIT_SECS => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!(
            "invalid time limit `{text}`: expected seconds, more than 0 and at most {MAX_TIME_LIMIT_SECS}"
        )),
    }
}

/// `--max-reply BYTES`: a positive whole number of bytes.
fn parse_max_reply(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(bytes) if bytes > 0 => Ok(bytes),
        _ => Err(format!(
            "invalid reply cap `{text}`: expected a whole number of bytes, more than 0"
        )),
    }
}

/// `HOST:PORT`, where HOST is an IP address (IPv6 in brackets) or a name to resolve, such
/// as `localhost`; a name takes its first address.
fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    text.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| format!("invalid address `{text}`: expected HOST:PORT"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn parses_program_role_and_address() {
        let Ok(Command::Run {
            program,
            role,
            options,
        }) = parse_strs(&["echo3", "client", "--addr", "127.0.0.1:9999"])
        else {
            panic!("not parsed");
        };
        assert_eq!((program, role), ("echo3", Role::Client));
        assert_eq!(options.addr, Some("127.0.0.1:9999".parse().unwrap()));
        assert!(!options.allow_remote);
        assert_eq!(options.limits, crate::Limits::default());
        let Ok(Command::Run { options, .. }) = parse_strs(&["--addr=[::1]:80", "echo1", "server"])
        else {
            panic!("not parsed");
        };
        assert_eq!(options.addr, Some("[::1]:80".parse().unwrap()));
    }

    #[test]
    fn parses_the_remote_shell_options() {
        let Ok(Command::Run { options, .. }) = parse_strs(&[
            "rexec2",
            "server",
            "--allow-remote",
            "--time-limit",
            "1.5",
            "--max-reply=4096",
        ]) else {
            panic!("not parsed");
        };
        assert!(options.allow_remote);
        assert_eq!(options.limits.time_limit, Duration::from_millis(1500));
        assert_eq!(options.limits.max_reply, 4096);
        let Ok(Command::Run { options, .. }) = parse_strs(&["sticky1", "server", "--time-limit=2"])
        else {
            panic!("not parsed");
        };
        assert_eq!(options.limits.time_limit, Duration::from_secs(2));
    }

    #[test]
    fn refuses_bad_remote_shell_options() {
        let message = |args: &[&str]| parse_strs(args).err().unwrap();
        for bad in ["0", "-1", "nan", "inf", "1e7", "ten"] {
            assert!(
                message(&["rexec1", "server", "--time-limit", bad]).contains("invalid time limit"),
                "{bad}"
            );
        }
        for bad in ["0", "-5", "1.5", "lots"] {
            assert!(
                message(&["rexec1", "server", "--max-reply", bad]).contains("invalid reply cap"),
                "{bad}"
            );
        }
        assert_eq!(
            message(&["rexec1", "server", "--allow-remote", "--allow-remote"]),
            "`--allow-remote` given twice"
        );
        assert_eq!(
            message(&["rexec1", "server", "--allow-remote=yes"]),
            "unknown option `--allow-remote=yes`"
        );
        assert_eq!(
            message(&["rexec1", "client", "--time-limit", "5"]),
            "`--time-limit` applies only to the servers that run commands \
             (rexec1, rexec2, sticky1), not to the rexec1 client"
        );
        assert!(message(&["echo3", "server", "--allow-remote"]).starts_with("`--allow-remote`"));
        assert!(message(&["sticky2", "server", "--max-reply", "9"]).contains("sticky2 server"));
    }

    #[test]
    fn a_remote_shell_beyond_loopback_exits_2() {
        // Refused before anything is bound or served, so this returns at once.
        let args = ["rexec1", "server", "--addr", "0.0.0.0:0"];
        assert_eq!(main(args.iter().map(OsString::from).collect()), 2);
    }

    #[test]
    fn refuses_bad_arguments() {
        let message = |args: &[&str]| parse_strs(args).err().unwrap();
        assert_eq!(message(&["foo", "server"]), "unknown program `foo`");
        assert_eq!(
            message(&["recv-eof", "client"]),
            "program `recv-eof` has no client role"
        );
        assert!(message(&["echo1"]).starts_with("expected a program id and a role"));
        assert!(message(&["echo1", "server", "--addr"]).contains("needs a value"));
        assert_eq!(
            message(&[
                "echo1",
                "server",
                "--addr",
                "127.0.0.1:1",
                "--addr=127.0.0.1:2"
            ]),
            "`--addr` given twice"
        );
        assert!(message(&["echo1", "server", "--addr", "nowhere"]).contains("invalid address"));
        assert_eq!(message(&["echo1", "server", "-x"]), "unknown option `-x`");
    }
}
