//! The two frame formats as the peer reads them (framed-low's length prefix, framed-header's
//! JSON header), decoded with the reference's own codecs into what a fixture records. Pure:
//! bytes in, observations out; the hints read it as well as the frame steps.

use crate::observation::{FrameObs, HeaderObs};
use crate::payload::Expected;
use sockref::frame::{self as codec, Decoded, Digest, FileName, Limits};

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
pub fn only_empty_frames(format: Format, bytes: &[u8]) -> bool {
    let limits = Limits::default();
    let mut rest = bytes;
    let mut frames = 0;
    while !rest.is_empty() {
        match decode(format, rest, &limits) {
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

/// Decodes one frame from `buf`: the observation and the bytes it used, `None` for more.
pub fn decode(
    format: Format,
    buf: &[u8],
    limits: &Limits,
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
        Format::Header => match codec::decode_header(buf, limits)? {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_empty_frames_is_the_eof_loop_and_nothing_else() {
        let empty_low = codec::encode_low(b"");
        assert!(only_empty_frames(Format::Low, &empty_low.repeat(3)));
        // The last repetition may be cut short by the read.
        assert!(only_empty_frames(Format::Low, &empty_low.repeat(3)[..10]));
        assert!(!only_empty_frames(Format::Low, &codec::encode_low(b"hi")));
        assert!(!only_empty_frames(Format::Low, b""));
        assert!(!only_empty_frames(Format::Low, b"\xff\xff\xff\xff"));
        let empty_header = codec::encode_header(b"", "f1.txt");
        assert!(only_empty_frames(Format::Header, &empty_header.repeat(2)));
        assert!(!only_empty_frames(Format::Header, &empty_low));
    }
}
