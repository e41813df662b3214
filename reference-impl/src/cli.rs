//! The reference's command line, `<program-id> <server|client> [--addr HOST:PORT]`, the
//! remote shells' `--allow-remote`, `--time-limit SECS`, `--max-reply BYTES`, and the
//! framed clients' `--max-frame BYTES`, `--max-header BYTES`: parsed by hand, and shared
//! by the `sockref` binary and `sockcheck reference`, so that the suites, which run the
//! reference through `sockcheck`, exercise this very code.

use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::{Options, Role, PROGRAMS};

/// The longest `--time-limit`: about eleven days, far beyond any use, and a bound that
/// keeps the deadline arithmetic away from overflow.
const MAX_TIME_LIMIT_SECS: f64 = 1e6;

/// The programs whose clients read framed replies, and so take `--max-frame`.
const FRAMED: &[&str] = &["framed-low", "framed-header"];
/// The one whose frames have a header, and so takes `--max-header` too.
const FRAMED_HEADER: &str = "framed-header";

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
    let mut text = format!(
        "usage: sockref <program-id> <server|client> [--addr HOST:PORT]\n\
         \n\
         for the servers that run commands ({shell_servers}):\n\
         \x20 --allow-remote      serve an address other than loopback (anyone who can\n\
         \x20                     reach it gets a shell)\n\
         \x20 --time-limit SECS   kill a command's process group after SECS (default 10)\n\
         \x20 --max-reply BYTES   send at most BYTES of a command's output (default {max_reply};\n\
         \x20                     for the framed servers at most {framed_max_reply})\n\
         \n\
         for the framed clients ({framed}):\n\
         \x20 --max-frame BYTES   refuse a reply whose body is longer (default {max_body})\n\
         \x20 --max-header BYTES  {FRAMED_HEADER}: refuse a longer header (default {max_header})\n\
         \n\
         programs:",
        shell_servers = shell_servers(),
        max_reply = crate::Limits::default().max_reply,
        framed_max_reply = crate::framed::MAX_REPLY,
        framed = FRAMED.join(", "),
        max_body = crate::frame::DEFAULT_MAX_BODY,
        max_header = crate::frame::DEFAULT_MAX_HEADER,
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

/// The servers that run commands, as a list for messages: `rexec1, rexec2, ...`.
fn shell_servers() -> String {
    let ids: Vec<&str> = PROGRAMS
        .iter()
        .filter(|program| program.runs_commands)
        .map(|program| program.id)
        .collect();
    ids.join(", ")
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
        // A course's literal by name (repeatable): each program reads those it has.
        if name == "--word" {
            let value = match inline {
                Some(value) => value,
                None => args
                    .next()
                    .ok_or("`--word` needs a value: NAME=VALUE")?
                    .into_string()
                    .map_err(|value| format!("value {value:?} of `--word` is not valid UTF-8"))?,
            };
            let (word, text) = value
                .split_once('=')
                .filter(|(word, _)| !word.is_empty())
                .ok_or_else(|| format!("`--word {value}`: expected NAME=VALUE"))?;
            if options
                .words
                .insert(word.to_owned(), text.to_owned())
                .is_some()
            {
                return Err(format!("the word `{word}` is given twice"));
            }
            continue;
        }
        let (option, what) = match name {
            "--addr" => ("--addr", "HOST:PORT"),
            "--time-limit" => ("--time-limit", "SECS"),
            "--max-reply" => ("--max-reply", "BYTES"),
            "--max-frame" => ("--max-frame", "BYTES"),
            "--max-header" => ("--max-header", "BYTES"),
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
            "--max-reply" => options.limits.max_reply = parse_bytes(&value, "reply cap")?,
            "--max-frame" => options.frame_limits.max_body = parse_bytes(&value, "frame limit")?,
            _ => options.frame_limits.max_header = parse_bytes(&value, "header limit")?,
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
    let framed = FRAMED.contains(&program.id);
    for option in &given {
        let applies_to = match *option {
            "--addr" => continue,
            "--max-frame" if framed && role == Role::Client => continue,
            "--max-header" if program.id == FRAMED_HEADER && role == Role::Client => continue,
            "--max-frame" => format!("the framed clients ({})", FRAMED.join(", ")),
            "--max-header" => format!("the {FRAMED_HEADER} client"),
            _ if shell_runs => continue,
            _ => format!("the servers that run commands ({})", shell_servers()),
        };
        return Err(format!(
            "`{option}` applies only to {applies_to}, not to the {} {role}",
            program.id
        ));
    }
    // A 4-byte prefix declares at most 2 GiB - 1: a longer reply could not be framed.
    if shell_runs && framed && options.limits.max_reply > crate::framed::MAX_REPLY {
        return Err(format!(
            "invalid reply cap `{}` for the {} server: a frame's 4-byte prefix declares at \
             most {} bytes, so the cap is at most {}",
            options.limits.max_reply,
            program.id,
            crate::frame::MAX_ENCODABLE_LEN,
            crate::framed::MAX_REPLY
        ));
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

/// `--max-reply`, `--max-frame`, `--max-header BYTES`: a positive whole number of bytes;
/// `what` names the bound in the message.
fn parse_bytes(text: &str, what: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(bytes) if bytes > 0 => Ok(bytes),
        _ => Err(format!(
            "invalid {what} `{text}`: expected a whole number of bytes, more than 0"
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
    fn parses_repeated_words_and_refuses_bad_ones() {
        let Ok(Command::Run { options, .. }) = parse_strs(&[
            "udp-chat",
            "client",
            "--word",
            "contacts=alice bob",
            "--word=quit=bye",
        ]) else {
            panic!("words parse");
        };
        assert_eq!(options.words["contacts"], "alice bob");
        assert_eq!(options.words["quit"], "bye");
        let message = |args: &[&str]| match parse_strs(args) {
            Err(message) => message,
            Ok(_) => panic!("{args:?} should be refused"),
        };
        assert!(message(&["udp-chat", "client", "--word", "quit"]).contains("NAME=VALUE"));
        assert!(message(&["udp-chat", "client", "--word", "=q"]).contains("NAME=VALUE"));
        assert!(message(&["udp-chat", "client", "--word"]).contains("needs a value"));
        assert!(
            message(&["udp-chat", "client", "--word", "q=1", "--word", "q=2"]).contains("twice")
        );
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
             (rexec1, rexec2, sticky1, framed-low, framed-header), not to the rexec1 client"
        );
        assert!(message(&["echo3", "server", "--allow-remote"]).starts_with("`--allow-remote`"));
        assert!(message(&["sticky2", "server", "--max-reply", "9"]).contains("sticky2 server"));
    }

    #[test]
    fn parses_the_framed_clients_limits() {
        let Ok(Command::Run { options, .. }) = parse_strs(&[
            "framed-header",
            "client",
            "--max-frame",
            "100",
            "--max-header=20",
        ]) else {
            panic!("not parsed");
        };
        assert_eq!(
            options.frame_limits,
            crate::frame::Limits {
                max_body: 100,
                max_header: 20
            }
        );
        let Ok(Command::Run { options, .. }) =
            parse_strs(&["framed-low", "client", "--max-frame=7"])
        else {
            panic!("not parsed");
        };
        assert_eq!(options.frame_limits.max_body, 7);
        assert_eq!(
            options.frame_limits.max_header,
            crate::frame::DEFAULT_MAX_HEADER
        );
        let Ok(Command::Run { options, .. }) = parse_strs(&["framed-low", "client"]) else {
            panic!("not parsed");
        };
        assert_eq!(options.frame_limits, crate::frame::Limits::default());
    }

    #[test]
    fn refuses_the_framed_options_where_they_do_not_apply() {
        let message = |args: &[&str]| parse_strs(args).err().unwrap();
        assert_eq!(
            message(&["framed-low", "server", "--max-frame", "9"]),
            "`--max-frame` applies only to the framed clients (framed-low, framed-header), \
             not to the framed-low server"
        );
        assert_eq!(
            message(&["rexec1", "client", "--max-frame", "9"]),
            "`--max-frame` applies only to the framed clients (framed-low, framed-header), \
             not to the rexec1 client"
        );
        assert_eq!(
            message(&["framed-low", "client", "--max-header", "9"]),
            "`--max-header` applies only to the framed-header client, not to the framed-low \
             client"
        );
        assert_eq!(
            message(&["framed-header", "client", "--time-limit", "1"]),
            "`--time-limit` applies only to the servers that run commands \
             (rexec1, rexec2, sticky1, framed-low, framed-header), not to the framed-header \
             client"
        );
        for bad in ["0", "-1", "1.5", "big"] {
            assert!(
                message(&["framed-low", "client", "--max-frame", bad])
                    .starts_with(&format!("invalid frame limit `{bad}`")),
                "{bad}"
            );
            assert!(
                message(&["framed-header", "client", "--max-header", bad])
                    .starts_with(&format!("invalid header limit `{bad}`")),
                "{bad}"
            );
        }
        assert_eq!(
            message(&["framed-low", "client", "--max-frame=1", "--max-frame=2"]),
            "`--max-frame` given twice"
        );
    }

    #[test]
    fn framed_servers_run_commands_with_a_reply_cap_a_prefix_can_declare() {
        let Ok(Command::Run { options, .. }) = parse_strs(&[
            "framed-header",
            "server",
            "--time-limit=3",
            "--max-reply",
            "2147482623",
        ]) else {
            panic!("not parsed");
        };
        assert_eq!(options.limits.time_limit, Duration::from_secs(3));
        assert_eq!(options.limits.max_reply, crate::framed::MAX_REPLY);
        assert_eq!(
            parse_strs(&["framed-low", "server", "--max-reply", "2147482624"])
                .err()
                .unwrap(),
            "invalid reply cap `2147482624` for the framed-low server: a frame's 4-byte \
             prefix declares at most 2147483647 bytes, so the cap is at most 2147482623"
        );
        // The unframed servers have no such bound.
        assert!(parse_strs(&["rexec1", "server", "--max-reply", "2147482624"]).is_ok());
    }

    #[test]
    fn usage_lists_every_program_and_the_options_for_each() {
        let text = usage();
        for program in PROGRAMS {
            assert!(
                text.contains(&format!("\n  {:<14}", program.id)),
                "{}",
                program.id
            );
        }
        assert!(text.contains(
            "for the servers that run commands (rexec1, rexec2, sticky1, framed-low, \
             framed-header):"
        ));
        assert!(text.contains("--max-frame BYTES   refuse a reply whose body is longer"));
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
