//! Standard input and output as the tutorial's `print()` and `input()` use them, flushed at
//! once so the harness sees each line (and each prompt, which has no newline) as it happens;
//! and `input().strip()`, as most of its clients read a line.

use std::io::{BufRead, Write};

use crate::Error;

/// `print(text)`: the text, a newline, and a flush.
pub fn print_line(out: &mut impl Write, text: &str) -> Result<(), Error> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(Error::Stdout)
}

/// The prompt of `input(prompt)`: no newline, so it must be flushed by hand.
pub fn prompt(out: &mut impl Write, text: &str) -> Result<(), Error> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Stdout)
}

/// The rest of `input()`: one line of stdin without its `\n` or `\r\n`, or `None` at the
/// end of input (where `input()` raises `EOFError`). The bytes are kept as they are: they
/// go to the socket, which is what `encode('utf-8')` of the decoded line amounts to.
pub fn read_line(input: &mut impl BufRead) -> Result<Option<Vec<u8>>, Error> {
    let mut line = Vec::new();
    if input.read_until(b'\n', &mut line).map_err(Error::Stdin)? == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    Ok(Some(line))
}

/// `input().strip()`: without the whitespace around it, as Python's `str.strip` sees
/// whitespace (Unicode's, and the separators `\x1c` to `\x1f`). Input that is not UTF-8
/// loses the ASCII whitespace only.
pub fn strip(line: &[u8]) -> &[u8] {
    match std::str::from_utf8(line) {
        Ok(text) => text
            .trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
            .as_bytes(),
        Err(_) => line.trim_ascii(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_line_strips_only_the_line_ending() {
        let mut input: &[u8] = b"hello\r\n  world \n\nlast";
        let mut lines = Vec::new();
        while let Some(line) = read_line(&mut input).unwrap() {
            lines.push(line);
        }
        let expected: [&[u8]; 4] = [b"hello", b"  world ", b"", b"last"];
        assert_eq!(lines, expected);
    }

    #[test]
    fn prints_and_prompts() {
        let mut out = Vec::new();
        prompt(&mut out, ">>>").unwrap();
        print_line(&mut out, "HELLO").unwrap();
        assert_eq!(out, b">>>HELLO\n");
    }

    #[test]
    fn strip_is_python_str_strip() {
        assert_eq!(strip(b" \t ls -l \r\x0b\x0c"), b"ls -l");
        assert_eq!(strip("\u{3000}pwd\x1f".as_bytes()), b"pwd");
        assert_eq!(strip(b" \xff "), b"\xff");
        assert_eq!(strip(b"   "), b"");
    }
}
