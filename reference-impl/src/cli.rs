//! The reference's command line, `<program-id> <server|client> [--addr HOST:PORT]`: parsed
//! by hand, and shared by the `sockref` binary and `sockcheck reference`, so that the
//! suites, which run the reference through `sockcheck`, exercise this very code.

use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};

use crate::{Role, PROGRAMS};

/// What the command line asks for.
enum Command {
    Help,
    Run {
        program: &'static str,
        role: Role,
        addr: Option<SocketAddr>,
    },
}

/// Runs the command line `<program-id> <server|client> [--addr HOST:PORT]` (the
/// arguments after the binary's name) and returns the exit status: 0 when the program
/// finished as the tutorial's would, 1 on a runtime error, 2 on bad arguments. The
/// `sockref` binary and `sockcheck reference` both run this, so the suites drive it.
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
            addr,
        }) => match crate::run(program, role, addr) {
            Ok(()) => 0,
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
    let mut text =
        String::from("usage: sockref <program-id> <server|client> [--addr HOST:PORT]\n\nprograms:");
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
    let mut addr = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|arg| format!("argument {arg:?} is not valid UTF-8"))?;
        if arg == "-h" || arg == "--help" {
            return Ok(Command::Help);
        }
        let value = if arg == "--addr" {
            let value = args.next().ok_or("`--addr` needs a value: HOST:PORT")?;
            value
                .into_string()
                .map_err(|value| format!("address {value:?} is not valid UTF-8"))?
        } else if let Some(value) = arg.strip_prefix("--addr=") {
            value.to_owned()
        } else if arg.starts_with('-') {
            return Err(format!("unknown option `{arg}`"));
        } else {
            positional.push(arg);
            continue;
        };
        if addr.is_some() {
            return Err("`--addr` given twice".to_owned());
        }
        addr = Some(parse_addr(&value)?);
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
    Ok(Command::Run {
        program: program.id,
        role,
        addr,
    })
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
            addr,
        }) = parse_strs(&["echo3", "client", "--addr", "127.0.0.1:9999"])
        else {
            panic!("not parsed");
        };
        assert_eq!((program, role), ("echo3", Role::Client));
        assert_eq!(addr, Some("127.0.0.1:9999".parse().unwrap()));
        let Ok(Command::Run { addr, .. }) = parse_strs(&["--addr=[::1]:80", "echo1", "server"])
        else {
            panic!("not parsed");
        };
        assert_eq!(addr, Some("[::1]:80".parse().unwrap()));
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
        assert!(message(&["echo1", "server", "--addr", "nowhere"]).contains("invalid address"));
        assert_eq!(message(&["echo1", "server", "-x"]), "unknown option `-x`");
    }
}
