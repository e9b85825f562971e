//! The busy-polling server, live (`sim/python/busy_poll.py` on real
//! sockets): every socket non-blocking, a loop that tries `accept()` and
//! then each client in turn, forever. Would-block tries happen millions of
//! times a second, so they are counted and reported every
//! [`REPORT_PERIOD`] as a `spins` event, and whenever the loop stops at its
//! paused gate (so a Step's one iteration is told as it ends). (Its CPU,
//! 100% even when idle, is reported like every model's:
//! [`crate::cpu::report_until`].)
//!
//! The thread runs at idle priority ([`crate::platform::idle_priority`]): it still burns every
//! cycle nobody else wants, which is the lesson, but a room's other labs
//! (and the relay itself) always come first.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use protocol::{Call, ConnId, EventKind};

use super::{Control, caught};
use crate::admission::Pass;
use crate::platform::idle_priority::run_at_idle_priority;
use crate::probe::Probe;

const READ_SIZE: usize = 4096;
/// How often the tallies are reported.
const REPORT_PERIOD: Duration = Duration::from_millis(100);

struct Client {
    conn: ConnId,
    _pass: Pass,
    stream: TcpStream,
    /// Bytes received, not yet echoed.
    pending: Vec<u8>,
    received: usize,
}

/// Tallies since the last report.
struct Tally {
    iterations: u64,
    would_block: u64,
    since: Instant,
}

impl Tally {
    fn new() -> Self {
        Tally {
            iterations: 0,
            would_block: 0,
            since: Instant::now(),
        }
    }

    fn report_if_due(&mut self, probe: &Probe) {
        // Checking the clock costs; do it every few hundred iterations.
        if !self.iterations.is_multiple_of(256) || self.since.elapsed() < REPORT_PERIOD {
            return;
        }
        self.report(probe);
    }

    /// Reports what was counted since the last report, if anything: when a
    /// report is due, and when the loop stops at its paused gate (so that
    /// a step's one iteration, and its tries that would block, are told at
    /// once, not with the next report).
    fn report(&mut self, probe: &Probe) {
        if self.iterations == 0 {
            return;
        }
        probe.emit(EventKind::Spins {
            iterations: self.iterations,
            would_block: self.would_block,
        });
        *self = Tally::new();
    }
}

pub fn serve(listener: TcpListener, probe: &Probe, control: &Control) {
    if let Err(error) = run_at_idle_priority() {
        tracing::warn!(%error, "busy poll runs at normal priority");
    }
    if listener.set_nonblocking(true).is_err() {
        probe.emit(EventKind::Error {
            message: "cannot make the listener non-blocking".into(),
        });
        return;
    }
    control.watch_listener(&listener);
    let mut clients: Vec<Client> = Vec::new();
    let mut next_conn = 1;
    let mut tally = Tally::new();
    let mut buffer = vec![0; READ_SIZE];
    while control.gate.pass(probe, || tally.report(probe)) {
        if control.cancelled() || (control.stopping() && clients.is_empty()) {
            break;
        }
        tally.iterations += 1;
        if !control.stopping() {
            match listener.accept() {
                Ok((stream, peer)) => {
                    if let Some(pass) = control.admission.admit(peer, probe) {
                        let conn = ConnId(next_conn);
                        next_conn += 1;
                        probe.accepted(conn, peer.to_string(), &stream);
                        if stream.set_nonblocking(true).is_ok() {
                            clients.push(Client {
                                conn,
                                _pass: pass,
                                stream,
                                pending: Vec::new(),
                                received: 0,
                            });
                        } else {
                            probe.closed(conn);
                        }
                    }
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => tally.would_block += 1,
                Err(_) => {}
            }
        }
        clients.retain_mut(|client| try_client(client, probe, control, &mut tally, &mut buffer));
        tally.report_if_due(probe);
    }
    for client in clients {
        probe.closed(client.conn);
    }
}

/// One try at one client; false once the client is gone.
fn try_client(
    client: &mut Client,
    probe: &Probe,
    control: &Control,
    tally: &mut Tally,
    buffer: &mut [u8],
) -> bool {
    let conn = client.conn;
    let call = if client.pending.is_empty() {
        Call::Recv
    } else {
        Call::Send
    };
    let result = if client.pending.is_empty() {
        match client.stream.read(buffer) {
            Ok(0) => Err(None),
            Ok(received) => {
                probe.emit(EventKind::Received {
                    conn,
                    bytes: received as u64,
                });
                client.pending.extend_from_slice(&buffer[..received]);
                client.received = received;
                Ok(())
            }
            Err(error) => Err(Some(error)),
        }
    } else {
        match client.stream.write(&client.pending) {
            Ok(written) => {
                client.pending.drain(..written);
                if client.pending.is_empty() {
                    probe.emit(EventKind::Sent {
                        conn,
                        bytes: client.received as u64,
                    });
                }
                Ok(())
            }
            Err(error) => Err(Some(error)),
        }
    };
    match result {
        Ok(()) => true,
        Err(Some(error)) if error.kind() == ErrorKind::WouldBlock => {
            tally.would_block += 1;
            true
        }
        Err(error) => {
            if let Some(error) = error
                && !control.cancelled()
            {
                caught(probe, control, conn, call, &error);
            }
            probe.closed(conn);
            false
        }
    }
}
