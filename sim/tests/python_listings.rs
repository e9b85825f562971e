#![cfg(not(target_arch = "wasm32"))]
//! The Python programs the simulation follows are real: each one runs under
//! `python3` here and must echo real TCP clients exactly, survive a client
//! that resets its connection, and (asyncio) shut down gracefully on SIGINT.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use socket2::SockRef;

const PATIENCE: Duration = Duration::from_secs(10);

struct Server {
    child: Child,
    stdout: BufReader<ChildStdout>,
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
            .spawn()
            .expect("python3 runs");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let port: u16 = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{file} said {line:?}"))
            .parse()
            .unwrap();
        Server {
            child,
            stdout,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream
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

#[test]
fn blocking_py_echoes_one_client_at_a_time() {
    let server = Server::start("blocking.py", &[]);
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
}

#[test]
fn busy_poll_py_echoes_everyone_at_once() {
    let server = Server::start("busy_poll.py", &[]);
    check_echoes_interleaved_clients(&server);
    check_echoes_one_client_after_another(&server);
    check_a_crashing_client_does_not_take_the_server_down(&server);
}

#[test]
fn selector_py_echoes_everyone_at_once() {
    let server = Server::start("selector.py", &[]);
    check_echoes_interleaved_clients(&server);
    check_echoes_one_client_after_another(&server);
    check_a_crashing_client_does_not_take_the_server_down(&server);
}

#[test]
fn async_tasks_py_echoes_everyone_at_once_and_shuts_down_gracefully_on_sigint() {
    let mut server = Server::start("async_tasks.py", &["0.5"]);
    check_echoes_interleaved_clients(&server);
    check_echoes_one_client_after_another(&server);
    check_a_crashing_client_does_not_take_the_server_down(&server);

    // A client that stays connected is cancelled when the grace period ends.
    let mut lingering = server.connect();
    echo_round(&mut lingering, b"hello");
    let interrupted = Instant::now();
    let status = Command::new("kill")
        .args(["-INT", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    server.stdout.read_to_string(&mut rest).unwrap();
    let exit = server.child.wait().unwrap();
    let took = interrupted.elapsed();
    assert!(exit.success(), "exit status {exit}");
    assert!(rest.contains("shut down"), "{rest:?}");
    assert!(
        took >= Duration::from_millis(400),
        "it waited for the grace period: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "and no longer: {took:?}");
    // The cancelled handler closed the connection.
    let mut buffer = [0; 1];
    assert_eq!(lingering.read(&mut buffer).unwrap_or(0), 0);
    assert!(
        TcpStream::connect(server.addr).is_err(),
        "the port is closed"
    );
}
