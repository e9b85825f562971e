//! The lab's echo server in the async-tasks model: a listener task that
//! accepts, and one tokio task per connection that reads and writes back.
//!
//! The probe calls sit where the lesson's ideas are: a task reports
//! [`EventKind::TaskWaiting`] only when a read or a write really would block
//! (the non-blocking `try_read`/`try_write` said so) and it is about to await
//! readiness, which is exactly where an asyncio task suspends at `await`.
//! Errors end that one task, are reported with the OS's text, and never reach
//! the listener.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use protocol::{ConnId, EventKind, IoOp, ServerModel, Sock, TaskId, TaskOutcome};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::probe::Probe;

/// Bytes read per `recv`, like `sock.recv(4096)` in the lesson.
const READ_SIZE: usize = 4096;

/// A running echo server: what its tasks share.
#[derive(Clone, Debug)]
pub struct EchoServer {
    probe: Probe,
    stop: CancellationToken,
    tasks: TaskTracker,
    connection_slots: Arc<Semaphore>,
    next_conn: Arc<AtomicU64>,
    next_task: Arc<AtomicU64>,
}

impl EchoServer {
    /// Starts serving `listener` until `stop` is cancelled. Every task it
    /// starts is tracked by `tasks`; at most `max_connections` connections
    /// are served at once (more are accepted and closed at once).
    pub fn start(
        listener: TcpListener,
        probe: Probe,
        stop: CancellationToken,
        tasks: TaskTracker,
        max_connections: usize,
    ) {
        let server = EchoServer {
            probe,
            stop,
            tasks: tasks.clone(),
            connection_slots: Arc::new(Semaphore::new(max_connections)),
            next_conn: Arc::new(AtomicU64::new(1)),
            next_task: Arc::new(AtomicU64::new(1)),
        };
        tasks.spawn(server.accept_loop(listener));
    }

    async fn accept_loop(self, listener: TcpListener) {
        if let Ok(addr) = listener.local_addr() {
            self.probe.emit(EventKind::Listening {
                addr: addr.to_string(),
                model: ServerModel::AsyncTasks,
            });
        }
        loop {
            let accepted = tokio::select! {
                _ = self.stop.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => self.admit(stream, peer.to_string()),
                // Running out of file descriptors and the like: the server
                // goes on, the next accept may succeed.
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    self.probe.emit(EventKind::Error {
                        message: format!("accept failed: {error}"),
                    });
                }
            }
        }
        // Dropping the listener here closes the port.
    }

    fn admit(&self, stream: TcpStream, peer: String) {
        let conn = ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed));
        self.probe.emit(EventKind::Accepted { conn, peer });
        let Ok(slot) = Arc::clone(&self.connection_slots).try_acquire_owned() else {
            self.probe.emit(EventKind::Error {
                message: format!("{conn} refused: the lab serves too many connections already"),
            });
            self.probe.emit(EventKind::Closed { conn });
            return;
        };
        let task = TaskId(self.next_task.fetch_add(1, Ordering::Relaxed));
        self.probe.emit(EventKind::TaskSpawned {
            task,
            conn: Some(conn),
        });
        let probe = self.probe.clone();
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            let outcome = tokio::select! {
                _ = stop.cancelled() => TaskOutcome::Cancelled,
                served = echo(stream, conn, task, &probe) => match served {
                    Ok(()) => TaskOutcome::Ok,
                    Err(error) => TaskOutcome::Failed { error: error.to_string() },
                },
            };
            probe.emit(EventKind::TaskFinished {
                task,
                conn: Some(conn),
                outcome,
            });
            probe.emit(EventKind::Closed { conn });
            drop(slot);
        });
    }
}

/// Echoes until the peer closes its side, reporting each suspension.
async fn echo(stream: TcpStream, conn: ConnId, task: TaskId, probe: &Probe) -> io::Result<()> {
    let mut buffer = vec![0; READ_SIZE];
    loop {
        let received = match stream.try_read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(received) => received,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                probe.emit(EventKind::TaskWaiting {
                    task,
                    sock: Sock::Conn(conn),
                    op: IoOp::Read,
                });
                stream.readable().await?;
                continue;
            }
            Err(error) => return Err(error),
        };
        probe.emit(EventKind::Received {
            conn,
            bytes: received as u64,
        });
        send_all(&stream, &buffer[..received], conn, task, probe).await?;
        probe.emit(EventKind::Sent {
            conn,
            bytes: received as u64,
        });
    }
}

/// `sock_sendall`: writes everything, suspending whenever the send buffer is
/// full.
async fn send_all(
    stream: &TcpStream,
    mut bytes: &[u8],
    conn: ConnId,
    task: TaskId,
    probe: &Probe,
) -> io::Result<()> {
    while !bytes.is_empty() {
        match stream.try_write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => bytes = &bytes[written..],
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                probe.emit(EventKind::TaskWaiting {
                    task,
                    sock: Sock::Conn(conn),
                    op: IoOp::Write,
                });
                stream.writable().await?;
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
