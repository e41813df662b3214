//! The HTML report (`--html DIR`): static pages that open from disk, with no server, no
//! script and no network. An index matrix (program × case, coloured by verdict and written
//! in words), and a page per case that draws the conversation as an SVG sequence diagram
//! (the peer and the program as lifelines) with a text alternative, the transcript against
//! the fixture, the hint and the stderr tail. `grade` adds a class index (student ×
//! program). Everything is drawn from the engine's per-case record: nothing is re-parsed.

use super::{verdict_word, IsolationInfo};
use crate::batch::CaseResult;
use crate::engine::Verdict;
use crate::fixture::ARROW;
use crate::grade::StudentResult;
use crate::hints::{language, Lang};
use crate::payload;
use crate::session::End;
use crate::trace::{Entry, Event};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// The pages' fixed words in the run's language.
struct Words {
    report: &'static str,
    class: &'static str,
    program: &'static str,
    role: &'static str,
    cases: &'static str,
    passed: &'static str,
    student: &'static str,
    total: &'static str,
    not_checked: &'static str,
    back: &'static str,
    peer: &'static str,
    the_program: &'static str,
    diagram: &'static str,
    as_text: &'static str,
    transcript: &'static str,
    fixture: &'static str,
    this_run: &'static str,
    not_run: &'static str,
    hint: &'static str,
    stderr: &'static str,
    notes: &'static str,
    command: &'static str,
    duration: &'static str,
    expected: &'static str,
    got: &'static str,
    not_drawn: &'static str,
    not_kept: &'static str,
    no_events: &'static str,
    started: &'static str,
    exited: &'static str,
    opened: &'static str,
    segment: &'static str,
    recv: &'static str,
    bytes: &'static str,
    stdin: &'static str,
    stdin_closed: &'static str,
    stdout: &'static str,
    lines: &'static str,
    datagram: &'static str,
    program_fin: &'static str,
    program_rst: &'static str,
    peer_half_close: &'static str,
    peer_close: &'static str,
    peer_rst: &'static str,
}

fn words() -> &'static Words {
    match language() {
        Lang::En => &Words {
            report: "sockcheck report",
            class: "sockcheck: the class",
            program: "program",
            role: "role",
            cases: "cases",
            passed: "passed",
            student: "student",
            total: "total",
            not_checked: "not checked",
            back: "all cases",
            peer: "sockcheck (the peer)",
            the_program: "the program",
            diagram: "The conversation",
            as_text: "The conversation, as text",
            transcript: "Transcript against the fixture",
            fixture: "fixture (expected)",
            this_run: "this run",
            not_run: "(not run)",
            hint: "Hint",
            stderr: "stderr (last lines)",
            notes: "Notes",
            command: "command",
            duration: "duration",
            expected: "expected",
            got: "this run",
            not_drawn: "events not drawn",
            not_kept: "earlier events not kept",
            no_events: "nothing happened on the wire",
            started: "program started",
            exited: "program exited",
            opened: "connection opened",
            segment: "segment",
            recv: "recv returned",
            bytes: "bytes",
            stdin: "stdin",
            stdin_closed: "stdin closed (end of input)",
            stdout: "stdout",
            lines: "line(s)",
            datagram: "datagram",
            program_fin: "FIN: the program closed (recv gives b'')",
            program_rst: "RST: the program reset the connection",
            peer_half_close: "FIN: the peer half-closed (shutdown SHUT_WR)",
            peer_close: "FIN: the peer closed",
            peer_rst: "RST: the peer reset the connection",
        },
        Lang::Zh => &Words {
            report: "sockcheck 报告",
            class: "sockcheck：全班",
            program: "程序",
            role: "角色",
            cases: "用例",
            passed: "通过",
            student: "学生",
            total: "合计",
            not_checked: "未检查",
            back: "全部用例",
            peer: "sockcheck（对端）",
            the_program: "你的程序",
            diagram: "通信过程",
            as_text: "通信过程（文字）",
            transcript: "记录与预期对照",
            fixture: "预期",
            this_run: "本次运行",
            not_run: "（未运行）",
            hint: "提示",
            stderr: "stderr（最后几行）",
            notes: "注",
            command: "命令",
            duration: "用时",
            expected: "预期",
            got: "本次",
            not_drawn: "个事件未画出",
            not_kept: "个较早的事件未保留",
            no_events: "网络上什么也没有发生",
            started: "程序启动",
            exited: "程序退出",
            opened: "连接建立",
            segment: "报文段",
            recv: "recv 返回",
            bytes: "字节",
            stdin: "标准输入",
            stdin_closed: "标准输入关闭（输入结束）",
            stdout: "标准输出",
            lines: "行",
            datagram: "数据报",
            program_fin: "FIN：程序关闭了连接（recv 返回 b''）",
            program_rst: "RST：程序重置了连接",
            peer_half_close: "FIN：对端半关闭（shutdown SHUT_WR）",
            peer_close: "FIN：对端关闭",
            peer_rst: "RST：对端重置了连接",
        },
    }
}

/// Writes a run's report into `dir`: `index.html` and `cases/<program>-<role>-<case>.html`.
pub fn write(
    dir: &Path,
    results: &[CaseResult],
    info: &IsolationInfo,
    summary: &str,
) -> Result<(), String> {
    let cases = dir.join("cases");
    std::fs::create_dir_all(&cases)
        .map_err(|e| format!("cannot make `{}`: {e}", cases.display()))?;
    let save = |path: &Path, text: String| {
        std::fs::write(path, text).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
    };
    save(&dir.join("index.html"), index(results, info, summary))?;
    for r in results {
        save(&cases.join(case_file(r)), case_page(r))?;
    }
    Ok(())
}

/// The page of one case's file name: its program, role and case, kept to safe characters.
pub fn case_file(r: &CaseResult) -> String {
    let name: String = format!("{}-{}-{}", r.program, r.role, r.case)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}.html")
}

/// The run's index: a row per program and role, a cell per case.
fn index(results: &[CaseResult], info: &IsolationInfo, summary: &str) -> String {
    let w = words();
    let mut body = String::new();
    let _ = writeln!(body, "<h1>{}</h1>", w.report);
    let _ = writeln!(body, "<p class=\"meta\">{}</p>", esc(&info.line()));
    let _ = writeln!(body, "<p class=\"summary\">{}</p>", esc(summary));
    let mut rows: BTreeMap<(String, String), Vec<&CaseResult>> = BTreeMap::new();
    for r in results {
        rows.entry((r.program.clone(), r.role.to_string()))
            .or_default()
            .push(r);
    }
    let _ = writeln!(
        body,
        "<table class=\"matrix\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
         <th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        w.program, w.role, w.passed, w.cases
    );
    let mut last_program = None;
    for ((program, role), cases) in &rows {
        let passed = cases
            .iter()
            .filter(|r| matches!(r.outcome.verdict, Verdict::Pass | Verdict::NonStrict))
            .count();
        // The class index links to a program's first row.
        let anchor = if last_program != Some(program) {
            format!(" id=\"{}\"", esc(program))
        } else {
            String::new()
        };
        last_program = Some(program);
        let _ = write!(
            body,
            "<tr><th scope=\"row\"{anchor}>{}</th><td>{}</td><td class=\"count\">{passed}/{}</td><td><ul class=\"cells\">",
            esc(program),
            esc(role),
            cases.len()
        );
        for r in cases {
            let _ = write!(
                body,
                "<li><a class=\"cell v-{}\" href=\"cases/{}\" title=\"{}\">{}<span>{} · {:.2} s</span></a></li>",
                r.outcome.verdict.word(),
                esc(&case_file(r)),
                esc(&r.about),
                esc(&r.case),
                esc(&verdict_word(r.outcome.verdict)),
                r.outcome.duration.as_secs_f64()
            );
        }
        let _ = writeln!(body, "</ul></td></tr>");
    }
    let _ = writeln!(body, "</tbody></table>");
    page(w.report, &body)
}

/// The class's index: a row per student, a cell per program (its cases passed), each
/// student's name linking to their own report (`<student>/html/index.html`).
pub fn class_index(students: &[StudentResult]) -> String {
    let w = words();
    let programs: Vec<&String> = {
        let mut all: Vec<&String> = students.iter().flat_map(|s| s.programs.keys()).collect();
        all.sort();
        all.dedup();
        all
    };
    let mut body = String::new();
    let _ = writeln!(body, "<h1>{}</h1>", w.class);
    let _ = write!(
        body,
        "<table class=\"matrix class\"><thead><tr><th scope=\"col\">{}</th>",
        w.student
    );
    for p in &programs {
        let _ = write!(body, "<th scope=\"col\">{}</th>", esc(p));
    }
    let _ = writeln!(
        body,
        "<th scope=\"col\">{}</th></tr></thead><tbody>",
        w.total
    );
    for s in students {
        let link = format!("{}/html/index.html", percent(&s.student));
        let _ = write!(body, "<tr><th scope=\"row\">");
        match &s.error {
            Some(_) => {
                let _ = write!(body, "{}", esc(&s.student));
            }
            None => {
                let _ = write!(body, "<a href=\"{}\">{}</a>", esc(&link), esc(&s.student));
            }
        }
        let _ = write!(body, "</th>");
        if let Some(error) = &s.error {
            let _ = writeln!(
                body,
                "<td colspan=\"{}\" class=\"cell v-error\">{}: {}</td></tr>",
                programs.len() + 1,
                w.not_checked,
                esc(error)
            );
            continue;
        }
        for p in &programs {
            match s.programs.get(*p) {
                Some(score) => {
                    let _ = write!(
                        body,
                        "<td class=\"cell v-{}\"><a href=\"{}#{}\">{}/{}</a></td>",
                        esc(&score.verdict),
                        esc(&link),
                        esc(p),
                        score.passed,
                        score.total
                    );
                }
                None => {
                    let _ = write!(body, "<td class=\"cell v-skipped\">—</td>");
                }
            }
        }
        let _ = writeln!(
            body,
            "<td class=\"count\">{}/{}</td></tr>",
            s.passed(),
            s.total()
        );
    }
    let _ = writeln!(body, "</tbody></table>");
    page(w.class, &body)
}

/// One case's page.
fn case_page(r: &CaseResult) -> String {
    let w = words();
    let title = format!("{} {} {}", r.program, r.role, r.case);
    let mut body = String::new();
    let _ = writeln!(body, "<p><a href=\"../index.html\">← {}</a></p>", w.back);
    let _ = writeln!(
        body,
        "<h1>{} <span class=\"verdict v-{}\">{}</span></h1>",
        esc(&title),
        r.outcome.verdict.word(),
        esc(&verdict_word(r.outcome.verdict))
    );
    if !r.about.is_empty() {
        let _ = writeln!(body, "<p class=\"about\">{}</p>", esc(&r.about));
    }
    let _ = writeln!(
        body,
        "<p class=\"meta\">{}: {:.3} s</p>",
        w.duration,
        r.outcome.duration.as_secs_f64()
    );
    if let Some(m) = &r.outcome.message {
        let _ = writeln!(body, "<p class=\"message\">{}</p>", esc(m));
    }
    if let Some(hint) = r.outcome.hint {
        let _ = writeln!(
            body,
            "<div class=\"hint\" id=\"hint\"><strong>{} [{}]</strong>: {}</div>",
            w.hint,
            hint.id(),
            esc(hint.text())
        );
    }
    let diagram = Diagram::of(r);
    let _ = writeln!(body, "<h2>{}</h2>", w.diagram);
    let _ = writeln!(body, "<figure>{}</figure>", diagram.svg(&title));
    let _ = writeln!(body, "<h2>{}</h2>", w.as_text);
    body.push_str(&diagram.text_list());
    transcript_table(r, &mut body);
    if !r.outcome.stderr_tail.trim().is_empty() {
        let _ = writeln!(
            body,
            "<h2>{}</h2><pre class=\"stderr\">{}</pre>",
            w.stderr,
            esc(&r.outcome.stderr_tail)
        );
    }
    if !r.outcome.notes.is_empty() {
        let _ = writeln!(body, "<h2>{}</h2><ul>", w.notes);
        for note in &r.outcome.notes {
            let _ = writeln!(body, "<li>{}</li>", esc(note));
        }
        let _ = writeln!(body, "</ul>");
    }
    if let Some(cmd) = &r.command {
        let _ = writeln!(
            body,
            "<p class=\"meta\">{}: <code>{}</code></p>",
            w.command,
            esc(cmd)
        );
    }
    page(&title, &body)
}

/// The transcript beside the fixture, a row per step; the row where they part is marked.
fn transcript_table(r: &CaseResult, body: &mut String) {
    let w = words();
    let run = &r.outcome.transcript;
    let expected = r.expected.as_deref().unwrap_or(&[]);
    if run.is_empty() && expected.is_empty() {
        return;
    }
    let _ = writeln!(
        body,
        "<h2>{}</h2><table class=\"transcript\"><thead><tr><th scope=\"col\">#</th>\
         <th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        w.transcript, w.fixture, w.this_run
    );
    for i in 0..run.len().max(expected.len()).min(MAX_TRANSCRIPT_ROWS) {
        let (want, got) = (expected.get(i), run.get(i));
        let differs = r.expected.is_some() && got.is_some() && want != got;
        let _ = writeln!(
            body,
            "<tr{}><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
            if differs { " class=\"differs\"" } else { "" },
            i + 1,
            want.map(|l| esc(&clip(l, 300))).unwrap_or_default(),
            got.map(|l| esc(&clip(l, 300)))
                .unwrap_or_else(|| w.not_run.to_string())
        );
    }
    let _ = writeln!(body, "</tbody></table>");
}

/// Which way an event goes between the lifelines.
#[derive(Clone, Copy, PartialEq)]
enum Way {
    ToProgram,
    ToPeer,
    Both,
    /// A note on the program's lifeline (started, exited).
    Note,
}

/// One row of the diagram.
enum Row {
    Event {
        at: Duration,
        way: Way,
        /// Its CSS class: `tcp`, `stdio`, `udp`, `fin`, `rst`, `note`.
        kind: &'static str,
        text: String,
    },
    /// Where the run left the fixture.
    Divergence {
        at: Duration,
        text: String,
        detail: String,
    },
    /// Events left out here.
    Gap(String),
}

/// A case's conversation, as rows to draw and to list.
struct Diagram {
    rows: Vec<Row>,
}

/// Rows drawn at most: the first and the last are kept around a gap.
const MAX_ROWS: usize = 160;
const HEAD_ROWS: usize = 40;
/// Characters of a label, and of a transcript line, shown.
const LABEL_CHARS: usize = 84;
const MAX_TRANSCRIPT_ROWS: usize = 400;

impl Diagram {
    fn of(r: &CaseResult) -> Diagram {
        let w = words();
        let mut offsets: HashMap<(String, bool), usize> = HashMap::new();
        let mut rows: Vec<Row> = r
            .outcome
            .events
            .iter()
            .map(|e| event_row(e, &mut offsets, w))
            .collect();
        if let Some((step, at)) = r.outcome.divergence {
            let place = r.outcome.events.iter().take_while(|e| e.at <= at).count();
            let line = |lines: Option<&[String]>| {
                lines
                    .and_then(|l| l.get(step))
                    .map(|l| l.split(ARROW).nth(1).unwrap_or(l).to_string())
            };
            let written = r
                .outcome
                .transcript
                .get(step)
                .map(|l| l.split(ARROW).next().unwrap_or(l).to_string())
                .unwrap_or_default();
            let detail = match (
                line(r.expected.as_deref()),
                line(Some(&r.outcome.transcript)),
            ) {
                (Some(want), Some(got)) => {
                    format!("{}: {want} · {}: {got}", w.expected, w.got)
                }
                _ => r.outcome.message.clone().unwrap_or_default(),
            };
            rows.insert(
                place,
                Row::Divergence {
                    at,
                    text: match language() {
                        Lang::En => format!(
                            "✗ diverged from the fixture at step {}: {written}",
                            step + 1
                        ),
                        Lang::Zh => format!("✗ 第 {} 步与预期不符：{written}", step + 1),
                    },
                    detail,
                },
            );
        }
        if r.outcome.events_dropped > 0 {
            rows.insert(
                0,
                Row::Gap(format!("… {} {} …", r.outcome.events_dropped, w.not_kept)),
            );
        }
        if rows.len() > MAX_ROWS {
            // Keep the start and the end (where a failure is); the divergence stays drawn.
            let tail = MAX_ROWS - HEAD_ROWS;
            let cut = rows.len() - HEAD_ROWS - tail;
            let keep_from = rows.len() - tail;
            let divergence_in_cut = rows[HEAD_ROWS..keep_from]
                .iter()
                .position(|row| matches!(row, Row::Divergence { .. }));
            let mut kept: Vec<Row> = Vec::with_capacity(MAX_ROWS + 2);
            let mut rest = rows.into_iter();
            kept.extend(rest.by_ref().take(HEAD_ROWS));
            let cut_rows: Vec<Row> = rest.by_ref().take(cut).collect();
            let divergence = divergence_in_cut.map(|i| &cut_rows[i]);
            kept.push(Row::Gap(format!("… {cut} {} …", w.not_drawn)));
            if let Some(Row::Divergence { at, text, detail }) = divergence {
                kept.push(Row::Divergence {
                    at: *at,
                    text: text.clone(),
                    detail: detail.clone(),
                });
            }
            kept.extend(rest);
            rows = kept;
        }
        Diagram { rows }
    }

    /// The diagram as inline SVG, with a title and a description for screen readers (the
    /// list below it says the same in full).
    fn svg(&self, title: &str) -> String {
        let w = words();
        const WIDTH: usize = 980;
        const PEER_X: usize = 230;
        const PROGRAM_X: usize = 830;
        const TOP: usize = 64;
        const ROW: usize = 34;
        let height = TOP + ROW * self.rows.len().max(1) + 24;
        let mut s = String::new();
        let _ = write!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"sequence\" width=\"{WIDTH}\" height=\"{height}\" \
             viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-labelledby=\"svg-title\" \
             aria-describedby=\"events\"><title id=\"svg-title\">{}: {}</title>",
            w.diagram,
            esc(title)
        );
        s.push_str(
            "<defs>\
             <marker id=\"head-tcp\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"9\" markerHeight=\"9\" orient=\"auto-start-reverse\"><path d=\"M0,0L10,5L0,10z\" fill=\"#1565c0\"/></marker>\
             <marker id=\"head-stdio\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"9\" markerHeight=\"9\" orient=\"auto-start-reverse\"><path d=\"M0,0L10,5L0,10z\" fill=\"#6d4c41\"/></marker>\
             <marker id=\"head-udp\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"9\" markerHeight=\"9\" orient=\"auto-start-reverse\"><path d=\"M0,0L10,5L0,10z\" fill=\"#00838f\"/></marker>\
             <marker id=\"head-fin\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"9\" markerHeight=\"9\" orient=\"auto-start-reverse\"><path d=\"M0,0L10,5L0,10z\" fill=\"#37474f\"/></marker>\
             <marker id=\"head-rst\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"9\" markerHeight=\"9\" orient=\"auto-start-reverse\"><path d=\"M0,0L10,5L0,10z\" fill=\"#c62828\"/></marker>\
             </defs>",
        );
        // The lifelines, with their names on top.
        for (x, name) in [(PEER_X, w.peer), (PROGRAM_X, w.the_program)] {
            let _ = write!(
                s,
                "<rect class=\"actor\" x=\"{}\" y=\"8\" width=\"200\" height=\"30\" rx=\"4\"/>\
                 <text class=\"actor\" x=\"{x}\" y=\"28\" text-anchor=\"middle\">{}</text>\
                 <line class=\"lifeline\" x1=\"{x}\" y1=\"38\" x2=\"{x}\" y2=\"{}\"/>",
                x - 100,
                esc(name),
                height - 8
            );
        }
        if self.rows.is_empty() {
            let _ = write!(
                s,
                "<text class=\"gap\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                WIDTH / 2,
                TOP + 20,
                w.no_events
            );
        }
        for (i, row) in self.rows.iter().enumerate() {
            let top = TOP + i * ROW;
            let (label_y, line_y) = (top + 14, top + 24);
            match row {
                Row::Event {
                    at,
                    way,
                    kind,
                    text,
                } => {
                    let _ = write!(
                        s,
                        "<g class=\"event {kind}\"><text class=\"time\" x=\"8\" y=\"{line_y}\">{:.3}s</text>",
                        at.as_secs_f64()
                    );
                    let label = esc(&clip(text, LABEL_CHARS));
                    if *way == Way::Note {
                        let width = 14 + 7 * text.chars().count().min(LABEL_CHARS);
                        let _ = write!(
                            s,
                            "<rect class=\"note\" x=\"{}\" y=\"{}\" width=\"{width}\" height=\"22\" rx=\"3\"/>\
                             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{label}</text></g>",
                            PROGRAM_X.saturating_sub(width / 2).min(WIDTH - width),
                            top + 6,
                            PROGRAM_X.min(WIDTH - width / 2),
                            top + 21
                        );
                        continue;
                    }
                    let (x1, x2) = match way {
                        Way::ToPeer => (PROGRAM_X, PEER_X),
                        _ => (PEER_X, PROGRAM_X),
                    };
                    let start = if *way == Way::Both {
                        format!(" marker-start=\"url(#head-{kind})\"")
                    } else {
                        String::new()
                    };
                    let _ = write!(
                        s,
                        "<line x1=\"{x1}\" y1=\"{line_y}\" x2=\"{x2}\" y2=\"{line_y}\" marker-end=\"url(#head-{kind})\"{start}/>\
                         <text x=\"{}\" y=\"{label_y}\" text-anchor=\"middle\">{label}</text></g>",
                        (PEER_X + PROGRAM_X) / 2
                    );
                }
                Row::Divergence { at, text, detail } => {
                    let _ = write!(
                        s,
                        "<g id=\"divergence\" class=\"divergence\"><text class=\"time\" x=\"8\" y=\"{}\">{:.3}s</text>\
                         <line x1=\"64\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>\
                         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
                         <text class=\"detail\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
                        top + 6,
                        at.as_secs_f64(),
                        top + 2,
                        WIDTH - 8,
                        top + 2,
                        WIDTH / 2,
                        top + 17,
                        esc(&clip(text, 110)),
                        WIDTH / 2,
                        top + 31,
                        esc(&clip(detail, 120))
                    );
                }
                Row::Gap(text) => {
                    let _ = write!(
                        s,
                        "<text class=\"gap\" x=\"{}\" y=\"{label_y}\" text-anchor=\"middle\">{}</text>",
                        WIDTH / 2,
                        esc(text)
                    );
                }
            }
        }
        s.push_str("</svg>");
        s
    }

    /// The same rows as an ordered list: the diagram's text alternative.
    fn text_list(&self) -> String {
        let w = words();
        let mut s = String::from("<ol class=\"events\" id=\"events\">");
        if self.rows.is_empty() {
            let _ = write!(s, "<li>{}</li>", w.no_events);
        }
        for row in &self.rows {
            match row {
                Row::Event { at, way, text, .. } => {
                    let arrow = match way {
                        Way::ToProgram => format!("{} → {}", w.peer, w.the_program),
                        Way::ToPeer => format!("{} → {}", w.the_program, w.peer),
                        Way::Both => format!("{} ↔ {}", w.peer, w.the_program),
                        Way::Note => w.the_program.to_string(),
                    };
                    let _ = write!(
                        s,
                        "<li><span class=\"time\">{:.3}s</span> {}: <code>{}</code></li>",
                        at.as_secs_f64(),
                        esc(&arrow),
                        esc(&clip(text, 400))
                    );
                }
                Row::Divergence { at, text, detail } => {
                    let _ = write!(
                        s,
                        "<li class=\"divergence\"><span class=\"time\">{:.3}s</span> <strong>{}</strong> <code>{}</code></li>",
                        at.as_secs_f64(),
                        esc(text),
                        esc(detail)
                    );
                }
                Row::Gap(text) => {
                    let _ = write!(s, "<li class=\"gap\">{}</li>", esc(text));
                }
            }
        }
        s.push_str("</ol>");
        s
    }
}

/// A trace event as a diagram row: which way, what kind, in words; `offsets` counts the
/// bytes of each connection's direction so far, so each segment and read shows its place.
fn event_row(entry: &Entry, offsets: &mut HashMap<(String, bool), usize>, w: &Words) -> Row {
    let mut span = |conn: &str, to_program: bool, n: usize| {
        let at = offsets.entry((conn.to_string(), to_program)).or_insert(0);
        let from = *at;
        *at += n;
        format!("{} {from}–{}", w.bytes, from + n)
    };
    let shown = |head: &[u8], n: usize| {
        let mut q = payload::quote(head);
        if n > head.len() {
            q.push('…');
        }
        q
    };
    let (way, kind, text) = match &entry.event {
        Event::Spawned => (Way::Note, "note", w.started.to_string()),
        Event::Exited { status } => (Way::Note, "note", format!("{}: {status}", w.exited)),
        Event::Opened { conn } => (Way::Both, "tcp", format!("{conn}: {}", w.opened)),
        Event::Wrote { to, bytes, head } if to == "stdin" => (
            Way::ToProgram,
            "stdio",
            format!("{}: {}", w.stdin, shown(head, *bytes)),
        ),
        Event::Wrote { to, bytes, head } => (
            Way::ToProgram,
            "tcp",
            format!(
                "{to}: {} ({}) {}",
                w.segment,
                span(to, true, *bytes),
                shown(head, *bytes)
            ),
        ),
        Event::Received { conn, bytes, head } => (
            Way::ToPeer,
            "tcp",
            format!(
                "{conn}: {} {} ({}) {}",
                w.recv,
                bytes,
                span(conn, false, *bytes),
                shown(head, *bytes)
            ),
        ),
        Event::Ended { conn, end } => match end {
            End::Eof => (Way::ToPeer, "fin", format!("{conn}: {}", w.program_fin)),
            End::Reset => (Way::ToPeer, "rst", format!("{conn}: {}", w.program_rst)),
        },
        Event::PeerClosed { conn, .. } if conn == "stdin" => {
            (Way::ToProgram, "stdio", w.stdin_closed.to_string())
        }
        Event::PeerClosed { conn, how } => match *how {
            "reset" => (Way::ToProgram, "rst", format!("{conn}: {}", w.peer_rst)),
            "half-closed" => (
                Way::ToProgram,
                "fin",
                format!("{conn}: {}", w.peer_half_close),
            ),
            _ => (Way::ToProgram, "fin", format!("{conn}: {}", w.peer_close)),
        },
        Event::Printed { lines, bytes, head } => (
            Way::ToPeer,
            "stdio",
            format!(
                "{}: {lines} {}, {bytes} {} {}",
                w.stdout,
                w.lines,
                w.bytes,
                shown(head, *bytes as usize)
            ),
        ),
        Event::DatagramSent {
            sock,
            to,
            bytes,
            head,
        } => (
            Way::ToProgram,
            "udp",
            format!(
                "{sock} → {to}: {} {bytes} {} {}",
                w.datagram,
                w.bytes,
                shown(head, *bytes)
            ),
        ),
        Event::DatagramReceived {
            sock,
            from,
            bytes,
            head,
        } => (
            Way::ToPeer,
            "udp",
            format!(
                "{sock} ← {from}: {} {bytes} {} {}",
                w.datagram,
                w.bytes,
                shown(head, *bytes)
            ),
        ),
    };
    Row::Event {
        at: entry.at,
        way,
        kind,
        text,
    }
}

/// A whole page: its title, the style, the body.
fn page(title: &str, body: &str) -> String {
    let lang = match language() {
        Lang::En => "en",
        Lang::Zh => "zh",
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title>\
         <style>{STYLE}</style></head><body>\n{body}</body></html>\n",
        esc(title)
    )
}

/// The pages' style: each page carries it, so a page opens alone from disk.
const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:1.5em;color:#1b1b1b;max-width:1100px}
code,pre,svg text{font-family:ui-monospace,Menlo,Consolas,monospace}
.meta{color:#555}.about{font-style:italic}
.message{background:#fdecea;border-left:4px solid #c62828;padding:.5em}
.hint{background:#fff8e1;border-left:4px solid #b58900;padding:.5em;margin:.5em 0}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.3em .5em;vertical-align:top;text-align:left}
ul.cells{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:4px}
a.cell{display:block;padding:.25em .45em;border-radius:3px;color:#fff;text-decoration:none;font-size:.85em}
a.cell span{display:block;font-size:.85em;opacity:.9}
td.cell a{color:inherit}
.v-pass{background:#2e7d32;color:#fff}.v-non-strict{background:#b58900;color:#fff}
.v-fail{background:#c62828;color:#fff}.v-error{background:#6a1b9a;color:#fff}.v-skipped{background:#757575;color:#fff}
.verdict{padding:.1em .4em;border-radius:3px;font-size:.7em;vertical-align:middle}
.count{text-align:right;white-space:nowrap}
table.transcript tr.differs td{background:#fdecea}
svg.sequence{border:1px solid #ddd;background:#fff;max-width:100%;height:auto}
svg .actor{fill:#eceff1;stroke:#37474f}svg text.actor{fill:#1b1b1b;font-weight:bold;font-size:13px}
svg .lifeline{stroke:#90a4ae;stroke-dasharray:4 4}
svg text{font-size:11px;fill:#1b1b1b}svg text.time{fill:#757575}
svg .tcp line{stroke:#1565c0}svg .stdio line{stroke:#6d4c41;stroke-dasharray:6 3}
svg .udp line{stroke:#00838f}svg .fin line{stroke:#37474f;stroke-width:2}
svg .rst line{stroke:#c62828;stroke-width:3}svg .rst text{fill:#c62828}
svg rect.note{fill:#e8f5e9;stroke:#2e7d32}
svg .divergence line{stroke:#d50000;stroke-width:3;stroke-dasharray:10 4}
svg .divergence text{fill:#d50000;font-weight:bold;font-size:12px}svg .divergence text.detail{font-weight:normal}
svg text.gap,li.gap{fill:#757575;color:#757575;font-style:italic}
ol.events li.divergence{color:#b71c1c}
";

/// Text for HTML: `&`, `<`, `>` and quotes escaped.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment for a link: everything but unreserved characters percent-encoded.
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// At most `n` characters, with `…` where the rest was cut.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_links_are_encoded() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(percent("li lei/../x"), "li%20lei%2F..%2Fx");
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("abc", 3), "abc");
    }

    #[test]
    fn offsets_count_each_direction_of_each_connection() {
        let w = words();
        let mut offsets = HashMap::new();
        let at = Duration::ZERO;
        let row = |event: Event, offsets: &mut HashMap<(String, bool), usize>| match event_row(
            &Entry { at, event },
            offsets,
            w,
        ) {
            Row::Event { text, way, .. } => (text, way),
            _ => unreachable!("an event gives an event row"),
        };
        let wrote = |n: usize| Event::Wrote {
            to: "c1".into(),
            bytes: n,
            head: vec![b'x'; n],
        };
        assert!(row(wrote(3), &mut offsets).0.contains("0–3"));
        let (text, way) = row(wrote(2), &mut offsets);
        assert!(text.contains("3–5") && way == Way::ToProgram, "{text}");
        let (text, way) = row(
            Event::Received {
                conn: "c1".into(),
                bytes: 4,
                head: b"ab".to_vec(),
            },
            &mut offsets,
        );
        assert!(text.contains("0–4") && text.contains("\"ab\"…"), "{text}");
        assert!(way == Way::ToPeer);
    }
}
