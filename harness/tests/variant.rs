//! A course's variant end to end through the command line: `variant init` writes the
//! upper-casing echo suites and records their fixtures, a course's server passes them and
//! fails the bundled suites, a folder changed by hand is refused until it is recorded
//! again, and `record` refuses a solution that ends or exits otherwise than SPEC.md says.

mod common;

use assert_cmd::Command;
use std::path::Path;

fn sockcheck() -> Command {
    common::cheapest_python();
    Command::new(common::sockcheck_exe())
}

/// The corrected echo2 server as most courses copy it: the reply upper-cased, no `SB`.
const UPPER_ECHO2_SERVER: &str = r#"import socket
phone = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
phone.bind(('127.0.0.1', 8080))
phone.listen(5)
conn, client_addr = phone.accept()
while True:
    try:
        data = conn.recv(1024)
        if not data:
            break
        print(data.decode('utf-8'))
        conn.send(data.upper())
    except ConnectionResetError:
        break
conn.close()
phone.close()
"#;

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_upper_server(suites: Option<&Path>, dir: &Path) -> std::process::Output {
    let mut cmd = sockcheck();
    cmd.current_dir(dir).arg("run").arg("echo2");
    if let Some(suites) = suites {
        cmd.arg("--suites").arg(suites);
    }
    cmd.args(["--server", "python3 server.py", "--timeout", "2"])
        .output()
        .expect("runs")
}

#[test]
fn a_course_variant_is_made_checked_against_and_kept_honest() {
    let course = tempfile::tempdir().expect("temp dir");
    let folder = course.path().join("course");
    let out = sockcheck()
        .args(["variant", "init"])
        .arg(&folder)
        .args(["echo1", "echo2", "echo3", "--set", "echo2.reply=upper"])
        .args([
            "--set",
            "echo3.reply=upper",
            "--set",
            "echo1.addr=127.0.0.1:9090",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The course's fixtures say what SPEC.md says, with the course's reply: checked by
    // hand against the bundled one (`read c1 => "oneSB"`).
    let fixture =
        std::fs::read_to_string(folder.join("fixtures/echo2/server-close.snap")).expect("recorded");
    assert!(fixture.contains("read c1 => \"ONE\"\n"), "{fixture}");
    assert!(fixture.contains("exit => 0"), "{fixture}");
    let toml = std::fs::read_to_string(folder.join("suites/echo2/program.toml")).expect("toml");
    assert!(toml.contains("reply = \"upper\""), "{toml}");
    assert!(folder.join("suites/echo2/COVERAGE.md").is_file());
    // The course's address: the reference recorded there, and `list` says it.
    let echo1 = std::fs::read_to_string(folder.join("suites/echo1/program.toml")).expect("toml");
    assert!(echo1.contains("addr = \"127.0.0.1:9090\""), "{echo1}");
    assert!(folder.join("fixtures/echo1/server-upper.snap").is_file());
    let listed = sockcheck()
        .args(["list", "--suites"])
        .arg(&folder)
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("127.0.0.1:9090"));

    let student = tempfile::tempdir().expect("temp dir");
    std::fs::write(student.path().join("server.py"), UPPER_ECHO2_SERVER).expect("write");
    let variant = run_upper_server(Some(&folder), student.path());
    assert_eq!(variant.status.code(), Some(0), "{}", text(&variant));
    let bundled = run_upper_server(None, student.path());
    assert_eq!(bundled.status.code(), Some(1), "{}", text(&bundled));
    assert!(
        text(&bundled).lines().any(|l| l.starts_with("FAIL ")),
        "{}",
        text(&bundled)
    );

    // A word changed by hand: the folder is refused until it is recorded again.
    let changed = toml.replace("reply = \"upper\"", "reply = \"upper suffix !\"");
    std::fs::write(folder.join("suites/echo2/program.toml"), changed).expect("write");
    let stale = run_upper_server(Some(&folder), student.path());
    assert_eq!(stale.status.code(), Some(2), "{}", text(&stale));
    let err = String::from_utf8_lossy(&stale.stderr);
    assert!(err.contains("are stale"), "{err}");
    assert!(
        err.contains("record them again: sockcheck record --suites"),
        "{err}"
    );
    let out = sockcheck()
        .args(["record", "--suites"])
        .arg(&folder)
        .arg("echo2")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Now the server, which does not append `!`, really is wrong for this course.
    let wrong = run_upper_server(Some(&folder), student.path());
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));
    assert!(text(&wrong).contains("\"ONE!\""), "{}", text(&wrong));

    // The teacher's own solution records the server cases, once it agrees with itself
    // and ends as SPEC.md says; one that exits 1 at the end is refused, naming the line.
    let solution = tempfile::tempdir().expect("temp dir");
    let exits_1 = UPPER_ECHO2_SERVER.replace("data.upper()", "data.upper() + b'!'")
        + "import sys\nsys.exit(1)\n";
    std::fs::write(solution.path().join("server.py"), exits_1).expect("write");
    let before =
        std::fs::read_to_string(folder.join("fixtures/echo2/server-close.snap")).expect("fixture");
    let out = sockcheck()
        .current_dir(solution.path())
        .args(["record", "--suites"])
        .arg(&folder)
        .args(["echo2", "--server", "python3 server.py"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing was recorded"), "{err}");
    assert!(
        err.contains("`exit => 1` where SPEC.md's reference gives `exit => 0`"),
        "{err}"
    );
    let after =
        std::fs::read_to_string(folder.join("fixtures/echo2/server-close.snap")).expect("fixture");
    assert_eq!(before, after, "a refused recording writes nothing");
}

#[test]
fn variant_init_refuses_what_it_cannot_write_and_writes_nothing() {
    let course = tempfile::tempdir().expect("temp dir");
    let folder = course.path().join("course");
    let refusal = |args: &[&str]| {
        let out = sockcheck()
            .args(["variant", "init"])
            .arg(&folder)
            .args(args)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(!folder.exists(), "nothing written for {args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(refusal(&["echo9"]).contains("unknown program `echo9`"));
    assert!(refusal(&["echo2", "--set", "echo2.rply=upper"])
        .contains("echo2 has no word `rply` (its words: reply, and `addr`)"));
    assert!(refusal(&["echo2", "--set", "recv-eof.x=1"])
        .contains("`recv-eof` is not among the programs written"));
    assert!(
        refusal(&["echo2", "--set", "echo2.reply=lower"]).contains("`lower` is not an echo reply")
    );
    assert!(refusal(&["echo2", "--set", "echo2"]).contains("PROGRAM.WORD=VALUE"));
    // A suite that includes another's cases brings that suite along.
    let out = sockcheck()
        .args(["variant", "init"])
        .arg(&folder)
        .arg("sticky1")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(folder.join("suites/rexec1/program.toml").is_file());
    assert!(folder
        .join("fixtures/rexec1/server-one-line.snap")
        .is_file());
    let again = sockcheck()
        .args(["variant", "init"])
        .arg(&folder)
        .arg("rexec1")
        .output()
        .expect("runs");
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists: nothing was written"));
    let listed = sockcheck()
        .args(["list", "--suites"])
        .arg(&folder)
        .output()
        .expect("runs");
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed));
    assert!(String::from_utf8_lossy(&listed.stdout).starts_with("rexec1  ("));
}
