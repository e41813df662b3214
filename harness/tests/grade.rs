//! `sockcheck grade` on a small class through the command line: the summary is right, a
//! grading interrupted halfway and started again checks each submission once and ends with
//! the same summary, shards merged give the summary of one run, and a submission that
//! tries to run a classmate's server finds the classmate's folder empty.

mod common;

use assert_cmd::Command;
use std::path::Path;
use std::time::{Duration, Instant};

fn sockcheck() -> Command {
    common::cheapest_python();
    Command::new(common::sockcheck_exe())
}

/// The summary the class below must get, checked by hand: alice and carol hand in the
/// corrected echo1 (every case passes), and so does ben, whose server takes 2 s to start
/// (so that an interrupt lands while he is graded); bob's server echoes without upper-casing (its
/// three server cases fail, as its expect.toml in the corpus says) and his manifest gives
/// no client (two cases not passed); erin's manifest names a program that does not exist;
/// mallory's server runs alice's from the class folder, where namespaces hide it (then it
/// exits 1 at once and fails its three cases; no client either).
const SUMMARY: &str = "student,echo1,passed,total,score,error\n\
alice,5/5 pass,5,5,1.000,\n\
ben,5/5 pass,5,5,1.000,\n\
bob,0/5 fail,0,5,0.000,\n\
carol,5/5 pass,5,5,1.000,\n\
erin,,0,0,0,\"sockcheck.toml: unknown program `echo9` (known: echo1, echo2, echo3, \
framed-header, framed-low, recv-block, recv-eof, recv-partial, rexec1, rexec2, sticky1, sticky2, \
udp-chat, udp-hello)\"\n";

/// mallory's row where the case has a mount namespace (the class folder hidden).
const MALLORY_HIDDEN: &str = "mallory,0/5 fail,0,5,0.000,\n";

/// The server of a student who runs a classmate's, found where the class folder is.
fn mallory_server(class: &Path) -> String {
    format!(
        "import sys\ntry:\n    code = open({:?}).read()\nexcept OSError as e:\n    \
         print('no access:', e, file=sys.stderr)\n    sys.exit(1)\nexec(code)\n",
        class.join("alice/echo1_server.py").display().to_string()
    )
}

fn class() -> tempfile::TempDir {
    // Not under /tmp, which every case's own /tmp covers anyway: the hiding is the test.
    let class = tempfile::Builder::new()
        .prefix("class-")
        .tempdir_in(common::root().join("target"))
        .expect("temp dir");
    let corpus = common::root().join("fixtures/students");
    for student in ["alice", "carol"] {
        let dir = class.path().join(student);
        std::fs::create_dir(&dir).expect("mkdir");
        for file in ["echo1_server.py", "echo1_client.py"] {
            std::fs::copy(corpus.join("corrected").join(file), dir.join(file)).expect("copy");
        }
    }
    let ben = class.path().join("ben");
    std::fs::create_dir(&ben).expect("mkdir");
    let server = std::fs::read_to_string(corpus.join("corrected/echo1_server.py")).expect("read");
    std::fs::write(
        ben.join("echo1_server.py"),
        format!("import time\ntime.sleep(2)\n{server}"),
    )
    .expect("write");
    std::fs::copy(
        corpus.join("corrected/echo1_client.py"),
        ben.join("echo1_client.py"),
    )
    .expect("copy");
    let bob = class.path().join("bob");
    std::fs::create_dir(&bob).expect("mkdir");
    for file in ["echo1_server.py", "sockcheck.toml"] {
        std::fs::copy(corpus.join("echo1-no-upper").join(file), bob.join(file)).expect("copy");
    }
    let erin = class.path().join("erin");
    std::fs::create_dir(&erin).expect("mkdir");
    std::fs::write(
        erin.join("sockcheck.toml"),
        "[echo9]\nserver = \"python3 s.py\"\n",
    )
    .expect("write");
    let mallory = class.path().join("mallory");
    std::fs::create_dir(&mallory).expect("mkdir");
    std::fs::write(
        mallory.join("echo1_server.py"),
        mallory_server(class.path()),
    )
    .expect("write");
    std::fs::write(
        mallory.join("sockcheck.toml"),
        "[echo1]\nserver = \"python3 echo1_server.py\"\n",
    )
    .expect("write");
    class
}

fn template(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("template.toml");
    std::fs::write(
        &path,
        "[echo1]\nserver = \"python3 echo1_server.py\"\nclient = \"python3 echo1_client.py\"\n",
    )
    .expect("write");
    path
}

fn grade(class: &Path, out: &Path, extra: &[&str]) -> String {
    let result = sockcheck()
        .arg("grade")
        .arg(class)
        .arg("--manifest")
        .arg(template(out.parent().expect("a parent")))
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&result.stdout).into_owned();
    assert_eq!(
        result.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&result.stderr)
    );
    text
}

fn summary(out: &Path) -> String {
    std::fs::read_to_string(out.join("summary.csv")).expect("a summary")
}

#[test]
fn a_class_is_graded_resumed_after_an_interrupt_and_sharded() {
    let class = class();
    let work = tempfile::tempdir().expect("temp dir");

    // Interrupted once alice's result is kept: started again, it checks the rest only.
    let out = work.path().join("out");
    let mut first = std::process::Command::new(common::sockcheck_exe());
    first
        .arg("grade")
        .arg(class.path())
        .arg("--manifest")
        .arg(template(work.path()))
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    common::cheapest_python();
    let mut child = first.spawn().expect("spawns");
    // Its line about alice comes once her result is written: read as it comes.
    let stdout = child.stdout.take().expect("piped");
    let (lines, said) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match said.recv_timeout(left) {
            Ok(line) if line.contains("] alice: ") => break,
            Ok(_) => {}
            Err(_) => panic!("no line about alice within 60 s"),
        }
    }
    assert!(
        out.join("alice/result.json").is_file(),
        "alice's result is written before her line"
    );
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::INT,
    );
    let status = child.wait().expect("reaped");
    assert_eq!(status.code(), Some(130), "interrupted while ben was graded");
    assert!(
        !out.join("ben/result.json").exists(),
        "ben's grading was not finished"
    );
    let again = grade(class.path(), &out, &[]);
    let lines: Vec<&str> = again.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(lines.len(), 6, "{again}");
    // A line per submission, in the order they finish.
    let line_of = |name: &str| {
        let tag = format!("] {name}: ");
        *lines
            .iter()
            .find(|l| l.contains(&tag))
            .expect("a line per student")
    };
    assert!(line_of("alice").contains("graded before, kept"), "{again}");
    assert!(line_of("ben").ends_with("ben: 5/5 cases passed"), "{again}");
    assert!(summary(&out).starts_with(SUMMARY), "{}", summary(&out));
    let mallory = std::fs::read_to_string(out.join("mallory/report.txt")).expect("a report");
    if again.contains("isolation: namespaces") {
        assert!(summary(&out).ends_with(MALLORY_HIDDEN), "{}", summary(&out));
        assert!(mallory.contains("no access: [Errno 2]"), "{mallory}");
    } else {
        println!("SKIPPED here: no mount namespace to hide the class folder in");
    }
    assert!(
        line_of("bob").contains("bob: 0/5 cases passed; not passed: echo1 (fail)"),
        "{again}"
    );
    assert!(
        line_of("erin").contains("not checked: sockcheck.toml: unknown program `echo9`"),
        "{again}"
    );
    assert!(out.join("bob/report.txt").is_file() && out.join("bob/report.json").is_file());
    // Every format per student, and for the class: its JUnit (a suite per student, a case
    // per program) and its HTML index (student × program, linking to each student's).
    assert!(out.join("bob/junit.xml").is_file() && out.join("bob/gradescope.json").is_file());
    let bob_html = std::fs::read_to_string(out.join("bob/html/index.html")).expect("bob's");
    assert!(
        bob_html.contains("<th scope=\"row\" id=\"echo1\">"),
        "{bob_html}"
    );
    let class_junit = std::fs::read_to_string(out.join("junit.xml")).expect("the class's");
    assert_eq!(
        class_junit.matches("<testsuite ").count(),
        6,
        "{class_junit}"
    );
    assert!(
        class_junit.contains("0 of 5 cases passed (worst: fail); the cases: bob/junit.xml"),
        "{class_junit}"
    );
    assert!(class_junit.contains("not checked: sockcheck.toml: unknown program `echo9`"));
    let schema = common::root().join("harness/tests/data/junit.xsd");
    let valid = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(out.join("junit.xml"))
        .output()
        .expect("xmllint runs (Debian: apt-get install libxml2-utils; .ci/run installs it)");
    assert!(
        valid.status.success(),
        "the class's junit.xml validates: {}",
        String::from_utf8_lossy(&valid.stderr)
    );
    let class_html = std::fs::read_to_string(out.join("index.html")).expect("the class's");
    assert!(
        class_html.contains("<a href=\"bob/html/index.html#echo1\">0/5</a>"),
        "{class_html}"
    );
    assert!(class_html.contains("<a href=\"ben/html/index.html\">ben</a>"));

    // Once more: nothing is checked again, and the summary is the same.
    let before = summary(&out);
    let third = grade(class.path(), &out, &[]);
    assert_eq!(third.matches("graded before, kept").count(), 6, "{third}");
    assert_eq!(summary(&out), before);

    // Two shards, merged: the summary of one run.
    let mut parts = Vec::new();
    for k in 1..=2 {
        let part = work.path().join(format!("shard{k}"));
        grade(class.path(), &part, &["--shard", &format!("{k}/2")]);
        parts.push(part);
    }
    let merged = work.path().join("merged");
    let result = sockcheck()
        .args(["grade", "--out"])
        .arg(&merged)
        .arg("--merge")
        .args(&parts)
        .output()
        .expect("runs");
    assert_eq!(result.status.code(), Some(0));
    assert_eq!(summary(&merged), summary(&out));
}
