//! The blocking server, live (`sim/python/blocking.py` on real sockets):
//! one thread, a blocking `accept()`, then blocking `read`/`write_all` for
//! that one client until it leaves. Each blocking call is reported as it is
//! entered and as it returns, so the browser sees the thread parked; the
//! kernel's listen backlog (connections waiting for `accept()`) is read with
//! `TCP_INFO` and reported as it changes.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use protocol::{Call, ConnId, EventKind, Sock};

use super::{ACCEPT_BACKOFF, Control, accept_failed, caught};
use crate::platform::listen_queue::ListenQueue;
use crate::probe::Probe;

const READ_SIZE: usize = 4096;
/// How often the backlog watcher looks at the listener's queue.
const BACKLOG_PERIOD: Duration = Duration::from_millis(20);

pub fn serve(listener: TcpListener, probe: &Probe, control: &Control) {
    control.watch_listener(&listener);
    let watching = AtomicBool::new(true);
    // A scoped thread: it is joined before `serve` returns, so once the
    // server has finished, nothing of it holds the port any more (a model
    // switch binds it next).
    std::thread::scope(|scope| {
        let watcher = std::thread::Builder::new()
            .name("backlog watcher".into())
            .spawn_scoped(scope, || watch_backlog(&listener, probe, &watching));
        if watcher.is_err() {
            tracing::warn!("cannot watch the listen backlog");
        }
        accept_loop(&listener, probe, control);
        watching.store(false, Ordering::Relaxed);
        if let Ok(watcher) = watcher {
            watcher.thread().unpark();
        }
    });
}

fn accept_loop(listener: &TcpListener, probe: &Probe, control: &Control) {
    let mut iteration = 0;
    let mut next_conn = 1;
    let mut buffer = vec![0; READ_SIZE];
    while !control.stopping() && control.gate.pass(probe, || {}) {
        iteration += 1;
        probe.emit(EventKind::LoopIteration { iteration });
        probe.emit(EventKind::CallBlocked {
            call: Call::Accept,
            sock: Sock::Listener,
        });
        // Connections the lab does not serve are closed as they are
        // accepted, within the same blocked call as far as the page sees.
        let (stream, peer, pass) = loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    if let Some(pass) = control.admission.admit(peer, probe) {
                        break (stream, peer, pass);
                    }
                }
                Err(_) if control.stopping() => return,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => {
                    accept_failed(probe, &error);
                    std::thread::sleep(ACCEPT_BACKOFF);
                }
            }
            if control.stopping() {
                return;
            }
        };
        probe.emit(EventKind::CallReturned {
            call: Call::Accept,
            sock: Sock::Listener,
        });
        let conn = ConnId(next_conn);
        next_conn += 1;
        probe.accepted(conn, peer.to_string(), &stream);
        serve_one(stream, conn, probe, control, &mut buffer, &mut iteration);
        probe.closed(conn);
        drop(pass);
    }
}

/// Serves one client until it leaves (or the server is cancelled).
fn serve_one(
    mut stream: TcpStream,
    conn: ConnId,
    probe: &Probe,
    control: &Control,
    buffer: &mut [u8],
    iteration: &mut u64,
) {
    let sock = Sock::Conn(conn);
    while control.gate.pass(probe, || {}) {
        *iteration += 1;
        probe.emit(EventKind::LoopIteration {
            iteration: *iteration,
        });
        probe.emit(EventKind::CallBlocked {
            call: Call::Recv,
            sock,
        });
        let received = match stream.read(buffer) {
            Ok(0) => return,
            Ok(received) => received,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(_) if control.cancelled() => return,
            Err(error) => return caught(probe, control, conn, Call::Recv, &error),
        };
        probe.emit(EventKind::CallReturned {
            call: Call::Recv,
            sock,
        });
        probe.emit(EventKind::Received {
            conn,
            bytes: received as u64,
        });
        probe.emit(EventKind::CallBlocked {
            call: Call::Send,
            sock,
        });
        if let Err(error) = stream.write_all(&buffer[..received]) {
            if !control.cancelled() {
                caught(probe, control, conn, Call::Send, &error);
            }
            return;
        }
        probe.emit(EventKind::CallReturned {
            call: Call::Send,
            sock,
        });
        probe.emit(EventKind::Sent {
            conn,
            bytes: received as u64,
        });
    }
}

/// Reports the listen backlog whenever it changes, from a second thread
/// (the server's own is parked in a blocking call most of the time), until
/// `watching` turns false (and the thread is unparked).
fn watch_backlog(listener: &TcpListener, probe: &Probe, watching: &AtomicBool) {
    let queue = match ListenQueue::watch(listener) {
        Ok(queue) => queue,
        Err(error) => {
            tracing::warn!(%error, "cannot watch the listen backlog");
            return;
        }
    };
    let mut reported = 0;
    while watching.load(Ordering::Relaxed) {
        if let Some(waiting) = queue.waiting()
            && waiting != reported
        {
            reported = waiting;
            probe.emit(EventKind::Backlog { waiting });
        }
        std::thread::park_timeout(BACKLOG_PERIOD);
    }
}
