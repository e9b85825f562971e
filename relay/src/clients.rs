//! Clients that a lab starts on the browser's request: real TCP connections
//! to the lab's own echo server, behaving as a [`ClientBehaviour`] says.
//!
//! Each client checks every echo against what it sent, so the number it
//! reports as echoed is bytes that really made the round trip intact. The
//! one other thing it accepts is the server's goodbye line, read by the
//! same rule as the simulated clients ([`protocol::goodbye`]): it stops
//! there, told goodbye.
//!
//! A client binds its socket first and tells the lab's [`Admission`] its
//! address, so that the echo server lets it in (and nobody else from that
//! address and port); its socket buffers are capped like the server's.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use protocol::goodbye::{ReadBack, goodbye_continues, read_back};
use protocol::{ClientBehaviour, ClientId, EventKind, GOODBYE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::admission::SharedAdmission;
use crate::probe::Probe;
use crate::room::Lease;

/// What a client holds from the room's budgets while it runs.
#[derive(Debug)]
pub struct ClientLeases {
    /// The descriptor of its own socket.
    pub own_socket: Lease,
    /// The descriptors of the server's end, handed to the admission.
    pub server_side: Lease,
    /// Kernel memory it may pin, from the lab's budget.
    pub lab_in_flight: Lease,
    /// The same, from the room's.
    pub room_in_flight: Lease,
}

/// One client to run.
#[derive(Debug)]
pub struct Client {
    /// Its number in the lab.
    pub id: ClientId,
    /// What it does.
    pub behaviour: ClientBehaviour,
    /// The echo server.
    pub target: SocketAddr,
    /// Its socket's send and receive buffer size.
    pub socket_buffer: u32,
    /// The echo port's door, told of the client before it connects.
    pub admission: SharedAdmission,
    /// What it holds from the room's budgets.
    pub leases: ClientLeases,
}

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

/// How a client's conversation ended, when it ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// It did all it meant to.
    Done,
    /// The server said goodbye first.
    ToldGoodbye,
}

/// What came back where an echo was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    /// The whole echo.
    Echo,
    /// The server's goodbye line, instead of the echo or after part of it.
    Goodbye,
}

/// Runs one client to its end and reports it.
pub async fn run(client: Client, probe: Probe, stop: CancellationToken) {
    let Client {
        id,
        behaviour,
        target,
        socket_buffer,
        admission,
        leases,
    } = client;
    probe.emit(EventKind::ClientStarted {
        client: id,
        behaviour: behaviour.clone(),
    });
    let mut echoed = 0;
    let mut local = None;
    let result = tokio::select! {
        _ = stop.cancelled() => Err(ClientError::Cancelled),
        result = async {
            let stream = connect(target, socket_buffer, &admission, leases.server_side, &mut local).await?;
            behave(stream, id, &behaviour, &probe, &mut echoed).await
        } => result,
    };
    if let Some(local) = local {
        admission.forget_client(local);
    }
    drop((
        leases.own_socket,
        leases.lab_in_flight,
        leases.room_in_flight,
    ));
    let client = id;
    probe.emit(EventKind::ClientFinished {
        client,
        echoed,
        told_goodbye: matches!(result, Ok(Ending::ToldGoodbye)),
        error: result.err().map(|error| error.to_string()),
    });
}

/// Binds a socket on the echo server's address, tells the door, connects.
async fn connect(
    target: SocketAddr,
    socket_buffer: u32,
    admission: &SharedAdmission,
    server_side: Lease,
    local: &mut Option<SocketAddr>,
) -> Result<TcpStream, ClientError> {
    let failed = |source| ClientError::Connect {
        addr: target,
        source,
    };
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(failed)?;
    socket.set_send_buffer_size(socket_buffer).map_err(failed)?;
    socket.set_recv_buffer_size(socket_buffer).map_err(failed)?;
    socket
        .bind(SocketAddr::new(target.ip(), 0))
        .map_err(failed)?;
    let bound = socket.local_addr().map_err(failed)?;
    admission.expect_client(bound, server_side);
    *local = Some(bound);
    socket.connect(target).await.map_err(failed)
}

async fn behave(
    mut stream: TcpStream,
    client: ClientId,
    behaviour: &ClientBehaviour,
    probe: &Probe,
    echoed: &mut u64,
) -> Result<Ending, ClientError> {
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
                if read_echo(&mut stream, &message, index, echoed).await? == Heard::Goodbye {
                    return Ok(Ending::ToldGoodbye);
                }
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
                if read_echo(&mut stream, &message, index, echoed).await? == Heard::Goodbye {
                    return Ok(Ending::ToldGoodbye);
                }
                report_round_trip(probe, client, started);
            }
            finish_sending(&mut stream, messages).await?;
        }
        ClientBehaviour::Silent {} => {
            // Waits for the server to close; a goodbye is heard, anything
            // else ignored.
            let mut sink = [0; 1024];
            loop {
                let read = stream
                    .read(&mut sink)
                    .await
                    .map_err(|source| ClientError::Io { index: 0, source })?;
                if read == 0 {
                    break;
                }
                if let ReadBack::Goodbye { heard, .. } = read_back(&[], 0, &sink[..read]) {
                    return hear_goodbye(&mut stream, heard, 0)
                        .await
                        .map(|_| Ending::ToldGoodbye);
                }
            }
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
    Ok(Ending::Done)
}

fn report_round_trip(probe: &Probe, client: ClientId, started: Instant) {
    probe.emit(EventKind::RoundTrip {
        client,
        latency_us: started.elapsed().as_micros() as u64,
    });
}

/// Reads the echo of `message` and checks it byte for byte, or hears the
/// goodbye line that came instead (the bytes of the echo before it count
/// as echoed).
async fn read_echo(
    stream: &mut TcpStream,
    message: &[u8],
    index: u32,
    echoed: &mut u64,
) -> Result<Heard, ClientError> {
    let io = |source| ClientError::Io { index, source };
    let mut buffer = vec![0; message.len()];
    let mut got = 0;
    while got < message.len() {
        let read = stream.read(&mut buffer[got..]).await.map_err(io)?;
        if read == 0 {
            return Err(io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        match read_back(message, got, &buffer[got..got + read]) {
            ReadBack::Echo => got += read,
            ReadBack::Goodbye { echo, heard } => {
                *echoed += echo as u64;
                return hear_goodbye(stream, heard, index).await;
            }
            ReadBack::Wrong => return Err(ClientError::WrongEcho { index }),
        }
    }
    *echoed += message.len() as u64;
    Ok(Heard::Echo)
}

/// Reads the rest of a goodbye line of which `heard` bytes came.
async fn hear_goodbye(
    stream: &mut TcpStream,
    mut heard: usize,
    index: u32,
) -> Result<Heard, ClientError> {
    let io = |source| ClientError::Io { index, source };
    let mut buffer = [0; GOODBYE.len()];
    while heard < GOODBYE.len() {
        let read = stream
            .read(&mut buffer[..GOODBYE.len() - heard])
            .await
            .map_err(io)?;
        if read == 0 {
            return Err(io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        heard =
            goodbye_continues(heard, &buffer[..read]).ok_or(ClientError::WrongEcho { index })?;
    }
    Ok(Heard::Goodbye)
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
