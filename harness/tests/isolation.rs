//! What the harness promises about the processes it runs: nothing they start outlives the
//! case (not even a `setsid` grandchild or a double-forked daemon, with or without
//! namespaces), endless output neither blocks nor swells the harness, and without
//! namespaces cases still run (serialised per address), a program already listening on
//! the address (or holding a connection or a UDP socket there) is named, and no
//! `TIME_WAIT` keeps the next server from binding.

mod common;

use sockcheck::batch::reference_command;
use sockcheck::engine::{self, Mode, Timing, Verdict};
use sockcheck::iut::IutSpec;
use std::time::Duration;

fn echo1_case(
    name: &str,
) -> (
    sockcheck::script::Case,
    sockcheck::engine::ProgramInfo,
    Mode,
) {
    let catalog = common::catalog();
    let suite = catalog.suite("echo1").expect("echo1");
    let case = suite
        .cases
        .iter()
        .find(|c| c.name == name)
        .expect("case")
        .clone();
    let fixture = suite.fixtures.get(name).expect("fixture").clone();
    (case, suite.info.clone(), Mode::Check(fixture))
}

fn quick() -> Timing {
    Timing {
        observe: Duration::from_millis(500),
        connect: Duration::from_millis(1500),
        ..Timing::default()
    }
}

#[test]
fn a_hanging_program_and_its_setsid_grandchild_are_gone_after_the_case() {
    let marker = format!("sockcheck-marker-{}", std::process::id());
    let dir = tempfile::tempdir().expect("temp dir");
    // Starts a grandchild in a session of its own, then never listens.
    std::fs::write(
        dir.path().join("hang.py"),
        format!(
            "import subprocess, time\n\
             subprocess.Popen(['setsid', 'sh', '-c', 'sleep 600; : {marker}'], start_new_session=True)\n\
             time.sleep(600)\n"
        ),
    )
    .expect("write");
    let (case, info, mode) = echo1_case("server-upper");
    let spec = IutSpec {
        command: format!("python3 hang.py # {marker}"),
        workdir: Some(dir.path().to_path_buf()),
        isolation: Default::default(),
        limits: Default::default(),
        hidden: Vec::new(),
    };
    let outcome = engine::run(&case, &info, &spec, &mode, &quick());
    assert_eq!(common::processes_with(&marker), Vec::<String>::new());
    assert_eq!(outcome.verdict, Verdict::Fail, "{:?}", outcome.message);
    assert!(
        outcome.deadlines >= 1,
        "waiting for a listener that never came is a deadline"
    );
    assert_eq!(
        outcome.hint.map(|h| h.id()),
        Some("not-listening"),
        "{:?}",
        outcome.message
    );
    assert!(
        outcome
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("listens nowhere"),
        "{:?}",
        outcome.message
    );
}

#[test]
fn output_of_any_size_is_seen_in_full_and_neither_blocks_nor_swells_the_harness() {
    let dir = tempfile::tempdir().expect("temp dir");
    // 256 MiB of debug lines before it listens, a correct echo1 server, 64 MiB after its
    // data line: extra lines are ignored (SPEC.md), so every expected line must be found.
    std::fs::write(
        dir.path().join("loud.py"),
        "import socket, sys\n\
         chunk = ('x' * 1023 + '\\n') * 64\n\
         def noise(mib):\n    for _ in range(mib * 16):\n        sys.stdout.write(chunk)\n\
         noise(256)\n\
         s = socket.socket(); s.bind(('127.0.0.1', 8080)); s.listen(5)\n\
         c, _ = s.accept(); d = c.recv(1024); print(d.decode()); sys.stdout.flush()\n\
         noise(64)\n\
         c.send(d.upper()); c.close(); s.close()\n",
    )
    .expect("write");
    let (case, info, mode) = echo1_case("server-upper");
    let spec = IutSpec {
        command: "python3 loud.py".into(),
        workdir: Some(dir.path().to_path_buf()),
        isolation: Default::default(),
        limits: Default::default(),
        hidden: Vec::new(),
    };
    let timing = Timing {
        connect: Duration::from_secs(60),
        observe: Duration::from_secs(60),
        ..Timing::default()
    };
    let outcome = engine::run(&case, &info, &spec, &mode, &timing);
    assert_eq!(
        outcome.verdict,
        Verdict::Pass,
        "{:?}\n{}",
        outcome.message,
        outcome.transcript.join("\n")
    );
    assert_eq!(outcome.deadlines, 0);
    assert!(
        outcome.notes.iter().any(|n| n.contains("320 MiB")),
        "{:?}",
        outcome.notes
    );
}

#[test]
fn without_namespaces_cases_still_run_one_at_a_time_per_address() {
    let (case, mut info, mode) = echo1_case("client-hello");
    // An address of its own: on 8080 it would also queue behind other tests' cases.
    info.addr = free_addr();
    let spec = shared_reference(&info, case.role);
    // Two at once on the same address: the lock makes them take turns, both pass.
    let runs: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| engine::run(&case, &info, &spec, &mode, &Timing::default())))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("joins"))
            .collect()
    });
    for outcome in runs {
        assert_eq!(outcome.verdict, Verdict::Pass, "{:?}", outcome.message);
    }
}

/// A program that starts a `setsid` grandchild and a double-forked daemon, then never
/// listens; every process it starts carries `marker` in its command line.
fn escaping_program(dir: &std::path::Path, marker: &str) {
    std::fs::write(
        dir.join("escape.py"),
        format!(
            "import os, subprocess, time\n\
             subprocess.Popen(['sh', '-c', 'sleep 600; : {marker}'], start_new_session=True)\n\
             if os.fork() == 0:\n\
             \x20   os.setsid()\n\
             \x20   if os.fork() == 0:\n\
             \x20       os.execvp('sh', ['sh', '-c', 'sleep 600; : {marker}'])\n\
             \x20   os._exit(0)\n\
             time.sleep(600)\n"
        ),
    )
    .expect("write");
}

#[test]
fn without_namespaces_setsid_and_double_forked_children_end_with_the_case() {
    let marker = format!("sockcheck-shared-escape-{}", std::process::id());
    let dir = tempfile::tempdir().expect("temp dir");
    escaping_program(dir.path(), &marker);
    let (case, mut info, mode) = echo1_case("server-upper");
    info.addr = free_addr();
    let spec = IutSpec {
        command: format!("python3 escape.py # {marker}"),
        workdir: Some(dir.path().to_path_buf()),
        isolation: sockcheck::sandbox::Policy::Shared,
        limits: Default::default(),
        hidden: Vec::new(),
    };
    let outcome = engine::run(&case, &info, &spec, &mode, &quick());
    assert_eq!(outcome.verdict, Verdict::Fail, "{:?}", outcome.message);
    assert_eq!(common::processes_with(&marker), Vec::<String>::new());
}

#[test]
fn in_namespaces_the_program_is_not_pid_1_and_its_default_signal_actions_work() {
    // A program that sends itself SIGTERM dies of it, as it would outside: as pid 1 of its
    // namespace it would have ignored it.
    let (case, info, mode) = echo1_case("server-upper");
    let spec = IutSpec {
        command: "echo $$ >&2; kill -TERM $$; sleep 5".into(),
        workdir: None,
        isolation: Default::default(),
        limits: Default::default(),
        hidden: Vec::new(),
    };
    let outcome = engine::run(&case, &info, &spec, &mode, &quick());
    assert_eq!(outcome.verdict, Verdict::Fail, "{:?}", outcome.message);
    assert_eq!(outcome.stderr_tail.trim(), "2", "the program is pid 2");
    assert!(
        outcome
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("status signal 15"),
        "{:?}",
        outcome.message
    );
}

/// The bundled reference as the implementation, on the shared network.
fn shared_reference(
    info: &sockcheck::engine::ProgramInfo,
    role: sockcheck::script::Role,
) -> IutSpec {
    IutSpec {
        command: reference_command(&common::sockcheck_exe(), info, role),
        workdir: None,
        isolation: sockcheck::sandbox::Policy::Shared,
        limits: Default::default(),
        hidden: Vec::new(),
    }
}

/// A loopback address nothing listens on now.
fn free_addr() -> std::net::SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    probe.local_addr().expect("an address")
}

#[test]
fn without_namespaces_a_program_already_listening_on_the_address_is_named() {
    let (case, mut info, mode) = echo1_case("server-upper");
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    info.addr = squatter.local_addr().expect("an address");
    let spec = shared_reference(&info, case.role);
    let outcome = engine::run(&case, &info, &spec, &mode, &quick());
    assert_eq!(outcome.verdict, Verdict::Error, "{:?}", outcome.message);
    let message = outcome.message.unwrap_or_default();
    assert!(
        message.contains(&format!("already listens on `{}`", info.addr))
            && message.contains(&format!("pid {}", std::process::id())),
        "{message}"
    );
}

/// An echo1 server as a student writes it in Python (no SO_REUSEADDR, no SO_LINGER), which
/// closes first, on the shared network; the folder lives as long as the first value.
fn python_server_closing_first() -> (tempfile::TempDir, IutSpec) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("server.py"),
        "import socket, sys\n\
         s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(5)\n\
         c, _ = s.accept(); d = c.recv(1024); print(d.decode()); c.send(d.upper())\n\
         c.close(); s.close()\n",
    )
    .expect("write");
    let spec = IutSpec {
        command: "python3 server.py {port}".into(),
        workdir: Some(dir.path().to_path_buf()),
        isolation: sockcheck::sandbox::Policy::Shared,
        limits: Default::default(),
        hidden: Vec::new(),
    };
    (dir, spec)
}

#[test]
fn without_namespaces_a_server_without_reuseaddr_binds_again_after_a_case_it_closed_first() {
    // echo1's server closes first, so its side of the connection goes to TIME_WAIT; a
    // second run binds the same port without SO_REUSEADDR, which fails unless the harness
    // cleared it.
    let (_dir, spec) = python_server_closing_first();
    let (case, mut info, mode) = echo1_case("server-upper");
    info.addr = free_addr();
    for run in 1..=3 {
        let outcome = engine::run(&case, &info, &spec, &mode, &Timing::default());
        assert_eq!(
            outcome.verdict,
            Verdict::Pass,
            "run {run}: {:?}\n{}",
            outcome.message,
            outcome.stderr_tail
        );
    }
}

#[test]
fn without_namespaces_a_case_whose_server_closed_first_leaves_nothing_on_its_port() {
    // The program closes first, so its end waits for the peer's FIN; the peer's RST instead
    // (the program has closed, so it cannot tell) leaves no TIME_WAIT, at the end of the
    // case (echo1's server-upper) and at a `close` step; whatever else is left is cleared
    // before the lock is let go (the RST alone: `session`'s unit tests). Python, so that
    // the program's side is a real student's: no SO_LINGER, no SO_REUSEADDR.
    let (_dir, spec) = python_server_closing_first();
    let (at_teardown, mut info, mode) = echo1_case("server-upper");
    let at_close_step = sockcheck::script::parse(
        "echo1",
        "inline",
        "role server\nspawn\nconnect c1\nsend c1 \"hello\"\nread c1\nstdout\nread-end c1\nexit\nclose c1\n",
    )
    .expect("case parses");
    info.addr = free_addr();
    for (case, mode) in [(&at_teardown, &mode), (&at_close_step, &Mode::Record)] {
        let outcome = engine::run(case, &info, &spec, mode, &Timing::default());
        assert_eq!(
            outcome.verdict,
            Verdict::Pass,
            "{}: {:?}",
            case.name,
            outcome.message
        );
        assert!(outcome.notes.is_empty(), "a note: {:?}", outcome.notes);
        assert_eq!(
            sockcheck::sandbox::leftovers_on(info.addr),
            [],
            "{}: closed connections left on the program's port",
            case.name
        );
    }
}

#[test]
fn without_namespaces_a_udp_socket_another_program_holds_on_the_address_is_named() {
    let catalog = common::catalog();
    let suite = catalog.suite("udp-hello").expect("udp-hello");
    let case = suite
        .cases
        .iter()
        .find(|c| c.name == "server-hello")
        .expect("case");
    let mode = Mode::Check(suite.fixtures.get("server-hello").expect("fixture").clone());
    let squatter = std::net::UdpSocket::bind("127.0.0.1:0").expect("binds");
    let mut info = suite.info.clone();
    info.addr = squatter.local_addr().expect("an address");
    let spec = shared_reference(&info, case.role);
    let outcome = engine::run(case, &info, &spec, &mode, &quick());
    assert_eq!(outcome.verdict, Verdict::Error, "{:?}", outcome.message);
    let message = outcome.message.unwrap_or_default();
    assert!(
        message.contains(&format!("UDP socket bound on `{}`", info.addr))
            && message.contains(&format!("pid {}", std::process::id())),
        "{message}"
    );
}

#[test]
fn without_namespaces_a_connection_another_program_holds_on_the_address_is_named() {
    // A connection accepted on the address, its listener gone: no listener to see, but a
    // server without SO_REUSEADDR could not bind there.
    let (case, mut info, mode) = echo1_case("server-upper");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    info.addr = listener.local_addr().expect("an address");
    let _client = std::net::TcpStream::connect(info.addr).expect("connects");
    let (_held, _) = listener.accept().expect("accepts");
    drop(listener);
    let spec = shared_reference(&info, case.role);
    let outcome = engine::run(&case, &info, &spec, &mode, &quick());
    assert_eq!(outcome.verdict, Verdict::Error, "{:?}", outcome.message);
    let message = outcome.message.unwrap_or_default();
    assert!(
        message.contains(&format!("holds a connection on `{}`", info.addr))
            && message.contains(&format!("pid {}", std::process::id())),
        "{message}"
    );
}

#[test]
fn a_time_wait_whose_other_port_is_taken_is_named_with_its_holder_and_cleared_once_free() {
    use std::io::Read;
    use std::time::Duration;
    // A server that closes first leaves TIME_WAIT on its port, to the client's port.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = listener.local_addr().expect("an address");
    let client = std::net::TcpStream::connect(addr).expect("connects");
    let client_port = client.local_addr().expect("an address");
    let (served, _) = listener.accept().expect("accepts");
    drop(listener);
    drop(served);
    let mut client = client;
    assert_eq!(client.read(&mut [0; 1]).expect("the end"), 0);
    drop(client);
    assert!(
        common::eventually(Duration::from_secs(5), || {
            sockcheck::sandbox::leftovers_on(addr) == [(addr, client_port)]
        }),
        "no TIME_WAIT on {addr}: {:?}",
        sockcheck::sandbox::leftovers_on(addr)
    );
    // Another socket takes the client's port (a listener: SO_REUSEADDR cannot share it).
    let mut holder = None;
    assert!(common::eventually(Duration::from_secs(5), || {
        holder = std::net::TcpListener::bind(client_port).ok();
        holder.is_some()
    }));
    let stuck = sockcheck::sandbox::purge_time_wait(addr);
    assert_eq!(stuck.len(), 1, "{stuck:?}");
    assert!(
        stuck[0].starts_with(&format!("TIME_WAIT from `{addr}` to `{client_port}`"))
            && stuck[0].contains(&format!("pid {}", std::process::id()))
            && stuck[0].contains("LISTEN"),
        "{stuck:?}"
    );
    drop(holder);
    assert_eq!(
        sockcheck::sandbox::purge_time_wait(addr),
        Vec::<String>::new()
    );
    assert_eq!(sockcheck::sandbox::leftovers_on(addr), []);
}

#[test]
fn without_namespaces_a_listener_held_by_a_spawn_under_way_is_not_another_programs() {
    // Between its fork and its exec, a case's init holds copies of the harness's fds, so
    // the last case's listener may outlive it until that exec. Here another thread's
    // "spawn" holds a copy (in a `sleep 0.3`, until it exits) under the spawn lock: the
    // case waits for the spawn to end instead of calling the listener another program's.
    let (case, mut info, mode) = echo1_case("server-upper");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    info.addr = listener.local_addr().expect("an address");
    // SAFETY: dup of a valid fd; the copy (not close-on-exec) goes to the child.
    let copy = unsafe { libc::dup(std::os::fd::AsRawFd::as_raw_fd(&listener)) };
    assert!(copy >= 0);
    let (in_flight, spawning) = std::sync::mpsc::channel();
    let spawner = std::thread::spawn(move || {
        let (ticket, dir) = sockcheck::interrupt::new_workdir().expect("a ticket");
        let spawned = sockcheck::interrupt::spawn_init(&ticket, false, || {
            let mut holder = std::process::Command::new("sleep").arg("0.3").spawn()?;
            // SAFETY: closing the harness's own copy: only the child holds one now.
            unsafe { libc::close(copy) };
            in_flight.send(()).expect("sends");
            holder.wait()?;
            Ok(holder)
        });
        sockcheck::interrupt::release(&ticket, dir);
        // The holder was waited for inside the spawn.
        spawned.map(drop).expect("spawned");
    });
    spawning.recv().expect("the spawn is under way");
    drop(listener);
    let spec = shared_reference(&info, case.role);
    let outcome = engine::run(&case, &info, &spec, &mode, &quick());
    spawner.join().expect("joins");
    assert_eq!(outcome.verdict, Verdict::Pass, "{:?}", outcome.message);
}
