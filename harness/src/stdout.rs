//! Lenient reading of what an implementation prints: prompts, ANSI colour codes and
//! surrounding blanks are stripped, extra lines are skipped, and a Python bytes repr
//! (`b'HELLO'`) stands for the text it shows (`HELLO`).

/// Removes ANSI escape sequences (CSI `ESC [ ... final`, and lone `ESC x`).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        // `ESC [ params final`; any other escape is two characters long.
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if ('\x40'..='\x7e').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

/// Normalises one printed line: ANSI codes and prompts removed wherever they appear (a
/// prompt has no newline, so it sits at the start of the next printed line), the peer's
/// ephemeral ports replaced by `[PORT]`, surrounding white space trimmed.
pub fn normalise(line: &str, prompts: &[String], ports: &[u16]) -> String {
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

/// Replaces each whole-number occurrence of the given ports by `[PORT]`.
pub fn redact_ports(text: &str, ports: &[u16]) -> String {
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
            if number.parse::<u16>().is_ok_and(|n| ports.contains(&n)) {
                out.push_str("[PORT]");
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

/// The text inside a Python bytes literal (`b'he\'l'` → `he'l`), if the line is one.
pub fn unwrap_bytes_repr(line: &str) -> Option<Vec<u8>> {
    let rest = line.strip_prefix('b')?;
    let quote = rest.chars().next().filter(|q| *q == '\'' || *q == '"')?;
    let body = rest[1..].strip_suffix(quote)?;
    let mut out = Vec::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next()? {
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            '\\' => out.push(b'\\'),
            '\'' => out.push(b'\''),
            '"' => out.push(b'"'),
            'x' => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(u8::from_str_radix(&hex, 16).ok()?);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Whether a printed (normalised) line carries the expected data: the same text, or the
/// same non-empty data once a Python bytes repr on either side is unwrapped.
pub fn line_matches(expected: &str, actual: &str) -> bool {
    if expected == actual {
        return true;
    }
    let as_data = |s: &str| unwrap_bytes_repr(s).unwrap_or_else(|| s.as_bytes().to_vec());
    let want = as_data(expected);
    !want.is_empty() && want == as_data(actual)
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
        assert_eq!(
            normalise("来自[127.0.0.1:40123]的一条消息:", &prompts, &[40123]),
            "来自[127.0.0.1:[PORT]]的一条消息:"
        );
        assert_eq!(
            redact_ports("8080 140123 40123", &[40123]),
            "8080 140123 [PORT]"
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
        assert_eq!(unwrap_bytes_repr("b'\\x00\\xff'"), Some(vec![0, 255]));
        assert_eq!(unwrap_bytes_repr("hello"), None);
    }
}
