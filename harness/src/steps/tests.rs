//! The run halves of the TCP family and the silence window, against an in-process program:
//! a thread of the test plays the implementation on an ephemeral loopback port, so each
//! step's reading of the wire is checked without spawning, namespaces or fixtures.

use super::context::{Ctx, StepEnd};
use super::{run, unread};
use crate::hints::Symptom;
use crate::iut::IutSpec;
use crate::observation::{Kind, Observation};
use crate::script::Case;
use crate::session::Session;
use crate::steps::context::{ProgramInfo, Timing};
use crate::syntax::{split_word, Step};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

/// A program played by a thread: it accepts one connection and does `serve` with it.
fn program(serve: impl FnOnce(TcpStream) + Send + 'static) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("an ephemeral port");
    let addr = listener.local_addr().expect("its address");
    let thread = std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("the peer connects");
        serve(conn);
    });
    (addr, thread)
}

/// Runs `steps` (one a line, `step => expected` to check) against the program at `addr`,
/// and returns how each ended, then what the end-of-case check found unread.
fn play(addr: SocketAddr, steps: &str) -> (Vec<StepEnd>, Option<String>) {
    let case: Case = crate::script::parse("unit", "case", "role server\nspawn\n").expect("a case");
    let program = ProgramInfo {
        id: "unit".into(),
        addr,
        prompts: Vec::new(),
        labels: Vec::new(),
        tolerances: Vec::new(),
        eof_reply: None,
        eof_frames: None,
        header_keys: Default::default(),
        words: Default::default(),
    };
    let spec = IutSpec {
        command: "unused".into(),
        workdir: None,
        isolation: crate::sandbox::Policy::Shared,
        limits: Default::default(),
        hidden: Vec::new(),
    };
    let timing = Timing {
        connect: Duration::from_secs(5),
        observe: Duration::from_secs(2),
        ..Timing::default()
    };
    let mut ctx = Ctx {
        case: &case,
        program: &program,
        spec: &spec,
        timing: &timing,
        recording: false,
        session: Session::new(addr),
        expected_lines: Vec::new(),
        stdout_done: 0,
        stdin_used: false,
        stdin_after_peer_end: false,
        peer_ends: Vec::new(),
        opened: Vec::new(),
        private_network: false,
    };
    let mut ends = Vec::new();
    for line in steps.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (text, expected) = match line.split_once(" => ") {
            Some((t, e)) => (t, Some(e)),
            None => (line, None),
        };
        let (word, rest) = split_word(text);
        let step = Step::parse(word, rest).expect("the step parses");
        let expected = expected.map(|e| {
            Observation::parse(step.observes().expect("an observation"), e).expect("parses")
        });
        ctx.recording = expected.is_none() && step.is_observation();
        let end = run(&step, &mut ctx, expected.as_ref());
        let failed = matches!(end, StepEnd::Fail(_));
        ends.push(end);
        if failed {
            break;
        }
    }
    let left = unread(&mut ctx).map(|f| f.message);
    (ends, left)
}

fn ok(end: &StepEnd) -> bool {
    matches!(end, StepEnd::Ok(_))
}

/// How a step ended, in words: what it observed, or why it failed.
fn shown(end: &StepEnd) -> String {
    match end {
        StepEnd::Ok(Some(o)) => o.to_string(),
        StepEnd::Ok(None) => "done".into(),
        StepEnd::NonStrict { observed, .. } => format!("non-strict {observed}"),
        StepEnd::Fail(f) => format!("failed: {}", f.message),
    }
}

#[test]
fn a_read_takes_all_that_arrived_and_a_longer_reply_fails_it_with_its_bytes() {
    let (addr, program) = program(|mut conn| {
        let mut buf = [0u8; 16];
        let n = conn.read(&mut buf).expect("reads");
        conn.write_all(&[&buf[..n].to_ascii_uppercase()[..], b"SB"].concat())
            .expect("writes");
        let _ = conn.read(&mut buf);
    });
    let (ends, _) = play(addr, "connect c1\nsend c1 \"hello\"\nread c1 => \"HELLO\"");
    program.join().expect("the program ends");
    assert!(ends[..2].iter().all(ok));
    let StepEnd::Fail(failure) = &ends[2] else {
        panic!("the read must fail: {}", shown(&ends[2]));
    };
    assert!(
        matches!(&*failure.symptom, Symptom::UnexpectedBytes { got, want: Some(want) }
            if got == b"HELLOSB" && want == b"HELLO"),
        "{:?}",
        failure.symptom
    );
}

#[test]
fn a_counted_read_leaves_the_rest_and_the_end_of_the_case_names_it() {
    let (addr, program) = program(|mut conn| {
        conn.write_all(b"abcdef").expect("writes");
        let _ = conn.read(&mut [0u8; 1]);
    });
    let (ends, left) = play(addr, "connect c1\nread c1 3 => \"abc\"");
    assert!(ends.iter().all(ok));
    let left = left.expect("the rest is unread");
    assert!(
        left.contains("3 bytes") && left.contains("\"def\""),
        "{left}"
    );
    drop(program);
}

#[test]
fn read_end_tells_an_ordinary_close_from_a_reset() {
    let (addr, closes) = program(drop);
    let (ends, left) = play(addr, "connect c1\nread-end c1 => eof");
    closes.join().expect("the program ends");
    assert!(
        ends.iter().all(ok),
        "{:?}",
        ends.iter().map(shown).collect::<Vec<_>>()
    );
    assert_eq!(left, None);

    let (addr, resets) = program(|conn| {
        socket2::SockRef::from(&conn)
            .set_linger(Some(Duration::ZERO))
            .expect("linger 0");
    });
    let (ends, _) = play(addr, "connect c1\nread-end c1");
    resets.join().expect("the program ends");
    assert_eq!(ends.last().map(shown).as_deref(), Some("reset"));
}

#[test]
fn a_silence_is_kept_by_a_waiting_program_and_broken_by_a_byte() {
    let (addr, waits) = program(|mut conn| {
        let _ = conn.read(&mut [0u8; 1]);
    });
    let (ends, _) = play(addr, "connect c1\nquiet 50ms => nothing\nclose c1");
    waits.join().expect("the program ends");
    assert!(ends.iter().all(ok));

    let (addr, talks) = program(|mut conn| {
        conn.write_all(b"x").expect("writes");
        let _ = conn.read(&mut [0u8; 1]);
    });
    let (ends, _) = play(addr, "connect c1\nquiet 2s => nothing");
    drop(talks);
    let StepEnd::Fail(failure) = &ends[1] else {
        panic!("the byte breaks the silence");
    };
    assert_eq!(failure.observed.as_deref(), Some("c1 \"x\""));
    assert!(matches!(&*failure.symptom, Symptom::UnexpectedBytes { got, .. } if got == b"x"));
    assert_eq!(
        Step::parse("quiet", "50ms").unwrap().observes(),
        Some(Kind::Nothing)
    );
}

/// Not after the deadline (whose failure says `within 2s`): nothing more can come after
/// the program's FIN.
#[test]
fn a_peek_fails_at_once_when_the_program_closes_below_the_awaited_count() {
    let (addr, program) = program(|mut conn| {
        conn.write_all(b"hel").expect("writes");
    });
    let (ends, _) = play(addr, "connect c1\npeek c1 10");
    program.join().expect("the program ends");
    assert!(ok(&ends[0]));
    assert_eq!(
        shown(&ends[1]),
        "failed: only 3 of 10 bytes arrived on `c1` before the program ended it"
    );
}
