//! `sockcheck gradescope init DIR`: a Gradescope autograder a teacher zips and uploads as
//! is. `setup.sh` installs this very binary and Python; `run_autograder` checks
//! `/autograder/submission` (with the course's manifest where the student gave none, and
//! the course's suites folder if any) and writes `/autograder/results/results.json`.

use super::*;

#[derive(clap::Args)]
pub(super) struct GradescopeInitArgs {
    /// The folder to write the autograder into (made if missing; must hold none yet).
    dir: PathBuf,
    /// The manifest for submissions that have no sockcheck.toml of their own.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// A course's suites folder, copied into the autograder.
    #[arg(long)]
    suites: Option<PathBuf>,
}

#[derive(Subcommand)]
pub(super) enum GradescopeCommand {
    /// Write a Gradescope autograder (setup.sh, run_autograder, this binary) into DIR.
    Init(GradescopeInitArgs),
}

/// Installs the binary beside it and Python. `SOCKCHECK_BIN_DIR` is where the binary goes
/// (Gradescope: /usr/local/bin); a machine with python3 already skips apt-get.
const SETUP: &str = r#"#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
install -m 755 "$here/sockcheck" "${SOCKCHECK_BIN_DIR:-/usr/local/bin}/sockcheck"
if ! command -v python3 > /dev/null; then
    apt-get update -qq && apt-get install -y -qq python3 > /dev/null
fi
"#;

/// Checks the submission and writes results.json; `AUTOGRADER` is Gradescope's root
/// (`/autograder`), which a test points elsewhere.
const RUN: &str = r#"#!/usr/bin/env bash
# Gradescope runs this for every submission.
set -uo pipefail
root="${AUTOGRADER:-/autograder}"
source="$root/source"
cd "$root/submission"
if [ ! -f sockcheck.toml ] && [ -f "$source/sockcheck.toml" ]; then
    cp "$source/sockcheck.toml" .
fi
suites=()
if [ -d "$source/suites" ]; then
    suites=(--suites "$source/suites")
fi
mkdir -p "$root/results"
sockcheck run --dir . "${suites[@]}" --gradescope "$root/results/results.json"
status=$?
# 0: all passed, 1: some failed (the scores say which); anything else is a problem that
# left no results: tell the student in the file Gradescope shows.
if [ "$status" -gt 1 ] || [ ! -s "$root/results/results.json" ]; then
    printf '{"score": 0, "output": "sockcheck could not check this submission (exit status %s): see the autograder output", "tests": []}\n' "$status" \
        > "$root/results/results.json"
fi
exit 0
"#;

pub(super) fn gradescope(command: GradescopeCommand, out: &Out) -> Result<u8, String> {
    let GradescopeCommand::Init(args) = command;
    let dir = &args.dir;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make `{}`: {e}", dir.display()))?;
    for name in [
        "setup.sh",
        "run_autograder",
        "sockcheck",
        "sockcheck.toml",
        "suites",
    ] {
        if dir.join(name).exists() {
            return Err(format!(
                "`{}` already holds `{name}`: write the autograder into a new folder",
                dir.display()
            ));
        }
    }
    if let Some(path) = &args.manifest {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let catalog = catalog(args.suites.as_deref())?;
        manifest::parse(&text, &catalog.ids()).map_err(|e| format!("`{}`: {e}", path.display()))?;
        write(&dir.join("sockcheck.toml"), &text, false)?;
    }
    if let Some(suites) = &args.suites {
        // Refused here if stale, as `run --suites` would refuse it on every submission.
        catalog(Some(suites))?;
        let to = dir.join("suites");
        std::fs::create_dir_all(&to)
            .and_then(|()| workdir::copy_tree(suites, &to))
            .map_err(|e| format!("cannot copy `{}`: {e}", suites.display()))?;
    }
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find this program's path: {e}"))?;
    std::fs::copy(&exe, dir.join("sockcheck"))
        .map_err(|e| format!("cannot copy `{}`: {e}", exe.display()))?;
    write(&dir.join("setup.sh"), SETUP, true)?;
    write(&dir.join("run_autograder"), RUN, true)?;
    out.line(&format!(
        "wrote a Gradescope autograder into `{}`; zip its contents (not the folder) and upload the zip:",
        dir.display()
    ));
    out.line(&format!(
        "  (cd {} && zip -r ../autograder.zip .)",
        shlex::try_quote(&dir.display().to_string()).unwrap_or_default()
    ));
    Ok(0)
}

fn write(path: &std::path::Path, text: &str, executable: bool) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}
