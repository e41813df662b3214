//! The reference's command line, `<program-id> <server|client> [--addr HOST:PORT]`, the
//! remote shells' `--allow-remote`, `--time-limit SECS`, `--max-reply BYTES`, the framed
//! clients' `--max-frame BYTES`, `--max-header BYTES`, and a course's `--word NAME=VALUE`:
//! read by clap, then checked against the program and role it names. Shared by the
//! `sockref` binary and `sockcheck reference`, so that the suites, which run the reference
//! through `sockcheck`, exercise this very code.

use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

use crate::{Options, Program, Role, PROGRAMS};

/// The longest `--time-limit`: about eleven days, far beyond any use, and a bound that
/// keeps the deadline arithmetic away from overflow.
const MAX_TIME_LIMIT_SECS: f64 = 1e6;

/// The programs whose clients read framed replies, and so take `--max-frame`.
const FRAMED: &[&str] = &["framed-low", "framed-header"];
/// The one whose frames have a header, and so takes `--max-header` too.
const FRAMED_HEADER: &str = "framed-header";

/// The help's headings of the options that apply to some programs only. Fixed text: clap
/// builds a heading from a `String` only with its `string` feature, so the programs each
/// heading means are listed after the options, by [`programs_help`].
const SHELL_HEADING: &str = "Options of the servers that run commands";
const FRAMED_HEADING: &str = "Options of the framed clients";

/// The command line as clap reads it: each option's value parsed on its own, before
/// [`Cli::check`] finds the program and role and weighs the options against them.
#[derive(Debug, Parser)]
#[command(
    name = "sockref",
    about = "Plays one role of one program of the socket tutorial, as the reference does",
    override_usage = "sockref <program-id> <server|client> [OPTIONS]",
    after_help = programs_help()
)]
struct Cli {
    // The program and role are checked by `check`, not by value parsers: clap would refuse
    // a bad one as soon as it met it, before a `--help` after it.
    /// The program to play, by its id (listed below)
    #[arg(value_name = "program-id")]
    program: String,
    /// The side of it to play
    #[arg(value_name = "server|client")]
    role: String,
    // Hyphen values are taken, as every option's value below: the next argument is the
    // value, whatever it looks like, so `-1` is refused as a number, not as an option.
    /// Where a server binds and a client connects [default: the program's, listed below]
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_addr, allow_hyphen_values = true)]
    addr: Option<SocketAddr>,
    /// A course's own literal in place of the tutorial's, by name (repeatable); udp-chat's
    /// client reads `contacts` (space-separated) and `quit`
    #[arg(
        long = "word",
        value_name = "NAME=VALUE",
        value_parser = parse_word,
        allow_hyphen_values = true
    )]
    words: Vec<(String, String)>,
    /// Serve an address other than loopback (anyone who can reach it gets a shell)
    #[arg(long, help_heading = SHELL_HEADING)]
    allow_remote: bool,
    // The defaults shown are the ones the programs use, hence `help` built here rather
    // than written in a doc comment.
    #[arg(
        long,
        value_name = "SECS",
        value_parser = parse_time_limit,
        allow_hyphen_values = true,
        help_heading = SHELL_HEADING,
        help = format!(
            "Kill a command's process group after SECS [default: {}]",
            crate::Limits::default().time_limit.as_secs_f64()
        )
    )]
    time_limit: Option<Duration>,
    #[arg(
        long,
        value_name = "BYTES",
        value_parser = parse_bytes,
        allow_hyphen_values = true,
        help_heading = SHELL_HEADING,
        help = format!(
            "Send at most BYTES of a command's output [default: {}; for the framed servers \
             at most {}]",
            crate::Limits::default().max_reply,
            crate::framed::MAX_REPLY
        )
    )]
    max_reply: Option<usize>,
    #[arg(
        long,
        value_name = "BYTES",
        value_parser = parse_bytes,
        allow_hyphen_values = true,
        help_heading = FRAMED_HEADING,
        help = format!(
            "Refuse a reply whose body is longer [default: {}]",
            crate::frame::DEFAULT_MAX_BODY
        )
    )]
    max_frame: Option<usize>,
    #[arg(
        long,
        value_name = "BYTES",
        value_parser = parse_bytes,
        allow_hyphen_values = true,
        help_heading = FRAMED_HEADING,
        help = format!(
            "{FRAMED_HEADER} only: refuse a longer header [default: {}]",
            crate::frame::DEFAULT_MAX_HEADER
        )
    )]
    max_header: Option<usize>,
}

/// What the command line asks for, checked: everything [`crate::run_with`] takes.
#[derive(Debug)]
struct Run {
    program: &'static str,
    role: Role,
    options: Options,
}

/// Runs the command line `<program-id> <server|client> [--addr HOST:PORT] [...]` (the
/// arguments after the binary's name) and returns the exit status: 0 when the program
/// finished as the tutorial's would, 1 on a runtime error, 2 on bad arguments, and on a
/// remote shell asked to serve beyond loopback without `--allow-remote`. The `sockref`
/// binary and `sockcheck reference` both run this, so the suites drive it.
pub fn main(args: Vec<OsString>) -> u8 {
    let Run {
        program,
        role,
        options,
    } = match parse(args) {
        Ok(run) => run,
        // Help, only on request, goes to stdout, which otherwise carries the program's
        // prints and nothing else; an error about the arguments, with the usage, to stderr.
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() { 2 } else { 0 };
        }
    };
    match crate::run_with(program, role, &options) {
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
    }
}

/// Reads the arguments (after the binary's name). The error is clap's: the help that was
/// asked for, or what was wrong, ready to print.
fn parse(args: Vec<OsString>) -> Result<Run, clap::Error> {
    // clap expects the binary's name first, and would take the program id for it.
    let argv = std::iter::once(OsString::from("sockref")).chain(args);
    Cli::try_parse_from(argv)?
        .check()
        .map_err(|(kind, message)| Cli::command().error(kind, message))
}

impl Cli {
    /// What clap cannot check value by value: a word given twice, the program and its
    /// role, each option against the programs it applies to, and a framed server's reply
    /// cap against what a frame can declare. The error is its kind and message.
    fn check(self) -> Result<Run, (ErrorKind, String)> {
        let mut options = Options {
            addr: self.addr,
            allow_remote: self.allow_remote,
            ..Options::default()
        };
        for (word, text) in self.words {
            if options.words.contains_key(&word) {
                return Err((
                    ErrorKind::ArgumentConflict,
                    format!("the word `{word}` is given twice"),
                ));
            }
            options.words.insert(word, text);
        }
        let invalid = |err: crate::Error| (ErrorKind::InvalidValue, err.to_string());
        let program = crate::find(&self.program)
            .ok_or_else(|| invalid(crate::Error::UnknownProgram(self.program)))?;
        let role: Role = self.role.parse().map_err(invalid)?;
        if !program.roles.contains(&role) {
            return Err(invalid(crate::Error::NoRole {
                program: program.id,
                role,
            }));
        }
        // Accepted and ignored, they would suggest a bound or a danger that is not there.
        let restricted = [
            ("--allow-remote", self.allow_remote, Audience::ShellServers),
            (
                "--time-limit",
                self.time_limit.is_some(),
                Audience::ShellServers,
            ),
            (
                "--max-reply",
                self.max_reply.is_some(),
                Audience::ShellServers,
            ),
            (
                "--max-frame",
                self.max_frame.is_some(),
                Audience::FramedClients,
            ),
            (
                "--max-header",
                self.max_header.is_some(),
                Audience::FramedHeaderClient,
            ),
        ];
        for (option, given, audience) in restricted {
            if given && !audience.includes(program, role) {
                return Err((
                    ErrorKind::ArgumentConflict,
                    format!(
                        "`{option}` applies only to {}, not to the {} {role}",
                        audience.describe(),
                        program.id
                    ),
                ));
            }
        }
        let limits = &mut options.limits;
        limits.time_limit = self.time_limit.unwrap_or(limits.time_limit);
        limits.max_reply = self.max_reply.unwrap_or(limits.max_reply);
        let frame_limits = &mut options.frame_limits;
        frame_limits.max_body = self.max_frame.unwrap_or(frame_limits.max_body);
        frame_limits.max_header = self.max_header.unwrap_or(frame_limits.max_header);
        // A 4-byte prefix declares at most 2 GiB - 1: a longer reply could not be framed.
        let framed_server =
            Audience::ShellServers.includes(program, role) && FRAMED.contains(&program.id);
        if framed_server && options.limits.max_reply > crate::framed::MAX_REPLY {
            return Err((
                ErrorKind::ValueValidation,
                format!(
                    "invalid reply cap `{}` for the {} server: a frame's 4-byte prefix \
                     declares at most {} bytes, so the cap is at most {}",
                    options.limits.max_reply,
                    program.id,
                    crate::frame::MAX_ENCODABLE_LEN,
                    crate::framed::MAX_REPLY
                ),
            ));
        }
        Ok(Run {
            program: program.id,
            role,
            options,
        })
    }
}

/// Whom an option that not every program takes is for.
#[derive(Debug, Clone, Copy)]
enum Audience {
    /// `--allow-remote`, `--time-limit`, `--max-reply`: the remote shells.
    ShellServers,
    /// `--max-frame`.
    FramedClients,
    /// `--max-header`: only framed-header's frames have a header.
    FramedHeaderClient,
}

impl Audience {
    /// Whether this role of this program is of the audience.
    fn includes(self, program: &Program, role: Role) -> bool {
        match self {
            Audience::ShellServers => program.runs_commands && role == Role::Server,
            Audience::FramedClients => FRAMED.contains(&program.id) && role == Role::Client,
            Audience::FramedHeaderClient => program.id == FRAMED_HEADER && role == Role::Client,
        }
    }

    /// The audience, for messages: `the framed clients (framed-low, framed-header)`.
    fn describe(self) -> String {
        match self {
            Audience::ShellServers => {
                format!("the servers that run commands ({})", shell_servers())
            }
            Audience::FramedClients => format!("the framed clients ({})", FRAMED.join(", ")),
            Audience::FramedHeaderClient => format!("the {FRAMED_HEADER} client"),
        }
    }
}

/// The help's text after the options: every program with its roles and address, and
/// which programs the headings' options are for.
fn programs_help() -> String {
    let mut text = String::from("Programs:");
    for program in PROGRAMS {
        let roles: Vec<String> = program.roles.iter().map(Role::to_string).collect();
        text.push_str(&format!(
            "\n  {:<14}{:<16}default address {}",
            program.id,
            roles.join(", "),
            program.default_addr
        ));
    }
    text.push_str(&format!(
        "\n\nThe servers that run commands: {}.\nThe framed clients: {}.",
        shell_servers(),
        FRAMED.join(", ")
    ));
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

/// `--word NAME=VALUE`: a name, not empty, and its text, which may be.
fn parse_word(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .filter(|(word, _)| !word.is_empty())
        .map(|(word, value)| (word.to_owned(), value.to_owned()))
        .ok_or_else(|| "expected NAME=VALUE".to_owned())
}

/// `--time-limit SECS`: a positive number of seconds, fractions allowed.
fn parse_time_limit(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= MAX_TIME_LIMIT_SECS => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!(
            "expected seconds, more than 0 and at most {MAX_TIME_LIMIT_SECS}"
        )),
    }
}

/// `--max-reply`, `--max-frame`, `--max-header BYTES`: a positive whole number of bytes.
fn parse_bytes(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(bytes) if bytes > 0 => Ok(bytes),
        _ => Err("expected a whole number of bytes, more than 0".to_owned()),
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
        .ok_or_else(|| "expected HOST:PORT, HOST an IP address or a name that resolves".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Run, clap::Error> {
        parse(args.iter().map(OsString::from).collect())
    }

    /// Why `args` are refused: the message as clap prints it, without its `error: ` and
    /// the usage after it.
    fn message(args: &[&str]) -> String {
        let Err(err) = parse_strs(args) else {
            panic!("{args:?} should be refused");
        };
        assert!(err.use_stderr(), "{args:?}: {err}");
        let text = err.to_string();
        let first = text.lines().next().unwrap_or_default();
        first.strip_prefix("error: ").unwrap_or(first).to_owned()
    }

    /// The kind of clap's own refusal of `args`, where the message is clap's wording.
    fn refusal(args: &[&str]) -> ErrorKind {
        parse_strs(args).expect_err("should be refused").kind()
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_is_asked_for_anywhere_and_goes_to_stdout() {
        for args in [
            &["-h"][..],
            &["--help"],
            &["echo1", "server", "--help"],
            &["foo", "-h"],
            &["--word", "q=1", "-h"],
        ] {
            let err = parse_strs(args).expect_err("help is an early return");
            assert_eq!(err.kind(), ErrorKind::DisplayHelp, "{args:?}");
            assert!(!err.use_stderr(), "{args:?}");
        }
    }

    #[test]
    fn parses_program_role_and_address() {
        let Ok(Run {
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
        let Ok(Run { options, .. }) = parse_strs(&["--addr=[::1]:80", "echo1", "server"]) else {
            panic!("not parsed");
        };
        assert_eq!(options.addr, Some("[::1]:80".parse().unwrap()));
    }

    #[test]
    fn parses_repeated_words_and_refuses_bad_ones() {
        let Ok(Run { options, .. }) = parse_strs(&[
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
        assert!(message(&["udp-chat", "client", "--word", "quit"]).contains("NAME=VALUE"));
        assert!(message(&["udp-chat", "client", "--word", "=q"]).contains("NAME=VALUE"));
        assert_eq!(
            refusal(&["udp-chat", "client", "--word"]),
            ErrorKind::InvalidValue
        );
        assert!(
            message(&["udp-chat", "client", "--word", "q=1", "--word", "q=2"]).contains("twice")
        );
    }

    #[test]
    fn parses_the_remote_shell_options() {
        let Ok(Run { options, .. }) = parse_strs(&[
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
        let Ok(Run { options, .. }) = parse_strs(&["sticky1", "server", "--time-limit=2"]) else {
            panic!("not parsed");
        };
        assert_eq!(options.limits.time_limit, Duration::from_secs(2));
    }

    #[test]
    fn refuses_bad_remote_shell_options() {
        for bad in ["0", "-1", "nan", "inf", "1e7", "ten"] {
            assert_eq!(
                message(&["rexec1", "server", "--time-limit", bad]),
                format!(
                    "invalid value '{bad}' for '--time-limit <SECS>': expected seconds, more \
                     than 0 and at most 1000000"
                )
            );
        }
        for bad in ["0", "-5", "1.5", "lots"] {
            assert_eq!(
                message(&["rexec1", "server", "--max-reply", bad]),
                format!(
                    "invalid value '{bad}' for '--max-reply <BYTES>': expected a whole number \
                     of bytes, more than 0"
                )
            );
        }
        assert_eq!(
            refusal(&["rexec1", "server", "--allow-remote", "--allow-remote"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            refusal(&["rexec1", "server", "--allow-remote=yes"]),
            ErrorKind::TooManyValues
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
        let Ok(Run { options, .. }) = parse_strs(&[
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
        let Ok(Run { options, .. }) = parse_strs(&["framed-low", "client", "--max-frame=7"]) else {
            panic!("not parsed");
        };
        assert_eq!(options.frame_limits.max_body, 7);
        assert_eq!(
            options.frame_limits.max_header,
            crate::frame::DEFAULT_MAX_HEADER
        );
        let Ok(Run { options, .. }) = parse_strs(&["framed-low", "client"]) else {
            panic!("not parsed");
        };
        assert_eq!(options.frame_limits, crate::frame::Limits::default());
    }

    #[test]
    fn refuses_the_framed_options_where_they_do_not_apply() {
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
                    .starts_with(&format!("invalid value '{bad}' for '--max-frame <BYTES>'")),
                "{bad}"
            );
            assert!(
                message(&["framed-header", "client", "--max-header", bad])
                    .starts_with(&format!("invalid value '{bad}' for '--max-header <BYTES>'")),
                "{bad}"
            );
        }
        assert_eq!(
            refusal(&["framed-low", "client", "--max-frame=1", "--max-frame=2"]),
            ErrorKind::ArgumentConflict
        );
    }

    #[test]
    fn framed_servers_run_commands_with_a_reply_cap_a_prefix_can_declare() {
        let Ok(Run { options, .. }) = parse_strs(&[
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
            message(&["framed-low", "server", "--max-reply", "2147482624"]),
            "invalid reply cap `2147482624` for the framed-low server: a frame's 4-byte \
             prefix declares at most 2147483647 bytes, so the cap is at most 2147482623"
        );
        // The unframed servers have no such bound.
        assert!(parse_strs(&["rexec1", "server", "--max-reply", "2147482624"]).is_ok());
    }

    #[test]
    fn help_lists_every_program_and_the_options_for_each() {
        let text = Cli::command().render_help().to_string();
        for program in PROGRAMS {
            assert!(
                text.contains(&format!("\n  {:<14}", program.id)),
                "{}",
                program.id
            );
        }
        assert!(text.contains(
            "The servers that run commands: rexec1, rexec2, sticky1, framed-low, framed-header."
        ));
        assert!(text.contains("The framed clients: framed-low, framed-header."));
        assert!(text.contains("--max-frame <BYTES>"));
        assert!(text.contains("Refuse a reply whose body is longer [default: 67108864]"));
    }

    #[test]
    fn a_remote_shell_beyond_loopback_exits_2() {
        // Refused before anything is bound or served, so this returns at once.
        let args = ["rexec1", "server", "--addr", "0.0.0.0:0"];
        assert_eq!(main(args.iter().map(OsString::from).collect()), 2);
    }

    #[test]
    fn refuses_bad_arguments() {
        assert_eq!(message(&["foo", "server"]), "unknown program `foo`");
        assert_eq!(
            message(&["recv-eof", "client"]),
            "program `recv-eof` has no client role"
        );
        assert_eq!(
            message(&["echo1", "Server"]),
            "unknown role `Server` (expected `server` or `client`)"
        );
        assert_eq!(refusal(&["echo1"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(
            refusal(&["echo1", "server", "client"]),
            ErrorKind::UnknownArgument
        );
        assert_eq!(
            refusal(&["echo1", "server", "--addr"]),
            ErrorKind::InvalidValue
        );
        assert_eq!(
            refusal(&[
                "echo1",
                "server",
                "--addr",
                "127.0.0.1:1",
                "--addr=127.0.0.1:2"
            ]),
            ErrorKind::ArgumentConflict
        );
        assert!(message(&["echo1", "server", "--addr", "nowhere"])
            .starts_with("invalid value 'nowhere' for '--addr <HOST:PORT>'"));
        assert_eq!(
            refusal(&["echo1", "server", "-x"]),
            ErrorKind::UnknownArgument
        );
    }
}
