//! What the program wrote to stderr, as the report uses it: the tail of it, its last lines
//! as excerpts, and the Python exception it died of (read from the last traceback).

/// How much of the end of stderr is kept for the report.
pub const STDERR_TAIL: usize = 16 << 10;
/// Longest stderr line shown in a report.
const STDERR_LINE: usize = 300;

/// The last bytes a program wrote to stderr.
#[derive(Debug, Default)]
pub struct Tail {
    data: Vec<u8>,
    pub eof: bool,
}

impl Tail {
    pub(super) fn push(&mut self, chunk: &[u8]) {
        self.data.extend_from_slice(chunk);
        if self.data.len() > 2 * STDERR_TAIL {
            let cut = self.data.len() - STDERR_TAIL;
            self.data.drain(..cut);
        }
    }

    fn text(&self) -> std::borrow::Cow<'_, str> {
        let start = self.data.len().saturating_sub(STDERR_TAIL);
        String::from_utf8_lossy(&self.data[start..])
    }

    /// The last `max_lines` lines, lossily decoded, each cut to an excerpt.
    pub fn last_lines(&self, max_lines: usize) -> String {
        let text = self.text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(max_lines)..]
            .iter()
            .map(|l| {
                if l.len() <= STDERR_LINE {
                    l.to_string()
                } else {
                    let mut cut = STDERR_LINE;
                    while !l.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    format!("{}… ({} bytes)", &l[..cut], l.len())
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The exception that ended the last Python traceback on stderr (`EOFError`,
    /// `ConnectionResetError`), if there is one: the one the program died of. An exception
    /// raised while handling another comes after it, so it is the one named.
    pub fn last_exception(&self) -> Option<String> {
        last_exception(&self.text())
    }
}

/// The exception named by the last line of the last traceback in `text`.
pub fn last_exception(text: &str) -> Option<String> {
    let start = text.rfind("Traceback (most recent call last):")?;
    let after = &text[start..];
    // The traceback's frames are indented; its last unindented line names the exception.
    let line = after
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| !l.starts_with(' ') && !l.starts_with('\t'))
        .last()?;
    // The full dotted name (`struct.error`, `json.decoder.JSONDecodeError`): a bare
    // `error` would say nothing.
    let name = line.split(':').next()?.trim();
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
    valid.then(|| name.to_string())
}
