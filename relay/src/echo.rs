//! The lab's echo server in the async-tasks model: a listener task that
//! accepts, and one tokio task per connection that reads and writes back.
//!
//! The probe calls sit where the lesson's ideas are: a task reports
//! [`EventKind::TaskWaiting`] only when a read or a write really would block
//! (the non-blocking `try_read`/`try_write` said so) and it is about to await
//! readiness, which is exactly where an asyncio task suspends at `await`.
//! Errors end that one task, are reported with the OS's text, and never reach
//! the listener.
//!
//! Each handler runs inside [`Instrumented`], which reports its polls and
//! wakes. The whole server runs on a current-thread runtime of its own (see
//! `server`): one thread, one event loop, as asyncio has, so that what the
//! browser sees (one task running at a time, the others suspended or ready)
//! is what happens.
//!
//! Shutting down is the usual tokio pattern: one cancellation token stops
//! the accept loop (closing the port), a task tracker waits for the handlers
//! for a grace period, and a second token cancels the ones still running.
//! The other policies of asyncio's program ([`ShutdownPolicy`]) are the
//! same parts in another order: cancel at once, wait with no deadline, or
//! write the goodbye line to every connection still open ([`OpenClients`],
//! the program's `clients` dict) and then cancel.

use std::any::Any;
use std::collections::BTreeMap;
use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use std::time::Duration;

use futures::FutureExt;
use protocol::{
    ConnId, EventKind, GOODBYE, HandlerStyle, IoOp, ServerModel, ShutdownPhase, ShutdownPolicy,
    Sock, TaskId, TaskOutcome,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admission::SharedAdmission;
use crate::instrument::Instrumented;
use crate::probe::Probe;
use crate::threaded::{ACCEPT_BACKOFF, accept_failed};

/// Bytes read per `recv`, like `sock.recv(4096)` in the lesson.
const READ_SIZE: usize = 4096;

/// The connections whose handlers still run, as asyncio's program keeps
/// them (`clients[task] = client`, emptied by `add_done_callback`): what a
/// shutdown that says goodbye writes to.
#[derive(Clone, Debug, Default)]
struct OpenClients(Arc<Mutex<BTreeMap<ConnId, Arc<TcpStream>>>>);

impl OpenClients {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<ConnId, Arc<TcpStream>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps `stream` until the guard returned is dropped (its handler
    /// ended, however it ended).
    fn keep(&self, conn: ConnId, stream: Arc<TcpStream>) -> KeptClient {
        self.lock().insert(conn, stream);
        KeptClient {
            clients: self.clone(),
            conn,
        }
    }

    /// `client.send(GOODBYE)` to each, in the order they were accepted:
    /// what fits in the send buffer now goes; a client whose buffer is full
    /// (it reads nothing) or that is gone misses it, and nobody waits.
    fn say_goodbye(&self) {
        for stream in self.lock().values() {
            let _ = stream.try_write(GOODBYE);
        }
    }
}

/// A connection kept in [`OpenClients`] while its handler runs.
struct KeptClient {
    clients: OpenClients,
    conn: ConnId,
}

impl Drop for KeptClient {
    fn drop(&mut self) {
        self.clients.lock().remove(&self.conn);
    }
}

/// A running echo server: what its tasks share.
#[derive(Clone, Debug)]
struct EchoServer {
    probe: Probe,
    stop_accepting: CancellationToken,
    cancel_handlers: CancellationToken,
    handlers: TaskTracker,
    admission: SharedAdmission,
    next_conn: Arc<AtomicU64>,
    next_task: Arc<AtomicU64>,
    doomed: Arc<AtomicU64>,
    /// What a handler does with a client's error.
    errors: HandlerStyle,
    clients: OpenClients,
}

/// The controls of a running echo server.
#[derive(Clone, Debug)]
pub struct ServerHandle {
    stop_accepting: CancellationToken,
    cancel_handlers: CancellationToken,
    acceptor: TaskTracker,
    handlers: TaskTracker,
    /// The connection whose handler is to panic at its next read (0: none).
    doomed: Arc<AtomicU64>,
    /// The server's own runtime (its event loop), where a graceful
    /// shutdown runs, as asyncio's runs on its loop.
    runtime: tokio::runtime::Handle,
    /// The shutdown running on that loop, which keeps the loop alive until
    /// it has said `stopped`.
    shutting_down: TaskTracker,
    clients: OpenClients,
}

/// Starts serving `listener`. Cancelling `lab_stop` ends everything at once;
/// [`ServerHandle::shut_down`] ends it gracefully. Only connections that
/// `admission` lets in are served; the others are closed at once. Runs on
/// the server's own runtime.
pub fn start(
    listener: TcpListener,
    probe: Probe,
    lab_stop: &CancellationToken,
    admission: SharedAdmission,
    errors: HandlerStyle,
) -> ServerHandle {
    let handle = ServerHandle {
        stop_accepting: lab_stop.child_token(),
        cancel_handlers: lab_stop.child_token(),
        acceptor: TaskTracker::new(),
        handlers: TaskTracker::new(),
        doomed: Arc::new(AtomicU64::new(0)),
        runtime: tokio::runtime::Handle::current(),
        shutting_down: TaskTracker::new(),
        clients: OpenClients::default(),
    };
    let server = EchoServer {
        doomed: Arc::clone(&handle.doomed),
        probe,
        stop_accepting: handle.stop_accepting.clone(),
        cancel_handlers: handle.cancel_handlers.clone(),
        handlers: handle.handlers.clone(),
        admission,
        next_conn: Arc::new(AtomicU64::new(1)),
        next_task: Arc::new(AtomicU64::new(1)),
        errors,
        clients: handle.clients.clone(),
    };
    handle.acceptor.spawn(server.accept_loop(listener));
    handle
}

impl ServerHandle {
    /// Makes the handler of `conn` panic when it next reads (test command).
    pub fn doom(&self, conn: ConnId) {
        self.doomed.store(conn.0, Ordering::Relaxed);
    }

    /// Stops accepting (the port closes), then treats the connections in
    /// flight as `policy` says, reporting each phase:
    ///
    /// * grace then cancel: lets them finish for `grace`, cancels the rest;
    /// * cancel at once: cancels them all now;
    /// * wait for everyone: waits, with no deadline, until each has ended
    ///   by itself (closing the lab still ends them);
    /// * notify first: writes the goodbye line to each, then cancels them.
    ///
    /// It runs on the server's loop, as `asyncio.wait(tasks,
    /// timeout=grace)` does: the grace period is a timer of that loop, so
    /// the loop's `select()` waits at most until it (see `event_loop`).
    pub async fn shut_down(&self, probe: &Probe, grace: Duration, policy: ShutdownPolicy) {
        let (this, on_loop_probe) = (self.clone(), probe.clone());
        let on_loop = self.shutting_down.spawn_on(
            async move { this.shut_down_here(&on_loop_probe, grace, policy).await },
            &self.runtime,
        );
        if on_loop.await.is_err() {
            // The loop had already ended (its server stopped at once):
            // nothing runs there to wait for, so say the phases here.
            self.shut_down_here(probe, grace, policy).await;
        }
    }

    async fn shut_down_here(&self, probe: &Probe, grace: Duration, policy: ShutdownPolicy) {
        self.stop_accepting.cancel();
        self.acceptor.close();
        self.acceptor.wait().await;
        probe.emit(EventKind::Shutdown {
            phase: ShutdownPhase::StopAccepting,
        });
        self.handlers.close();
        match policy {
            ShutdownPolicy::GraceThenCancel => {
                let deadline = probe.now() + grace.as_micros() as u64;
                probe.emit(EventKind::Shutdown {
                    phase: ShutdownPhase::Draining { deadline },
                });
                if tokio::time::timeout(grace, self.handlers.wait())
                    .await
                    .is_err()
                {
                    self.cancel_the_rest(probe).await;
                }
            }
            ShutdownPolicy::CancelAtOnce => self.cancel_the_rest(probe).await,
            ShutdownPolicy::WaitForEveryone => {
                probe.emit(EventKind::Shutdown {
                    phase: ShutdownPhase::WaitingForEveryone,
                });
                self.handlers.wait().await;
            }
            ShutdownPolicy::NotifyFirst => {
                probe.emit(EventKind::Shutdown {
                    phase: ShutdownPhase::Notifying,
                });
                self.clients.say_goodbye();
                self.cancel_the_rest(probe).await;
            }
        }
        probe.emit(EventKind::Shutdown {
            phase: ShutdownPhase::Stopped,
        });
    }

    /// Cancels the handlers still running and waits until they have ended.
    async fn cancel_the_rest(&self, probe: &Probe) {
        probe.emit(EventKind::Shutdown {
            phase: ShutdownPhase::Cancelling,
        });
        self.cancel_handlers.cancel();
        self.handlers.wait().await;
    }

    /// Stops accepting and cancels every handler at once, then waits until
    /// they have ended and the port is closed.
    pub async fn stop_now(&self) {
        self.stop_accepting.cancel();
        self.cancel_handlers.cancel();
        self.stopped().await;
    }

    /// Waits until the accept loop and every handler have ended (after the
    /// lab's stop token was cancelled).
    pub async fn stopped(&self) {
        self.acceptor.close();
        self.handlers.close();
        self.acceptor.wait().await;
        self.handlers.wait().await;
    }

    /// Waits until the server has stopped and a graceful shutdown running
    /// on its loop, if any, has finished: the loop may end then.
    pub async fn loop_may_end(&self) {
        self.stopped().await;
        self.shutting_down.close();
        self.shutting_down.wait().await;
    }
}

impl EchoServer {
    async fn accept_loop(self, listener: TcpListener) {
        if let Ok(addr) = listener.local_addr() {
            self.probe.emit(EventKind::Listening {
                addr: addr.to_string(),
                model: ServerModel::AsyncTasks,
                errors: self.errors,
            });
        }
        loop {
            let accepted = tokio::select! {
                _ = self.stop_accepting.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    if let Some(pass) = self.admission.admit(peer, &self.probe) {
                        self.serve(stream, peer.to_string(), pass);
                    }
                }
                // Running out of file descriptors and the like: the server
                // goes on, after a pause (the failed connection is still
                // queued, so retrying at once would spin).
                Err(error) => {
                    accept_failed(&self.probe, &error);
                    tokio::select! {
                        _ = self.stop_accepting.cancelled() => break,
                        _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    }
                }
            }
        }
        // Dropping the listener here closes the port.
    }

    fn serve(&self, stream: TcpStream, peer: String, pass: crate::admission::Pass) {
        let conn = ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed));
        self.probe.accepted(conn, peer, &stream);
        let task = TaskId(self.next_task.fetch_add(1, Ordering::Relaxed));
        self.probe.emit(EventKind::TaskSpawned {
            task,
            conn: Some(conn),
        });
        let probe = self.probe.clone();
        let stop = self.cancel_handlers.clone();
        let doomed = Arc::clone(&self.doomed);
        let task_probe = self.probe.clone();
        let errors = self.errors;
        let stream = Arc::new(stream);
        let kept = self.clients.keep(conn, Arc::clone(&stream));
        self.handlers.spawn(Instrumented::new(task, task_probe, async move {
            // A panic in the handler ends this task only; it is reported
            // like any other failure.
            let served = AssertUnwindSafe(echo(&stream, conn, task, &probe, &doomed)).catch_unwind();
            let outcome = tokio::select! {
                // A cancelled task stops at its next await, as a Python task
                // does: it serves nothing more once told to stop.
                biased;
                _ = stop.cancelled() => TaskOutcome::Cancelled,
                served = served => match served {
                    Ok(Ok(())) => TaskOutcome::Ok,
                    // `except ConnectionError` in the handled listing: the
                    // handler reports it and ends well.
                    Ok(Err(error)) if errors == HandlerStyle::Handled && is_connection_error(&error) => {
                        probe.emit(EventKind::ErrorHandled { conn, error: error.to_string() });
                        TaskOutcome::Ok
                    }
                    Ok(Err(error)) => TaskOutcome::Failed { error: error.to_string() },
                    Err(panic) => TaskOutcome::Failed { error: format!("panicked: {}", panic_message(&panic)) },
                },
            };
            let unretrieved = match &outcome {
                TaskOutcome::Failed { error } => Some(error.clone()),
                _ => None,
            };
            probe.emit(EventKind::TaskFinished {
                task,
                conn: Some(conn),
                outcome,
            });
            // Nobody awaits a handler's task: asyncio reports its error
            // when the task is dropped, as here.
            if let Some(error) = unretrieved {
                probe.emit(EventKind::ExceptionNeverRetrieved { task, error });
            }
            // The socket closes as the last reference goes.
            drop((kept, stream));
            probe.closed(conn);
            drop(pass);
        }));
    }
}

/// Whether Python would raise a `ConnectionError` for `error` (a reset or
/// aborted connection, a broken pipe).
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionRefused
    )
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic")
}

/// Echoes until the peer closes its side, reporting each suspension.
async fn echo(
    stream: &TcpStream,
    conn: ConnId,
    task: TaskId,
    probe: &Probe,
    doomed: &AtomicU64,
) -> io::Result<()> {
    let mut buffer = vec![0; READ_SIZE];
    loop {
        if doomed.load(Ordering::Relaxed) == conn.0 {
            panic!("the handler of {conn} was told to panic (a test command)");
        }
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
        send_all(stream, &buffer[..received], conn, task, probe).await?;
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
