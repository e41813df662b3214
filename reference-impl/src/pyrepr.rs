//! Python 3's `repr()` of a `bytes` object, which the tutorial prints (`print(data)`) and
//! the fixtures therefore record: `b'he'`, `b''`, `b"it's"`, `b'\x00\xff'`.

/// Formats `data` exactly as Python 3's `repr(bytes)` does.
///
/// The rules are CPython's (`Objects/bytesobject.c`, `PyBytes_Repr`): single quotes,
/// unless the data holds a `'` and no `"`; a backslash before `\` and before the chosen
/// quote; `\t`, `\n`, `\r` by name; every other byte below 0x20 or from 0x7f up as
/// `\xNN` in lowercase hex; everything else as itself.
pub fn bytes_repr(data: &[u8]) -> String {
    let quote = if data.contains(&b'\'') && !data.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut repr = String::with_capacity(data.len() + 3);
    repr.push('b');
    repr.push(char::from(quote));
    for &byte in data {
        match byte {
            b'\\' => repr.push_str("\\\\"),
            b'\t' => repr.push_str("\\t"),
            b'\n' => repr.push_str("\\n"),
            b'\r' => repr.push_str("\\r"),
            _ if byte == quote => {
                repr.push('\\');
                repr.push(char::from(byte));
            }
            0x20..=0x7e => repr.push(char::from(byte)),
            _ => repr.push_str(&format!("\\x{byte:02x}")),
        }
    }
    repr.push(char::from(quote));
    repr
}

#[cfg(test)]
mod tests {
    use super::bytes_repr;

    /// Each pair is a `bytes` literal's value and what `python3 -c 'print(repr(...))'` printed.
    #[test]
    fn matches_python() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "b''"),
            (b"he", "b'he'"),
            (b"hello", "b'hello'"),
            (b"it's", r#"b"it's""#),
            (b"'\"", r#"b'\'"'"#),
            (b"\"", r#"b'"'"#),
            (b"\x00\xff", r"b'\x00\xff'"),
            (b"a\\b", r"b'a\\b'"),
            (
                b"\t\n\r\x0b\x0c\x1f\x7f\x80",
                r"b'\t\n\r\x0b\x0c\x1f\x7f\x80'",
            ),
            (b" ~", "b' ~'"),
            ("é".as_bytes(), r"b'\xc3\xa9'"),
            (b"'\\", r#"b"'\\""#),
        ];
        for (data, expected) in cases {
            assert_eq!(bytes_repr(data), *expected, "repr of {data:?}");
        }
    }
}
