//! The selector loop, live (`sim/python/selector.py` on real sockets), on
//! `mio::Poll`, which is epoll on Linux: the real selector. Sockets are
//! registered with their interest; each iteration sleeps in `poll()` until
//! some are ready, reports the ready set, and runs the callback for each:
//! accept (register the new socket for reading), receive (switch it to
//! writing), send (back to reading once everything is echoed).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use mio::net::{TcpListener as MioListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use protocol::{Call, ConnId, EventKind, IoOp, LoopPhase, Ready, Sock};

use super::{ACCEPT_BACKOFF, Control, accept_failed, caught};
use crate::admission::Pass;
use crate::probe::Probe;

const READ_SIZE: usize = 4096;
const LISTENER: Token = Token(0);
const WAKER: Token = Token(usize::MAX);
/// `selector.select(timeout=1)` before a shutdown.
const SELECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The least a `select()` waits once the grace period is over.
const PAST_DEADLINE: Duration = Duration::from_millis(1);

struct Client {
    stream: TcpStream,
    _pass: Pass,
    pending: Vec<u8>,
    received: usize,
}

fn token(conn: ConnId) -> Token {
    Token(conn.0 as usize)
}

fn failed(probe: &Probe, error: impl std::fmt::Display) {
    probe.emit(EventKind::Error {
        message: format!("the selector failed: {error}"),
    });
}

pub fn serve(listener: TcpListener, probe: &Probe, control: &Control) {
    if let Err(error) = run(listener, probe, control) {
        failed(probe, error);
    }
}

fn run(listener: TcpListener, probe: &Probe, control: &Control) -> std::io::Result<()> {
    control.watch_listener(&listener);
    listener.set_nonblocking(true)?;
    let mut listener = Some(MioListener::from_std(listener));
    let mut poll = Poll::new()?;
    control.set_waker(Waker::new(poll.registry(), WAKER)?);
    if let Some(listener) = listener.as_mut() {
        poll.registry()
            .register(listener, LISTENER, Interest::READABLE)?;
    }
    probe.emit(EventKind::Registered {
        sock: Sock::Listener,
        op: IoOp::Read,
        modify: false,
    });
    let mut clients: HashMap<ConnId, Client> = HashMap::new();
    let mut events = Events::with_capacity(1024);
    let mut next_conn = 1;
    let mut iteration = 0;
    while control.gate.pass(probe, || {}) {
        if control.cancelled() || (control.stopping() && clients.is_empty()) {
            break;
        }
        if control.stopping()
            && let Some(mut closing) = listener.take()
        {
            let _ = poll.registry().deregister(&mut closing);
            probe.emit(EventKind::Unregistered {
                sock: Sock::Listener,
            });
        }
        iteration += 1;
        probe.emit(EventKind::LoopIteration { iteration });
        probe.emit(EventKind::Phase {
            phase: LoopPhase::Select,
        });
        // `timeout = 1 if deadline is None else max(0, deadline - now)`;
        // past the deadline it waits a millisecond at least, until the
        // shutdown closes what is left (the listing closes it at once).
        let timeout = control.deadline().map_or(SELECT_TIMEOUT, |deadline| {
            Duration::from_micros(deadline.saturating_sub(probe.now())).max(PAST_DEADLINE)
        });
        probe.emit(EventKind::SelectCalled {
            timeout_us: Some(timeout.as_micros() as u64),
        });
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
        let ready: Vec<Ready> = events
            .iter()
            .filter(|event| event.token() != WAKER)
            .flat_map(|event| {
                let sock = if event.token() == LISTENER {
                    Sock::Listener
                } else {
                    Sock::Conn(ConnId(event.token().0 as u64))
                };
                let read = (event.is_readable() || event.is_read_closed() || event.is_error())
                    .then_some(Ready {
                        sock,
                        op: IoOp::Read,
                    });
                let write = event.is_writable().then_some(Ready {
                    sock,
                    op: IoOp::Write,
                });
                read.into_iter().chain(write)
            })
            .collect();
        probe.emit(EventKind::SelectReturned {
            ready: ready.clone(),
        });
        probe.emit(EventKind::Phase {
            phase: LoopPhase::Run,
        });
        for entry in ready {
            // A callback's error that nothing caught ended the server.
            if control.cancelled() {
                break;
            }
            match entry.sock {
                Sock::Listener => {
                    if let Some(listener) = listener.as_mut() {
                        accept_all(
                            listener,
                            &poll,
                            probe,
                            control,
                            &mut clients,
                            &mut next_conn,
                        )?;
                    }
                }
                Sock::Conn(conn) => {
                    if !clients.contains_key(&conn) {
                        continue;
                    }
                    let keep = match entry.op {
                        IoOp::Read => receive(conn, &mut clients, &poll, probe, control),
                        IoOp::Write => send(conn, &mut clients, &poll, probe, control),
                    };
                    if !keep && let Some(mut client) = clients.remove(&conn) {
                        let _ = poll.registry().deregister(&mut client.stream);
                        probe.emit(EventKind::Unregistered {
                            sock: Sock::Conn(conn),
                        });
                        probe.closed(conn);
                    }
                }
            }
        }
        // `selector.py` has no timers: the iteration ends with its
        // callbacks.
    }
    for (conn, _) in clients {
        probe.closed(conn);
    }
    Ok(())
}

/// The listener's callback: accepts everything waiting.
fn accept_all(
    listener: &mut MioListener,
    poll: &Poll,
    probe: &Probe,
    control: &Control,
    clients: &mut HashMap<ConnId, Client>,
    next_conn: &mut u64,
) -> std::io::Result<()> {
    loop {
        let (mut stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            // The listener was shut down to stop the server (a shutdown, a
            // restart under another model): an accept then fails, and that
            // is no failure to report.
            Err(_) if control.stopping() => return Ok(()),
            Err(error) => {
                // The connection is still queued, so the listener stays
                // ready: without a pause the loop would spin.
                accept_failed(probe, &error);
                std::thread::sleep(ACCEPT_BACKOFF);
                return Ok(());
            }
        };
        let Some(pass) = control.admission.admit(peer, probe) else {
            continue;
        };
        let conn = ConnId(*next_conn);
        *next_conn += 1;
        probe.accepted(conn, peer.to_string(), &stream);
        if let Err(error) = poll
            .registry()
            .register(&mut stream, token(conn), Interest::READABLE)
        {
            probe.closed(conn);
            return Err(error);
        }
        probe.emit(EventKind::Registered {
            sock: Sock::Conn(conn),
            op: IoOp::Read,
            modify: false,
        });
        clients.insert(
            conn,
            Client {
                stream,
                _pass: pass,
                pending: Vec::new(),
                received: 0,
            },
        );
    }
}

/// The read callback; false once the client is gone.
fn receive(
    conn: ConnId,
    clients: &mut HashMap<ConnId, Client>,
    poll: &Poll,
    probe: &Probe,
    control: &Control,
) -> bool {
    let Some(client) = clients.get_mut(&conn) else {
        return false;
    };
    let mut buffer = [0; READ_SIZE];
    match client.stream.read(&mut buffer) {
        Ok(0) => false,
        Ok(received) => {
            probe.emit(EventKind::Received {
                conn,
                bytes: received as u64,
            });
            client.pending.extend_from_slice(&buffer[..received]);
            client.received = received;
            let switched =
                poll.registry()
                    .reregister(&mut client.stream, token(conn), Interest::WRITABLE);
            probe.emit(EventKind::Registered {
                sock: Sock::Conn(conn),
                op: IoOp::Write,
                modify: true,
            });
            switched.is_ok()
        }
        Err(error) if error.kind() == ErrorKind::WouldBlock => true,
        Err(error) => {
            caught(probe, control, conn, Call::Recv, &error);
            false
        }
    }
}

/// The write callback; false once the client is gone.
fn send(
    conn: ConnId,
    clients: &mut HashMap<ConnId, Client>,
    poll: &Poll,
    probe: &Probe,
    control: &Control,
) -> bool {
    let Some(client) = clients.get_mut(&conn) else {
        return false;
    };
    match client.stream.write(&client.pending) {
        Ok(written) => {
            client.pending.drain(..written);
            if client.pending.is_empty() {
                probe.emit(EventKind::Sent {
                    conn,
                    bytes: client.received as u64,
                });
                let switched =
                    poll.registry()
                        .reregister(&mut client.stream, token(conn), Interest::READABLE);
                probe.emit(EventKind::Registered {
                    sock: Sock::Conn(conn),
                    op: IoOp::Read,
                    modify: true,
                });
                return switched.is_ok();
            }
            true
        }
        Err(error) if error.kind() == ErrorKind::WouldBlock => true,
        Err(error) => {
            caught(probe, control, conn, Call::Send, &error);
            false
        }
    }
}
