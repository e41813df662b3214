//! The full wire log of a run (`explain --verbose`): every event of its trace, and under
//! each chunk that crossed the wire or the program's stdio its connection, its direction,
//! its offset in that direction's stream and its size, then its bytes as `xxd` shows them
//! (offset, 16 bytes in hex, the text), so a student sees exactly which bytes went where.

use super::words::words;
use crate::hints::Lang;
use crate::trace::{Entry, Event};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Bytes per hexdump line, as `xxd`.
const PER_LINE: usize = 16;
/// The indent of a hexdump under its event's line (past the event's time column).
const INDENT: &str = "           ";
/// Bytes dumped in all: a program that floods its peer gets a log people can read (about
/// 5 MB of text), not 2000 chunks of 64 KiB each.
const DUMP_BUDGET: usize = 1 << 20;

/// The wire log of a run's trace; `dropped`: how many older events it did not keep.
pub fn log(events: &[Entry], dropped: usize, lang: Lang) -> String {
    let w = words(lang);
    let mut out = String::new();
    if dropped > 0 {
        let _ = writeln!(out, "  ({dropped} {})", w.dropped);
    }
    // Bytes so far in each direction of each stream, and datagrams so far on each socket
    // each way: a chunk's offset is the count before it.
    let mut offsets: BTreeMap<(String, &str), usize> = BTreeMap::new();
    let mut offset = |stream: &str, dir: &'static str, bytes: usize| {
        let at = offsets.entry((stream.to_string(), dir)).or_default();
        let before = *at;
        *at += bytes;
        before
    };
    let mut dumped = 0usize;
    for entry in events {
        let time = format!("{:>8.3}s", entry.at.as_secs_f64());
        let (line, chunk) = match &entry.event {
            Event::Spawned => (w.started.to_string(), None),
            Event::Opened { conn } => (format!("{conn} {}", w.opened), None),
            Event::Wrote { to, bytes, head } => {
                let at = offset(to, "->", *bytes);
                (
                    format!(
                        "{to} -> {}, {} {at} ({})",
                        count(*bytes, lang),
                        w.at_offset,
                        w.peer_wrote
                    ),
                    Some((at, *bytes, head)),
                )
            }
            Event::Received { conn, bytes, head } => {
                let at = offset(conn, "<-", *bytes);
                (
                    format!(
                        "{conn} <- {}, {} {at} ({})",
                        count(*bytes, lang),
                        w.at_offset,
                        w.program_sent
                    ),
                    Some((at, *bytes, head)),
                )
            }
            Event::Ended { conn, end } => (
                format!("{conn} <- {} ({})", end.word(), w.program_ended),
                None,
            ),
            Event::PeerClosed { conn, how } => (format!("{conn} {how} ({})", w.peer_ended), None),
            Event::Printed { lines, bytes, head } => {
                let bytes = usize::try_from(*bytes).unwrap_or(usize::MAX);
                let at = offset("stdout", "<-", bytes);
                // A prompt is printed without a newline: no line yet.
                let lines = match lines {
                    0 => String::new(),
                    n => format!(" ({n} {})", w.lines),
                };
                (
                    format!(
                        "{} <- {}{lines}, {} {at}",
                        w.printed,
                        count(bytes, lang),
                        w.at_offset
                    ),
                    Some((at, bytes, head)),
                )
            }
            Event::Exited { status } => (format!("{}: {status}", w.exited), None),
            Event::DatagramSent {
                sock,
                to,
                bytes,
                head,
            } => {
                let n = offset(sock, "=>", 1) + 1;
                (
                    format!(
                        "{sock} => {to}: {} {n}, {} ({})",
                        w.datagram,
                        count(*bytes, lang),
                        w.peer_wrote
                    ),
                    Some((0, *bytes, head)),
                )
            }
            Event::DatagramReceived {
                sock,
                from,
                bytes,
                head,
            } => {
                let n = offset(sock, "<=", 1) + 1;
                (
                    format!(
                        "{sock} <= {from}: {} {n}, {} ({})",
                        w.datagram,
                        count(*bytes, lang),
                        w.program_sent
                    ),
                    Some((0, *bytes, head)),
                )
            }
        };
        let _ = writeln!(out, "{time}  {line}");
        if let Some((at, bytes, head)) = chunk {
            if dumped >= DUMP_BUDGET {
                continue;
            }
            dumped += head.len();
            if head.len() < bytes {
                let _ = writeln!(out, "{INDENT}({} {})", head.len(), w.kept);
            }
            for row in hexdump(head, at) {
                let _ = writeln!(out, "{INDENT}{row}");
            }
            if dumped >= DUMP_BUDGET {
                let _ = writeln!(out, "{INDENT}({})", w.dump_spent);
            }
        }
    }
    out
}

fn count(n: usize, lang: Lang) -> String {
    match (lang, n) {
        (Lang::En, 1) => "1 byte".into(),
        (Lang::En, n) => format!("{n} bytes"),
        (Lang::Zh, n) => format!("{n} 字节"),
    }
}

/// `data` as `xxd -o OFFSET` prints it: the offset in 8 hex digits, 16 bytes as 8 groups
/// of 4 hex digits, two spaces, the bytes as text (printable ASCII, `.` for the rest).
pub fn hexdump(data: &[u8], offset: usize) -> Vec<String> {
    data.chunks(PER_LINE)
        .enumerate()
        .map(|(i, row)| {
            let mut hex = String::with_capacity(40);
            for (j, byte) in row.iter().enumerate() {
                if j > 0 && j % 2 == 0 {
                    hex.push(' ');
                }
                let _ = write!(hex, "{byte:02x}");
            }
            let text: String = row
                .iter()
                .map(|&b| {
                    if (0x20..0x7f).contains(&b) {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            format!("{:08x}: {hex:<39}  {text}", offset + i * PER_LINE)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_hexdump_is_xxds() {
        // `printf 'hello world, hello!!' | xxd`, and `printf worldSB | xxd -o 7`.
        assert_eq!(
            hexdump(b"hello world, hello!!", 0),
            [
                "00000000: 6865 6c6c 6f20 776f 726c 642c 2068 656c  hello world, hel",
                "00000010: 6c6f 2121                                lo!!",
            ]
        );
        assert_eq!(
            hexdump(b"worldSB", 7),
            ["00000007: 776f 726c 6453 42                        worldSB"]
        );
        assert!(hexdump(b"", 0).is_empty());
    }

    #[test]
    fn each_direction_of_each_connection_counts_its_own_offsets() {
        let at = |ms| Duration::from_millis(ms);
        let wrote = |to: &str, data: &[u8]| Event::Wrote {
            to: to.into(),
            bytes: data.len(),
            head: data.to_vec(),
        };
        let events: Vec<Entry> = [
            wrote("c1", b"hello"),
            Event::Received {
                conn: "c1".into(),
                bytes: 7,
                head: b"helloSB".to_vec(),
            },
            wrote("c1", b"world"),
            wrote("c2", b"x"),
            Event::DatagramSent {
                sock: "u1".into(),
                to: "127.0.0.1:9000".into(),
                bytes: 2,
                head: b"hi".to_vec(),
            },
        ]
        .into_iter()
        .enumerate()
        .map(|(i, event)| Entry {
            at: at(i as u64),
            event,
        })
        .collect();
        let text = log(&events, 0, Lang::En);
        assert!(
            text.contains("c1 -> 5 bytes, at offset 5 (peer wrote)"),
            "{text}"
        );
        assert!(text.contains("00000005: 776f 726c 64"), "{text}");
        assert!(
            text.contains("c1 <- 7 bytes, at offset 0 (program sent)"),
            "{text}"
        );
        assert!(text.contains("c2 -> 1 byte, at offset 0"), "{text}");
        assert!(
            text.contains("u1 => 127.0.0.1:9000: datagram 1, 2 bytes"),
            "{text}"
        );
        assert!(text.contains("00000000: 6869"), "{text}");
    }

    #[test]
    fn a_flood_is_dumped_up_to_its_budget_then_only_listed() {
        let chunk = vec![b'x'; 64 * 1024];
        let events: Vec<Entry> = (0..40)
            .map(|i| Entry {
                at: Duration::from_millis(i),
                event: Event::Received {
                    conn: "c1".into(),
                    bytes: chunk.len(),
                    head: chunk.clone(),
                },
            })
            .collect();
        let text = log(&events, 0, Lang::En);
        assert_eq!(text.matches("the hexdump stops here").count(), 1);
        // Every chunk is listed, with its offset.
        assert_eq!(text.matches("c1 <- 65536 bytes").count(), 40);
        assert!(
            text.contains(&format!("at offset {}", 39 * 65536)),
            "offsets go on"
        );
        // 16 of the 40 chunks dumped: 1 MiB, about 5 MB of text, not 13.
        assert!(text.len() < 6_000_000, "{}", text.len());
    }
}
