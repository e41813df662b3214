//! The `sockcheck` binary: the command line lives in the library ([`sockcheck::cli`]).

fn main() -> std::process::ExitCode {
    sockcheck::cli::main()
}
