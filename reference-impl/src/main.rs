//! `sockref <program-id> <server|client> [--addr HOST:PORT] [OPTIONS]`: runs one role of
//! one program of the library; the command line lives in [`sockref::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(sockref::cli::main(std::env::args_os().skip(1).collect()))
}
