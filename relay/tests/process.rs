//! The relay as a workshop host runs it: the real binary, stopped with
//! Ctrl-C (SIGINT) while labs have clients connected.

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use protocol::{ClientBehaviour, Command, EventKind, ServerMessage};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command as Process};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Longest a test waits for any one thing: generous, for a busy machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// Starts the real relay binary on an ephemeral port; returns it and the
/// address its banner names.
async fn start_relay(args: &[&str]) -> (Child, String) {
    start_relay_logging_to(args, Stdio::null()).await
}

/// The same, with its diagnostics going to `stderr`.
async fn start_relay_logging_to(args: &[&str], stderr: Stdio) -> (Child, String) {
    let mut relay = Process::new(env!("CARGO_BIN_EXE_relay"))
        .args(["--bind", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(relay.stdout.take().unwrap()).lines();
    let banner = tokio::time::timeout(PATIENCE, stdout.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let address = banner
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {banner:?}"))
        .to_owned();
    (relay, address)
}

type Page = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A page's WebSocket to the relay at `address`, and the first frame it
/// got (the hello's text).
async fn open_page(address: &str) -> (Page, String) {
    let (mut socket, _) = tokio::time::timeout(
        PATIENCE,
        tokio_tungstenite::connect_async(format!("ws://{address}/ws")),
    )
    .await
    .expect("the relay answered the handshake")
    .unwrap();
    let first = tokio::time::timeout(PATIENCE, socket.next())
        .await
        .expect("the relay went quiet before the hello");
    let Some(Ok(Message::Text(text))) = first else {
        panic!("no hello: {first:?}")
    };
    (socket, text.as_str().to_owned())
}

/// Reads text frames until one contains `needle`.
async fn frame_mentioning<S>(socket: &mut S, needle: &str)
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match tokio::time::timeout(PATIENCE, socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.contains(needle) => return,
            Ok(Some(Ok(_))) => {}
            other => panic!("the lab went quiet before {needle}: {other:?}"),
        }
    }
}

/// The resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_browser_that_never_reads_costs_bounded_memory_and_hears_of_the_drops_later() {
    // Longer than the 30 s it reads nothing, so that its lab is not closed
    // for leaving pings unanswered.
    let (relay, address) = start_relay(&["--ping-timeout", "120"]).await;
    let pid = relay.id().unwrap();
    let (mut socket, _hello) = open_page(&address).await;
    // 200 clients echoing as fast as they can: a flood of events into a
    // WebSocket nobody reads.
    let flood = ClientBehaviour::Polite {
        messages: 10_000,
        size: 64,
        interval_ms: 0,
    };
    let command = Command::SpawnClients {
        count: 200,
        behaviour: flood,
    };
    socket
        .send(Message::text(serde_json::to_string(&command).unwrap()))
        .await
        .unwrap();

    // Sample the relay's memory once a second for 30 s, reading nothing.
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for _ in 0..=30 {
        tick.tick().await;
        samples.push(rss_kib(pid));
    }
    let peak = *samples.iter().max().unwrap();
    eprintln!("relay RSS over 30 s of traffic nobody read (KiB): {samples:?}");
    assert!(peak < 64 * 1024, "the relay stays small: peak {peak} KiB");
    // However long a busy machine takes to start the 200 clients, by the
    // second third it has; the last third holds little more than that.
    let middle = *samples[10..20].iter().max().unwrap();
    let last = *samples[20..].iter().max().unwrap();
    assert!(
        last < middle + 8 * 1024,
        "and stops growing: at most {middle} KiB in 10..20 s, {last} KiB in 20..30 s"
    );

    // Reading again, the browser learns how much it missed: far more than
    // the lab's buffer and the socket's could hold.
    let mut dropped = 0;
    tokio::time::timeout(Duration::from_secs(60), async {
        while dropped <= 10_000 {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    if let ServerMessage::Events { events } = serde_json::from_str(&text).unwrap() {
                        let batch_dropped = events
                            .iter()
                            .filter_map(|event| match event.kind {
                                EventKind::Dropped { count } => Some(count),
                                _ => None,
                            })
                            .sum::<u64>();
                        dropped += batch_dropped;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("the session ended: {other:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {dropped} drops reported"));
}

#[tokio::test]
async fn ctrl_c_closes_every_lab_gracefully_and_exits_zero_once_the_grace_period_is_over() {
    let grace = Duration::from_secs(1);
    let (mut relay, address) = start_relay(&["--grace", "1"]).await;

    // Two labs, each with a client that would stay forever.
    let mut labs = Vec::new();
    for _ in 0..2 {
        let (mut socket, text) = open_page(&address).await;
        let ServerMessage::Hello(hello) = serde_json::from_str(&text).unwrap() else {
            panic!("not hello")
        };
        let command = Command::SpawnClients {
            count: 1,
            behaviour: ClientBehaviour::Silent {},
        };
        socket
            .send(Message::text(serde_json::to_string(&command).unwrap()))
            .await
            .unwrap();
        labs.push((socket, hello.echo_addr));
    }
    // Each lab has accepted its client before the signal.
    for (socket, _) in &mut labs {
        frame_mentioning(socket, r#""type":"accepted""#).await;
    }

    let interrupted = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &relay.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    for (socket, _) in &mut labs {
        let mut saw_stopped = false;
        let close = loop {
            match tokio::time::timeout(PATIENCE, socket.next()).await.unwrap() {
                Some(Ok(Message::Close(frame))) => break frame.expect("a reason"),
                Some(Ok(Message::Text(text))) => {
                    saw_stopped |= text.contains(r#""phase":"stopped""#)
                }
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        };
        assert_eq!(close.code, CloseCode::Away);
        assert!(
            saw_stopped,
            "the browser watched its server stop before the goodbye"
        );
    }
    let exit = tokio::time::timeout(PATIENCE, relay.wait())
        .await
        .unwrap()
        .unwrap();
    let took = interrupted.elapsed();
    assert!(exit.success(), "exit status {exit}");
    // The silent clients never leave: it exited because the grace period
    // ended, not before.
    assert!(
        took >= grace,
        "the silent clients held it for the grace period: {took:?}"
    );
    for (_, echo_addr) in &labs {
        let refused = TcpStream::connect(echo_addr).await.unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    }
}

#[tokio::test]
async fn a_second_ctrl_c_exits_at_once_without_waiting_for_the_grace_period() {
    // Far longer than the patience: an exit within it did not wait.
    let (mut relay, address) = start_relay(&["--grace", "600"]).await;
    let (mut socket, _hello) = open_page(&address).await;
    let command = Command::SpawnClients {
        count: 1,
        behaviour: ClientBehaviour::Silent {},
    };
    socket
        .send(Message::text(serde_json::to_string(&command).unwrap()))
        .await
        .unwrap();
    // Once the shutdown is under way (the lab reports it), interrupt again.
    let interrupt = |pid: u32| {
        let status = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    let pid = relay.id().unwrap();
    frame_mentioning(&mut socket, r#""type":"accepted""#).await;
    interrupt(pid);
    frame_mentioning(&mut socket, r#""phase":"draining""#).await;
    interrupt(pid);
    // At once, not after the 600 s grace.
    let exit = tokio::time::timeout(PATIENCE, relay.wait())
        .await
        .expect("the second Ctrl-C did not end it")
        .unwrap();
    assert_eq!(exit.code(), Some(130), "an interrupted exit");
}

#[tokio::test]
async fn with_stderr_closed_pages_still_open_labs_and_ctrl_c_still_exits_zero() {
    // `relay 2>&1 | head`, once `head` has exited: every log line fails.
    let (mut relay, address) = start_relay_logging_to(&["--grace", "1"], Stdio::piped()).await;
    drop(relay.stderr.take());
    for _ in 0..3 {
        let (mut socket, text) = open_page(&address).await;
        assert!(text.contains(r#""type":"hello""#));
        let command = Command::SpawnClients {
            count: 5,
            behaviour: ClientBehaviour::Polite {
                messages: 2,
                size: 16,
                interval_ms: 0,
            },
        };
        socket
            .send(Message::text(serde_json::to_string(&command).unwrap()))
            .await
            .unwrap();
        frame_mentioning(&mut socket, r#""type":"client_finished""#).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &relay.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(PATIENCE, relay.wait())
        .await
        .expect("Ctrl-C stops the relay")
        .unwrap();
    assert_eq!(exit.code(), Some(0), "a graceful exit: {exit}");
}

/// The lines the relay prints at start, up to the dashboard's link.
async fn banner_of(args: &[&str]) -> Vec<String> {
    let mut relay = Process::new(env!("CARGO_BIN_EXE_relay"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(relay.stdout.take().unwrap()).lines();
    let mut lines = Vec::new();
    while let Ok(Ok(Some(line))) = tokio::time::timeout(PATIENCE, stdout.next_line()).await {
        let last = line.starts_with("Host dashboard");
        lines.push(line);
        if last {
            break;
        }
    }
    let _ = relay.kill().await;
    lines
}

#[tokio::test]
async fn a_workshop_relay_prints_the_join_link_as_text_and_qr_code_and_the_dashboard_link() {
    let lines = banner_of(&[
        "--bind",
        "127.0.0.1:0",
        "--token",
        "room-token-1",
        "--host-token",
        "host-token-1",
    ])
    .await;
    assert!(
        lines[0].starts_with("Loopscope is running: open http://127.0.0.1:")
            && lines[0].contains("/?token=room-token-1 "),
        "{lines:?}"
    );
    let qr_rows = lines
        .iter()
        .filter(|line| line.contains('█') || line.contains('▀'))
        .count();
    assert!(qr_rows >= 10, "a QR code of the join link: {lines:?}");
    assert!(
        lines.iter().any(
            |line| line.starts_with("Only this machine can open it") && line.contains("--bind")
        ),
        "a join link on loopback says phones cannot reach it: {lines:?}"
    );
    let dashboard = lines.last().unwrap();
    assert!(
        dashboard.ends_with("/host?token=host-token-1"),
        "{dashboard}"
    );

    // On loopback without --token: no token, no QR code, a random host token.
    let lines = banner_of(&["--bind", "127.0.0.1:0"]).await;
    assert!(!lines[0].contains("token"), "{lines:?}");
    assert_eq!(lines.len(), 2, "the address and the dashboard: {lines:?}");
    let host_token = lines[1].rsplit("?token=").next().unwrap();
    assert_eq!(host_token.len(), 16);

    // Bound beyond loopback, the relay makes a token up.
    let lines = banner_of(&["--bind", "0.0.0.0:0", "--no-qr"]).await;
    let token = lines[0]
        .split("?token=")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_default();
    assert_eq!(token.len(), 16, "{lines:?}");
    assert!(
        !lines
            .iter()
            .any(|line| line.starts_with("Only this machine")),
        "{lines:?}"
    );

    // A token too short to resist guessing is refused at start.
    let refused = Process::new(env!("CARGO_BIN_EXE_relay"))
        .args(["--bind", "127.0.0.1:0", "--token", "short"])
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("at least 8 characters"));
}
