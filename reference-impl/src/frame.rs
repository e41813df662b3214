//! The framing codecs of the two sticky-packet fixes (粘包的解决方案): framed-low's length
//! prefix and framed-header's JSON header, as pure functions over bytes.
//!
//! Decoding follows mini-redis's `Frame::check` before `Frame::parse`: every declared
//! length is checked against a [`Limits`] before anything that long is looked at, and a
//! buffer that ends early is [`Decoded::NeedMore`], never an error, so a reader can call
//! the decoder again whenever more bytes arrive, however the stream was split. A decoded
//! frame borrows its body from the buffer: nothing is allocated in proportion to what a
//! peer declares, so a prefix that declares 2 GiB costs nothing but its error.
//!
//! Everything the peer can get wrong is a [`FrameError`] naming the value it found.
//! What SPEC.md lets through as non-strict (a placeholder `md5`, a missing `file_name`)
//! is not an error: the decoded [`HeaderFrame`] says so, and the harness grades it.

use std::fmt::Write as _;

use md5::{Digest as _, Md5};
use serde_json::{Map, Number, Value};
use thiserror::Error;

/// The length prefix of both formats: Python's `struct.pack('i', n)`, a signed 32-bit
/// integer, little-endian.
pub const PREFIX_LEN: usize = 4;

/// The largest length a prefix can declare, and so the largest body or header that can be
/// framed: `struct.pack('i', n)` raises `struct.error` beyond it.
pub const MAX_ENCODABLE_LEN: usize = i32::MAX as usize;

/// The reference client's default limit on a body (framed-low's reply, framed-header's
/// `total_size`): SPEC.md's 64 MiB, the reference server's default reply cap.
pub const DEFAULT_MAX_BODY: usize = 64 << 20;

/// The reference client's default limit on a framed-header header: SPEC.md's 1 MiB, where
/// the tutorial's own header is under 100 bytes.
pub const DEFAULT_MAX_HEADER: usize = 1 << 20;

/// The largest lengths a decoder accepts; anything declared beyond them is a protocol error,
/// found from the prefix (or the header) alone, before the bytes it announces arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest body: framed-low's declared length, framed-header's `total_size`.
    pub max_body: usize,
    /// The largest framed-header header, in bytes of JSON.
    pub max_header: usize,
}

impl Default for Limits {
    /// [`DEFAULT_MAX_BODY`] and [`DEFAULT_MAX_HEADER`].
    fn default() -> Self {
        Limits {
            max_body: DEFAULT_MAX_BODY,
            max_header: DEFAULT_MAX_HEADER,
        }
    }
}

/// What a decoder made of the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<F> {
    /// The buffer holds the start of a frame (or nothing): read at least `at_least` more
    /// bytes and decode again. Both formats declare their lengths up front, so the count
    /// is always known; it is a lower bound (a header's length says nothing yet of the
    /// body behind it), never zero, and never more than the frame still lacks.
    NeedMore { at_least: usize },
    /// A whole frame, made of the first `used` bytes of the buffer; whatever follows
    /// belongs to the next frame.
    Frame { frame: F, used: usize },
}

/// A frame that breaks the protocol: the stream cannot be read any further, as the next
/// frame's start is unknown. Each message names the value that was found.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// framed-low: the prefix declares a negative body length.
    #[error("the prefix declares a negative length, `{length}`")]
    NegativeLength { length: i32 },
    /// framed-low: the prefix declares a body longer than [`Limits::max_body`].
    #[error("the prefix declares a length of `{length}` bytes, over the limit of `{limit}`")]
    LengthOverLimit { length: usize, limit: usize },
    /// framed-header: the prefix declares an empty header, which cannot hold `total_size`.
    #[error("the prefix declares a header length of `0`: the header must hold `total_size`")]
    HeaderLengthZero,
    /// framed-header: the prefix declares a negative header length.
    #[error("the prefix declares a negative header length, `{length}`")]
    HeaderLengthNegative { length: i32 },
    /// framed-header: the prefix declares a header longer than [`Limits::max_header`].
    #[error(
        "the prefix declares a header length of `{length}` bytes, over the limit of `{limit}`"
    )]
    HeaderLengthOverLimit { length: usize, limit: usize },
    /// framed-header: the header is not UTF-8 from byte `valid_up_to` on.
    #[error("the header is not UTF-8: byte `{valid_up_to}` starts an invalid sequence")]
    HeaderNotUtf8 { valid_up_to: usize },
    /// framed-header: the header is not JSON; `reason` is the parser's message.
    #[error("the header is not JSON: {reason}")]
    HeaderNotJson { reason: String },
    /// framed-header: the header is JSON but not an object; `found` says what it is.
    #[error("the header is a JSON {found}, not an object")]
    HeaderNotObject { found: &'static str },
    /// framed-header: the header has no `total_size` (`key`: its name, the tutorial's or
    /// a course's); `keys` are those it has, which often show a misspelling.
    #[error("the header has no `{key}`; its keys are {}", list_keys(.keys))]
    TotalSizeMissing { key: String, keys: Vec<String> },
    /// framed-header: `total_size` is a string, a fraction, `null`, ...; `value` is its
    /// JSON text.
    #[error("`{key}` is `{value}`, not an integer")]
    TotalSizeNotInteger { key: String, value: String },
    /// framed-header: `total_size` is below zero.
    #[error("`{key}` is negative, `{total_size}`")]
    TotalSizeNegative { key: String, total_size: Number },
    /// framed-header: `total_size` is over [`Limits::max_body`] (an integer too large for
    /// 64 bits is over any limit, and shows as serde_json writes it, e.g. `1e30`).
    #[error("`{key}` is `{total_size}` bytes, over the limit of `{limit}`")]
    TotalSizeOverLimit {
        key: String,
        total_size: Number,
        limit: usize,
    },
    /// framed-header: `md5` (`key`) is a real digest, 32 hex digits, and not the body's.
    #[error("`{key}` is `{declared}` but the body's MD5 is `{actual}`")]
    DigestMismatch {
        key: String,
        declared: String,
        actual: String,
    },
}

/// The keys of [`FrameError::TotalSizeMissing`], in backticks: `a`, `b`; or `none`.
fn list_keys(keys: &[String]) -> String {
    if keys.is_empty() {
        return "none".to_owned();
    }
    let quoted: Vec<String> = keys.iter().map(|key| format!("`{key}`")).collect();
    quoted.join(", ")
}

/// Frames `body` as framed-low: its length as 4 bytes little-endian, then the body.
///
/// ```text
/// 05 00 00 00 68 65 6c 6c 6f      b'\x05\x00\x00\x00hello'
/// ```
///
/// # Panics
///
/// If `body` is longer than [`MAX_ENCODABLE_LEN`], which no prefix can declare (Python's
/// `struct.pack('i', n)` raises there too). Senders cap what they frame well below it.
pub fn encode_low(body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(PREFIX_LEN + body.len());
    frame.extend_from_slice(&prefix_of(body.len(), "body"));
    frame.extend_from_slice(body);
    frame
}

/// Decodes the framed-low frame at the start of `buf`: the body, borrowed from `buf`.
///
/// ```text
/// +-------------------------+------------------------+
/// | length: i32 little-end. | body: `length` bytes   |
/// +-------------------------+------------------------+
///   05 00 00 00               68 65 6c 6c 6f            -> Frame { frame: b"hello", used: 9 }
///   05 00 00 00               68 65                     -> NeedMore { at_least: 3 }
///   ff ff ff 7f                                         -> LengthOverLimit (2 GiB - 1)
///   fb ff ff ff                                         -> NegativeLength (-5)
/// ```
///
/// The length is checked as soon as its 4 bytes are in, before any of the body arrives.
pub fn decode_low<'a>(buf: &'a [u8], limits: &Limits) -> Result<Decoded<&'a [u8]>, FrameError> {
    let Some(prefix) = buf.first_chunk::<PREFIX_LEN>() else {
        return Ok(need_more(PREFIX_LEN, buf));
    };
    let length = i32::from_le_bytes(*prefix);
    let length = usize::try_from(length).map_err(|_| FrameError::NegativeLength { length })?;
    if length > limits.max_body {
        return Err(FrameError::LengthOverLimit {
            length,
            limit: limits.max_body,
        });
    }
    let end = PREFIX_LEN + length;
    Ok(match buf.get(PREFIX_LEN..end) {
        Some(body) => Decoded::Frame {
            frame: body,
            used: end,
        },
        None => need_more(end, buf),
    })
}

/// What a framed-header header says of the body's `md5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Digest {
    /// 32 hex digits (either case) equal to the body's MD5: the strict form.
    Verified,
    /// Present but not 32 hex digits, such as the tutorial's `fdsaf2143254f`: interoperates,
    /// but is non-strict. Holds the string as sent, or the JSON text of a value that is not
    /// a string (`123`, `null`).
    Placeholder(String),
    /// No `md5` key (perhaps misspelled: see [`HeaderFrame::unknown_keys`]): non-strict.
    Missing,
}

/// What a framed-header header says of the body's `file_name`, which is free text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileName {
    /// A JSON string, such as the tutorial's `f1.txt`: the strict form.
    Text(String),
    /// A value that is not a string (`1`, `null`): non-strict. Holds its JSON text.
    NotText(String),
    /// No `file_name` key (perhaps misspelled): non-strict.
    Missing,
}

/// One decoded framed-header frame; everything but `unknown_keys` borrows from the buffer
/// or is small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderFrame<'a> {
    /// The header's JSON text as it came, for reports.
    pub header: &'a str,
    pub file_name: FileName,
    pub digest: Digest,
    /// The header's keys other than `total_size`, `file_name` and `md5`, in the header's
    /// order as serde_json keeps it (sorted). Ignored by the protocol; a hint's material
    /// when `file_name` or `md5` is missing.
    pub unknown_keys: Vec<String>,
    /// The body: `total_size` bytes.
    pub body: &'a [u8],
}

impl HeaderFrame<'_> {
    /// Whether the header is what the reference server sends: a text `file_name` and a
    /// real, matching `md5`. Anything less still interoperates, and is non-strict.
    pub fn is_strict(&self) -> bool {
        matches!(self.file_name, FileName::Text(_)) && self.digest == Digest::Verified
    }
}

/// The names of a framed-header header's three keys: the tutorial's `total_size`,
/// `file_name` and `md5`, or a course's own (`keys = "filesize filename md5"` in
/// framed-header's `[words]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderKeys {
    pub total_size: String,
    pub file_name: String,
    pub md5: String,
}

impl Default for HeaderKeys {
    /// The tutorial's.
    fn default() -> Self {
        HeaderKeys {
            total_size: "total_size".into(),
            file_name: "file_name".into(),
            md5: "md5".into(),
        }
    }
}

impl HeaderKeys {
    /// The keys of the word `keys`: three distinct names, in that order, split at spaces.
    /// A name holds no quote, backslash or control character, so a case's header text
    /// that names it can be rewritten by plain replacement.
    pub fn parse(text: &str) -> Result<HeaderKeys, String> {
        let names: Vec<&str> = text.split_whitespace().collect();
        let [total_size, file_name, md5] = names[..] else {
            return Err(format!(
                "`{text}` is not three key names (the size, the file name, the digest; the tutorial's: `total_size file_name md5`)"
            ));
        };
        if let Some(bad) = names
            .iter()
            .find(|n| n.chars().any(|c| c == '"' || c == '\\' || c.is_control()))
        {
            return Err(format!(
                "the key `{bad}` holds a quote, a backslash or a control character"
            ));
        }
        if total_size == file_name || total_size == md5 || file_name == md5 {
            return Err(format!("`{text}` names one key twice"));
        }
        Ok(HeaderKeys {
            total_size: total_size.into(),
            file_name: file_name.into(),
            md5: md5.into(),
        })
    }
}

/// Frames `body` as framed-header with a header of the tutorial's keys, in its order, the
/// `md5` being the body's real digest (32 lowercase hex digits). The header is written as
/// Python's `json.dumps` writes the tutorial's dict, byte for byte: `", "` and `": "` as
/// separators, non-ASCII escaped.
///
/// ```text
/// 53 00 00 00                                   header length: 83
/// {"md5": "5d41402abc4b2a76b9719d911017c592", "file_name": "f1.txt", "total_size": 5}
/// hello                                         body: total_size bytes
/// ```
///
/// # Panics
///
/// If the body or the header is longer than [`MAX_ENCODABLE_LEN`].
pub fn encode_header(body: &[u8], file_name: &str) -> Vec<u8> {
    encode_header_keyed(body, file_name, &HeaderKeys::default())
}

/// [`encode_header`] with a course's key names, in the tutorial's order.
pub fn encode_header_keyed(body: &[u8], file_name: &str, keys: &HeaderKeys) -> Vec<u8> {
    let header = format!(
        r#"{{{}: "{}", {}: {}, {}: {}}}"#,
        python_json_string(&keys.md5),
        md5_hex(body),
        python_json_string(&keys.file_name),
        python_json_string(file_name),
        python_json_string(&keys.total_size),
        body.len()
    );
    encode_header_raw(header.as_bytes(), body)
}

/// Frames `body` behind `header` taken as is, whatever it holds: for a peer that plays the
/// tutorial's server (its placeholder `md5`), and for crafting bad frames.
///
/// # Panics
///
/// If `header` or `body` is longer than [`MAX_ENCODABLE_LEN`].
pub fn encode_header_raw(header: &[u8], body: &[u8]) -> Vec<u8> {
    assert!(
        body.len() <= MAX_ENCODABLE_LEN,
        "a body of {} bytes is too long to frame",
        body.len()
    );
    let mut frame = Vec::with_capacity(PREFIX_LEN + header.len() + body.len());
    frame.extend_from_slice(&prefix_of(header.len(), "header"));
    frame.extend_from_slice(header);
    frame.extend_from_slice(body);
    frame
}

/// Decodes the framed-header frame at the start of `buf`.
///
/// ```text
/// +-------------------------+-------------------------------+--------------------+
/// | length: i32 little-end. | header: `length` bytes, UTF-8 | body: `total_size` |
/// |                         | JSON object with `total_size` | bytes              |
/// +-------------------------+-------------------------------+--------------------+
///   10 00 00 00               {"total_size":2}                hi
/// ```
///
/// Checked in the order the bytes arrive: the header length as soon as the prefix is in,
/// the header (UTF-8, JSON, an object, `total_size`) as soon as it is whole, so a bad
/// header is reported without waiting for a body that may never come, and the digest
/// once the body is whole. Unknown keys are ignored; a missing or placeholder `file_name`
/// or `md5` is no error (see [`HeaderFrame::is_strict`]).
pub fn decode_header<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Decoded<HeaderFrame<'a>>, FrameError> {
    decode_header_keyed(buf, limits, &HeaderKeys::default())
}

/// [`decode_header`] of a header with a course's key names.
pub fn decode_header_keyed<'a>(
    buf: &'a [u8],
    limits: &Limits,
    keys: &HeaderKeys,
) -> Result<Decoded<HeaderFrame<'a>>, FrameError> {
    let Some(prefix) = buf.first_chunk::<PREFIX_LEN>() else {
        return Ok(need_more(PREFIX_LEN, buf));
    };
    let length = i32::from_le_bytes(*prefix);
    let header_len = match usize::try_from(length) {
        Ok(0) => return Err(FrameError::HeaderLengthZero),
        Ok(header_len) if header_len > limits.max_header => {
            return Err(FrameError::HeaderLengthOverLimit {
                length: header_len,
                limit: limits.max_header,
            })
        }
        Ok(header_len) => header_len,
        Err(_) => return Err(FrameError::HeaderLengthNegative { length }),
    };
    let header_end = PREFIX_LEN + header_len;
    let Some(header_bytes) = buf.get(PREFIX_LEN..header_end) else {
        return Ok(need_more(header_end, buf));
    };
    let header = parse_header(header_bytes, limits, keys)?;
    // Saturating: with a limit near `usize::MAX` the end may not be representable, and no
    // buffer can reach it anyway; the count of bytes still needed stays a lower bound.
    let end = header_end.saturating_add(header.total_size);
    let Some(body) = buf.get(header_end..end) else {
        return Ok(need_more(end, buf));
    };
    let digest = check_digest(header.md5, body, &keys.md5)?;
    Ok(Decoded::Frame {
        frame: HeaderFrame {
            header: header.text,
            file_name: header.file_name,
            digest,
            unknown_keys: header.unknown_keys,
            body,
        },
        used: end,
    })
}

/// Whether `prefix`, read big-endian, declares `length` while read little-endian it does
/// not: the classic `struct.pack('!i', n)` (or `'>i'`) mistake, for a hint that names it.
/// A prefix that reads the same both ways (`0`) is no evidence, and gives `false`.
pub fn is_big_endian_length(prefix: [u8; PREFIX_LEN], length: usize) -> bool {
    let Ok(length) = i32::try_from(length) else {
        return false;
    };
    i32::from_be_bytes(prefix) == length && i32::from_le_bytes(prefix) != length
}

/// A header that passed every check but the digest, which needs the body.
struct ParsedHeader<'a> {
    text: &'a str,
    total_size: usize,
    file_name: FileName,
    md5: Option<Value>,
    unknown_keys: Vec<String>,
}

fn parse_header<'a>(
    bytes: &'a [u8],
    limits: &Limits,
    keys: &HeaderKeys,
) -> Result<ParsedHeader<'a>, FrameError> {
    let text = std::str::from_utf8(bytes).map_err(|err| FrameError::HeaderNotUtf8 {
        valid_up_to: err.valid_up_to(),
    })?;
    let value: Value = serde_json::from_str(text).map_err(|err| FrameError::HeaderNotJson {
        reason: err.to_string(),
    })?;
    let mut object = match value {
        Value::Object(object) => object,
        other => {
            return Err(FrameError::HeaderNotObject {
                found: json_kind(&other),
            })
        }
    };
    let total_size = total_size_of(&object, limits, &keys.total_size)?;
    let file_name = match object.remove(&keys.file_name) {
        Some(Value::String(name)) => FileName::Text(name),
        Some(other) => FileName::NotText(other.to_string()),
        None => FileName::Missing,
    };
    let md5 = object.remove(&keys.md5);
    object.remove(&keys.total_size);
    Ok(ParsedHeader {
        text,
        total_size,
        file_name,
        md5,
        unknown_keys: object.into_iter().map(|(key, _)| key).collect(),
    })
}

/// `total_size` as a length within the limit. Python's `json.dumps` writes an `int` as
/// digits only, so a fraction, even `12.0`, is no integer; an integer too large for
/// serde_json's 64 bits arrives as a float, and is over any limit.
fn total_size_of(
    object: &Map<String, Value>,
    limits: &Limits,
    key: &str,
) -> Result<usize, FrameError> {
    let Some(value) = object.get(key) else {
        return Err(FrameError::TotalSizeMissing {
            key: key.into(),
            keys: object.keys().cloned().collect(),
        });
    };
    let Value::Number(number) = value else {
        return Err(FrameError::TotalSizeNotInteger {
            key: key.into(),
            value: value.to_string(),
        });
    };
    let over_limit = || FrameError::TotalSizeOverLimit {
        key: key.into(),
        total_size: number.clone(),
        limit: limits.max_body,
    };
    if let Some(size) = number.as_u64() {
        let size = usize::try_from(size).map_err(|_| over_limit())?;
        return if size > limits.max_body {
            Err(over_limit())
        } else {
            Ok(size)
        };
    }
    if number.as_i64().is_some() {
        return Err(FrameError::TotalSizeNegative {
            key: key.into(),
            total_size: number.clone(),
        });
    }
    // A float: beyond 64 bits it is a whole number written as a float, else a fraction.
    match number.as_f64() {
        Some(float) if float <= -(2f64.powi(63)) => Err(FrameError::TotalSizeNegative {
            key: key.into(),
            total_size: number.clone(),
        }),
        Some(float) if float >= 2f64.powi(64) => Err(over_limit()),
        _ => Err(FrameError::TotalSizeNotInteger {
            key: key.into(),
            value: number.to_string(),
        }),
    }
}

/// What the header's `md5` makes of the body: a real digest must match it.
fn check_digest(md5: Option<Value>, body: &[u8], key: &str) -> Result<Digest, FrameError> {
    match md5 {
        None => Ok(Digest::Missing),
        Some(Value::String(declared)) if is_real_digest(&declared) => {
            let actual = md5_hex(body);
            if declared.eq_ignore_ascii_case(&actual) {
                Ok(Digest::Verified)
            } else {
                Err(FrameError::DigestMismatch {
                    key: key.into(),
                    declared,
                    actual,
                })
            }
        }
        Some(Value::String(placeholder)) => Ok(Digest::Placeholder(placeholder)),
        Some(other) => Ok(Digest::Placeholder(other.to_string())),
    }
}

/// SPEC.md: a digest of 32 hex digits, in either case, is real and is verified.
fn is_real_digest(md5: &str) -> bool {
    md5.len() == 32 && md5.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// The MD5 of `data` as 32 lowercase hex digits, as Python's `hashlib.md5(data).hexdigest()`.
pub fn md5_hex(data: &[u8]) -> String {
    let mut hex = String::with_capacity(32);
    for byte in Md5::digest(data) {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// The prefix that declares `len`.
fn prefix_of(len: usize, what: &str) -> [u8; PREFIX_LEN] {
    match i32::try_from(len) {
        Ok(len) => len.to_le_bytes(),
        Err(_) => panic!("a {what} of {len} bytes is too long to frame"),
    }
}

/// [`Decoded::NeedMore`] for a frame that ends at `end` when `buf.len() < end`.
fn need_more<F>(end: usize, buf: &[u8]) -> Decoded<F> {
    Decoded::NeedMore {
        at_least: end - buf.len(),
    }
}

/// What a JSON value is, in words, for [`FrameError::HeaderNotObject`].
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `text` as a JSON string the way Python's `json.dumps` writes it (`ensure_ascii`):
/// `"` and `\` escaped, `\n` `\r` `\t` `\b` `\f` by name, and everything else outside
/// printable ASCII as `\uXXXX` UTF-16 units, lowercase.
fn python_json_string(text: &str) -> String {
    let mut json = String::with_capacity(text.len() + 2);
    json.push('"');
    for ch in text.chars() {
        match ch {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            '\n' => json.push_str("\\n"),
            '\r' => json.push_str("\\r"),
            '\t' => json.push_str("\\t"),
            '\u{8}' => json.push_str("\\b"),
            '\u{c}' => json.push_str("\\f"),
            ' '..='~' => json.push(ch),
            _ => {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    let _ = write!(json, "\\u{unit:04x}");
                }
            }
        }
    }
    json.push('"');
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    /// The tutorial's header, byte for byte as its server's `json.dumps` writes it.
    const TUTORIAL_HEADER: &str =
        r#"{"md5": "fdsaf2143254f", "file_name": "f1.txt", "total_size": 12}"#;

    fn limits() -> Limits {
        Limits::default()
    }

    fn low_frame(buf: &[u8]) -> (&[u8], usize) {
        match decode_low(buf, &limits()) {
            Ok(Decoded::Frame { frame, used }) => (frame, used),
            other => panic!("expected a frame from {buf:?}, got {other:?}"),
        }
    }

    fn header_frame(buf: &[u8]) -> (HeaderFrame<'_>, usize) {
        match decode_header(buf, &limits()) {
            Ok(Decoded::Frame { frame, used }) => (frame, used),
            other => panic!("expected a frame from {buf:?}, got {other:?}"),
        }
    }

    fn header_error(header: &str, body: &[u8]) -> FrameError {
        let buf = encode_header_raw(header.as_bytes(), body);
        match decode_header(&buf, &limits()) {
            Err(err) => err,
            other => panic!("expected an error from {header}, got {other:?}"),
        }
    }

    fn prefix(length: i32) -> Vec<u8> {
        length.to_le_bytes().to_vec()
    }

    #[test]
    fn low_encodes_as_struct_pack_i() {
        assert_eq!(encode_low(b"hello"), b"\x05\x00\x00\x00hello");
        assert_eq!(encode_low(b""), b"\x00\x00\x00\x00");
    }

    #[test]
    fn low_round_trips_and_leaves_what_follows() {
        for body in [&b""[..], b"hello", &[0xff; 3000]] {
            let mut buf = encode_low(body);
            let len = buf.len();
            buf.extend_from_slice(b"\x02\x00");
            assert_eq!(low_frame(&buf), (body, len));
        }
    }

    #[test]
    fn low_needs_the_whole_prefix_then_the_whole_body() {
        let buf = encode_low(b"hello");
        for (have, at_least) in [(0, 4), (1, 3), (3, 1), (4, 5), (8, 1)] {
            assert_eq!(
                decode_low(&buf[..have], &limits()),
                Ok(Decoded::NeedMore { at_least }),
                "{have} bytes"
            );
        }
    }

    #[test]
    fn low_refuses_a_negative_length() {
        let err = decode_low(&prefix(-5), &limits()).unwrap_err();
        assert_eq!(err, FrameError::NegativeLength { length: -5 });
        assert_eq!(
            err.to_string(),
            "the prefix declares a negative length, `-5`"
        );
        let err = decode_low(&prefix(i32::MIN), &limits()).unwrap_err();
        assert_eq!(err, FrameError::NegativeLength { length: i32::MIN });
    }

    #[test]
    fn low_checks_the_length_against_the_limit_before_the_body_comes() {
        let small = Limits {
            max_body: 5,
            ..Limits::default()
        };
        assert_eq!(
            decode_low(&prefix(5), &small),
            Ok(Decoded::NeedMore { at_least: 5 })
        );
        let err = decode_low(&prefix(6), &small).unwrap_err();
        assert_eq!(
            err,
            FrameError::LengthOverLimit {
                length: 6,
                limit: 5
            }
        );
        assert_eq!(
            err.to_string(),
            "the prefix declares a length of `6` bytes, over the limit of `5`"
        );
        let at_limit = prefix(i32::try_from(DEFAULT_MAX_BODY).unwrap());
        assert!(decode_low(&at_limit, &limits()).is_ok());
        let over = prefix(i32::try_from(DEFAULT_MAX_BODY + 1).unwrap());
        assert!(matches!(
            decode_low(&over, &limits()),
            Err(FrameError::LengthOverLimit { .. })
        ));
    }

    #[test]
    fn a_2_gib_length_allocates_nothing_of_its_size() {
        // The largest length a prefix can declare (2 GiB less a byte): refused by name.
        let buf = b"\xff\xff\xff\x7fsome";
        let (low, largest) = largest_allocation::during(|| decode_low(buf, &limits()));
        assert_eq!(
            low,
            Err(FrameError::LengthOverLimit {
                length: MAX_ENCODABLE_LEN,
                limit: DEFAULT_MAX_BODY
            })
        );
        assert!(largest < 4096, "the decoder allocated {largest} bytes");
        let (header, largest) = largest_allocation::during(|| decode_header(buf, &limits()));
        assert!(matches!(
            header,
            Err(FrameError::HeaderLengthOverLimit { .. })
        ));
        assert!(largest < 4096, "the decoder allocated {largest} bytes");

        // Without limits it is accepted, and the decoder waits for the body, still without
        // allocating it: a frame only borrows from the reader's buffer.
        let unlimited = Limits {
            max_body: usize::MAX,
            max_header: usize::MAX,
        };
        let (low, largest) = largest_allocation::during(|| decode_low(buf, &unlimited));
        assert_eq!(
            low,
            Ok(Decoded::NeedMore {
                at_least: MAX_ENCODABLE_LEN - 4
            })
        );
        assert!(largest < 4096, "the decoder allocated {largest} bytes");
        let header = encode_header_raw(br#"{"total_size": 2147483648}"#, b"");
        let (decoded, largest) =
            largest_allocation::during(|| decode_header(&header, &unlimited).map(|_| ()));
        assert_eq!(decoded, Ok(()));
        assert!(largest < 4096, "the decoder allocated {largest} bytes");
    }

    #[test]
    fn header_encodes_as_the_tutorials_json_dumps_with_a_real_md5() {
        // Python: json.dumps({'md5': hashlib.md5(b'hello').hexdigest(),
        //                     'file_name': 'f1.txt', 'total_size': 5})
        let header = r#"{"md5": "5d41402abc4b2a76b9719d911017c592", "file_name": "f1.txt", "total_size": 5}"#;
        let mut expected = prefix(i32::try_from(header.len()).unwrap());
        expected.extend_from_slice(header.as_bytes());
        expected.extend_from_slice(b"hello");
        assert_eq!(encode_header(b"hello", "f1.txt"), expected);
        // The length that the docs of `encode_header` show.
        assert_eq!(header.len(), 83);
    }

    #[test]
    fn file_names_are_escaped_as_python_does() {
        // Python: json.dumps("a\"b\\c\n\t\x01\x7f é 😀")
        assert_eq!(
            python_json_string("a\"b\\c\n\t\u{1}\u{7f} é 😀"),
            r#""a\"b\\c\n\t\u0001\u007f \u00e9 \ud83d\ude00""#
        );
    }

    #[test]
    fn header_round_trips_strictly() {
        for (body, name) in [(&b""[..], "f1.txt"), (b"hello\xff", "名字 \"1\".txt")] {
            let mut buf = encode_header(body, name);
            let len = buf.len();
            buf.push(0);
            let (frame, used) = header_frame(&buf);
            assert_eq!(used, len);
            assert_eq!(frame.body, body);
            assert_eq!(frame.file_name, FileName::Text(name.to_owned()));
            assert_eq!(frame.digest, Digest::Verified);
            assert!(frame.unknown_keys.is_empty());
            assert!(frame.is_strict());
        }
    }

    #[test]
    fn the_tutorials_placeholder_header_is_non_strict_not_an_error() {
        let buf = encode_header_raw(TUTORIAL_HEADER.as_bytes(), b"hello world\n");
        let (frame, _) = header_frame(&buf);
        assert_eq!(frame.header, TUTORIAL_HEADER);
        assert_eq!(frame.body, b"hello world\n");
        assert_eq!(frame.file_name, FileName::Text("f1.txt".to_owned()));
        assert_eq!(
            frame.digest,
            Digest::Placeholder("fdsaf2143254f".to_owned())
        );
        assert!(!frame.is_strict());
    }

    #[test]
    fn a_missing_or_misspelled_file_name_and_md5_are_non_strict() {
        let buf = encode_header_raw(br#"{"total_size": 2, "filename": "x", "MD5": 1}"#, b"hi");
        let (frame, _) = header_frame(&buf);
        assert_eq!(frame.file_name, FileName::Missing);
        assert_eq!(frame.digest, Digest::Missing);
        assert_eq!(frame.unknown_keys, ["MD5", "filename"]);
        assert!(!frame.is_strict());

        let buf = encode_header_raw(br#"{"total_size": 2, "file_name": 7, "md5": null}"#, b"hi");
        let (frame, _) = header_frame(&buf);
        assert_eq!(frame.file_name, FileName::NotText("7".to_owned()));
        assert_eq!(frame.digest, Digest::Placeholder("null".to_owned()));
    }

    #[test]
    fn a_real_digest_in_either_case_is_verified() {
        let upper = md5_hex(b"hi").to_ascii_uppercase();
        let header = format!(r#"{{"total_size": 2, "file_name": "a", "md5": "{upper}"}}"#);
        let buf = encode_header_raw(header.as_bytes(), b"hi");
        let (frame, _) = header_frame(&buf);
        assert_eq!(frame.digest, Digest::Verified);
        // 31 or 33 hex digits are placeholders, not digests that fail.
        for placeholder in [&upper[1..], &format!("{upper}0")] {
            let header = format!(r#"{{"total_size": 2, "md5": "{placeholder}"}}"#);
            let buf = encode_header_raw(header.as_bytes(), b"hi");
            let (frame, _) = header_frame(&buf);
            assert_eq!(frame.digest, Digest::Placeholder(placeholder.to_string()));
        }
    }

    #[test]
    fn a_real_digest_that_is_not_the_bodys_is_an_error() {
        let wrong = md5_hex(b"ho");
        let header = format!(r#"{{"total_size": 2, "md5": "{wrong}"}}"#);
        let err = header_error(&header, b"hi");
        assert_eq!(
            err,
            FrameError::DigestMismatch {
                key: "md5".into(),
                declared: wrong.clone(),
                actual: md5_hex(b"hi")
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "`md5` is `{wrong}` but the body's MD5 is `{}`",
                md5_hex(b"hi")
            )
        );
    }

    #[test]
    fn header_needs_the_prefix_then_the_header_then_the_body() {
        let buf = encode_header_raw(br#"{"total_size": 3}"#, b"abc");
        let header_end = 4 + 17;
        for (have, at_least) in [
            (0, 4),
            (3, 1),
            (4, 17),
            (header_end - 1, 1),
            (header_end, 3),
            (header_end + 2, 1),
        ] {
            assert_eq!(
                decode_header(&buf[..have], &limits()),
                Ok(Decoded::NeedMore { at_least }),
                "{have} bytes"
            );
        }
    }

    #[test]
    fn header_length_must_be_positive_and_within_its_limit() {
        let err = decode_header(&prefix(0), &limits()).unwrap_err();
        assert_eq!(err, FrameError::HeaderLengthZero);
        assert_eq!(
            err.to_string(),
            "the prefix declares a header length of `0`: the header must hold `total_size`"
        );
        let err = decode_header(&prefix(-1), &limits()).unwrap_err();
        assert_eq!(err, FrameError::HeaderLengthNegative { length: -1 });
        assert_eq!(
            err.to_string(),
            "the prefix declares a negative header length, `-1`"
        );
        let small = Limits {
            max_header: 16,
            ..Limits::default()
        };
        assert_eq!(
            decode_header(&prefix(16), &small),
            Ok(Decoded::NeedMore { at_least: 16 })
        );
        let err = decode_header(&prefix(17), &small).unwrap_err();
        assert_eq!(
            err,
            FrameError::HeaderLengthOverLimit {
                length: 17,
                limit: 16
            }
        );
        assert_eq!(
            err.to_string(),
            "the prefix declares a header length of `17` bytes, over the limit of `16`"
        );
    }

    #[test]
    fn header_must_be_utf8() {
        let buf = encode_header_raw(b"{\"total_size\": \xff}", b"");
        let err = decode_header(&buf, &limits()).unwrap_err();
        assert_eq!(err, FrameError::HeaderNotUtf8 { valid_up_to: 15 });
        assert_eq!(
            err.to_string(),
            "the header is not UTF-8: byte `15` starts an invalid sequence"
        );
    }

    #[test]
    fn header_must_be_json() {
        // Python's repr of a dict, a common slip for json.dumps.
        let err = header_error("{'total_size': 2}", b"hi");
        assert!(matches!(err, FrameError::HeaderNotJson { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "the header is not JSON: key must be a string at line 1 column 2"
        );
    }

    #[test]
    fn header_must_be_an_object() {
        for (header, found) in [("[2]", "array"), ("2", "number"), ("\"x\"", "string")] {
            let err = header_error(header, b"hi");
            assert_eq!(err, FrameError::HeaderNotObject { found });
        }
        assert_eq!(
            header_error("null", b"").to_string(),
            "the header is a JSON null, not an object"
        );
    }

    #[test]
    fn total_size_is_required_and_its_absence_names_the_keys() {
        let err = header_error(r#"{"totalsize": 2, "md5": "x"}"#, b"hi");
        assert_eq!(
            err,
            FrameError::TotalSizeMissing {
                key: "total_size".into(),
                keys: vec!["md5".to_owned(), "totalsize".to_owned()]
            }
        );
        assert_eq!(
            err.to_string(),
            "the header has no `total_size`; its keys are `md5`, `totalsize`"
        );
        assert_eq!(
            header_error("{}", b"").to_string(),
            "the header has no `total_size`; its keys are none"
        );
    }

    #[test]
    fn total_size_must_be_an_integer() {
        for (value, shown) in [
            (r#""2""#, r#""2""#),
            ("2.0", "2.0"),
            ("2.5", "2.5"),
            ("null", "null"),
            ("true", "true"),
            ("[2]", "[2]"),
        ] {
            let err = header_error(&format!(r#"{{"total_size": {value}}}"#), b"hi");
            assert_eq!(
                err,
                FrameError::TotalSizeNotInteger {
                    key: "total_size".into(),
                    value: shown.to_owned()
                },
                "{value}"
            );
        }
        assert_eq!(
            header_error(r#"{"total_size": "2"}"#, b"hi").to_string(),
            r#"`total_size` is `"2"`, not an integer"#
        );
    }

    #[test]
    fn total_size_must_not_be_negative() {
        for value in ["-1", "-9223372036854775808", "-1e30"] {
            let err = header_error(&format!(r#"{{"total_size": {value}}}"#), b"");
            assert!(
                matches!(err, FrameError::TotalSizeNegative { .. }),
                "{value}: {err}"
            );
        }
        assert_eq!(
            header_error(r#"{"total_size": -1}"#, b"").to_string(),
            "`total_size` is negative, `-1`"
        );
    }

    #[test]
    fn total_size_is_checked_against_the_limit_before_the_body_comes() {
        let small = Limits {
            max_body: 3,
            ..Limits::default()
        };
        let buf = encode_header_raw(br#"{"total_size": 4}"#, b"");
        let err = decode_header(&buf, &small).unwrap_err();
        assert_eq!(
            err,
            FrameError::TotalSizeOverLimit {
                key: "total_size".into(),
                total_size: 4.into(),
                limit: 3
            }
        );
        assert_eq!(
            err.to_string(),
            "`total_size` is `4` bytes, over the limit of `3`"
        );
        let buf = encode_header_raw(br#"{"total_size": 3}"#, b"");
        assert_eq!(
            decode_header(&buf, &small),
            Ok(Decoded::NeedMore { at_least: 3 })
        );
        for value in [
            "2147483648",
            "18446744073709551615",
            "18446744073709551616",
            "1e30",
        ] {
            let err = header_error(&format!(r#"{{"total_size": {value}}}"#), b"");
            assert!(
                matches!(err, FrameError::TotalSizeOverLimit { .. }),
                "{value}: {err}"
            );
        }
    }

    #[test]
    fn a_header_error_does_not_wait_for_the_body() {
        // The body is declared but absent: the bad digest can only show once it is here,
        // while everything the header alone says is reported at once.
        let buf = encode_header_raw(br#"{"total_size": -3}"#, b"");
        assert!(decode_header(&buf, &limits()).is_err());
        let wrong = md5_hex(b"x");
        let header = format!(r#"{{"total_size": 3, "md5": "{wrong}"}}"#);
        let buf = encode_header_raw(header.as_bytes(), b"ab");
        assert_eq!(
            decode_header(&buf, &limits()),
            Ok(Decoded::NeedMore { at_least: 1 })
        );
    }

    #[test]
    fn big_endian_prefixes_are_told_apart() {
        assert!(is_big_endian_length(*b"\x00\x00\x00\x05", 5));
        assert!(is_big_endian_length(*b"\x00\x00\x01\x00", 256));
        assert!(!is_big_endian_length(*b"\x05\x00\x00\x00", 5));
        assert!(!is_big_endian_length(*b"\x00\x00\x00\x05", 6));
        // Reads the same both ways: no evidence of either order.
        assert!(!is_big_endian_length([0; 4], 0));
        assert!(!is_big_endian_length(*b"\x01\x00\x00\x01", 0x0100_0001));
        assert!(!is_big_endian_length([0xff; 4], usize::MAX));
    }

    /// Bodies, possibly empty, possibly longer than a `recv(1024)`.
    fn bodies() -> impl Strategy<Value = Vec<Vec<u8>>> {
        prop::collection::vec(
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..64),
                prop::collection::vec(any::<u8>(), 0..2048),
            ],
            1..6,
        )
    }

    /// Cut points in a stream of `len` bytes, from arbitrary indices.
    fn cuts(indices: &[prop::sample::Index], len: usize) -> Vec<usize> {
        let mut cuts: Vec<usize> = indices.iter().map(|index| index.index(len + 1)).collect();
        cuts.push(len);
        cuts.sort_unstable();
        cuts
    }

    /// Feeds `stream` to `decode` in the pieces that `cuts` make, draining every frame as
    /// a reader would; checks each `NeedMore` against the frame ends in `ends`, and
    /// returns what each frame became through `keep`.
    fn feed<T>(
        stream: &[u8],
        cuts: &[usize],
        ends: &[usize],
        mut decode: impl FnMut(&[u8]) -> Result<Option<(T, usize)>, FrameError>,
    ) -> Vec<T> {
        let mut buf = Vec::new();
        let mut drained = 0;
        let mut frames = Vec::new();
        let mut fed = 0;
        for &cut in cuts {
            buf.extend_from_slice(&stream[fed..cut]);
            fed = cut;
            loop {
                match decode(&buf) {
                    Ok(Some((frame, used))) => {
                        frames.push(frame);
                        drained += used;
                        assert_eq!(Some(&drained), ends.get(frames.len() - 1));
                        buf.drain(..used);
                    }
                    Ok(None) => break,
                    Err(err) => panic!("a valid stream failed after {fed} bytes: {err}"),
                }
            }
        }
        assert!(buf.is_empty(), "{} bytes left over", buf.len());
        frames
    }

    /// The frame's end in the stream when decoding `buf` from `drained` gives `NeedMore`:
    /// `at_least` must not reach past it.
    fn check_need_more(at_least: usize, drained: usize, buf_len: usize, ends: &[usize]) {
        assert!(at_least > 0);
        // Past the last frame (the reader drained everything) nothing bounds the count.
        if let Some(end) = ends.iter().find(|&&end| end > drained) {
            assert!(
                drained + buf_len + at_least <= *end,
                "asked for {at_least} more bytes at {}, the frame ends at {end}",
                drained + buf_len
            );
        }
    }

    fn frame_ends(frames: &[Vec<u8>]) -> Vec<usize> {
        frames
            .iter()
            .scan(0, |end, frame| {
                *end += frame.len();
                Some(*end)
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn low_decodes_any_split_of_a_stream(
            bodies in bodies(),
            indices in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
        ) {
            let frames: Vec<Vec<u8>> = bodies.iter().map(|body| encode_low(body)).collect();
            let ends = frame_ends(&frames);
            let stream = frames.concat();
            let mut drained = 0;
            let decoded = feed(&stream, &cuts(&indices, stream.len()), &ends, |buf| {
                match decode_low(buf, &limits())? {
                    Decoded::Frame { frame, used } => {
                        drained += used;
                        Ok(Some((frame.to_vec(), used)))
                    }
                    Decoded::NeedMore { at_least } => {
                        check_need_more(at_least, drained, buf.len(), &ends);
                        Ok(None)
                    }
                }
            });
            prop_assert_eq!(decoded, bodies);
        }

        #[test]
        fn header_decodes_any_split_of_a_stream(
            bodies in bodies(),
            name in any::<String>(),
            indices in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
        ) {
            let frames: Vec<Vec<u8>> =
                bodies.iter().map(|body| encode_header(body, &name)).collect();
            let ends = frame_ends(&frames);
            let stream = frames.concat();
            let mut drained = 0;
            let decoded = feed(&stream, &cuts(&indices, stream.len()), &ends, |buf| {
                match decode_header(buf, &limits())? {
                    Decoded::Frame { frame, used } => {
                        drained += used;
                        assert_eq!(frame.file_name, FileName::Text(name.clone()));
                        assert!(frame.is_strict());
                        Ok(Some((frame.body.to_vec(), used)))
                    }
                    Decoded::NeedMore { at_least } => {
                        check_need_more(at_least, drained, buf.len(), &ends);
                        Ok(None)
                    }
                }
            });
            prop_assert_eq!(decoded, bodies);
        }

        /// Never a panic, and what the decoders say of some bytes does not change when
        /// more bytes follow them, unless it was `NeedMore`: a frame or an error depends
        /// only on the bytes it was found in.
        #[test]
        fn decoding_arbitrary_bytes_never_panics_and_only_more_bytes_change_need_more(
            buf in prop_oneof![
                prop::collection::vec(any::<u8>(), 0..64),
                // A plausible prefix, so that the header's checks are reached.
                (0u8..64, prop::collection::vec(any::<u8>(), 0..96))
                    .prop_map(|(len, rest)| [&[len, 0, 0, 0][..], &rest].concat()),
                // A valid header frame with one byte changed.
                (prop::collection::vec(any::<u8>(), 0..32), any::<prop::sample::Index>(), any::<u8>())
                    .prop_map(|(body, at, byte)| {
                        let mut buf = encode_header(&body, "f1.txt");
                        let at = at.index(buf.len());
                        buf[at] = byte;
                        buf
                    }),
            ],
            more in prop::collection::vec(any::<u8>(), 0..32),
            max_body in prop_oneof![Just(DEFAULT_MAX_BODY), 0usize..40],
            max_header in prop_oneof![Just(DEFAULT_MAX_HEADER), 1usize..80],
        ) {
            let limits = Limits { max_body, max_header };
            let longer = [&buf[..], &more].concat();

            let low = decode_low(&buf, &limits);
            match &low {
                Ok(Decoded::Frame { used, .. }) => prop_assert!(*used <= buf.len()),
                Ok(Decoded::NeedMore { at_least }) => prop_assert!(*at_least > 0),
                Err(_) => {}
            }
            if !matches!(low, Ok(Decoded::NeedMore { .. })) {
                prop_assert_eq!(decode_low(&longer, &limits), low);
            }

            let header = decode_header(&buf, &limits);
            match &header {
                Ok(Decoded::Frame { used, frame }) => {
                    prop_assert!(*used <= buf.len());
                    prop_assert_eq!(frame.body, &buf[*used - frame.body.len()..*used]);
                }
                Ok(Decoded::NeedMore { at_least }) => prop_assert!(*at_least > 0),
                Err(_) => {}
            }
            if !matches!(header, Ok(Decoded::NeedMore { .. })) {
                prop_assert_eq!(decode_header(&longer, &limits), header);
            }
        }
    }

    /// The largest single allocation made by this thread while a closure runs: the
    /// evidence that a decoder allocates nothing of the size a prefix declares. The
    /// allocator only watches; every call goes to the system's.
    mod largest_allocation {
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;

        thread_local! {
            // Const-initialised and without `Drop`: reading it never allocates, so the
            // allocator can use it.
            static LARGEST: Cell<usize> = const { Cell::new(0) };
        }

        struct Watching;

        fn note(size: usize) {
            // `try_with`: the thread may be tearing its locals down.
            let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
        }

        // SAFETY: every call is forwarded unchanged to `System`, which upholds the
        // contract; `note` neither allocates nor unwinds.
        unsafe impl GlobalAlloc for Watching {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                note(layout.size());
                unsafe { System.alloc(layout) }
            }

            unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
                note(layout.size());
                unsafe { System.alloc_zeroed(layout) }
            }

            unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
                note(new_size);
                unsafe { System.realloc(ptr, layout, new_size) }
            }

            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                unsafe { System.dealloc(ptr, layout) }
            }
        }

        #[global_allocator]
        static WATCHING: Watching = Watching;

        pub fn during<R>(run: impl FnOnce() -> R) -> (R, usize) {
            LARGEST.with(|largest| largest.set(0));
            let result = run();
            (result, LARGEST.with(Cell::get))
        }
    }
}
