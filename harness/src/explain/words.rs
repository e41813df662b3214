//! A case in plain words: what it checks, which role the program plays, each step as one
//! numbered sentence (what the peer does, or what the program must do) beside what the
//! fixture expects there, and the hints the case declares. In English or Chinese, as the
//! run's language says; the values (bytes, lines) stay as transcripts write them.

use crate::catalog::Suite;
use crate::engine::ProgramInfo;
use crate::framing::Format;
use crate::hints::{Lang, SymptomKind};
use crate::payload;
use crate::script::{Case, DeclaredHint, Role};
use crate::session::PeerEnd;
use crate::syntax::{expand_words, Action};
use std::fmt::Write as _;

/// `explain`'s fixed words in one language (the steps' sentences are in [`step`]).
pub struct Words {
    pub about: &'static str,
    pub role_server: &'static str,
    pub role_client: &'static str,
    pub steps: &'static str,
    pub hints: &'static str,
    pub tolerated: &'static str,
    pub no_expectations: &'static str,
    pub see_run: &'static str,
    pub by_hand: &'static str,
    // The wire log of `--verbose`.
    pub run_against: &'static str,
    pub verdict: &'static str,
    pub hint: &'static str,
    pub wire_log: &'static str,
    pub dropped: &'static str,
    pub started: &'static str,
    pub opened: &'static str,
    pub peer_wrote: &'static str,
    pub program_sent: &'static str,
    pub at_offset: &'static str,
    pub printed: &'static str,
    pub lines: &'static str,
    pub program_ended: &'static str,
    pub peer_ended: &'static str,
    pub exited: &'static str,
    pub datagram: &'static str,
    pub kept: &'static str,
    pub dump_spent: &'static str,
}

pub fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &Words {
            about: "what it checks: ",
            role_server: "your program is the server, at {addr}; the peer (sockcheck) plays its clients",
            role_client: "your program is the client; the peer (sockcheck) plays its server, at {addr}",
            steps: "the steps (=> what the fixture expects: recorded from the reference, read against SPEC.md):",
            hints: "hints the case declares:",
            tolerated: "tolerated at its exit, as non-strict: ",
            no_expectations: "no expectations to show: ",
            see_run: "see every byte of a run:",
            by_hand: "play the peer by hand:",
            run_against: "run against",
            verdict: "verdict",
            hint: "hint",
            wire_log: "wire log (every chunk: -> from the peer, <- from the program; offsets count each direction of each connection from 0):",
            dropped: "older events not kept",
            started: "program started",
            opened: "opened",
            peer_wrote: "peer wrote",
            program_sent: "program sent",
            at_offset: "at offset",
            printed: "stdout",
            lines: "line(s)",
            program_ended: "program ended it",
            peer_ended: "peer",
            exited: "program exited",
            datagram: "datagram",
            kept: "bytes kept",
            dump_spent: "the hexdump stops here, 1 MiB shown: the chunks after it are listed with their offsets and sizes only",
        },
        Lang::Zh => &Words {
            about: "检查什么：",
            role_server: "你的程序是服务端，地址 {addr}；测试方（sockcheck）扮演它的客户端",
            role_client: "你的程序是客户端；测试方（sockcheck）扮演它的服务端，地址 {addr}",
            steps: "步骤（=> 预期：从参考实现录制、并按 SPEC.md 核对过的结果）：",
            hints: "用例声明的提示：",
            tolerated: "退出时容许（算作不严格）：",
            no_expectations: "没有可显示的预期：",
            see_run: "查看一次运行的每个字节：",
            by_hand: "手动扮演测试方：",
            run_against: "运行对象",
            verdict: "结果",
            hint: "提示",
            wire_log: "网络记录（每一段数据：-> 来自测试方，<- 来自程序；偏移量按每个连接的每个方向从 0 计）：",
            dropped: "更早的事件未保留",
            started: "程序启动",
            opened: "已建立",
            peer_wrote: "测试方发送",
            program_sent: "程序发送",
            at_offset: "偏移",
            printed: "标准输出",
            lines: "行",
            program_ended: "程序结束了连接",
            peer_ended: "测试方",
            exited: "程序退出",
            datagram: "数据报",
            kept: "字节已保留",
            dump_spent: "十六进制转储到此为止（已显示 1 MiB）：之后的数据块只列出偏移和大小",
        },
    }
}

/// The case in plain words, with what its fixture expects beside each step.
pub fn explain(suite: &Suite, case: &Case, lang: Lang) -> String {
    let w = words(lang);
    let info = &suite.info;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} {} ({})",
        info.id, case.role, case.name, suite.title
    );
    if !case.about.is_empty() {
        let _ = writeln!(out, "{}{}", w.about, case.about);
    }
    let role = match case.role {
        Role::Server => w.role_server,
        Role::Client => w.role_client,
    };
    let _ = writeln!(out, "{}", role.replace("{addr}", &info.addr.to_string()));
    let expected = super::expectations(suite, case);
    if let Err(why) = &expected {
        let _ = writeln!(out, "{}{why}", w.no_expectations);
    }
    let _ = writeln!(out, "{}", w.steps);
    for (i, s) in case.steps.iter().enumerate() {
        let mut line = format!("{:>4}. {}", i + 1, step(&s.action(), case.role, info, lang));
        let value = expected.as_ref().ok().and_then(|e| e[i].as_ref());
        if let Some(value) = value {
            let _ = write!(line, " => {value}");
        }
        let _ = writeln!(out, "{line}");
    }
    if !case.hints.is_empty() {
        let _ = writeln!(out, "{}", w.hints);
        for h in &case.hints {
            let _ = writeln!(out, "  {}", declared(h, case, lang));
        }
    }
    // Only an `exit` step consults what the contract tolerates.
    let exits = case
        .steps
        .iter()
        .any(|s| matches!(s.action(), Action::Exit { .. }));
    if exits && !info.tolerances.is_empty() {
        let ids: Vec<&str> = info.tolerances.iter().map(|t| t.id()).collect();
        let _ = writeln!(out, "{}{}", w.tolerated, ids.join(", "));
    }
    out
}

/// One step in a sentence: what the peer does, or what the program must do.
pub fn step(action: &Action, role: Role, info: &ProgramInfo, lang: Lang) -> String {
    let en = lang == Lang::En;
    let pick = |english: String, chinese: String| if en { english } else { chinese };
    let addr = info.addr;
    match action {
        Action::Spawn => pick(
            format!("the program (your {role}) starts"),
            format!("启动程序（你的{}）", role_zh(role)),
        ),
        Action::Stdin(line) => {
            let typed = payload::render(line);
            let expanded = expand_words(line, &info.words)
                .ok()
                .filter(|e| e != line)
                .map(|e| format!(" ({})", payload::render(&e)))
                .unwrap_or_default();
            pick(
                format!("the peer types the line {typed}{expanded} on the program's stdin"),
                format!("测试方在程序的标准输入中输入一行 {typed}{expanded}"),
            )
        }
        Action::StdinClose => pick(
            "the peer closes the program's stdin (the end of its input, as Ctrl-D)".into(),
            "测试方关闭程序的标准输入（输入结束，如同 Ctrl-D）".into(),
        ),
        Action::Stdout => pick(
            "the program must print a line".into(),
            "程序必须打印一行".into(),
        ),
        Action::Exit { nonzero: false } => {
            pick("the program must exit".into(), "程序必须退出".into())
        }
        Action::Exit { nonzero: true } => pick(
            "the program must exit with a non-zero status (an error)".into(),
            "程序必须以非零状态退出（出错）".into(),
        ),
        Action::Listen => pick(
            format!("the peer listens on {addr}, as the program's server"),
            format!("测试方在 {addr} 上监听，充当程序的服务端"),
        ),
        Action::Accept(c) => pick(
            format!("the peer accepts the program's connection as {c}"),
            format!("测试方接受程序的连接，记为 {c}"),
        ),
        Action::Connect(c) => pick(
            format!("the peer connects to the program as {c}"),
            format!("测试方连接到程序，记为 {c}"),
        ),
        Action::Send { conn, data, pieces } => {
            let n = data.len();
            match frames(data, info) {
                Some(frames) => pick(
                    format!(
                        "the peer sends the frame{} {} ({n} bytes) on {conn}{}",
                        if frames.len() > 1 { "s" } else { "" },
                        frames.join(" + "),
                        pieces_en(pieces)
                    ),
                    format!(
                        "测试方在 {conn} 上发送帧 {}（{n} 字节）{}",
                        frames.join(" + "),
                        pieces_zh(pieces)
                    ),
                ),
                None => {
                    let shown = payload::render(data);
                    pick(
                        format!("the peer sends {shown} on {conn}{}", pieces_en(pieces)),
                        format!("测试方在 {conn} 上发送 {shown}{}", pieces_zh(pieces)),
                    )
                }
            }
        }
        Action::Peek { conn, bytes } => pick(
            format!("the peer waits until {bytes} bytes have arrived on {conn}, reading none"),
            format!("测试方等待 {conn} 上到达 {bytes} 个字节，但不读取"),
        ),
        Action::Read {
            conn,
            bytes: None,
            or_end,
        } => pick(
            format!(
                "the peer reads everything the program has sent on {conn}{}",
                if *or_end {
                    " (or the end of the connection, with no byte)"
                } else {
                    ""
                }
            ),
            format!(
                "测试方读取程序在 {conn} 上发来的全部数据{}",
                if *or_end {
                    "（或者连接结束而没有任何字节）"
                } else {
                    ""
                }
            ),
        ),
        Action::Read {
            conn,
            bytes: Some(n),
            ..
        } => pick(
            format!("the peer reads exactly {n} bytes on {conn}, leaving the rest"),
            format!("测试方在 {conn} 上恰好读取 {n} 个字节，其余留在缓冲区"),
        ),
        Action::ReadFrame { conn, format } => match format {
            Format::Low => pick(
                format!(
                    "the peer reads one frame on {conn}: a 4-byte little-endian length, then that many bytes"
                ),
                format!("测试方在 {conn} 上读取一帧：4 字节小端长度，然后是该长度的数据"),
            ),
            Format::Header => pick(
                format!(
                    "the peer reads one frame on {conn}: a 4-byte little-endian header length, the JSON header, then total_size bytes"
                ),
                format!(
                    "测试方在 {conn} 上读取一帧：4 字节小端报头长度、JSON 报头，然后是 total_size 个字节"
                ),
            ),
        },
        Action::ReadEnd(c) => pick(
            format!("the program must end the connection {c} (eof or reset), sending nothing more first"),
            format!("程序必须结束连接 {c}（eof 或 reset），之前不能再发送任何数据"),
        ),
        Action::End { conn, how } => match how {
            PeerEnd::HalfClose => pick(
                format!("the peer half-closes {conn}: it stops writing (FIN) and keeps reading"),
                format!("测试方半关闭 {conn}：不再发送（FIN），继续读取"),
            ),
            PeerEnd::Close => pick(
                format!("the peer closes {conn} (FIN); nothing may be left unread"),
                format!("测试方关闭 {conn}（FIN）；不能有未读的数据"),
            ),
            PeerEnd::Reset => pick(
                format!("the peer resets {conn} (RST: SO_LINGER 0, then close); nothing may be left unread"),
                format!("测试方重置 {conn}（RST：SO_LINGER 设为 0 后关闭）；不能有未读的数据"),
            ),
        },
        Action::Bind(s) => match role {
            Role::Server => pick(
                format!("the peer opens the datagram socket {s} on a port of its own"),
                format!("测试方在自己的端口上打开数据报套接字 {s}"),
            ),
            Role::Client => pick(
                format!("the peer binds the datagram socket {s} on {addr}, as the program's server"),
                format!("测试方在 {addr} 上绑定数据报套接字 {s}，充当程序的服务端"),
            ),
        },
        Action::SendTo { sock, data } => {
            let shown = payload::render(data);
            let n = data.len();
            match role {
                Role::Server => pick(
                    format!(
                        "the peer sends the datagram {shown} ({n} bytes) from {sock} to the program, once it has bound {addr}"
                    ),
                    format!("测试方在程序绑定 {addr} 之后，从 {sock} 向它发送数据报 {shown}（{n} 字节）"),
                ),
                Role::Client => pick(
                    format!(
                        "the peer answers with the datagram {shown} ({n} bytes) from {sock}, to where {sock}'s last datagram came from"
                    ),
                    format!("测试方从 {sock} 回复数据报 {shown}（{n} 字节），发往 {sock} 上一个数据报的来源"),
                ),
            }
        }
        Action::RecvFrom(s) => pick(
            format!("the peer receives the next datagram on {s}"),
            format!("测试方在 {s} 上接收下一个数据报"),
        ),
        Action::Dropped => pick(
            "the peer waits until a datagram of the program is lost on a port where nothing is bound yet".into(),
            "测试方等待程序的一个数据报因目标端口尚无人绑定而丢失".into(),
        ),
        Action::Quiet(d) => {
            let ms = d.as_millis();
            pick(
                format!(
                    "for {ms} ms nothing may happen: no byte, no end of a connection, no datagram, no exit, not the next expected line"
                ),
                format!("在 {ms} 毫秒内不能发生任何事：没有字节、连接不结束、没有数据报、不退出、不打印下一行预期的输出"),
            )
        }
    }
}

/// Bytes the peer sends that are whole frames of the program's framing, each as the case
/// language's builder writes it (`low("hi")`, `header("hi")`, or `header_raw("{…}", "hi")`
/// for a header of its own), so that a frame reads as one rather than as a digest of its
/// bytes; `None` for anything else (a command, a cut frame, a bare prefix).
fn frames(data: &[u8], info: &ProgramInfo) -> Option<Vec<String>> {
    let format = info.eof_frames?;
    let keys = &info.header_keys;
    let mut shown = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let prefix = rest.first_chunk::<4>()?;
        let len = usize::try_from(i32::from_le_bytes(*prefix)).ok()?;
        let after = &rest[4..];
        let used = match format {
            Format::Low => {
                shown.push(format!("low({})", payload::render(after.get(..len)?)));
                4 + len
            }
            Format::Header => {
                let header = after.get(..len)?;
                let value: serde_json::Value = serde_json::from_slice(header).ok()?;
                let size = usize::try_from(value.get(&keys.total_size)?.as_u64()?).ok()?;
                let body = after.get(len..len.checked_add(size)?)?;
                let used = 4 + len + size;
                let tutorial = sockref::frame::encode_header_keyed(body, "f1.txt", keys);
                shown.push(if tutorial == rest[..used] {
                    format!("header({})", payload::render(body))
                } else {
                    format!(
                        "header_raw({}, {})",
                        payload::quote(header),
                        payload::render(body)
                    )
                });
                used
            }
        };
        rest = &rest[used..];
    }
    (!shown.is_empty()).then_some(shown)
}

fn role_zh(role: Role) -> &'static str {
    match role {
        Role::Server => "服务端",
        Role::Client => "客户端",
    }
}

/// ` in 5 pieces of 1 byte`, ` in 3 pieces (2 of 2 bytes and 1 of 1 byte)`, or ` in 4
/// pieces (3, 1, 16, 2 bytes)` (`split random`); nothing for one write.
fn pieces_en(pieces: &[usize]) -> String {
    match uniform(pieces) {
        Some((n, size, None)) => format!(" in {n} pieces of {}, paced apart", bytes_en(size)),
        Some((n, size, Some(last))) => format!(
            " in {} pieces ({n} of {} and 1 of {}), paced apart",
            n + 1,
            bytes_en(size),
            bytes_en(last)
        ),
        None if pieces.len() > 1 => format!(
            " in {} pieces ({} bytes), paced apart",
            pieces.len(),
            sizes(pieces)
        ),
        None => String::new(),
    }
}

fn pieces_zh(pieces: &[usize]) -> String {
    match uniform(pieces) {
        Some((n, size, None)) => format!("，分 {n} 段，每段 {size} 字节，段间有间隔"),
        Some((n, size, Some(last))) => format!(
            "，分 {} 段（{n} 段 {size} 字节，1 段 {last} 字节），段间有间隔",
            n + 1
        ),
        None if pieces.len() > 1 => format!(
            "，分 {} 段（{} 字节），段间有间隔",
            pieces.len(),
            sizes(pieces)
        ),
        None => String::new(),
    }
}

/// Pieces of one size, perhaps with a shorter last one: how many of the size, the size,
/// and the last; `None` for one write or for varied sizes.
fn uniform(pieces: &[usize]) -> Option<(usize, usize, Option<usize>)> {
    let (&first, _) = pieces.split_first()?;
    let (&last, body) = pieces.split_last()?;
    if body.is_empty() || body.iter().any(|&p| p != first) {
        return None;
    }
    Some(if last == first {
        (pieces.len(), first, None)
    } else {
        (body.len(), first, Some(last))
    })
}

fn sizes(pieces: &[usize]) -> String {
    let sizes: Vec<String> = pieces.iter().map(|p| p.to_string()).collect();
    sizes.join(", ")
}

fn bytes_en(n: usize) -> String {
    match n {
        1 => "1 byte".into(),
        n => format!("{n} bytes"),
    }
}

/// A declared hint: the step, the way of failing, the hint's id and advice.
fn declared(h: &DeclaredHint, case: &Case, lang: Lang) -> String {
    let step = &case.steps[h.step];
    let when = symptom(h.when, lang);
    let of = match (&h.of, lang) {
        (Some(e), Lang::En) => format!(" and the program died of {e}"),
        (Some(e), Lang::Zh) => format!("并且程序因 {e} 退出"),
        (None, _) => String::new(),
    };
    let at = match lang {
        Lang::En => format!("step {} `{step}`, {when}{of}", h.step + 1),
        Lang::Zh => format!("第 {} 步 `{step}`，{when}{of}", h.step + 1),
    };
    format!("{at} [{}]: {}", h.hint.id(), h.hint.text_in(lang))
}

/// A way of failing, as a condition.
fn symptom(kind: SymptomKind, lang: Lang) -> &'static str {
    match (kind, lang) {
        (SymptomKind::Short, Lang::En) => "if only part of the expected bytes come",
        (SymptomKind::Nothing, Lang::En) => "if none of the expected bytes come",
        (SymptomKind::Missing, Lang::En) => "if the expected line is not printed",
        (SymptomKind::Died, Lang::En) => "if the program dies before it prints the line",
        (SymptomKind::Bytes, Lang::En) => "if other bytes come",
        (SymptomKind::Open, Lang::En) => "if the connection stays open",
        (SymptomKind::Running, Lang::En) => "if the program is still running",
        (SymptomKind::Exit, Lang::En) => "if it exits with another status",
        (SymptomKind::Short, Lang::Zh) => "如果只收到部分预期的字节",
        (SymptomKind::Nothing, Lang::Zh) => "如果预期的字节一个也没有收到",
        (SymptomKind::Missing, Lang::Zh) => "如果没有打印预期的行",
        (SymptomKind::Died, Lang::Zh) => "如果程序在打印之前就退出了",
        (SymptomKind::Bytes, Lang::Zh) => "如果收到了其他字节",
        (SymptomKind::Open, Lang::Zh) => "如果连接一直没有结束",
        (SymptomKind::Running, Lang::Zh) => "如果程序仍在运行",
        (SymptomKind::Exit, Lang::Zh) => "如果以其他状态退出",
    }
}
