//! The relay as a workshop host runs it: the real binary, stopped with
//! Ctrl-C (SIGINT) while labs have clients connected.

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use protocol::{ClientBehaviour, Command, ServerMessage};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command as Process;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const PATIENCE: Duration = Duration::from_secs(10);

#[tokio::test]
async fn ctrl_c_closes_every_lab_gracefully_and_exits_zero_within_the_grace_period() {
    let grace = Duration::from_secs(1);
    let mut relay = Process::new(env!("CARGO_BIN_EXE_relay"))
        .args(["--bind", "127.0.0.1:0", "--grace", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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

    // Two labs, each with a client that would stay forever.
    let mut labs = Vec::new();
    for _ in 0..2 {
        let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/ws"))
            .await
            .unwrap();
        let Some(Ok(Message::Text(text))) = socket.next().await else {
            panic!("no hello")
        };
        let ServerMessage::Hello(hello) = serde_json::from_str(&text).unwrap() else {
            panic!("not hello")
        };
        let command = Command::SpawnClients {
            count: 1,
            behaviour: ClientBehaviour::Silent,
        };
        socket
            .send(Message::text(serde_json::to_string(&command).unwrap()))
            .await
            .unwrap();
        labs.push((socket, hello.echo_addr));
    }
    // Each lab has accepted its client before the signal.
    for (socket, _) in &mut labs {
        loop {
            let Some(Ok(Message::Text(text))) = socket.next().await else {
                panic!("lab went quiet")
            };
            if text.contains(r#""type":"accepted""#) {
                break;
            }
        }
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
    assert!(
        took >= grace,
        "the silent clients held it for the grace period: {took:?}"
    );
    assert!(
        took < grace + Duration::from_secs(1),
        "and no longer than a second after: {took:?}"
    );
    for (_, echo_addr) in &labs {
        let refused = TcpStream::connect(echo_addr).await.unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    }
}
