//! Bytes waiting in each open connection's kernel buffers, as `ss` shows
//! them: received but not yet read by the server (`FIONREAD`), and written
//! but not yet taken by the peer ([`crate::platform::send_queue`]).
//!
//! The servers register each connection they accept ([`OpenSockets::watch`])
//! and forget it when they close it; a sampler off the echo path reads the
//! levels every [`SAMPLE_PERIOD`] and reports those that changed as
//! `buffered` events, through the lab's probe ([`Report`]). The registry holds its own duplicate of each socket's
//! descriptor, so a sample never reads a number that the system has since
//! given to another file; the thread servers also use that one duplicate to
//! shut a connection down when they must unblock a call parked on it.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use protocol::{ConnId, EventKind};
use tokio_util::sync::CancellationToken;

use crate::platform::send_queue::unsent;
use crate::report::Report;

/// How often the levels are read.
pub const SAMPLE_PERIOD: Duration = Duration::from_millis(100);

/// One watched connection.
#[derive(Debug)]
struct Watched {
    socket: OwnedFd,
    /// The levels last reported.
    reported: (u64, u64),
}

/// The connections a lab's server has open, shared by its threads and tasks.
#[derive(Clone, Debug, Default)]
pub struct OpenSockets {
    watched: Arc<Mutex<BTreeMap<ConnId, Watched>>>,
}

impl OpenSockets {
    fn watched(&self) -> MutexGuard<'_, BTreeMap<ConnId, Watched>> {
        self.watched
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts watching `conn`'s buffers.
    pub fn watch(&self, conn: ConnId, socket: &impl AsFd) {
        if let Ok(socket) = socket.as_fd().try_clone_to_owned() {
            self.watched().insert(
                conn,
                Watched {
                    socket,
                    reported: (0, 0),
                },
            );
        }
    }

    /// Stops watching `conn` (the server is closing it). Its duplicate
    /// descriptor goes, so the connection closes with the server's.
    pub fn forget(&self, conn: ConnId) {
        self.watched().remove(&conn);
    }

    /// Shuts every watched connection down (both directions), which makes
    /// a call parked on one return at once.
    pub fn shut_down_all(&self) {
        for watched in self.watched().values() {
            let _ = socket2::SockRef::from(&watched.socket).shutdown(std::net::Shutdown::Both);
        }
    }

    /// Stops watching every connection (their server is gone).
    pub fn forget_all(&self) {
        self.watched().clear();
    }

    /// Reads every watched connection's levels and reports those that
    /// changed since the last report.
    pub fn sample(&self, probe: &impl Report) {
        for (conn, watched) in self.watched().iter_mut() {
            let Some(levels) = levels(&watched.socket) else {
                continue;
            };
            // A report lost to a full buffer is tried again next time.
            if levels != watched.reported
                && probe.emit(EventKind::Buffered {
                    conn: *conn,
                    recv_queue: levels.0,
                    send_queue: levels.1,
                })
            {
                watched.reported = levels;
            }
        }
    }

    /// Samples every [`SAMPLE_PERIOD`] until `stop`.
    pub async fn sample_until(self, probe: impl Report, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(SAMPLE_PERIOD);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => self.sample(&probe),
            }
        }
    }
}

/// (bytes not yet read, bytes not yet taken by the peer) of a socket.
fn levels(socket: &OwnedFd) -> Option<(u64, u64)> {
    let fd = socket.as_raw_fd();
    let mut unread: libc::c_int = 0;
    // SAFETY: `fd` is an open socket for as long as `socket` lives, and
    // FIONREAD writes one c_int to the pointer it is given.
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut unread) } != 0 {
        return None;
    }
    Some((u64::try_from(unread).ok()?, unsent(fd)?))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use super::*;
    use crate::report::Recorder;

    fn buffered(recv_queue: u64, send_queue: u64) -> EventKind {
        EventKind::Buffered {
            conn: ConnId(1),
            recv_queue,
            send_queue,
        }
    }

    #[test]
    fn unread_bytes_show_and_go_once_read() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut served, _) = listener.accept().unwrap();
        let probe = Recorder::default();
        let sockets = OpenSockets::default();
        sockets.watch(ConnId(1), &served);

        client.write_all(&[7; 300]).unwrap();
        // Loopback delivers at once, but let the kernel queue it: wait for
        // the bytes to be readable rather than for a while.
        served
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut peek = [0; 300];
        while served.peek(&mut peek).unwrap() < 300 {}
        sockets.sample(&probe);
        sockets.sample(&probe); // nothing changed: nothing reported
        let mut buffer = [0; 300];
        served.read_exact(&mut buffer).unwrap();
        sockets.sample(&probe);
        sockets.forget(ConnId(1));
        sockets.sample(&probe);

        assert_eq!(probe.take(), vec![buffered(300, 0), buffered(0, 0)]);
    }

    #[test]
    fn a_report_lost_to_a_full_buffer_is_made_at_the_next_sample() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (served, _) = listener.accept().unwrap();
        let probe = Recorder::default();
        let sockets = OpenSockets::default();
        sockets.watch(ConnId(1), &served);
        client.write_all(&[7; 100]).unwrap();
        let mut peek = [0; 100];
        while served.peek(&mut peek).unwrap() < 100 {}

        probe.refusing.set(1); // the probe's buffer is full
        sockets.sample(&probe); // lost
        assert_eq!(probe.take(), vec![]);
        sockets.sample(&probe); // made again: the levels were never reported
        sockets.sample(&probe); // and only once
        assert_eq!(probe.take(), vec![buffered(100, 0)]);
    }

    #[test]
    fn a_forgotten_connection_closes_with_the_servers_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (served, _) = listener.accept().unwrap();
        let sockets = OpenSockets::default();
        sockets.watch(ConnId(1), &served);
        sockets.forget(ConnId(1));
        drop(served);
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut byte = [0; 1];
        assert_eq!(client.read(&mut byte).unwrap(), 0, "the client sees EOF");
    }
}
