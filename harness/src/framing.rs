//! The two frame formats as the peer reads them (framed-low's length prefix, framed-header's
//! JSON header), decoded with the reference's own codecs into what a fixture records. Pure:
//! bytes in, observations out; the hints read it as well as the frame steps.

use crate::observation::{FrameObs, HeaderObs};
use crate::payload::Expected;
use sockref::frame::{self as codec, Decoded, Digest, FileName, HeaderKeys, Limits};

/// Which of the two framings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// framed-low: a 4-byte little-endian length, then the body.
    Low,
    /// framed-header: a 4-byte length, a JSON header, then the body.
    Header,
}

/// Whether `bytes` are nothing but empty frames of `format` (the last perhaps cut short):
/// what a framed server sends over and over when it ignores the end of stream.
pub fn only_empty_frames(format: Format, keys: &HeaderKeys, bytes: &[u8]) -> bool {
    let limits = Limits::default();
    let mut rest = bytes;
    let mut frames = 0;
    while !rest.is_empty() {
        match decode(format, rest, &limits, keys) {
            Ok(Some((frame, used))) if frame.body.is_empty() => {
                frames += 1;
                rest = &rest[used..];
            }
            Ok(None) => break,
            _ => return false,
        }
    }
    frames > 0
}

/// Decodes one frame from `buf` (a framed-header header names its keys `keys`): the
/// observation and the bytes it used, `None` for more.
pub fn decode(
    format: Format,
    buf: &[u8],
    limits: &Limits,
    keys: &HeaderKeys,
) -> Result<Option<(FrameObs, usize)>, codec::FrameError> {
    Ok(match format {
        Format::Low => match codec::decode_low(buf, limits)? {
            Decoded::NeedMore { .. } => None,
            Decoded::Frame { frame, used } => Some((
                FrameObs {
                    body: Expected::Exact(frame.to_vec()),
                    header: None,
                },
                used,
            )),
        },
        Format::Header => match codec::decode_header_keyed(buf, limits, keys)? {
            Decoded::NeedMore { .. } => None,
            Decoded::Frame { frame, used } => Some((
                FrameObs {
                    body: Expected::Exact(frame.body.to_vec()),
                    header: Some(HeaderObs {
                        md5: match frame.digest {
                            Digest::Verified => "verified",
                            Digest::Placeholder(_) => "placeholder",
                            Digest::Missing => "missing",
                        }
                        .to_string(),
                        file_name: match frame.file_name {
                            FileName::Text(t) => Some(t),
                            FileName::NotText(t) => Some(t),
                            FileName::Missing => None,
                        },
                    }),
                },
                used,
            )),
        },
    })
}

/// `bytes` (what a case sends) with the tutorial's header keys renamed to a course's
/// `keys` in every framed-header frame they hold whole, each prefix counting its new
/// header: so the cases and the bundled reference speak the course's header. A key is
/// renamed where it stands as a key (quoted, then `:`), so a value that reads `md5` stays;
/// the frames are walked from the first byte, and what is no whole frame (a body sent on
/// its own, a command) is left as it is.
pub fn rename_keys(bytes: &[u8], keys: &HeaderKeys) -> Vec<u8> {
    let tutorial = HeaderKeys::default();
    if keys == &tutorial {
        return bytes.to_vec();
    }
    let renames = [
        (&tutorial.total_size, &keys.total_size),
        (&tutorial.file_name, &keys.file_name),
        (&tutorial.md5, &keys.md5),
    ];
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((header, body_len)) = whole_header(rest) {
        let text = rename_json_keys(header, &renames);
        let body_end = (codec::PREFIX_LEN + header.len())
            .saturating_add(body_len)
            .min(rest.len());
        let body = &rest[codec::PREFIX_LEN + header.len()..body_end];
        out.extend_from_slice(&codec::encode_header_raw(text.as_bytes(), body));
        rest = &rest[body_end..];
    }
    out.extend_from_slice(rest);
    out
}

/// The JSON object header at the start of `bytes`, whole, and the body length it declares
/// (0 when it declares none a frame could have).
fn whole_header(bytes: &[u8]) -> Option<(&str, usize)> {
    let prefix = bytes.first_chunk::<{ codec::PREFIX_LEN }>()?;
    let len = usize::try_from(i32::from_le_bytes(*prefix)).ok()?;
    let header =
        std::str::from_utf8(bytes.get(codec::PREFIX_LEN..codec::PREFIX_LEN + len)?).ok()?;
    let value: serde_json::Value = serde_json::from_str(header).ok()?;
    let object = value.as_object()?;
    let body_len = object
        .get(&HeaderKeys::default().total_size)
        .and_then(|v| v.as_u64())
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    Some((header, body_len))
}

/// `text` with each JSON key `"old"` (followed by `:`) written `"new"`, all in one pass,
/// so keys that trade names (`total_size` for `file_name` and back) do not collapse.
fn rename_json_keys(text: &str, renames: &[(&String, &String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while let Some(at) = rest.find('"') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        for (old, new) in renames {
            let quoted = format!("\"{old}\"");
            if let Some(after) = rest.strip_prefix(quoted.as_str()) {
                if after.trim_start().starts_with(':') {
                    out.push_str(&format!("\"{new}\""));
                    rest = after;
                    continue 'scan;
                }
            }
        }
        out.push('"');
        rest = &rest[1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_renamed_in_whole_frames_only() {
        let keys = HeaderKeys::parse("filesize filename md5").unwrap();
        let frame = codec::encode_header(b"hello", "md5");
        let renamed = rename_keys(&frame, &keys);
        assert_eq!(renamed, codec::encode_header_keyed(b"hello", "md5", &keys));
        // Two frames in one write, and a body on its own after a header, stay frames.
        let two = [frame.clone(), frame.clone()].concat();
        assert_eq!(rename_keys(&two, &keys), renamed.repeat(2));
        let header_only = &frame[..frame.len() - 5];
        let got = rename_keys(header_only, &keys);
        assert_eq!(got, renamed[..renamed.len() - 5]);
        assert_eq!(rename_keys(b"hello world\n", &keys), b"hello world\n");
        // A header that is no JSON, or no object, is sent as written.
        let raw = codec::encode_header_raw(b"{\"total_size\": 5", b"hello");
        assert_eq!(rename_keys(&raw, &keys), raw);
        // Keys that trade names are renamed at once, not one after the other.
        let swapped = HeaderKeys::parse("file_name total_size md5").unwrap();
        assert_eq!(
            rename_keys(&frame, &swapped),
            codec::encode_header_keyed(b"hello", "md5", &swapped)
        );
        // The tutorial's keys change nothing.
        assert_eq!(rename_keys(&frame, &HeaderKeys::default()), frame);
        // The renamed frame decodes with the course's keys, and not with the tutorial's.
        let limits = Limits::default();
        assert!(matches!(
            decode(Format::Header, &renamed, &limits, &keys),
            Ok(Some(_))
        ));
        assert!(decode(Format::Header, &renamed, &limits, &HeaderKeys::default()).is_err());
    }

    #[test]
    fn only_empty_frames_is_the_eof_loop_and_nothing_else() {
        let empty_low = codec::encode_low(b"");
        let keys = HeaderKeys::default();
        assert!(only_empty_frames(Format::Low, &keys, &empty_low.repeat(3)));
        // The last repetition may be cut short by the read.
        assert!(only_empty_frames(
            Format::Low,
            &keys,
            &empty_low.repeat(3)[..10]
        ));
        assert!(!only_empty_frames(
            Format::Low,
            &keys,
            &codec::encode_low(b"hi")
        ));
        assert!(!only_empty_frames(Format::Low, &keys, b""));
        assert!(!only_empty_frames(Format::Low, &keys, b"\xff\xff\xff\xff"));
        let empty_header = codec::encode_header(b"", "f1.txt");
        assert!(only_empty_frames(
            Format::Header,
            &keys,
            &empty_header.repeat(2)
        ));
        assert!(!only_empty_frames(Format::Header, &keys, &empty_low));
        // A course's keys: its empty frames, not the tutorial's.
        let course = HeaderKeys::parse("size name digest").unwrap();
        let empty_course = codec::encode_header_keyed(b"", "f1.txt", &course);
        assert!(only_empty_frames(
            Format::Header,
            &course,
            &empty_course.repeat(2)
        ));
        assert!(!only_empty_frames(
            Format::Header,
            &course,
            &empty_header.repeat(2)
        ));
    }
}
