//! What an implementation prints, read leniently and as it streams: prompts, ANSI colour
//! codes and surrounding blanks are stripped, extra lines are skipped, a Python bytes repr
//! (`b'HELLO'`, `b'h\xc3\xa9'`) stands for the bytes it denotes (`HELLO`, `hé`), and a label
//! of the program's own may come before the data (`客户端的数据 b'hello'` for `hello`).
//!
//! [`Printed`] takes stdout chunk by chunk and matches the fixture's expected lines, in
//! order, as the lines complete, so any amount of other output before or between them is
//! seen in full and forgotten at once: memory stays bounded (a few excerpts and counters)
//! and the cost is linear in what was printed.

use std::collections::VecDeque;

/// Longest part of one line kept for matching; a longer line is cut and matches nothing.
pub const MAX_LINE: usize = 64 << 10;
/// Longest text a prompt may be (anything longer printed without a newline is not one).
const MAX_PROMPT: usize = 80;
/// Longest excerpt of a printed line kept for a report.
pub const EXCERPT: usize = 200;
/// Lines kept while recording (the reference prints a few).
const MAX_RECORDED_LINES: usize = 10_000;

/// How printed lines are used: matched against the fixture, or kept to be recorded.
#[derive(Debug)]
enum Use {
    /// The fixture's lines still to be found, in order, and the printed lines that matched.
    Expect {
        wanted: VecDeque<Wanted>,
        matched: Vec<String>,
        /// The longest word of the next wanted line: a line without it cannot match.
        needle: Vec<u8>,
    },
    /// Every non-empty normalised line, for the `stdout` steps to take in order.
    Record { lines: VecDeque<String> },
}

/// The program's stdout, as it streams.
#[derive(Debug)]
pub struct Printed {
    use_: Use,
    /// The line being printed (at most `MAX_LINE` bytes of it) and its full length.
    partial: Vec<u8>,
    partial_len: usize,
    pub bytes: u64,
    pub lines: u64,
    pub eof: bool,
    /// Prompts stripped wherever they appear: the suite's, and those learned from the
    /// program (text left without a newline when it read its input).
    prompts: Vec<String>,
    /// The ports of the peer's sockets, each redacted with its socket's name: `[PORT:u1]`
    /// (so a line that names another client's port than the sender's is told apart).
    ports: Vec<(u16, String)>,
    /// Lines printed since the last match: how many, the first and the last few (excerpts).
    unmatched: u64,
    first_unmatched: Vec<(Vec<u8>, usize)>,
    /// The heads of the last two unmatched lines and their full lengths, raw: buffers
    /// reused line after line, turned into excerpts only when a report asks.
    last_unmatched: [(Vec<u8>, usize); 2],
    /// Which of the two holds the newer line.
    last_newer: usize,
    /// How many of the two hold a line.
    last_count: usize,
}

impl Printed {
    /// Matches `expected` lines (in order) as they are printed; `labels` are the texts
    /// the fixture's lines may start with that are the reference's labels, not data.
    pub fn expecting(expected: Vec<String>, prompts: Vec<String>, labels: &[String]) -> Printed {
        let wanted: VecDeque<Wanted> = expected
            .into_iter()
            .map(|text| Wanted::new(text, labels))
            .collect();
        Printed::new(
            Use::Expect {
                needle: wanted.front().map(Wanted::needle).unwrap_or_default(),
                wanted,
                matched: Vec::new(),
            },
            prompts,
        )
    }

    /// Keeps the printed lines, to record a fixture.
    pub fn recording(prompts: Vec<String>) -> Printed {
        Printed::new(
            Use::Record {
                lines: VecDeque::new(),
            },
            prompts,
        )
    }

    fn new(use_: Use, prompts: Vec<String>) -> Printed {
        let mut prompts: Vec<String> = prompts
            .into_iter()
            .filter(|p| !p.trim().is_empty())
            .collect();
        longest_first(&mut prompts);
        Printed {
            use_,
            partial: Vec::new(),
            partial_len: 0,
            bytes: 0,
            lines: 0,
            eof: false,
            prompts,
            ports: Vec::new(),
            unmatched: 0,
            first_unmatched: Vec::new(),
            last_unmatched: Default::default(),
            last_newer: 0,
            last_count: 0,
        }
    }

    pub fn add_port(&mut self, port: u16, socket: &str) {
        self.ports.push((port, socket.to_string()));
    }

    /// Takes a chunk of stdout; returns how many lines it completed.
    pub fn push(&mut self, mut data: &[u8]) -> u64 {
        self.bytes += data.len() as u64;
        let before = self.lines;
        while let Some(nl) = memchr::memchr(b'\n', data) {
            if self.partial_len == 0 {
                // The whole line is in this chunk: look at it where it lies.
                self.finish_line(&data[..nl], nl);
            } else {
                self.extend_partial(&data[..nl]);
                let raw = std::mem::take(&mut self.partial);
                let full_len = std::mem::take(&mut self.partial_len);
                self.finish_line(&raw, full_len);
            }
            data = &data[nl + 1..];
        }
        self.extend_partial(data);
        self.lines - before
    }

    /// The end of stdout: an unfinished last line counts as a line.
    pub fn finish(&mut self) {
        if !self.eof {
            self.eof = true;
            if self.partial_len > 0 {
                let raw = std::mem::take(&mut self.partial);
                let full_len = std::mem::take(&mut self.partial_len);
                self.finish_line(&raw, full_len);
            }
        }
    }

    fn extend_partial(&mut self, data: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&data[..data.len().min(room)]);
        self.partial_len += data.len();
    }

    /// One complete line (its first `MAX_LINE` bytes, and its full length). Most lines of a
    /// program that prints a lot are noise: a line that does not even contain the expected
    /// line's longest word is passed over without being decoded or normalised.
    fn finish_line(&mut self, raw: &[u8], full_len: usize) {
        self.lines += 1;
        let raw = &raw[..raw.len().min(MAX_LINE)];
        let cut = full_len > raw.len();
        let matched = match &mut self.use_ {
            Use::Expect {
                wanted,
                matched,
                needle,
            } => match wanted.front() {
                Some(_) if !cut && memchr::memmem::find(raw, needle).is_some() => {
                    let text = String::from_utf8_lossy(raw);
                    let line = normalise(&text, &self.prompts, &self.ports);
                    // A bytes repr of several lines (`b'1\n2\n'`) prints them all in one.
                    let lines = repr_lines(&line).unwrap_or_else(|| vec![line]);
                    let last = lines.len() - 1;
                    let mut any = false;
                    for (i, line) in lines.into_iter().enumerate() {
                        let open = i == last && ends_open(&text);
                        if wanted.front().is_some_and(|w| w.matches(&line, open)) {
                            wanted.pop_front();
                            matched.push(line);
                            any = true;
                        }
                    }
                    *needle = wanted.front().map(Wanted::needle).unwrap_or_default();
                    any
                }
                _ => false,
            },
            // A line cut at `MAX_LINE` is not recorded: checked, it could match nothing.
            Use::Record { lines } => {
                let line = normalise(&String::from_utf8_lossy(raw), &self.prompts, &self.ports);
                if !line.is_empty() && !cut && lines.len() < MAX_RECORDED_LINES {
                    lines.push_back(line);
                }
                true
            }
        };
        if matched {
            self.unmatched = 0;
            self.first_unmatched.clear();
            self.last_count = 0;
        } else if !raw.iter().all(u8::is_ascii_whitespace) {
            self.unmatched += 1;
            let head = &raw[..raw.len().min(EXCERPT + 4)];
            if self.first_unmatched.len() < 3 {
                self.first_unmatched.push((head.to_vec(), full_len));
            } else {
                self.last_newer = 1 - self.last_newer;
                let (buf, len) = &mut self.last_unmatched[self.last_newer];
                buf.clear();
                buf.extend_from_slice(head);
                *len = full_len;
                self.last_count = (self.last_count + 1).min(2);
            }
        }
    }

    /// Learns a prompt: what the program printed without a newline before it read its input.
    /// Called when the program has just shown that it read a line of stdin. Two prompts
    /// printed before one read (`请输入消息: 请选择聊天对象: `) are learned as two, besides
    /// the pair, since each may later be printed alone.
    ///
    /// The program may already have printed part of its next line when its read shows (a
    /// chat server answers, takes the next datagram at once and prints it, perhaps in two
    /// writes), and the start of a printed line learned as a prompt would strip that line's
    /// data wherever it appeared. So the text is learned only if it ends as prompts do (a
    /// blank, a colon, `>`, `?`), and, when it starts with a prompt already known, only if
    /// what follows that is punctuation (`>>>:` after the declared `>>>`), not words.
    pub fn learn_prompt(&mut self) {
        if self.partial_len == 0 || self.partial_len > MAX_PROMPT {
            return;
        }
        let printed = strip_ansi(&String::from_utf8_lossy(&self.partial));
        let text = printed.as_str();
        if !ends_like_a_prompt(text) {
            return;
        }
        let mut after_known = text;
        while let Some(known) = self
            .prompts
            .iter()
            .find(|p| after_known.starts_with(p.as_str()))
        {
            after_known = &after_known[known.len()..];
        }
        if after_known.len() < text.len() && after_known.chars().any(char::is_alphanumeric) {
            return;
        }
        let pieces = prompt_pieces(text);
        for prompt in std::iter::once(text).chain(pieces) {
            if !prompt.trim().is_empty() && !self.prompts.iter().any(|p| p == prompt) {
                self.prompts.push(prompt.to_string());
            }
        }
        longest_first(&mut self.prompts);
    }

    /// How many expected lines were printed so far (checking), or lines kept (recording).
    pub fn available(&self) -> usize {
        match &self.use_ {
            Use::Expect { matched, .. } => matched.len(),
            Use::Record { lines } => lines.len(),
        }
    }

    /// The printed line of the `ordinal`-th `stdout` step, once it came (checking).
    pub fn matched(&self, ordinal: usize) -> Option<&str> {
        match &self.use_ {
            Use::Expect { matched, .. } => matched.get(ordinal).map(String::as_str),
            Use::Record { .. } => None,
        }
    }

    /// Takes the next printed line (recording).
    pub fn take_recorded(&mut self) -> Option<String> {
        match &mut self.use_ {
            Use::Record { lines } => lines.pop_front(),
            Use::Expect { .. } => None,
        }
    }

    /// Excerpts of what was printed since the last match: a few first and last lines, as
    /// they are compared (colour codes and prompts gone, the peer's ports named), so a
    /// student sees `[PORT:u1]` where `[PORT:u2]` was expected. A line that was only a
    /// prompt (the program's last words before its stdout closed) is left out.
    pub fn printed_instead(&self) -> Vec<String> {
        let show = |(buf, len): &(Vec<u8>, usize)| {
            let line = normalise(&String::from_utf8_lossy(buf), &self.prompts, &self.ports);
            (!line.is_empty()).then(|| excerpt_line(&line, *len))
        };
        let mut out: Vec<String> = self.first_unmatched.iter().filter_map(show).collect();
        let shown = self.first_unmatched.len() + self.last_count;
        if (shown as u64) < self.unmatched {
            out.push(format!("… {} more lines …", self.unmatched - shown as u64));
        }
        let older = 1 - self.last_newer;
        let order = [older, self.last_newer];
        for &i in &order[2 - self.last_count..] {
            out.extend(show(&self.last_unmatched[i]));
        }
        out
    }

    /// The learned and declared prompts.
    pub fn prompts(&self) -> &[String] {
        &self.prompts
    }
}

/// An expected printed line: the fixture's text and the data it carries.
#[derive(Debug)]
struct Wanted {
    text: String,
    /// The text of its data: the line after the reference's label, if it has one.
    shown: String,
    /// The bytes the line stands for, its bytes reprs unwrapped (`b'HELLO'` is `HELLO`),
    /// after the reference's own label, if it has one (sticky2's `1: `).
    data: Vec<u8>,
    /// The fixture's line starts with a label of the reference's.
    labelled: bool,
}

impl Wanted {
    fn new(text: String, labels: &[String]) -> Wanted {
        let label = labels
            .iter()
            .filter(|l| !l.is_empty())
            .find(|l| text.starts_with(l.as_str()));
        let shown = label
            .map_or(text.as_str(), |l| text[l.len()..].trim_start())
            .to_string();
        Wanted {
            // Data as a line compares: its surrounding blanks trimmed, inside a bytes repr
            // too (a message ` a ` printed as `b' a '` is the line `a`).
            data: as_data(&shown).trim_ascii().to_vec(),
            shown,
            labelled: label.is_some(),
            text,
        }
    }

    /// Whether a printed (normalised) line carries this data: the same text, or the same
    /// data at its end, after a label of the program's own (text that ends in a space or a
    /// colon). Empty data is only ever an empty bytes repr (`b''`), or nothing after a
    /// label where the fixture's line too is only a label; `open`: the line as printed,
    /// before its blanks were trimmed, ended in a space or a colon (`第二次 ` is a label and
    /// nothing after it).
    fn matches(&self, line: &str, open: bool) -> bool {
        if line == self.text {
            return true;
        }
        if self.data.is_empty() && self.labelled && open && !line.is_empty() {
            return true;
        }
        data_candidates(line, max_shown_len(self.data.len())).any(|(labelled, shown)| {
            if self.data.is_empty() {
                is_empty_repr(shown) || (shown.is_empty() && labelled && self.labelled)
            } else {
                as_data(shown).trim_ascii() == self.data.as_slice()
            }
        })
    }

    /// The longest run of ASCII letters and digits of the data, which every printed line
    /// that matches contains: normalising only removes (colour codes, prompts, blanks) or
    /// redacts ports (`[PORT:u1]`, so that word is left out), a label only adds, and a bytes
    /// repr shows printable ASCII as it is (`b'h\xc3\xa9llo'` shows `llo` of `héllo`).
    fn needle(&self) -> Vec<u8> {
        as_data(&without_port_marks(&self.shown))
            .split(|b| !b.is_ascii_alphanumeric())
            .max_by_key(|w| w.len())
            .unwrap_or_default()
            .to_vec()
    }
}

/// The longest text that can show `len` bytes of data: each byte as `\xNN` in a bytes
/// repr, the repr's `b''` around them, and a margin for blanks.
fn max_shown_len(len: usize) -> usize {
    4 * len + 8
}

/// The ways to read a printed line as a label and data: the whole line (no label), then
/// what follows each space or colon, trimmed (`客户端的数据 b'hello'` gives `b'hello'`), as
/// long as what follows is no longer than `max_len`.
fn data_candidates(line: &str, max_len: usize) -> impl Iterator<Item = (bool, &str)> {
    let starts = line
        .char_indices()
        .filter(|(_, c)| matches!(c, ' ' | '\t' | ':' | '：'))
        .map(|(i, c)| i + c.len_utf8());
    std::iter::once((false, line))
        .chain(starts.map(move |i| (true, line[i..].trim_start())))
        .filter(move |(_, rest)| rest.len() <= max_len)
}

/// The lines a printed line stands for when a bytes repr in it holds newlines
/// (`结果: b'1\n2\n'` is `结果: 1` and `2`); `None` for any other line.
fn repr_lines(line: &str) -> Option<Vec<String>> {
    if !line.contains("\\n") {
        return None;
    }
    let data = as_data(line);
    if !data.contains(&b'\n') {
        return None;
    }
    let lines: Vec<String> = data
        .split(|b| *b == b'\n')
        .map(|l| String::from_utf8_lossy(l).trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    (!lines.is_empty()).then_some(lines)
}

/// Whether a printed line, colour codes aside, ends in a space or a colon: the end of a
/// label, with nothing after it.
fn ends_open(text: &str) -> bool {
    strip_ansi(text)
        .trim_end_matches(['\r', '\n'])
        .ends_with([' ', '\t', ':', '：'])
}

fn is_empty_repr(text: &str) -> bool {
    matches!(text, "b''" | "b\"\"")
}

/// Whether a text ends as prompts do: a blank, a colon, `>`, `?`, `=`, `》`.
fn ends_like_a_prompt(text: &str) -> bool {
    text.chars().next_back().is_some_and(|c| {
        c.is_whitespace() || matches!(c, ':' | '：' | '>' | '?' | '？' | '=' | '》')
    })
}

/// Sorts prompts so that the longest is stripped first: `>>>:` before `>>>`, whatever
/// either ends with.
fn longest_first(prompts: &mut [String]) {
    prompts.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
}

/// The prompts within a text a program printed before one read: it is cut after each
/// colon or `>` that blanks follow, and after each full-width colon (`请输入消息: 请选择聊天对象: `
/// is two prompts). One prompt gives nothing.
fn prompt_pieces(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let mut end = i + c.len_utf8();
        let ends_prompt = match c {
            '：' => true,
            ':' | '>' => chars.peek().is_some_and(|(_, n)| n.is_whitespace()),
            _ => false,
        };
        if !ends_prompt {
            continue;
        }
        while let Some((j, n)) = chars.peek().copied().filter(|(_, n)| n.is_whitespace()) {
            end = j + n.len_utf8();
            chars.next();
        }
        if end < text.len() && !text[start..end].trim().is_empty() {
            pieces.push(&text[start..end]);
            start = end;
        }
    }
    if !pieces.is_empty() && !text[start..].trim().is_empty() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// A printed line for a report: quoted, at most `EXCERPT` bytes of it, with its full size
/// when it was longer.
pub fn excerpt_line(text: &str, full_len: usize) -> String {
    crate::payload::excerpt(text.as_bytes(), full_len.max(text.len()), EXCERPT)
}

/// Removes ANSI escape sequences: CSI (`ESC [ params final`: colours, cursor moves), the
/// string sequences OSC, DCS, SOS, PM and APC (`ESC ] 0;title BEL`: a terminal's title,
/// a hyperlink; ended by BEL or `ESC \`), `ESC ( B` and the like, and any other `ESC x`. Tabs and carriage returns
/// stay: they are the program's text.
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for c in chars.by_ref() {
                    if ('\x40'..='\x7e').contains(&c) {
                        break;
                    }
                }
            }
            Some(']' | 'P' | 'X' | '^' | '_') => {
                while let Some(c) = chars.next() {
                    if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            // `ESC ( B` (a character set): intermediate bytes, then one final.
            Some(c) if ('\x20'..='\x2f').contains(&c) => {
                while chars.next_if(|c| ('\x20'..='\x2f').contains(c)).is_some() {}
                chars.next();
            }
            _ => {}
        }
    }
    out
}

/// Normalises one printed line: ANSI codes and prompts removed wherever they appear (a
/// prompt has no newline, so it sits at the start of the next printed line), the peer's
/// sockets' ports replaced by `[PORT:<socket>]`, surrounding white space trimmed.
pub fn normalise(line: &str, prompts: &[String], ports: &[(u16, String)]) -> String {
    let mut text = strip_ansi(line);
    for prompt in prompts.iter().filter(|p| !p.trim().is_empty()) {
        text = text.replace(prompt.as_str(), "");
        let trimmed = prompt.trim();
        if trimmed != prompt.as_str() {
            text = text.replace(trimmed, "");
        }
    }
    redact_ports(text.trim(), ports)
}

/// Replaces each whole-number occurrence of the given ports by `[PORT:<socket>]`.
pub fn redact_ports(text: &str, ports: &[(u16, String)]) -> String {
    if ports.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit()) {
            let end = i + bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
            let number = &text[i..end];
            if let Some((_, socket)) = number
                .parse::<u16>()
                .ok()
                .and_then(|n| ports.iter().find(|(p, _)| *p == n))
            {
                out.push_str(&format!("[PORT:{socket}]"));
            } else {
                out.push_str(number);
            }
            i = end;
        } else {
            let c = text[i..].chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8().max(1);
        }
    }
    out
}

/// A text with its redacted ports (`[PORT:u1]`) blanked out: no printed line shows them.
fn without_port_marks(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("[PORT:") {
        out.push_str(&rest[..start]);
        out.push(' ');
        rest = match rest[start..].find(']') {
            Some(end) => &rest[start + end + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// The bytes a printed text stands for: its text as UTF-8, where each Python bytes
/// literal in it (`b'h\xc3\xa9'`, `b"it's"`) is the bytes it denotes, so `b'hi' ('127.0.0.1', 9000)`
/// is `hi ('127.0.0.1', 9000)`. A `b'` that does not open a well-formed literal is text.
pub fn as_data(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let starts_literal = rest.starts_with("b'") || rest.starts_with("b\"");
        let after_word = text[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if starts_literal && !after_word {
            if let Some((bytes, used)) = bytes_literal(rest) {
                out.extend_from_slice(&bytes);
                i += used;
                continue;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        i += c.len_utf8().max(1);
    }
    out
}

/// The bytes of the Python bytes literal that `text` starts with (`b'he\'l' rest`), and the
/// length of the literal's text.
fn bytes_literal(text: &str) -> Option<(Vec<u8>, usize)> {
    let quote = text[1..]
        .chars()
        .next()
        .filter(|q| *q == '\'' || *q == '"')?;
    let mut out = Vec::new();
    let mut chars = text.char_indices().skip(2);
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Some((out, i + 1));
        }
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next()?.1 {
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            '\\' => out.push(b'\\'),
            '\'' => out.push(b'\''),
            '"' => out.push(b'"'),
            'x' => {
                let hex: String = [chars.next()?.1, chars.next()?.1].iter().collect();
                out.push(u8::from_str_radix(&hex, 16).ok()?);
            }
            _ => return None,
        }
    }
    None
}

/// Whether a printed (normalised) line carries the data of an expected line that has no
/// label of the reference's (see [`Wanted::matches`]).
pub fn line_matches(expected: &str, actual: &str) -> bool {
    Wanted::new(expected.to_string(), &[]).matches(actual, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_colours_and_ports_are_normalised_away() {
        let prompts = vec![">>>".to_string(), "回复消息: ".to_string()];
        assert_eq!(normalise(">>>helloSB", &prompts, &[]), "helloSB");
        assert_eq!(normalise(">>>>>>helloSB  \r", &prompts, &[]), "helloSB");
        assert_eq!(normalise("回复消息: hi", &prompts, &[]), "hi");
        assert_eq!(normalise("\x1b[1;44mhi\x1b[0m", &prompts, &[]), "hi");
        // OSC: a window title (ended by BEL) and a hyperlink (ended by ESC \\).
        assert_eq!(normalise("\x1b]0;chat\x07hi", &prompts, &[]), "hi");
        assert_eq!(
            normalise("\x1b]8;;http://x\x1b\\hi\x1b]8;;\x1b\\", &prompts, &[]),
            "hi"
        );
        assert_eq!(normalise("a\tb\x1b(B", &prompts, &[]), "a\tb");
        assert_eq!(
            normalise(
                "来自[127.0.0.1:40123]的一条消息:",
                &prompts,
                &[(40123, "u1".into())]
            ),
            "来自[127.0.0.1:[PORT:u1]]的一条消息:"
        );
        assert_eq!(
            redact_ports("8080 140123 40123", &[(40123, "u1".into())]),
            "8080 140123 [PORT:u1]"
        );
    }

    #[test]
    fn bytes_repr_and_text_are_the_same_data() {
        assert!(line_matches("b'HELLO'", "HELLO"));
        assert!(line_matches("HELLO", "b'HELLO'"));
        assert!(line_matches("b'it\\'s'", "b\"it's\""));
        assert!(!line_matches("b'HELLO'", "b'HELL'"));
        assert!(
            !line_matches("b''", ""),
            "an empty line is not an empty bytes repr"
        );
        assert!(line_matches("b''", "b''"));
        assert!(!line_matches("111", "222"));
        // Blanks around the data are trimmed inside a repr as outside it (found by fuzz:
        // a message ` a ` printed as text by the reference, as a repr by a student).
        assert!(line_matches("a", "b' a '"));
        assert!(line_matches("b' a '", "a"));
        assert!(!line_matches("a", "b' a b '"));
        assert_eq!(as_data("b'\\x00\\xff'"), vec![0, 255]);
        assert_eq!(as_data("hello"), b"hello");
    }

    #[test]
    fn expected_lines_are_found_in_order_among_any_other_output() {
        let mut p = Printed::expecting(vec!["one".into(), "two".into()], vec![], &[]);
        for _ in 0..1000 {
            p.push(b"debug: noise\n");
        }
        p.push(b"tw");
        p.push(b"o\nx\non");
        assert_eq!(p.available(), 0, "two before one does not count");
        p.push(b"e\n");
        assert_eq!(p.matched(0), Some("one"));
        p.push(b"two");
        assert_eq!(p.available(), 1);
        p.finish();
        assert_eq!(p.matched(1), Some("two"), "an unfinished last line counts");
        assert_eq!(p.lines, 1004);
    }

    #[test]
    fn a_huge_line_is_cut_counted_and_excerpted() {
        let mut p = Printed::expecting(vec!["data".into()], vec![], &[]);
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..8 {
            p.push(&chunk);
        }
        p.push(b"\ndata\n");
        assert_eq!(p.matched(0), Some("data"));
        let mut q = Printed::expecting(vec!["data".into()], vec![], &[]);
        q.push(&chunk);
        q.push(b"\n");
        let shown = q.printed_instead();
        assert_eq!(shown.len(), 1);
        assert!(
            shown[0].len() < 300 && shown[0].contains("bytes"),
            "{shown:?}"
        );
    }

    fn needle_of(text: &str) -> Vec<u8> {
        Wanted::new(text.to_string(), &[]).needle()
    }

    #[test]
    fn every_expected_line_contains_its_needle_and_noise_does_not() {
        assert_eq!(needle_of("b'HELLO'"), b"HELLO");
        assert_eq!(needle_of("Hi, sockets 123!"), b"sockets");
        assert_eq!(needle_of("来自[127.0.0.1:[PORT:u1]]的一条消息:"), b"127");
        assert_eq!(needle_of("b''"), b"");
        assert_eq!(needle_of("b'\\xffAB'"), b"AB");
        assert_eq!(
            needle_of("héllo wörld"),
            b"rld",
            "a bytes repr escapes é: only ASCII is shown as it is"
        );
        let mut p = Printed::expecting(vec!["b'\\xffA'".into()], vec![], &[]);
        p.push(b"b'\\xffA'\n");
        assert_eq!(p.available(), 1, "a repr with escapes still matches");
        let mut q = Printed::expecting(
            vec!["来自[127.0.0.1:[PORT:u1]]的一条消息:".into()],
            vec![],
            &[],
        );
        q.add_port(40123, "u1");
        q.push("\x1b[0m来自[127.0.0.1:40123]的一条消息:\n".as_bytes());
        assert_eq!(q.available(), 1);
        let mut r = Printed::expecting(vec!["héllo wörld".into()], vec![], &[]);
        r.push(b"b'h\\xc3\\xa9llo w\\xc3\\xb6rld'\n");
        assert_eq!(
            r.available(),
            1,
            "the repr of the UTF-8 bytes is the same data"
        );
    }

    #[test]
    fn a_label_of_the_programs_own_may_come_before_the_data() {
        assert!(line_matches("hello", "客户端的数据 b'hello'"));
        assert!(line_matches("hello", "收到:hello"));
        assert!(line_matches("hello", "收到： hello"));
        assert!(line_matches("hello world", "echo: hello world"));
        assert!(!line_matches("hello", "hellohello"), "no label ends there");
        assert!(
            !line_matches("hello", "hello!"),
            "the data is what the line ends with"
        );
        assert!(!line_matches("hello", "hello: hi"));
        assert!(line_matches("b''", "第二次 b''"));
        assert!(
            !line_matches("b''", "waiting:"),
            "an empty repr is not a label with nothing after it"
        );
        // The contract's own text is data: another address is no label.
        assert!(!line_matches(
            "来自[127.0.0.1:[PORT:u1]]的一条消息:hi",
            "来自[127.0.0.2:[PORT:u1]]的一条消息:hi"
        ));
        assert!(line_matches(
            "hi ('127.0.0.1', [PORT:u1])",
            "b'hi' ('127.0.0.1', [PORT:u1])"
        ));
        // sticky2: the reference's `1: ` and `2: ` are labels.
        let labels = ["1:".to_string(), "2:".to_string()];
        let first = Wanted::new("1: helloworld".into(), &labels);
        assert!(first.matches("1: helloworld", false));
        assert!(first.matches("第一次 b'helloworld'", false));
        assert!(!first.matches("第一次 b'hello'", false));
        let second = Wanted::new("2:".into(), &labels);
        assert!(second.matches("第二次 b''", false));
        assert!(second.matches("second:", false));
        assert!(
            second.matches("第二次", true),
            "printed as `第二次 `: a label, then nothing"
        );
        assert!(!second.matches("第二次", false), "a word alone is data");
        assert!(!second.matches("b'world'", false));
        assert!(!second.matches("2: world", false));
        assert!(
            !second.matches("world", false),
            "a line with no label shows data"
        );
        assert!(ends_open("\x1b[1m第二次 \x1b[0m\r"));
        assert!(!ends_open("第二次"));
    }

    #[test]
    fn a_bytes_repr_of_several_lines_is_those_lines() {
        let mut p = Printed::expecting(vec!["1".into(), "2".into()], vec![], &[]);
        p.push(b"b'1\\n2\\n'\n");
        assert_eq!(p.available(), 2);
        let mut q = Printed::expecting(vec!["1".into(), "2".into()], vec![], &[]);
        q.push("结果: b'1\\n2\\n'\n".as_bytes());
        assert_eq!(q.available(), 2, "a label before the repr");
        let mut r = Printed::expecting(vec!["1".into(), "3".into()], vec![], &[]);
        r.push(b"b'1\\n2\\n'\n");
        assert_eq!(r.available(), 1, "2 is not 3");
        assert_eq!(repr_lines("a \\n b"), None, "no repr: a backslash and an n");
    }

    #[test]
    fn the_longest_prompt_is_stripped_first_and_two_prompts_are_two() {
        let mut p = Printed::expecting(vec!["helloSB".into()], vec![">>>".into()], &[]);
        p.push(b">>>:");
        p.learn_prompt();
        p.push(b"helloSB\n");
        assert_eq!(p.matched(0), Some("helloSB"));
        assert_eq!(p.prompts(), [">>>:", ">>>"]);
        let mut q = Printed::expecting(vec!["hi".into(), "there".into()], vec![], &[]);
        q.push("请输入消息,回车发送: 请选择聊天对象: ".as_bytes());
        q.learn_prompt();
        assert_eq!(
            q.prompts(),
            [
                "请输入消息,回车发送: 请选择聊天对象: ",
                "请输入消息,回车发送: ",
                "请选择聊天对象: "
            ]
        );
        q.push("请选择聊天对象: hi\n请输入消息,回车发送: there\n".as_bytes());
        assert_eq!(q.available(), 2);
        let mut r =
            Printed::expecting(vec!["来自[1]的消息:two".into()], vec!["回复: ".into()], &[]);
        r.push("回复: 来自[1]的消息:".as_bytes());
        r.learn_prompt();
        assert_eq!(
            r.prompts(),
            ["回复: "],
            "the start of the next line, printed before the read showed, is no prompt"
        );
        r.push(b"two\n");
        assert_eq!(r.available(), 1);
        assert_eq!(prompt_pieces(">>: "), Vec::<&str>::new());
        assert_eq!(prompt_pieces(">>>:"), Vec::<&str>::new());
        assert_eq!(prompt_pieces("名字：消息："), ["名字：", "消息："]);
    }

    #[test]
    fn what_was_printed_instead_is_the_first_and_last_lines_and_a_count() {
        let mut p = Printed::expecting(vec!["never".into()], vec![], &[]);
        for i in 1..=10 {
            p.push(format!("line {i}\n").as_bytes());
        }
        assert_eq!(
            p.printed_instead(),
            [
                "\"line 1\"",
                "\"line 2\"",
                "\"line 3\"",
                "… 5 more lines …",
                "\"line 9\"",
                "\"line 10\""
            ]
        );
        let mut q = Printed::expecting(vec!["never".into()], vec![], &[]);
        q.push(b"a\nb\nc\nd\n");
        assert_eq!(q.printed_instead(), ["\"a\"", "\"b\"", "\"c\"", "\"d\""]);
    }

    #[test]
    fn a_prompt_is_learned_from_what_waits_without_a_newline() {
        let mut p = Printed::expecting(vec!["helloSB".into(), "worldSB".into()], vec![], &[]);
        p.push(b">>: ");
        p.learn_prompt();
        p.push(b">>: helloSB\n>>: ");
        assert_eq!(p.matched(0), Some("helloSB"));
        p.push(b"worldSB\n");
        assert_eq!(p.matched(1), Some("worldSB"));
        assert_eq!(p.prompts(), [">>: "]);
        let mut q = Printed::expecting(vec!["x".into()], vec![], &[]);
        q.push(&[b'y'; 100]);
        q.learn_prompt();
        assert!(
            q.prompts().is_empty(),
            "a long unfinished line is no prompt"
        );
    }
}
