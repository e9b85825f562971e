//! Clients that a lab starts on the browser's request: real TCP connections
//! to the lab's own echo server, behaving as a [`ClientBehaviour`] says.
//!
//! Each client checks every echo against what it sent, so the number it
//! reports as echoed is bytes that really made the round trip intact.

use std::net::SocketAddr;
use std::time::Duration;

use protocol::{ClientBehaviour, ClientId, EventKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::probe::Probe;

/// Why a client stopped before doing all it meant to.
#[derive(Debug, thiserror::Error)]
enum ClientError {
    #[error("connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("message {index}: {source}")]
    Io { index: u32, source: std::io::Error },
    #[error("message {index}: the echo differs from what was sent")]
    WrongEcho { index: u32 },
    #[error("cancelled")]
    Cancelled,
}

/// Runs one client to its end and reports it.
pub async fn run(
    client: ClientId,
    behaviour: ClientBehaviour,
    echo_addr: SocketAddr,
    probe: Probe,
    stop: CancellationToken,
) {
    probe.emit(EventKind::ClientStarted {
        client,
        behaviour: behaviour.clone(),
    });
    let mut echoed = 0;
    let result = tokio::select! {
        _ = stop.cancelled() => Err(ClientError::Cancelled),
        result = behave(client, &behaviour, echo_addr, &mut echoed) => result,
    };
    probe.emit(EventKind::ClientFinished {
        client,
        echoed,
        error: result.err().map(|error| error.to_string()),
    });
}

async fn behave(
    client: ClientId,
    behaviour: &ClientBehaviour,
    echo_addr: SocketAddr,
    echoed: &mut u64,
) -> Result<(), ClientError> {
    let mut stream =
        TcpStream::connect(echo_addr)
            .await
            .map_err(|source| ClientError::Connect {
                addr: echo_addr,
                source,
            })?;
    match *behaviour {
        // The lab refuses the other behaviours before a client starts.
        ClientBehaviour::Slow { .. }
        | ClientBehaviour::Silent
        | ClientBehaviour::Crasher { .. }
        | ClientBehaviour::Flood { .. } => {}
        ClientBehaviour::Polite {
            messages,
            size,
            interval_ms,
        } => {
            let mut echo = vec![0; size as usize];
            for index in 0..messages {
                if index > 0 && interval_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(interval_ms.into())).await;
                }
                let message = message_text(client, index, size as usize);
                let io = |source| ClientError::Io { index, source };
                stream.write_all(&message).await.map_err(io)?;
                stream.read_exact(&mut echo).await.map_err(io)?;
                if echo != message {
                    return Err(ClientError::WrongEcho { index });
                }
                *echoed += u64::from(size);
            }
            stream.shutdown().await.map_err(|source| ClientError::Io {
                index: messages,
                source,
            })?;
        }
    }
    Ok(())
}

/// A readable message, different for every client and index, so that a
/// mixed-up echo is caught and a person watching with `tcpdump` can follow.
fn message_text(client: ClientId, index: u32, size: usize) -> Vec<u8> {
    let line = format!("{client} says hello #{index}. ");
    line.bytes().cycle().take(size).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_the_asked_size_and_differ_between_clients_and_indices() {
        let a = message_text(ClientId(1), 0, 50);
        assert_eq!(a.len(), 50);
        assert_ne!(a, message_text(ClientId(2), 0, 50));
        assert_ne!(a, message_text(ClientId(1), 1, 50));
        assert!(message_text(ClientId(1), 0, 0).is_empty());
    }
}
