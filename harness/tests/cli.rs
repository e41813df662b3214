//! The `sockcheck` command line as a user meets it: exit statuses, the summary line, the
//! JSON report, and clear errors for bad input.

mod common;

use assert_cmd::Command;
use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

fn sockcheck() -> Command {
    Command::new(common::sockcheck_exe())
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cmd` expecting a refusal before any case: exit status 2, nothing on stdout, and
/// one line on stderr, `sockcheck: ...`, which is returned.
fn refused(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}{}", stdout_of(&out));
    assert_eq!(stdout_of(&out), "", "nothing runs before a refusal");
    assert!(
        err.starts_with("sockcheck: ") && err.lines().count() == 1,
        "one line: {err}"
    );
    err
}

/// A folder that would take 65 MiB to copy: a sparse file, whose length is what counts.
fn big_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::File::create(dir.path().join("video.mp4"))
        .and_then(|f| f.set_len(65 << 20))
        .expect("a sparse file");
    dir
}

/// The folder as sockcheck names it (the current folder comes back canonical).
fn shown(dir: &Path) -> String {
    dir.canonicalize().expect("canonical").display().to_string()
}

#[test]
fn the_reference_passes_every_suite_without_reaching_a_deadline() {
    // No wall-clock bound (a loaded machine stretches any run): a passing run that waited
    // only for its declared silence windows reached no deadline, and the summary says so.
    let out = sockcheck().arg("run").output().expect("runs");
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let catalog = common::catalog();
    let cases: usize = catalog.suites.iter().map(|s| s.cases.len()).sum();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("PASS ")).count(),
        cases,
        "{text}"
    );
    let silence: Duration = catalog
        .suites
        .iter()
        .flat_map(|s| s.cases.iter().map(|c| c.silence()))
        .sum();
    assert!(silence > Duration::ZERO);
    let summary = text.lines().last().unwrap_or_default();
    assert!(
        summary.contains(&format!("{cases} cases: {cases} passed"))
            && summary.contains(&format!(
                "declared silence windows: {:.2}s",
                silence.as_secs_f64()
            ))
            && summary.contains("deadlines reached: 0"),
        "{summary}"
    );
}

#[test]
fn json_report_has_one_entry_per_case_with_the_documented_fields() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("out.json");
    let sample = common::root().join("fixtures/students/tutorial");
    let out = sockcheck()
        .args(["run", "echo2", "--dir"])
        .arg(&sample)
        .arg("--json")
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", stdout_of(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("written")).expect("JSON");
    let results = report["results"].as_array().expect("results");
    assert_eq!(
        results.len(),
        common::catalog().suite("echo2").expect("echo2").cases.len()
    );
    for r in results {
        for key in [
            "program",
            "role",
            "case",
            "verdict",
            "duration_ms",
            "hint",
            "message",
        ] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
    }
    let half_close = results
        .iter()
        .find(|r| r["case"] == "server-half-close")
        .expect("the half-close case");
    assert_eq!(half_close["verdict"], "fail");
    assert_eq!(half_close["role"], "server");
    assert_eq!(half_close["hint"], "eof-loop");
    let case = |name: &str| {
        results
            .iter()
            .find(|r| r["case"] == name)
            .unwrap_or_else(|| panic!("the case {name}"))
    };
    let stdin_ends = case("client-stdin");
    assert_eq!(stdin_ends["role"], "client");
    assert_eq!(stdin_ends["verdict"], "non-strict");
    assert_eq!(stdin_ends["hint"], "stdin-eof-traceback");
    // The tutorial's client prints b'' after the server closed and goes back to input(),
    // where the end of its stdin ends it with the same tolerated traceback.
    let server_closes = case("client-server-closes-first");
    assert_eq!(server_closes["verdict"], "non-strict");
    assert_eq!(server_closes["hint"], "stdin-eof-traceback");
}

#[test]
fn the_same_hard_coded_server_runs_twice_in_a_row() {
    // The tutorial's echo1 server closes first and sets no SO_REUSEADDR: on a shared
    // loopback its second run would fail with "address already in use" for a minute.
    let sample = common::root().join("fixtures/students/tutorial");
    for _ in 0..2 {
        let out = sockcheck()
            .args(["run", "echo1", "--dir"])
            .arg(&sample)
            .output()
            .expect("runs");
        let text = stdout_of(&out);
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(!text.contains("already in use"), "{text}");
    }
}

#[test]
fn bad_invocations_exit_2_and_say_what_was_wrong() {
    let empty = tempfile::tempdir().expect("temp dir");
    let bad_manifest = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        bad_manifest.path().join("sockcheck.toml"),
        "[echo9]\nserver = \"x\"\n",
    )
    .expect("write");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["run".into(), "echo9".into()],
            "unknown program `echo9`",
        ),
        (
            vec!["run".into(), "--server".into(), "python3 s.py".into()],
            "check one program",
        ),
        (
            vec![
                "run".into(),
                "--dir".into(),
                empty.path().display().to_string(),
            ],
            "sockcheck.toml",
        ),
        (
            vec![
                "run".into(),
                "--dir".into(),
                bad_manifest.path().display().to_string(),
            ],
            "unknown program `echo9`",
        ),
        (
            vec!["run".into(), "--addr".into(), "nowhere".into()],
            "nowhere",
        ),
        (vec!["frobnicate".into()], "frobnicate"),
    ];
    for (args, needle) in cases {
        let out = sockcheck().args(&args).output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn a_failing_program_from_the_command_line_exits_1_with_a_hint() {
    let sample = common::root().join("fixtures/students/tutorial");
    let out = sockcheck()
        .current_dir(&sample)
        .args(["run", "echo3", "--server", "python3 echo3_server.py"])
        .output()
        .expect("runs");
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("hint [eof-loop]"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("SKIPPED ")),
        "the client cases are skipped: {text}"
    );
    assert!(text.contains("+ read-end c1 => \"SB\""), "{text}");
    // Into a pipe, nothing is coloured; the table per program says where the failures are.
    assert!(!text.contains('\x1b'), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with("echo3         server"))
        .expect("a row for echo3's server");
    assert!(
        row.split_whitespace().nth(5) != Some("0"),
        "its FAIL column counts failures: {row}"
    );
    // Asked for, the verdicts and the diff are coloured; NO_COLOR does not overrule it.
    let coloured = sockcheck()
        .current_dir(&sample)
        .env("NO_COLOR", "1")
        .args([
            "run",
            "echo3",
            "--server",
            "python3 echo3_server.py",
            "--color",
            "always",
        ])
        .output()
        .expect("runs");
    let text = stdout_of(&coloured);
    assert!(text.contains("\x1b[1m\x1b[31mFAIL"), "{text}");
    assert!(text.contains("\x1b[32m+ read-end c1 => \"SB\""), "{text}");
}

#[test]
fn list_names_every_program_and_case() {
    let out = sockcheck().arg("list").output().expect("runs");
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0));
    for suite in &common::catalog().suites {
        assert!(text.contains(&suite.info.id), "{text}");
        for case in &suite.cases {
            assert!(text.contains(&case.name), "{text}");
        }
    }
}

#[test]
fn a_program_with_no_case_for_the_given_role_is_refused() {
    let err = refused(sockcheck().args(["run", "recv-block", "--client", "python3 c.py"]));
    assert!(
        err.contains("recv-block has no client cases") && err.contains("--server"),
        "{err}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("sockcheck.toml"),
        "[recv-block]\nclient = \"python3 c.py\"\n",
    )
    .expect("write");
    let err = refused(sockcheck().args(["run", "--dir"]).arg(dir.path()));
    assert!(
        err.contains("recv-block has no client cases") && err.contains("`server = "),
        "{err}"
    );
}

#[test]
fn an_empty_command_is_refused() {
    let err = refused(sockcheck().args(["run", "echo1", "--server", ""]));
    assert!(err.contains("--server is an empty command"), "{err}");
    let err = refused(sockcheck().args(["run", "echo1", "--client", "   "]));
    assert!(err.contains("--client is an empty command"), "{err}");
}

#[test]
fn timeout_and_jobs_out_of_range_are_refused_naming_the_range() {
    for (flag, value, range) in [
        ("--timeout", "0", "1 to 600 seconds"),
        ("--timeout", "601", "1 to 600 seconds"),
        ("--timeout", "18446744073709551615", "1 to 600 seconds"),
        ("--jobs", "0", "1 to 64"),
        ("--jobs", "65", "1 to 64"),
    ] {
        let err = refused(sockcheck().args(["run", "echo1", flag, value]));
        assert!(err.contains(flag) && err.contains(range), "{err}");
    }
}

#[test]
fn a_json_path_that_cannot_be_written_is_refused_before_the_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no/such/folder/x.json");
    let err = refused(sockcheck().args(["run", "echo1", "--json"]).arg(&missing));
    assert!(
        err.contains(&missing.display().to_string()) && err.contains("No such file"),
        "{err}"
    );
    let err = refused(sockcheck().args(["run", "echo1", "--json"]).arg(dir.path()));
    assert!(
        err.contains(&dir.path().display().to_string()) && err.contains("directory"),
        "{err}"
    );
}

#[test]
fn a_folder_too_large_to_copy_is_refused_before_the_first_case() {
    let big = big_folder();
    std::fs::write(
        big.path().join("sockcheck.toml"),
        "[echo1]\nserver = \"python3 s.py\"\n",
    )
    .expect("write");
    let from_dir = refused(sockcheck().args(["run", "--dir"]).arg(big.path()));
    let from_cwd = refused(sockcheck().current_dir(big.path()).args([
        "run",
        "echo1",
        "--server",
        "python3 s.py",
    ]));
    for (err, folder) in [
        (from_dir, big.path().display().to_string()),
        (from_cwd, shown(big.path())),
    ] {
        assert!(err.contains(&folder), "{err}");
        assert!(
            err.contains("65.0 MiB") && err.contains("64 MiB"),
            "size and limit: {err}"
        );
        assert!(
            err.contains(".git, __pycache__, target, node_modules, .venv"),
            "{err}"
        );
    }
}

#[test]
fn a_case_run_from_the_temp_folder_does_not_copy_its_own_copy() {
    // Cases run in `$TMPDIR/sockcheck-iut-*`: with TMPDIR inside the current folder (as
    // when sockcheck runs from /tmp), every copy lies inside the folder it copies.
    let here = tempfile::tempdir().expect("temp dir");
    std::fs::write(here.path().join("server.py"), "print('hi')\n").expect("write");
    // The program cannot write outside its folder, so it says what it found by its exit
    // status: 4 if a case folder was copied into its own, else 3.
    let command =
        "test -z \"$(find . -name 'sockcheck-iut-*')\" || exit 4; python3 -c 'import sys; sys.exit(3)'";
    let out = sockcheck()
        .current_dir(here.path())
        .env("TMPDIR", here.path())
        .args(["run", "echo1", "--server", command])
        .output()
        .expect("runs");
    let text = stdout_of(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.lines().any(|l| l.starts_with("ERROR ")),
        "every copy is made and the cases run: {text}"
    );
    assert!(
        text.contains("(status 3)"),
        "the server command ran: {text}"
    );
    assert!(
        !text.contains("(status 4)"),
        "case folders were copied into a case's folder: {text}"
    );
}

/// Runs sockcheck with its stdout a pipe closed at once; returns its exit status and
/// stderr, or fails if it does not end within a minute.
fn with_stdout_closed(args: &[&str]) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(common::sockcheck_exe())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    drop(child.stdout.take());
    let mut stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    // Its stderr ends when it exits, which the channel's deadline bounds.
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(err) => (child.wait().expect("waits").code(), err),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still runs a minute after its stdout was closed");
        }
    }
}

#[test]
fn a_closed_stdout_ends_list_and_run_quietly() {
    for args in [&["list"][..], &["run", "recv-partial"]] {
        let (code, err) = with_stdout_closed(args);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(err, "", "{args:?}");
        assert_eq!(code, Some(0), "{args:?}: {err}");
    }
}

#[test]
fn a_failing_program_that_prints_megabyte_lines_gets_a_report_of_excerpts() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Megabyte lines on stdout and stderr, a megabyte reply instead of HELLO.
    std::fs::write(
        dir.path().join("loud.py"),
        "import socket, sys\n\
         big = 'y' * (2 << 20)\n\
         print(big); print(big)\n\
         s = socket.socket(); s.bind(('127.0.0.1', 8080)); s.listen(5)\n\
         c, _ = s.accept(); d = c.recv(1024)\n\
         print(d.decode() + big, flush=True)\n\
         sys.stderr.write('E' * (2 << 20) + '\\n'); sys.stderr.flush()\n\
         c.sendall(bytes(range(256)) * 4096); c.close(); s.close()\n",
    )
    .expect("write");
    let json = dir.path().join("out.json");
    let out = sockcheck()
        .current_dir(dir.path())
        .args(["run", "echo1", "--server", "python3 loud.py", "--json"])
        .arg(&json)
        .output()
        .expect("runs");
    let text = stdout_of(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        &text[..text.len().min(4000)]
    );
    let longest = text.lines().map(str::len).max().unwrap_or(0);
    assert!(longest <= 2000, "a report line of {longest} characters");
    assert!(text.contains("bytes)"), "excerpts say their full size");
    let json_len = std::fs::metadata(&json).expect("written").len();
    assert!(json_len < 8 << 10, "JSON of {json_len} bytes");
}

#[test]
fn demo_sticky1_shows_the_leftover_coming_out_of_the_second_read_every_time() {
    let without_times = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| match l.trim_start().split_once("s  ") {
                Some((time, rest)) if time.parse::<f64>().is_ok() => rest.to_string(),
                _ => l.to_string(),
            })
            .collect()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let out = sockcheck()
            .args(["demo", "sticky1"])
            .output()
            .expect("runs");
        let text = stdout_of(&out);
        assert_eq!(out.status.code(), Some(0), "{text}");
        runs.push(without_times(&text));
    }
    assert_eq!(runs[0], runs[1], "the same timeline every run");
    let reads: Vec<&String> = runs[0]
        .iter()
        .filter(|l| l.starts_with("read c1"))
        .collect();
    assert_eq!(reads.len(), 3, "{:?}", runs[0]);
    assert!(
        reads[1].starts_with("read c1 1024 => \"284\\n") && !reads[1].contains("NEW OUTPUT"),
        "the second read returns leftover bytes of the first reply: {}",
        reads[1]
    );
    assert!(reads[2].contains("NEW OUTPUT"), "{}", reads[2]);
    let unknown = sockcheck().args(["demo", "echo1"]).output().expect("runs");
    assert_eq!(unknown.status.code(), Some(2));
}
