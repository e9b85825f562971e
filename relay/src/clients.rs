//! Clients that a lab starts on the browser's request: real TCP connections
//! to the lab's own echo server, behaving as a [`ClientBehaviour`] says.
//!
//! Each client checks every echo against what it sent, so the number it
//! reports as echoed is bytes that really made the round trip intact.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

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
        result = behave(client, &behaviour, echo_addr, &probe, &mut echoed) => result,
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
    probe: &Probe,
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
        ClientBehaviour::Polite {
            messages,
            size,
            interval_ms,
        } => {
            for index in 0..messages {
                if index > 0 && interval_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(interval_ms.into())).await;
                }
                let message = message_text(client, index, size as usize);
                let io = |source| ClientError::Io { index, source };
                let started = Instant::now();
                stream.write_all(&message).await.map_err(io)?;
                read_echo(&mut stream, &message, index, echoed).await?;
                report_round_trip(probe, client, started);
            }
            finish_sending(&mut stream, messages).await?;
        }
        ClientBehaviour::Slow {
            messages,
            size,
            byte_interval_ms,
        } => {
            for index in 0..messages {
                let message = message_text(client, index, size as usize);
                let started = Instant::now();
                for byte in &message {
                    let io = |source| ClientError::Io { index, source };
                    stream
                        .write_all(std::slice::from_ref(byte))
                        .await
                        .map_err(io)?;
                    tokio::time::sleep(Duration::from_millis(byte_interval_ms.into())).await;
                }
                read_echo(&mut stream, &message, index, echoed).await?;
                report_round_trip(probe, client, started);
            }
            finish_sending(&mut stream, messages).await?;
        }
        ClientBehaviour::Silent => {
            // Waits for the server to close; whatever it sends is ignored.
            let mut sink = [0; 1024];
            while stream
                .read(&mut sink)
                .await
                .map_err(|source| ClientError::Io { index: 0, source })?
                > 0
            {}
        }
        ClientBehaviour::Crasher { size } => {
            let half = message_text(client, 0, size as usize / 2);
            stream
                .write_all(&half)
                .await
                .map_err(|source| ClientError::Io { index: 0, source })?;
            // Linger 0 turns the close into a reset (RST): the server's next
            // call on this connection fails with "connection reset by peer".
            socket2::SockRef::from(&stream)
                .set_linger(Some(Duration::ZERO))
                .map_err(|source| ClientError::Io { index: 0, source })?;
            drop(stream);
        }
        ClientBehaviour::Flood { bytes } => {
            // Never reads: once the server's echoes fill this socket's
            // receive buffer, the server's writes wait, and then its reads.
            let chunk = vec![b'f'; 16 * 1024];
            let mut left = bytes as usize;
            while left > 0 {
                let now = left.min(chunk.len());
                stream
                    .write_all(&chunk[..now])
                    .await
                    .map_err(|source| ClientError::Io { index: 0, source })?;
                left -= now;
            }
            finish_sending(&mut stream, 0).await?;
        }
    }
    Ok(())
}

fn report_round_trip(probe: &Probe, client: ClientId, started: Instant) {
    probe.emit(EventKind::RoundTrip {
        client,
        latency_us: started.elapsed().as_micros() as u64,
    });
}

/// Reads the echo of `message` and checks it byte for byte.
async fn read_echo(
    stream: &mut TcpStream,
    message: &[u8],
    index: u32,
    echoed: &mut u64,
) -> Result<(), ClientError> {
    let mut echo = vec![0; message.len()];
    stream
        .read_exact(&mut echo)
        .await
        .map_err(|source| ClientError::Io { index, source })?;
    if echo != message {
        return Err(ClientError::WrongEcho { index });
    }
    *echoed += message.len() as u64;
    Ok(())
}

/// Closes the sending side: the server reads EOF and ends its handler.
async fn finish_sending(stream: &mut TcpStream, after: u32) -> Result<(), ClientError> {
    stream.shutdown().await.map_err(|source| ClientError::Io {
        index: after,
        source,
    })
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
