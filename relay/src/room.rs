//! What all the labs of a relay share: the room's budgets.
//!
//! A workshop relay serves a room of attendees from one laptop, so every
//! resource a request can take is counted here, and a request that would
//! pass a budget is refused whole, in words, before anything is started:
//!
//! * [`Budget`]: a pool of units (file descriptors, KiB of kernel socket
//!   memory) taken as a [`Lease`] and given back when the lease is dropped;
//! * [`PerAddress`]: how many of something (labs, HTTP connections) one
//!   address holds at once;
//! * [`Room`]: the relay's budgets together, sized from the flags.
//!
//! Pure bookkeeping, no I/O, so each rule is unit-tested below (the
//! open-file limit the budgets are sized from is read in
//! [`crate::platform::open_files`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use protocol::Limits;

use crate::directory::Directory;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A pool of interchangeable units with a fixed total.
#[derive(Debug, Clone)]
pub struct Budget {
    units: Arc<Semaphore>,
    total: u32,
}

/// Units taken from a [`Budget`]; they go back when this is dropped.
#[derive(Debug)]
pub struct Lease(Option<OwnedSemaphorePermit>);

/// A budget could not give what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("asked for {asked}, {left} of {total} left")]
pub struct Exhausted {
    /// Units asked for.
    pub asked: u64,
    /// Units still free.
    pub left: u64,
    /// The budget's size.
    pub total: u64,
}

impl Budget {
    /// A budget of `total` units.
    pub fn new(total: u32) -> Self {
        Budget {
            units: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// Takes `count` units, or none if fewer are free.
    pub fn take(&self, count: u64) -> Result<Lease, Exhausted> {
        if count == 0 {
            return Ok(Lease(None));
        }
        let exhausted = Exhausted {
            asked: count,
            left: self.available(),
            total: self.total.into(),
        };
        let count = u32::try_from(count).map_err(|_| exhausted)?;
        Arc::clone(&self.units)
            .try_acquire_many_owned(count)
            .map(|permit| Lease(Some(permit)))
            .map_err(|_| exhausted)
    }

    /// Units free now.
    pub fn available(&self) -> u64 {
        self.units.available_permits() as u64
    }

    /// The budget's size.
    pub fn total(&self) -> u64 {
        self.total.into()
    }
}

impl Lease {
    /// A lease of nothing.
    pub fn none() -> Self {
        Lease(None)
    }

    /// Splits `count` units off into a lease of their own (`None` if this
    /// one holds fewer).
    pub fn split(&mut self, count: u64) -> Option<Lease> {
        if count == 0 {
            return Some(Lease(None));
        }
        let count = usize::try_from(count).ok()?;
        self.0
            .as_mut()?
            .split(count)
            .map(|permit| Lease(Some(permit)))
    }

    /// Units held.
    pub fn units(&self) -> u64 {
        self.0
            .as_ref()
            .map_or(0, |permit| permit.num_permits() as u64)
    }
}

/// Counts what each address holds, against a cap per address.
#[derive(Debug, Clone)]
pub struct PerAddress {
    held: Arc<Mutex<HashMap<IpAddr, u32>>>,
    cap: u32,
}

/// One thing held by an address; released when dropped.
#[derive(Debug)]
pub struct AddressSlot {
    held: Arc<Mutex<HashMap<IpAddr, u32>>>,
    address: IpAddr,
}

impl PerAddress {
    /// At most `cap` at once per address.
    pub fn new(cap: u32) -> Self {
        PerAddress {
            held: Arc::default(),
            cap,
        }
    }

    fn held(&self) -> MutexGuard<'_, HashMap<IpAddr, u32>> {
        lock(&self.held)
    }

    /// Takes one slot for `address`; `Err` with what it holds if at the cap.
    pub fn take(&self, address: IpAddr) -> Result<AddressSlot, u32> {
        let mut held = self.held();
        let count = held.entry(address).or_insert(0);
        if *count >= self.cap {
            return Err(*count);
        }
        *count += 1;
        Ok(AddressSlot {
            held: Arc::clone(&self.held),
            address,
        })
    }

    /// What `address` holds now.
    pub fn held_by(&self, address: IpAddr) -> u32 {
        self.held().get(&address).copied().unwrap_or(0)
    }

    /// The cap per address.
    pub fn cap(&self) -> u32 {
        self.cap
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut held = lock(&self.held);
        if let Some(count) = held.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.address);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing is left half-done under these locks.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Descriptors a lab holds besides its clients' connections: its WebSocket,
/// its echo listener and the copies its server keeps (two listeners during
/// a model switch), a selector or a runtime's epoll and eventfd.
pub const LAB_DESCRIPTORS: u64 = 10;
/// Descriptors one lab client costs: its own socket, the server's end of the
/// connection, and the copy the buffer sampler keeps of that end.
pub const CLIENT_DESCRIPTORS: u64 = 3;
/// Descriptors one outside connection to an echo port costs (the server's
/// end and the sampler's copy).
pub const CONNECTION_DESCRIPTORS: u64 = 2;
/// Descriptors the relay keeps for itself, outside every budget (standard
/// streams, its runtime, the log, the app's files).
pub const RESERVED_DESCRIPTORS: u64 = 64;
/// HTTP connections past a cap that the relay tells why at once (each
/// holds its descriptor for a second at most); past that, a refused
/// connection is closed with no words.
pub const HTTP_REFUSALS: u64 = 32;

/// The budgets every lab draws from.
#[derive(Debug, Clone)]
pub struct Room {
    /// The caps in force (sent to each page in its hello).
    pub limits: Limits,
    /// File descriptors for labs and their connections.
    pub descriptors: Budget,
    /// KiB of kernel socket memory all labs' clients may keep in flight.
    pub in_flight_kib: Budget,
    /// Labs running the busy-poll model.
    pub busy_poll: Budget,
    /// Labs at once.
    pub labs: Budget,
    /// Labs per address.
    pub labs_per_address: PerAddress,
    /// The labs open now, for the host's dashboard.
    pub directory: Directory,
}

impl Room {
    /// The room for `limits`; `limits.max_descriptors` must already fit the
    /// process's open-file limit (see [`descriptor_budget`]).
    pub fn new(limits: Limits) -> Self {
        Room {
            descriptors: Budget::new(limits.max_descriptors),
            in_flight_kib: Budget::new(kib(limits.max_in_flight_bytes)),
            busy_poll: Budget::new(limits.max_busy_poll_labs),
            labs: Budget::new(limits.max_labs),
            labs_per_address: PerAddress::new(limits.max_labs_per_address),
            directory: Directory::default(),
            limits,
        }
    }
}

/// Bytes as whole KiB, rounded up, saturating.
pub fn kib(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

/// The descriptors labs may use under an open-file limit of `open_files`:
/// what the host asked for, but never more than what is left once the
/// relay's own, every allowed HTTP connection's and those of the refusals
/// being told are set aside.
pub fn descriptor_budget(asked: u32, open_files: u64, limits: &Limits) -> u32 {
    let set_aside = RESERVED_DESCRIPTORS + u64::from(limits.max_http_connections) + HTTP_REFUSALS;
    let fits = open_files.saturating_sub(set_aside);
    u32::try_from(fits.min(asked.into())).unwrap_or(asked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_gives_whole_requests_or_nothing_and_takes_leases_back() {
        let budget = Budget::new(10);
        let seven = budget.take(7).unwrap();
        assert_eq!(
            budget.take(4).unwrap_err(),
            Exhausted {
                asked: 4,
                left: 3,
                total: 10
            }
        );
        assert_eq!(budget.available(), 3, "a refused request takes nothing");
        drop(seven);
        assert_eq!(budget.available(), 10);
        assert!(budget.take(u64::MAX).is_err());
    }

    #[test]
    fn a_lease_splits_into_smaller_leases_that_each_give_back_their_part() {
        let budget = Budget::new(9);
        let mut lease = budget.take(9).unwrap();
        let three = lease.split(3).unwrap();
        assert_eq!((lease.units(), three.units()), (6, 3));
        assert!(lease.split(7).is_none());
        drop(three);
        assert_eq!(budget.available(), 3);
        drop(lease);
        assert_eq!(budget.available(), 9);
    }

    #[test]
    fn each_address_has_its_own_count_up_to_the_cap() {
        let per_address = PerAddress::new(2);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let first = per_address.take(a).unwrap();
        let _second = per_address.take(a).unwrap();
        assert_eq!(per_address.take(a).unwrap_err(), 2);
        assert!(
            per_address.take(b).is_ok(),
            "another address is not held back"
        );
        drop(first);
        assert!(per_address.take(a).is_ok());
    }

    #[test]
    fn the_descriptor_budget_leaves_room_for_the_relay_and_its_http_connections() {
        let limits = Limits {
            max_http_connections: 100,
            ..Limits::default()
        };
        assert_eq!(
            descriptor_budget(16_384, 1_024, &limits),
            1_024 - 64 - 100 - 32
        );
        assert_eq!(descriptor_budget(500, 1_000_000, &limits), 500);
        assert_eq!(descriptor_budget(500, 10, &limits), 0);
    }
}
