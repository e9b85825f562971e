//! Who may connect to a lab's echo port: the lab's own clients, and
//! connections from the address its page came from (the attendee's own
//! `nc`), within a cap. Anyone else on the network is closed at once and
//! counted, so that a stranger cannot fill, freeze or slow another
//! attendee's lab, whatever the server model.
//!
//! The lab's clients are known before they connect: each binds its socket,
//! tells [`Admission::expect_client`] its address (with the descriptors its
//! server side will need), and only then connects, so the server recognises
//! it at `accept()` with no race. Connections from the page's address take
//! descriptors from the room's budget; with none left they are refused like
//! a stranger's.
//!
//! The four servers call [`Admission::admit`] right after `accept()` and
//! keep the [`Pass`] for as long as they keep the connection.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use protocol::EventKind;

use crate::probe::Probe;
use crate::room::{Budget, CONNECTION_DESCRIPTORS, Lease};
use crate::throttle::Tally;

/// How often refusals are reported to the page.
const REPORT_PERIOD: std::time::Duration = std::time::Duration::from_secs(1);

/// The door of one lab's echo port.
#[derive(Debug)]
pub struct Admission {
    /// The address the lab's page (its WebSocket) came from.
    owner: IpAddr,
    /// Lab clients about to connect, with the descriptors their server side
    /// will hold.
    expected: Mutex<HashMap<SocketAddr, Lease>>,
    /// Connections from the owner's address (not lab clients).
    own_connections: Budget,
    descriptors: Budget,
    refused: Tally,
}

/// Why a connection was closed at `accept()`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Turned {
    /// From an address other than the page's, and not a lab client.
    #[error(
        "it came from {0}; this echo port answers only its own page's address and the lab's clients"
    )]
    Stranger(IpAddr),
    /// The page's address already has its cap of connections open.
    #[error("this page's address already has {0} connections open to the lab, the most it may")]
    TooManyOwn(u64),
    /// The room has no descriptors left.
    #[error("the relay has no file descriptors left for it")]
    NoDescriptors,
}

/// Leave to keep a connection; drop it when the connection closes.
#[derive(Debug)]
pub struct Pass {
    _descriptors: Lease,
    _own_slot: Lease,
}

impl Admission {
    /// The door of a lab whose page came from `owner`, letting in at most
    /// `max_own` of the owner's own connections at once.
    pub fn new(owner: IpAddr, max_own: u32, descriptors: Budget) -> Self {
        Admission {
            owner,
            expected: Mutex::new(HashMap::new()),
            own_connections: Budget::new(max_own),
            descriptors,
            refused: Tally::new(REPORT_PERIOD),
        }
    }

    fn expected(&self) -> MutexGuard<'_, HashMap<SocketAddr, Lease>> {
        self.expected
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A lab client bound to `local` is about to connect; `server_side` are
    /// the descriptors the server will hold for it.
    pub fn expect_client(&self, local: SocketAddr, server_side: Lease) {
        self.expected().insert(local, server_side);
    }

    /// The client bound to `local` is done; if it was never accepted, its
    /// server-side descriptors go back.
    pub fn forget_client(&self, local: SocketAddr) {
        self.expected().remove(&local);
    }

    /// Decides on a connection just accepted from `peer`. A refusal is
    /// reported to the page (at most once a second, with the count), and
    /// the caller closes the connection at once.
    pub fn admit(&self, peer: SocketAddr, probe: &Probe) -> Option<Pass> {
        match self.decide(peer) {
            Ok(pass) => Some(pass),
            Err(turned) => {
                if let Some(report) = self.refused.count(Instant::now()) {
                    probe.emit(EventKind::Error {
                        message: format!(
                            "the echo server closed a connection at once: {turned} ({} refused in all)",
                            report.total
                        ),
                    });
                }
                None
            }
        }
    }

    fn decide(&self, peer: SocketAddr) -> Result<Pass, Turned> {
        if let Some(descriptors) = self.expected().remove(&peer) {
            return Ok(Pass {
                _descriptors: descriptors,
                _own_slot: Lease::none(),
            });
        }
        if peer.ip() != self.owner {
            return Err(Turned::Stranger(peer.ip()));
        }
        let own_slot = self
            .own_connections
            .take(1)
            .map_err(|exhausted| Turned::TooManyOwn(exhausted.total))?;
        let descriptors = self
            .descriptors
            .take(CONNECTION_DESCRIPTORS)
            .map_err(|_| Turned::NoDescriptors)?;
        Ok(Pass {
            _descriptors: descriptors,
            _own_slot: own_slot,
        })
    }
}

/// A shared door, as the servers hold it.
pub type SharedAdmission = Arc<Admission>;

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_stranger_is_turned_away_and_the_owner_let_in_up_to_the_cap() {
        let descriptors = Budget::new(100);
        let door = Admission::new("127.0.0.2".parse().unwrap(), 2, descriptors.clone());
        assert_eq!(
            door.decide(addr("127.0.0.3:5000")).unwrap_err(),
            Turned::Stranger("127.0.0.3".parse().unwrap())
        );
        let first = door.decide(addr("127.0.0.2:5000")).unwrap();
        let _second = door.decide(addr("127.0.0.2:5001")).unwrap();
        assert_eq!(
            door.decide(addr("127.0.0.2:5002")).unwrap_err(),
            Turned::TooManyOwn(2)
        );
        assert_eq!(descriptors.available(), 100 - 2 * CONNECTION_DESCRIPTORS);
        drop(first);
        assert!(door.decide(addr("127.0.0.2:5003")).is_ok());
    }

    #[test]
    fn an_expected_client_is_let_in_from_any_address_once_with_its_own_descriptors() {
        let descriptors = Budget::new(10);
        let door = Admission::new("127.0.0.2".parse().unwrap(), 0, descriptors.clone());
        let client = addr("127.0.0.1:4321");
        door.expect_client(client, descriptors.take(2).unwrap());
        assert!(door.decide(client).is_ok());
        assert!(door.decide(client).is_err(), "a pass is used once");
        assert_eq!(descriptors.available(), 10, "the pass was dropped");
    }

    #[test]
    fn a_forgotten_client_gives_its_descriptors_back() {
        let descriptors = Budget::new(10);
        let door = Admission::new("127.0.0.2".parse().unwrap(), 4, descriptors.clone());
        door.expect_client(addr("127.0.0.1:4321"), descriptors.take(2).unwrap());
        door.forget_client(addr("127.0.0.1:4321"));
        assert_eq!(descriptors.available(), 10);
    }

    #[test]
    fn the_owner_is_refused_when_the_room_has_no_descriptors_left() {
        let descriptors = Budget::new(1);
        let door = Admission::new("127.0.0.2".parse().unwrap(), 4, descriptors);
        assert_eq!(
            door.decide(addr("127.0.0.2:1")).unwrap_err(),
            Turned::NoDescriptors
        );
    }
}
