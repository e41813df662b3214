//! Standard input and output as the tutorial's `print()` and `input()` use them, flushed at
//! once so the harness sees each line (and each prompt, which has no newline) as it happens.

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
}
