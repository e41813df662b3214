//! Byte payloads as the case language and the transcripts write them.
//!
//! ```text
//! "hello"                  the five bytes of `hello` (escapes: \n \r \t \0 \\ \" \xNN)
//! "a" * 1024 + "SB"        1026 bytes: a run, then a literal
//! low("hi") + low("")      framed-low frames: the 4-byte little-endian length, then the bytes
//! header("hi")             a framed-header frame: the tutorial's JSON header (real md5), then the bytes
//! header_raw("{}", "hi")   a framed-header frame around the header given as is
//! <3000 bytes sha256:9f86d081884c7d65>   too long and too varied to show: length and digest
//! ```
//! Parsing and rendering are pure and inverse of each other, so a fixture line read back
//! gives exactly the bytes (or the digest) that were recorded.

use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// What a transcript says about a run of bytes: all of them, or only their length and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    Exact(Vec<u8>),
    Digest { len: usize, sha256_prefix: String },
}

impl Expected {
    /// Whether `got` can still grow into the expected bytes (used to fail at the first
    /// diverging byte instead of waiting for a deadline).
    pub fn admits_prefix(&self, got: &[u8]) -> bool {
        match self {
            Expected::Exact(want) => want.starts_with(got),
            Expected::Digest { len, .. } => got.len() <= *len,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Expected::Exact(want) => want.len(),
            Expected::Digest { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn matches(&self, got: &[u8]) -> bool {
        match self {
            Expected::Exact(want) => want == got,
            Expected::Digest { len, sha256_prefix } => {
                got.len() == *len && sha256_hex(got).starts_with(sha256_prefix.as_str())
            }
        }
    }
}

/// Longest rendering shown in full; longer payloads are shown by length and digest.
const MAX_SHOWN: usize = 160;
/// A run of at least this many equal bytes is written `"x" * n`.
const MIN_RUN: usize = 12;
const DIGEST_HEX: usize = 16;

pub fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut out = String::with_capacity(64);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Bytes as alternating literals and runs of one byte (at least [`MIN_RUN`] long), written
/// by `literal` and joined: `"ab" + "x" * 20`. At least one part, for no bytes too. The
/// transcript's language and the peer script's Python both write bytes this way.
pub fn run_length_parts(data: &[u8], literal: impl Fn(&[u8]) -> String) -> Vec<String> {
    let mut parts = Vec::new();
    let mut pending = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let run = data[i..].iter().take_while(|&&b| b == data[i]).count();
        if run >= MIN_RUN {
            if !pending.is_empty() {
                parts.push(literal(&pending));
                pending.clear();
            }
            parts.push(format!("{} * {run}", literal(&data[i..i + 1])));
        } else {
            pending.extend_from_slice(&data[i..i + run]);
        }
        i += run;
    }
    if !pending.is_empty() || parts.is_empty() {
        parts.push(literal(&pending));
    }
    parts
}

/// Bytes as a payload expression a case can send, runs written short (`"ab" + "x" * 20`),
/// never digested: what a generated case writes.
pub fn expression(data: &[u8]) -> String {
    run_length_parts(data, quote).join(" + ")
}

/// Renders bytes for a transcript line: quoted, run-length compressed, or digested.
pub fn render(data: &[u8]) -> String {
    let parts = run_length_parts(data, quote);
    let shown = parts.join(" + ");
    if shown.len() <= MAX_SHOWN {
        shown
    } else if let Some(periodic) = render_periodic(data) {
        periodic
    } else {
        format!(
            "<{} bytes sha256:{}>",
            data.len(),
            &sha256_hex(data)[..DIGEST_HEX]
        )
    }
}

/// Renders data that repeats a short unit (`"SB" * 88`, as a server looping on `b''`
/// sends), with whatever part of the unit ends it.
fn render_periodic(data: &[u8]) -> Option<String> {
    (2..=16).find_map(|unit| {
        let count = data.len() / unit;
        if count < 3 || !data.chunks(unit).all(|c| data[..c.len()] == *c) {
            return None;
        }
        let tail = &data[count * unit..];
        let mut shown = format!("{} * {count}", quote(&data[..unit]));
        if !tail.is_empty() {
            shown.push_str(&format!(" + {}", quote(tail)));
        }
        (shown.len() <= MAX_SHOWN).then_some(shown)
    })
}

/// Renders a printed line: like [`render`], but always in full (a line is matched as text).
pub fn render_line(text: &str) -> String {
    let shown = render(text.as_bytes());
    if shown.starts_with('<') {
        quote(text.as_bytes())
    } else {
        shown
    }
}

/// A short view of bytes for a timeline people read: whole when short, else the first and
/// last few bytes around an ellipsis, with the length (`"1\n2\n3" … "\n370\n3" (1024 bytes)`).
pub fn preview(data: &[u8]) -> String {
    const WHOLE: usize = 48;
    if data.len() <= WHOLE {
        return quote(data);
    }
    let mut head = 24;
    while head < data.len() && (data[head] & 0xc0) == 0x80 {
        head += 1;
    }
    let mut tail = data.len() - 16;
    while tail < data.len() && (data[tail] & 0xc0) == 0x80 {
        tail += 1;
    }
    format!(
        "{} … {} ({} bytes)",
        quote(&data[..head]),
        quote(&data[tail..]),
        data.len()
    )
}

/// Quotes at most `max` bytes of `data` (whose full length is `full_len`); when that cuts
/// it, says so with the full size: `"xxxx…" (1048576 bytes)`. Reports and JSON show only
/// excerpts, never megabytes.
pub fn excerpt(data: &[u8], full_len: usize, max: usize) -> String {
    if data.len() <= max && full_len <= data.len() {
        return quote(data);
    }
    let mut cut = data.len().min(max);
    // Cut on a character boundary where the text is UTF-8.
    while cut > 0 && cut < data.len() && (data[cut] & 0xc0) == 0x80 {
        cut -= 1;
    }
    let quoted = quote(&data[..cut]);
    format!(
        "{}…\" ({} bytes)",
        &quoted[..quoted.len() - 1],
        full_len.max(data.len())
    )
}

/// Quotes bytes as a string literal: printable ASCII and printable UTF-8 text as is,
/// everything else escaped.
pub fn quote(data: &[u8]) -> String {
    let mut out = String::from("\"");
    let mut rest = data;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, &[][..]),
            Err(e) => {
                let (ok, bad) = rest.split_at(e.valid_up_to());
                (std::str::from_utf8(ok).unwrap_or_default(), bad)
            }
        };
        for c in valid.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\0' => out.push_str("\\0"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
                c => out.push(c),
            }
        }
        if let Some((&b, tail)) = bad.split_first() {
            let _ = write!(out, "\\x{b:02x}");
            rest = tail;
        } else {
            rest = &[];
        }
    }
    out.push('"');
    out
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("unterminated string `{0}`")]
    Unterminated(String),
    #[error("bad escape `\\{0}` in a string")]
    BadEscape(String),
    #[error("expected a quoted string, found `{0}`")]
    NotAString(String),
    #[error("bad repeat count `{0}` (a whole number from 1 to 67108864)")]
    BadCount(String),
    #[error("bad digest form `{0}` (expected `<N bytes sha256:HEX>`)")]
    BadDigest(String),
    #[error("unexpected `{0}` after a payload")]
    Trailing(String),
}

/// Largest payload a case may build (`"x" * n`), so that a typo cannot exhaust memory.
const MAX_REPEAT: usize = 64 << 20;

/// Parses one quoted string at the start of `s`; returns its bytes and the rest of `s`.
pub fn parse_quoted(s: &str) -> Result<(Vec<u8>, &str), PayloadError> {
    let Some(body) = s.strip_prefix('"') else {
        let word = s.split_whitespace().next().unwrap_or(s);
        return Err(PayloadError::NotAString(word.to_string()));
    };
    let mut out = Vec::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &body[i + 1..])),
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'n' => out.push(b'\n'),
                    'r' => out.push(b'\r'),
                    't' => out.push(b'\t'),
                    '0' => out.push(0),
                    '\\' => out.push(b'\\'),
                    '"' => out.push(b'"'),
                    'x' => {
                        let hex: String = chars.by_ref().take(2).map(|(_, h)| h).collect();
                        let b = u8::from_str_radix(&hex, 16)
                            .map_err(|_| PayloadError::BadEscape(format!("x{hex}")))?;
                        out.push(b);
                    }
                    other => return Err(PayloadError::BadEscape(other.to_string())),
                }
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Err(PayloadError::Unterminated(s.to_string()))
}

/// Parses a payload expression (`"ab" * 3 + "c"`, or a digest form) that fills all of `s`.
pub fn parse(s: &str) -> Result<Expected, PayloadError> {
    let s = s.trim();
    if s.starts_with('<') {
        return parse_digest(s);
    }
    let (bytes, rest) = parse_expression(s)?;
    match rest.trim() {
        "" => Ok(Expected::Exact(bytes)),
        other => Err(PayloadError::Trailing(other.to_string())),
    }
}

/// Parses a payload expression at the start of `s` and returns the rest, for the case
/// parser, where options may follow the payload.
pub fn parse_expression(s: &str) -> Result<(Vec<u8>, &str), PayloadError> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    loop {
        let (bytes, after) = parse_term(rest)?;
        rest = after.trim_start();
        let mut count = 1usize;
        if let Some(after_star) = rest.strip_prefix('*') {
            let after_star = after_star.trim_start();
            let digits: String = after_star
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            count = digits
                .parse()
                .ok()
                .filter(|n| (1..=MAX_REPEAT).contains(n))
                .ok_or_else(|| {
                    PayloadError::BadCount(
                        after_star.split_whitespace().next().unwrap_or("").into(),
                    )
                })?;
            rest = after_star[digits.len()..].trim_start();
        }
        if out.len() + bytes.len().saturating_mul(count) > MAX_REPEAT {
            return Err(PayloadError::BadCount(count.to_string()));
        }
        for _ in 0..count {
            out.extend_from_slice(&bytes);
        }
        match rest.strip_prefix('+') {
            Some(after_plus) => rest = after_plus.trim_start(),
            None => return Ok((out, rest)),
        }
    }
}

/// One term: a quoted string, or a frame built around an expression: `low(...)` (framed-low:
/// the 4-byte little-endian length, then the bytes) or `header(...)` (framed-header: the
/// tutorial's JSON header with the real md5 and `f1.txt`, then the bytes).
fn parse_term(s: &str) -> Result<(Vec<u8>, &str), PayloadError> {
    for (name, build) in [
        ("low(", sockref::frame::encode_low as fn(&[u8]) -> Vec<u8>),
        ("header(", |body: &[u8]| {
            sockref::frame::encode_header(body, "f1.txt")
        }),
    ] {
        if let Some(inner) = s.strip_prefix(name) {
            let (body, after) = parse_expression(inner)?;
            let after = after
                .trim_start()
                .strip_prefix(')')
                .ok_or_else(|| PayloadError::Unterminated(s.to_string()))?;
            if body.len() > MAX_REPEAT {
                return Err(PayloadError::BadCount(body.len().to_string()));
            }
            return Ok((build(&body), after));
        }
    }
    // header_raw("json", body): a framed-header frame around a header given as is (a
    // placeholder md5, a wrong one, JSON that is not an object, or no JSON at all).
    if let Some(inner) = s.strip_prefix("header_raw(") {
        let (header, after) = parse_expression(inner)?;
        let after = after
            .trim_start()
            .strip_prefix(',')
            .ok_or_else(|| PayloadError::Unterminated(s.to_string()))?;
        let (body, after) = parse_expression(after)?;
        let after = after
            .trim_start()
            .strip_prefix(')')
            .ok_or_else(|| PayloadError::Unterminated(s.to_string()))?;
        return Ok((sockref::frame::encode_header_raw(&header, &body), after));
    }
    parse_quoted(s)
}

fn parse_digest(s: &str) -> Result<Expected, PayloadError> {
    let bad = || PayloadError::BadDigest(s.to_string());
    let inner = s
        .strip_prefix('<')
        .and_then(|r| r.strip_suffix('>'))
        .ok_or_else(bad)?;
    let (len, rest) = inner.split_once(" bytes sha256:").ok_or_else(bad)?;
    let len = len.parse().map_err(|_| bad())?;
    if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok(Expected::Digest {
        len,
        sha256_prefix: rest.to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_payloads_render_quoted_and_parse_back() {
        for data in [
            &b"hello"[..],
            b"",
            b"a\"b\\c\n\r\t\0",
            b"\xff\x01",
            "来自".as_bytes(),
        ] {
            let shown = render(data);
            assert_eq!(parse(&shown), Ok(Expected::Exact(data.to_vec())), "{shown}");
        }
        assert_eq!(render(b"say \"hi\"\n"), r#""say \"hi\"\n""#);
        assert_eq!(render(b"\xffA"), r#""\xffA""#);
    }

    #[test]
    fn runs_are_compressed() {
        let mut data = vec![b'a'; 1024];
        data.extend_from_slice(b"SB");
        assert_eq!(render(&data), r#""a" * 1024 + "SB""#);
        assert_eq!(parse(r#""a" * 1024 + "SB""#), Ok(Expected::Exact(data)));
        assert_eq!(
            parse(r#""ab"*2+"c""#),
            Ok(Expected::Exact(b"ababc".to_vec()))
        );
    }

    #[test]
    fn repeated_units_are_compressed() {
        let data = b"SB".repeat(88);
        assert_eq!(render(&data), r#""SB" * 88"#);
        let mut odd = b"SB".repeat(100);
        odd.push(b'S');
        assert_eq!(render(&odd), r#""SB" * 100 + "S""#);
        assert_eq!(parse(&render(&odd)), Ok(Expected::Exact(odd)));
    }

    #[test]
    fn varied_long_payloads_are_digested() {
        let data: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
        let shown = render(&data);
        assert!(shown.starts_with("<3000 bytes sha256:"), "{shown}");
        let expected = parse(&shown).unwrap();
        assert!(expected.matches(&data));
        assert!(!expected.matches(&data[1..]));
        assert!(expected.admits_prefix(&data[..10]));
    }

    #[test]
    fn frames_are_built_around_expressions() {
        assert_eq!(
            parse(r#"low("hi") + low("")"#),
            Ok(Expected::Exact(b"\x02\0\0\0hi\0\0\0\0".to_vec()))
        );
        let Ok(Expected::Exact(framed)) = parse(r#"header("x" * 3)"#) else {
            panic!("a header frame")
        };
        assert!(framed.ends_with(b"xxx"));
        assert!(String::from_utf8_lossy(&framed).contains("\"total_size\": 3"));
        assert!(matches!(
            parse(r#"low("hi""#),
            Err(PayloadError::Unterminated(_))
        ));
        assert_eq!(
            parse(r#"header_raw("{}", "hi")"#),
            Ok(Expected::Exact(b"\x02\0\0\0{}hi".to_vec()))
        );
    }

    #[test]
    fn bad_payloads_are_named() {
        assert!(matches!(parse("\"abc"), Err(PayloadError::Unterminated(_))));
        assert!(matches!(parse("abc"), Err(PayloadError::NotAString(_))));
        assert!(matches!(parse("\"a\" * x"), Err(PayloadError::BadCount(_))));
        assert!(matches!(parse("\"a\" * 0"), Err(PayloadError::BadCount(_))));
        assert!(matches!(
            parse("\"a\" * 99999999999"),
            Err(PayloadError::BadCount(_))
        ));
        assert!(matches!(parse("\"\\q\""), Err(PayloadError::BadEscape(_))));
        assert!(matches!(parse("\"a\" b"), Err(PayloadError::Trailing(_))));
        assert!(matches!(
            parse("<12 bytes md5:00>"),
            Err(PayloadError::BadDigest(_))
        ));
    }

    #[test]
    fn prefixes_diverge_at_the_first_wrong_byte() {
        let want = Expected::Exact(b"helloSB".to_vec());
        assert!(want.admits_prefix(b"hel"));
        assert!(!want.admits_prefix(b"help"));
        assert!(!want.admits_prefix(b"helloSBSB"));
    }
}
