//! The report files of one run agree: `--json`, `--junit`, `--gradescope` and `--html`,
//! written by one `sockcheck run --dir`, count the same cases with the same verdicts. The JUnit file
//! validates against the JUnit XSD (`tests/data/junit.xsd`, with xmllint), which refuses a
//! file that strays from it; the Gradescope file has every field its specification reads,
//! each program's points are its manifest's `weight` (a point a case without one), and the
//! total is the sum of the tests' scores. Hints and the report's fixed words follow
//! `--lang`, else the locale (`LANG=zh_CN.UTF-8`: Chinese).

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn xmllint(schema: &Path, file: &Path) -> std::process::Output {
    Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .arg(file)
        .output()
        .expect("xmllint runs (Debian: apt-get install libxml2-utils; .ci/run installs it)")
}

/// `<name ... attr="N"` of the first `<name ` element, as a number.
fn attribute(xml: &str, element: &str, attr: &str) -> u64 {
    let start = xml.find(&format!("<{element} ")).expect("the element");
    let tag = &xml[start..start + xml[start..].find('>').expect("its end")];
    let key = format!(" {attr}=\"");
    let at = tag.find(&key).unwrap_or_else(|| panic!("{attr} in {tag}")) + key.len();
    tag[at..at + tag[at..].find('"').expect("quoted")]
        .parse()
        .expect("a number")
}

#[test]
fn one_run_writes_json_junit_gradescope_and_html_that_agree() {
    common::cheapest_python();
    let work = tempfile::tempdir().expect("a temp folder");
    // A course's copy of echo: passes, non-strict cases and failures; echo2 worth 10 points.
    let sample = work.path().join("sample");
    std::fs::create_dir(&sample).expect("mkdir");
    let from = common::root().join("fixtures/students/course-upper-echo");
    for entry in std::fs::read_dir(&from).expect("the sample").flatten() {
        std::fs::copy(entry.path(), sample.join(entry.file_name())).expect("copies");
    }
    let manifest = std::fs::read_to_string(sample.join("sockcheck.toml")).expect("manifest");
    let manifest = manifest.replace("[echo2]\n", "[echo2]\nweight = 10\n");
    std::fs::write(sample.join("sockcheck.toml"), manifest).expect("writes");
    std::fs::remove_file(sample.join("expect.toml")).expect("removes");
    let (json, junit, gradescope, html) = (
        work.path().join("a.json"),
        work.path().join("j.xml"),
        work.path().join("g.json"),
        work.path().join("out"),
    );
    let run = Command::new(common::sockcheck_exe())
        .args(["run", "--dir"])
        .arg(&sample)
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .arg("--gradescope")
        .arg(&gradescope)
        .arg("--html")
        .arg(&html)
        .output()
        .expect("sockcheck runs");
    assert_eq!(
        run.status.code(),
        Some(1),
        "the sample fails some cases: {}",
        String::from_utf8_lossy(&run.stderr)
    );

    // The JSON report: the reference for the others.
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("a.json")).expect("JSON");
    assert_eq!(report["schema"], 1);
    let results = report["results"].as_array().expect("results");
    let verdicts: Vec<&str> = results
        .iter()
        .map(|r| r["verdict"].as_str().expect("a verdict"))
        .collect();
    let count = |v: &str| verdicts.iter().filter(|w| **w == v).count() as u64;
    assert_eq!(results.len(), 20);
    assert!(count("fail") > 0 && count("non-strict") > 0 && count("pass") > 0);

    // JUnit: the same counts, and valid against the schema.
    let xml = std::fs::read_to_string(&junit).expect("j.xml");
    assert_eq!(attribute(&xml, "testsuites", "tests"), results.len() as u64);
    assert_eq!(attribute(&xml, "testsuites", "failures"), count("fail"));
    assert_eq!(attribute(&xml, "testsuites", "errors"), count("error"));
    assert_eq!(xml.matches("<testcase ").count(), results.len());
    assert_eq!(xml.matches("<failure ").count() as u64, count("fail"));
    // A suite per program and role: echo1-3, each with both roles.
    assert_eq!(xml.matches("<testsuite ").count(), 6);
    let schema = common::root().join("harness/tests/data/junit.xsd");
    let checked = xmllint(&schema, &junit);
    assert!(
        checked.status.success(),
        "j.xml does not validate: {}",
        String::from_utf8_lossy(&checked.stderr)
    );
    // The check can fail: an element the schema does not know is refused.
    let strayed = work.path().join("strayed.xml");
    std::fs::write(&strayed, xml.replacen("<testcase ", "<testcas ", 1)).expect("writes");
    assert!(!xmllint(&schema, &strayed).status.success());

    // Gradescope: a test per case, its fields, the weights, the total.
    let g: Value =
        serde_json::from_str(&std::fs::read_to_string(&gradescope).expect("g.json")).expect("JSON");
    let tests = g["tests"].as_array().expect("tests");
    assert_eq!(tests.len(), results.len());
    let mut points: BTreeMap<String, f64> = BTreeMap::new();
    let mut total = 0.0;
    for (t, r) in tests.iter().zip(results) {
        for field in ["name", "status", "output", "output_format", "visibility"] {
            assert!(t[field].is_string(), "{field} of {t}");
        }
        let (score, max) = (
            t["score"].as_f64().expect("score"),
            t["max_score"].as_f64().expect("max_score"),
        );
        let passed = matches!(r["verdict"].as_str(), Some("pass" | "non-strict"));
        assert_eq!(t["status"], if passed { "passed" } else { "failed" });
        assert_eq!(score, if passed { max } else { 0.0 }, "{t}");
        *points
            .entry(r["program"].as_str().expect("program").to_string())
            .or_default() += max;
        total += score;
    }
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert!(close(points["echo2"], 10.0), "{points:?}");
    assert!(
        close(points["echo1"], 5.0) && close(points["echo3"], 6.0),
        "{points:?}"
    );
    assert!(close(g["score"].as_f64().expect("score"), total));
    assert_eq!(
        tests.iter().filter(|t| t["status"] == "passed").count() as u64,
        count("pass") + count("non-strict")
    );

    // HTML: a cell per case in the index, coloured by its verdict, and a page per case
    // with its verdict and, where it failed, the divergence drawn.
    let index = std::fs::read_to_string(html.join("index.html")).expect("index.html");
    assert_eq!(index.matches("<a class=\"cell ").count(), results.len());
    for v in ["pass", "non-strict", "fail", "error", "skipped"] {
        assert_eq!(
            index.matches(&format!("<a class=\"cell v-{v}\"")).count() as u64,
            count(v),
            "{v}"
        );
    }
    for r in results {
        let name = format!(
            "{}-{}-{}.html",
            r["program"].as_str().expect("program"),
            r["role"].as_str().expect("role"),
            r["case"].as_str().expect("case")
        );
        let page = std::fs::read_to_string(html.join("cases").join(&name)).expect(&name);
        let verdict = r["verdict"].as_str().expect("verdict");
        assert!(
            page.contains(&format!("<span class=\"verdict v-{verdict}\">")),
            "{name}"
        );
        assert_eq!(
            page.contains("id=\"divergence\""),
            verdict == "fail",
            "{name}: the divergence is drawn where the case failed"
        );
    }
}

#[test]
fn hints_and_fixed_words_follow_the_locale_or_lang() {
    use sockcheck::hints::{Hint, Lang};
    common::cheapest_python();
    let sample = common::root().join("fixtures/students/course-upper-echo");
    let work = tempfile::tempdir().expect("a temp folder");
    let html = |lang: Option<&str>| work.path().join(lang.unwrap_or("locale"));
    let run = |lang: Option<&str>| {
        let mut command = Command::new(common::sockcheck_exe());
        command
            .args(["run", "echo2", "--dir"])
            .arg(&sample)
            .arg("--html")
            .arg(html(lang))
            .env_remove("SOCKCHECK_LANG")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env("LANG", "zh_CN.UTF-8");
        if let Some(lang) = lang {
            command.args(["--lang", lang]);
        }
        let out = command.output().expect("sockcheck runs");
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let chinese = run(None);
    let hint = Hint::StdinEofTraceback;
    assert!(
        chinese.contains(&format!("提示 [{}]: {}", hint.id(), hint.text_in(Lang::Zh))),
        "{chinese}"
    );
    assert!(chinese.contains("共 9 个用例"), "{chinese}");
    let english = run(Some("en"));
    assert!(
        english.contains(&format!("hint [{}]: {}", hint.id(), hint.text_in(Lang::En))),
        "{english}"
    );
    assert!(english.contains("9 cases: "), "{english}");
    // The HTML report follows the same choice.
    let index = |lang| std::fs::read_to_string(html(lang).join("index.html")).expect("index");
    assert!(index(None).contains("<h1>sockcheck 报告</h1>") && index(None).contains("失败"));
    assert!(index(Some("en")).contains("<h1>sockcheck report</h1>"));
}

#[test]
fn the_gradescope_autograder_runs_as_gradescope_lays_it_out() {
    common::cheapest_python();
    let root = tempfile::tempdir().expect("a temp folder");
    let autograder = root.path().join("autograder");
    let (source, submission, bin) = (
        autograder.join("source"),
        autograder.join("submission"),
        root.path().join("bin"),
    );
    std::fs::create_dir_all(&submission).expect("mkdir");
    std::fs::create_dir_all(&bin).expect("mkdir");
    // The student hands in the programs only; the course's manifest is the autograder's.
    let sample = common::root().join("fixtures/students/course-upper-echo");
    for entry in std::fs::read_dir(&sample).expect("the sample").flatten() {
        if entry.path().extension().is_some_and(|e| e == "py") {
            std::fs::copy(entry.path(), submission.join(entry.file_name())).expect("copies");
        }
    }
    let init = |dir: &Path| {
        Command::new(common::sockcheck_exe())
            .args(["gradescope", "init"])
            .arg(dir)
            .arg("--manifest")
            .arg(sample.join("sockcheck.toml"))
            .output()
            .expect("sockcheck runs")
    };
    // Unzipped, the autograder's files are /autograder/source.
    let made = init(&source);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(String::from_utf8_lossy(&made.stdout).contains("zip -r ../autograder.zip ."));
    let again = init(&source);
    assert_eq!(
        again.status.code(),
        Some(2),
        "a folder that holds one is refused"
    );

    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let setup = Command::new(source.join("setup.sh"))
        .env("SOCKCHECK_BIN_DIR", &bin)
        .output()
        .expect("setup.sh runs");
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    assert!(bin.join("sockcheck").is_file());
    let graded = Command::new(source.join("run_autograder"))
        .env("AUTOGRADER", &autograder)
        .env("PATH", path)
        .output()
        .expect("run_autograder runs");
    assert!(
        graded.status.success(),
        "{}",
        String::from_utf8_lossy(&graded.stderr)
    );

    let g: Value = serde_json::from_str(
        &std::fs::read_to_string(autograder.join("results/results.json")).expect("results.json"),
    )
    .expect("JSON");
    let tests = g["tests"].as_array().expect("tests");
    assert_eq!(tests.len(), 20, "every case of echo1-3, both roles");
    let passed = tests.iter().filter(|t| t["status"] == "passed").count() as f64;
    // A point a case: the score counts the passed (and non-strict) cases, neither none
    // nor all (the sample's servers fail against the bundled suites).
    assert_eq!(g["score"].as_f64(), Some(passed));
    assert!(passed > 0.0 && passed < 20.0, "{passed}");
}
