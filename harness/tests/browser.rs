//! The HTML report in a real browser (Debian's `chromium`, headless; `.ci/run` installs
//! it). One `sockcheck run --html` of a failing sample; a checking page loads the report's
//! index and the failing case's page in frames and measures what they show (the matrix's
//! cells, the sequence diagram, the divergence drawn inside it in red, the hint, the text
//! alternative); then a screenshot of the failing case is kept as an artefact
//! (`target/artefacts/browser/`) and its pixels must hold the divergence's red line.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The browser, as Debian names it.
const CHROMIUM: &str = "chromium";
/// The divergence line's colour (`#d50000` in the report's style).
const DIVERGENCE_RGB: [u8; 3] = [0xd5, 0x00, 0x00];

/// Where the screenshots are kept: `target/artefacts/browser/`.
fn artefacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target/")
        .join("artefacts/browser");
    std::fs::create_dir_all(&dir).expect("the artefacts folder");
    dir
}

/// Headless chromium with `args`, killed if it takes more than a minute.
fn chromium(args: &[&str], url: &str) -> std::process::Output {
    let profile = tempfile::tempdir().expect("a profile folder");
    let output = assert_cmd::Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            // A container's /dev/shm is often 64 MiB, too small for chromium's renderer.
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap_or_else(|e| {
            panic!("{CHROMIUM} runs (Debian: apt-get install chromium; .ci/run installs it): {e}")
        });
    assert!(
        output.status.success(),
        "{CHROMIUM} failed ({:?}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The checking page: the report's index and one case in frames, and a script that
/// measures them once everything loaded and writes what it found, as JSON, into the page.
fn checker(case_page: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html><body><pre id="result">pending</pre>
<iframe id="index" src="out/index.html" width="1100" height="900"></iframe>
<iframe id="case" src="out/cases/{case_page}" width="1100" height="1400"></iframe>
<script>
window.addEventListener('load', () => {{
  const out = {{}};
  const shown = (e) => {{ const b = e.getBoundingClientRect(); return b.width > 0 && b.height > 0; }};
  try {{
    const idx = document.getElementById('index').contentDocument;
    const cells = [...idx.querySelectorAll('table.matrix a.cell')];
    out.cells = cells.length;
    out.shown_cells = cells.filter(shown).length;
    out.cell_verdicts = cells.map(a => [...a.classList].find(c => c.startsWith('v-')));
    const frame = document.getElementById('case');
    const doc = frame.contentDocument, win = frame.contentWindow;
    const svg = doc.querySelector('svg.sequence');
    const sb = svg.getBoundingClientRect();
    out.svg = [sb.width, sb.height];
    out.svg_title = doc.getElementById(svg.getAttribute('aria-labelledby')).textContent;
    const described = doc.getElementById(svg.getAttribute('aria-describedby'));
    out.described_by_list = described !== null && described.tagName === 'OL';
    out.arrows = svg.querySelectorAll('g.event line').length;
    const d = doc.getElementById('divergence');
    const db = d.getBoundingClientRect();
    out.divergence_inside = db.height > 0 && db.top >= sb.top && db.bottom <= sb.bottom;
    out.divergence_bottom = db.bottom + win.scrollY;
    out.divergence_colour = win.getComputedStyle(d.querySelector('line')).stroke;
    out.divergence_text = d.textContent;
    const hint = doc.getElementById('hint');
    out.hint = hint && shown(hint) ? hint.textContent : null;
    out.text_items = doc.querySelectorAll('ol.events li').length;
    out.text_divergence = doc.querySelectorAll('ol.events li.divergence').length;
  }} catch (e) {{ out.error = String(e); }}
  document.getElementById('result').textContent = JSON.stringify(out);
}});
</script></body></html>"#
    )
}

/// What the checking page wrote, from the DOM the browser dumped.
fn measured(dom: &str) -> Value {
    let start = dom.find("<pre id=\"result\">").expect("the result element") + 17;
    let text = &dom[start..start + dom[start..].find("</pre>").expect("its end")];
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("the page's result ({e}): {text}"))
}

/// Pixels of `png` within a few units of `rgb`.
fn pixels_of(png: &Path, rgb: [u8; 3]) -> usize {
    let decoder = png::Decoder::new(std::fs::File::open(png).expect("the screenshot"));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("its pixels");
    let step = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        other => panic!("an unexpected PNG colour type {other:?}"),
    };
    buf[..info.buffer_size()]
        .chunks(step)
        .filter(|p| (0..3).all(|i| p[i].abs_diff(rgb[i]) <= 8))
        .count()
}

#[test]
fn the_report_shows_the_matrix_and_a_failing_case_with_its_divergence() {
    common::cheapest_python();
    let work = tempfile::tempdir().expect("a temp folder");
    let (out, json) = (work.path().join("out"), work.path().join("a.json"));
    let sample = common::root().join("fixtures/students/echo2-client-loops-on-empty");
    let run = assert_cmd::Command::new(common::sockcheck_exe())
        .args(["run", "--lang", "en", "--dir"])
        .arg(&sample)
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&out)
        .timeout(Duration::from_secs(120))
        .output()
        .expect("sockcheck runs");
    assert_eq!(run.status.code(), Some(1), "the sample fails a case");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("a.json")).expect("JSON");
    let results = report["results"].as_array().expect("results");
    let failing = results
        .iter()
        .find(|r| r["verdict"] == "fail")
        .expect("a failing case");
    let case_page = format!(
        "{}-{}-{}.html",
        failing["program"].as_str().expect("program"),
        failing["role"].as_str().expect("role"),
        failing["case"].as_str().expect("case")
    );
    // The step the run diverged at, from the message: "step 12 `read-end c1`: ...".
    let message = failing["message"].as_str().expect("a message");
    let step = message
        .strip_prefix("step ")
        .and_then(|m| m.split(' ').next())
        .expect("the failing step's number");

    let check = work.path().join("check.html");
    std::fs::write(&check, checker(&case_page)).expect("writes the checking page");
    let dom = chromium(
        &[
            "--allow-file-access-from-files",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ],
        &file_url(&check),
    );
    let seen = measured(&String::from_utf8_lossy(&dom.stdout));
    assert!(
        seen.get("error").is_none(),
        "the page could not be measured: {seen}"
    );

    // The matrix: a cell per case, each shown, coloured by the JSON report's verdict.
    assert_eq!(seen["cells"], results.len(), "{seen}");
    assert_eq!(seen["shown_cells"], results.len(), "{seen}");
    let classes: Vec<String> = results
        .iter()
        .map(|r| format!("v-{}", r["verdict"].as_str().expect("verdict")))
        .collect();
    let mut drawn: Vec<String> = seen["cell_verdicts"]
        .as_array()
        .expect("the cells' verdicts")
        .iter()
        .map(|v| v.as_str().expect("a class").to_string())
        .collect();
    let mut wanted = classes.clone();
    drawn.sort();
    wanted.sort();
    assert_eq!(drawn, wanted);

    // The failing case: a diagram with arrows, the divergence inside it, red, at its step.
    assert!(seen["svg"][0].as_f64().expect("width") > 500.0, "{seen}");
    assert!(seen["arrows"].as_u64().expect("arrows") >= 5, "{seen}");
    assert!(
        seen["svg_title"]
            .as_str()
            .expect("a title")
            .contains(failing["case"].as_str().expect("case")),
        "{seen}"
    );
    assert_eq!(seen["divergence_inside"], true, "{seen}");
    assert_eq!(seen["divergence_colour"], "rgb(213, 0, 0)", "{seen}");
    let text = seen["divergence_text"].as_str().expect("its text");
    assert!(text.contains(&format!("at step {step}:")), "{text}");
    // The hint, shown, and the text alternative with the divergence in it.
    let hint = failing["hint"].as_str().expect("the case has a hint");
    assert!(
        seen["hint"].as_str().is_some_and(|h| h.contains(hint)),
        "{seen}"
    );
    assert_eq!(seen["text_divergence"], 1, "{seen}");
    assert_eq!(seen["described_by_list"], true, "{seen}");
    assert!(seen["text_items"].as_u64().expect("items") >= 6, "{seen}");

    // The screenshot, tall enough for the divergence, kept; its red line is in it.
    let height = (seen["divergence_bottom"].as_f64().expect("where") as u64 + 200).max(1200);
    let shot = artefacts().join("failing-case.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &[
            &format!("--window-size=1100,{height}"),
            &format!("--screenshot={}", shot.display()),
        ],
        &file_url(&out.join("cases").join(&case_page)),
    );
    let red = pixels_of(&shot, DIVERGENCE_RGB);
    assert!(
        red > 500,
        "the screenshot {} has {red} pixels of the divergence's red",
        shot.display()
    );
    let index_shot = artefacts().join("index.png");
    chromium(
        &[
            "--window-size=1100,900",
            &format!("--screenshot={}", index_shot.display()),
        ],
        &file_url(&out.join("index.html")),
    );
    assert!(index_shot.is_file());
}
