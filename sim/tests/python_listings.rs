#![cfg(not(target_arch = "wasm32"))]
//! The Python programs the simulation follows are real: each one runs under
//! `python3` here and must echo real TCP clients exactly, do with a client
//! that resets its connection what the page says it does (the handled
//! variants survive it; the unhandled ones crash, or for asyncio lose one
//! task and report it late), and shut down gracefully on SIGINT: stop
//! accepting, let a client finish for the grace period, close the rest.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use socket2::SockRef;

/// Longest a test waits for a program to answer: generous, since the
/// programs run two at a time beside a busy-polling one on a 2-core machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// Well under the 30 s grace some tests give ([`LONG_GRACE`]) and well over
/// what a program takes to exit on a busy machine: the bound that tells
/// "it did not wait for the grace" from "it did".
const NOT_THE_LONG_GRACE: Duration = Duration::from_secs(15);

struct Server {
    file: String,
    child: Child,
    stdout: BufReader<ChildStdout>,
    /// The program's standard error, line by line, read by a thread.
    stderr: Receiver<String>,
    addr: SocketAddr,
}

impl Server {
    fn start(file: &str, extra: &[&str]) -> Server {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("python")
            .join(file);
        let mut child = Command::new("python3")
            .arg(&path)
            .arg("0")
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let stderr_lines = BufReader::new(child.stderr.take().unwrap());
        let (sender, stderr) = channel();
        std::thread::spawn(move || {
            for line in stderr_lines.lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let port: u16 = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{file} said {line:?}"))
            .parse()
            .unwrap();
        Server {
            file: file.to_owned(),
            child,
            stdout,
            stderr,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream
    }
}

impl Server {
    /// Waits for a line of standard error containing `text`, and returns
    /// everything read until then.
    fn wait_for_stderr(&self, text: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        let mut seen = String::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    seen.push_str(&line);
                    seen.push('\n');
                    if line.contains(text) {
                        return seen;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("{} never said {text:?}; it said {seen:?}", self.file);
    }

    /// Sends SIGINT (Ctrl-C).
    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A message that differs for each client and index, `size` bytes long.
fn message(client: u8, index: usize, size: usize) -> Vec<u8> {
    (0..size)
        .map(|at| b'a' + ((at + index * 7 + usize::from(client) * 13) % 26) as u8)
        .collect()
}

fn echo_round(stream: &mut TcpStream, sent: &[u8]) {
    stream.write_all(sent).unwrap();
    let mut echoed = vec![0; sent.len()];
    stream
        .read_exact(&mut echoed)
        .expect("the whole echo arrives");
    assert!(
        echoed == sent,
        "the echo is the same bytes in the same order"
    );
}

/// Sizes from one byte to more than a socket buffer holds, so that partial
/// sends happen.
const SIZES: [usize; 4] = [1, 100, 4096, 300_000];

fn sends_and_reads_concurrently(stream: &mut TcpStream, sent: &[u8]) {
    // A large message cannot be written whole before reading: the server's
    // echo fills our receive buffer. Write from a second thread.
    let mut writer = stream.try_clone().unwrap();
    let payload = sent.to_vec();
    let writing = std::thread::spawn(move || writer.write_all(&payload).unwrap());
    let mut echoed = vec![0; sent.len()];
    stream
        .read_exact(&mut echoed)
        .expect("the whole echo arrives");
    writing.join().unwrap();
    assert!(
        echoed == sent,
        "the echo is the same bytes in the same order"
    );
}

fn check_echoes_one_client_after_another(server: &Server) {
    for client in 0..3u8 {
        let mut stream = server.connect();
        for (index, size) in SIZES.into_iter().enumerate() {
            sends_and_reads_concurrently(&mut stream, &message(client, index, size));
        }
    }
}

fn check_echoes_interleaved_clients(server: &Server) {
    // All three connected at once, taking turns: a server that serves one
    // client at a time would never answer the second.
    let mut streams: Vec<TcpStream> = (0..3).map(|_| server.connect()).collect();
    for index in 0..3 {
        for (client, stream) in streams.iter_mut().enumerate() {
            echo_round(stream, &message(client as u8, index, 1000));
        }
    }
    for (client, stream) in streams.iter_mut().enumerate() {
        sends_and_reads_concurrently(stream, &message(client as u8, 9, 300_000));
    }
}

fn reset(stream: TcpStream) {
    SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}

fn check_a_crashing_client_does_not_take_the_server_down(server: &Server) {
    let mut crasher = server.connect();
    crasher.write_all(b"half a mess").unwrap();
    reset(crasher);
    let mut stream = server.connect();
    echo_round(&mut stream, b"still here?");
}

/// A client that stays connected (and idle) through a shutdown: the server
/// stops accepting at once, waits the grace period for it, then closes it
/// and exits cleanly.
fn check_graceful_shutdown_on_sigint(mut server: Server, grace: Duration) {
    let mut lingering = server.connect();
    echo_round(&mut lingering, b"hello");
    let interrupted = Instant::now();
    server.interrupt();
    let mut rest = String::new();
    server.stdout.read_to_string(&mut rest).unwrap();
    let exit = server.child.wait().unwrap();
    let took = interrupted.elapsed();
    assert!(exit.success(), "{}: exit status {exit}", server.file);
    assert!(rest.contains("shut down"), "{rest:?}");
    assert!(
        took >= grace.mul_f64(0.8),
        "{} waited for the grace period: {took:?}",
        server.file
    );
    assert!(
        took < grace + NOT_THE_LONG_GRACE,
        "and not much longer: {took:?}"
    );
    let mut buffer = [0; 1];
    assert_eq!(
        lingering.read(&mut buffer).unwrap_or(0),
        0,
        "{} closed the lingering connection",
        server.file
    );
    assert!(
        TcpStream::connect(server.addr).is_err(),
        "{}: the port is closed",
        server.file
    );
}

/// The unhandled variant of a single-threaded server without tasks: the
/// reset escapes the loop, the traceback names it, the program exits with
/// an error and every other client loses the server.
fn check_a_crashing_client_ends_the_server(mut server: Server) {
    let mut bystander = server.connect();
    echo_round(&mut bystander, b"still here?");
    let mut crasher = server.connect();
    crasher.write_all(b"half a mess").unwrap();
    reset(crasher);
    let traceback = server.wait_for_stderr("Error");
    assert!(
        traceback.contains("Traceback")
            && (traceback.contains("ConnectionResetError")
                || traceback.contains("BrokenPipeError")),
        "{}: {traceback}",
        server.file
    );
    let exit = server.child.wait().unwrap();
    assert!(!exit.success(), "{} crashed: {exit}", server.file);
    let mut buffer = [0; 1];
    assert_eq!(
        bystander.read(&mut buffer).unwrap_or(0),
        0,
        "{}: the other client lost the server too",
        server.file
    );
    assert!(
        TcpStream::connect(server.addr).is_err(),
        "the port is closed"
    );
}

const GRACE: Duration = Duration::from_millis(500);

fn start_with_grace(file: &str) -> Server {
    Server::start(file, &[&GRACE.as_secs_f64().to_string()])
}

#[test]
fn blocking_py_echoes_one_client_at_a_time_and_shuts_down_gracefully() {
    let server = start_with_grace("blocking.py");
    check_echoes_one_client_after_another(&server);
    check_a_crashing_client_does_not_take_the_server_down(&server);

    // While one client is connected, a second one gets nothing.
    let mut first = server.connect();
    echo_round(&mut first, b"first");
    let mut second = server.connect();
    second
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    second.write_all(b"second").unwrap();
    let mut buffer = [0; 6];
    let waited = second.read(&mut buffer).unwrap_err();
    assert!(matches!(
        waited.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    drop(first);
    second.set_read_timeout(Some(PATIENCE)).unwrap();
    second.read_exact(&mut buffer).unwrap();
    assert_eq!(&buffer, b"second", "served once the first left");
    drop(second);
    check_graceful_shutdown_on_sigint(server, GRACE);
}

#[test]
fn busy_poll_py_echoes_everyone_at_once_and_shuts_down_gracefully() {
    let server = start_with_grace("busy_poll.py");
    check_echoes_interleaved_clients(&server);
    check_echoes_one_client_after_another(&server);
    check_a_crashing_client_does_not_take_the_server_down(&server);
    check_graceful_shutdown_on_sigint(server, GRACE);
}

#[test]
fn selector_py_echoes_everyone_at_once_and_shuts_down_gracefully() {
    let server = start_with_grace("selector.py");
    check_echoes_interleaved_clients(&server);
    check_echoes_one_client_after_another(&server);
    check_a_crashing_client_does_not_take_the_server_down(&server);
    check_graceful_shutdown_on_sigint(server, GRACE);
}

#[test]
fn async_tasks_py_echoes_everyone_at_once_and_shuts_down_gracefully() {
    let server = start_with_grace("async_tasks.py");
    check_echoes_interleaved_clients(&server);
    check_echoes_one_client_after_another(&server);
    check_a_crashing_client_does_not_take_the_server_down(&server);
    check_graceful_shutdown_on_sigint(server, GRACE);
}

#[test]
fn the_unhandled_blocking_busy_poll_and_selector_servers_die_of_one_reset_client() {
    for file in [
        "blocking_unhandled.py",
        "busy_poll_unhandled.py",
        "selector_unhandled.py",
    ] {
        let server = start_with_grace(file);
        if file == "blocking_unhandled.py" {
            check_echoes_one_client_after_another(&server);
            // One client at a time: the bystander is served and gone
            // before the crasher is accepted.
            let mut crasher = server.connect();
            crasher.write_all(b"half a mess").unwrap();
            reset(crasher);
            let traceback = server.wait_for_stderr("Error");
            assert!(traceback.contains("ConnectionResetError"), "{traceback}");
            let mut server = server;
            assert!(!server.child.wait().unwrap().success());
            assert!(
                TcpStream::connect(server.addr).is_err(),
                "the port is closed"
            );
        } else {
            check_echoes_interleaved_clients(&server);
            check_a_crashing_client_ends_the_server(server);
        }
        // Until a client fails, they run like their handled twins, shutdown
        // included.
        let server = start_with_grace(file);
        check_echoes_one_client_after_another(&server);
        check_graceful_shutdown_on_sigint(server, GRACE);
    }
}

#[test]
fn the_unhandled_asyncio_server_loses_one_task_and_reports_it_late() {
    let server = start_with_grace("async_tasks_unhandled.py");
    check_echoes_interleaved_clients(&server);
    let mut crasher = server.connect();
    crasher.write_all(b"half a mess").unwrap();
    reset(crasher);
    // The loop and the other tasks go on. The failed task is reported when
    // it is dropped: here once `accept_forever` lets go of it, at the next
    // client.
    let mut stream = server.connect();
    echo_round(&mut stream, b"still here?");
    let report = server.wait_for_stderr("Task exception was never retrieved");
    let report = report + &server.wait_for_stderr("Error");
    assert!(
        report.contains("ConnectionResetError") || report.contains("BrokenPipeError"),
        "{report}"
    );
    drop(stream);
    check_graceful_shutdown_on_sigint(server, GRACE);
}

/// Waits until the program has closed its listening socket (a shutdown
/// began): connecting is refused. A connection that got in before is
/// closed at once, so it leaves nothing for the shutdown to wait for.
fn wait_until_it_stops_accepting(server: &Server) {
    let deadline = Instant::now() + PATIENCE;
    while let Ok(probe) = TcpStream::connect(server.addr) {
        drop(probe);
        assert!(
            Instant::now() < deadline,
            "{} never stopped accepting",
            server.file
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Everything the server still sends a client, until it closes.
fn read_to_the_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    let mut buffer = [0; 256];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return rest,
            Ok(read) => rest.extend_from_slice(&buffer[..read]),
        }
    }
}

/// The program's own exit after SIGINT: it says "shut down" and exits
/// cleanly; returns how long that took from `since`.
fn exits_cleanly(mut server: Server, since: Instant) -> Duration {
    let mut rest = String::new();
    server.stdout.read_to_string(&mut rest).unwrap();
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{}: exit status {exit}", server.file);
    assert!(rest.contains("shut down"), "{}: {rest:?}", server.file);
    since.elapsed()
}

const ASYNCIO: [&str; 2] = ["async_tasks.py", "async_tasks_unhandled.py"];

/// A long grace period, to show that a policy without one does not wait
/// for it.
const LONG_GRACE: &str = "30";

#[test]
fn asyncio_cancel_at_once_closes_a_lingering_client_at_once() {
    for file in ASYNCIO {
        let server = Server::start(file, &[LONG_GRACE, "cancel_at_once"]);
        let mut lingering = server.connect();
        echo_round(&mut lingering, b"hello");
        let interrupted = Instant::now();
        server.interrupt();
        assert_eq!(
            read_to_the_end(&mut lingering),
            b"",
            "{file}: closed, no goodbye"
        );
        let took = exits_cleanly(server, interrupted);
        assert!(
            took < NOT_THE_LONG_GRACE,
            "{file} did not wait for the grace: {took:?}"
        );
    }
}

#[test]
fn asyncio_wait_for_everyone_serves_a_lingering_client_until_it_leaves() {
    for file in ASYNCIO {
        let mut server = Server::start(file, &["0.2", "wait_for_everyone"]);
        let mut lingering = server.connect();
        echo_round(&mut lingering, b"hello");
        server.interrupt();
        wait_until_it_stops_accepting(&server);
        // Well past the grace it was given (which this policy ignores), the
        // client is still served and the program still runs.
        std::thread::sleep(Duration::from_millis(600));
        echo_round(&mut lingering, b"still here?");
        assert!(
            server.child.try_wait().unwrap().is_none(),
            "{file} waits for its last client"
        );
        let left = Instant::now();
        drop(lingering);
        let took = exits_cleanly(server, left);
        assert!(
            took < NOT_THE_LONG_GRACE,
            "{file} exited once the client left: {took:?}"
        );
    }
}

#[test]
fn asyncio_notify_first_sends_a_lingering_client_the_goodbye_line_then_closes() {
    for file in ASYNCIO {
        let server = Server::start(file, &[LONG_GRACE, "notify_first"]);
        // The silent client connects first: the echo that follows, on a
        // connection accepted after it, shows that it was accepted too.
        let mut silent = server.connect();
        let mut lingering = server.connect();
        echo_round(&mut lingering, b"hello");
        let interrupted = Instant::now();
        server.interrupt();
        for stream in [&mut lingering, &mut silent] {
            assert_eq!(
                read_to_the_end(stream),
                protocol::GOODBYE,
                "{file}: the goodbye line, then the end"
            );
        }
        let took = exits_cleanly(server, interrupted);
        assert!(took < NOT_THE_LONG_GRACE, "{file}: {took:?}");
    }
}

#[test]
fn asyncio_refuses_a_policy_it_does_not_know() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join("async_tasks.py");
    let output = Command::new("python3")
        .arg(path)
        .args(["0", "1", "ask_nicely"])
        .output()
        .expect("python3 runs");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    for policy in protocol::ShutdownPolicy::ALL {
        assert!(said.contains(policy.as_str()), "{said}");
    }
}

#[test]
fn asyncio_grace_then_cancel_named_is_the_default() {
    for file in ASYNCIO {
        let server = Server::start(
            file,
            &[&GRACE.as_secs_f64().to_string(), "grace_then_cancel"],
        );
        check_graceful_shutdown_on_sigint(server, GRACE);
    }
}
