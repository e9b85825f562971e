//! The room's directory of open labs, for the host's dashboard: who opened
//! each, what it runs, and a way to close it with a reason its page shows.
//!
//! A lab is listed while its session runs; the [`Listing`] the session
//! holds takes it off the list when dropped, however the session ends.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use protocol::ServerModel;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::probe;

/// What a lab shows the dashboard, updated by the lab itself.
#[derive(Debug)]
pub struct LabGauge {
    model: Mutex<ServerModel>,
    clients: TaskTracker,
    probe: Arc<probe::Gauge>,
}

impl LabGauge {
    /// The gauge of a lab running `model`, whose clients run on `clients`
    /// and whose probe reports to `probe`.
    pub fn new(model: ServerModel, clients: TaskTracker, probe: Arc<probe::Gauge>) -> Self {
        LabGauge {
            model: Mutex::new(model),
            clients,
            probe,
        }
    }

    /// The lab now runs `model`.
    pub fn set_model(&self, model: ServerModel) {
        *lock(&self.model) = model;
    }
}

/// One lab on the list.
#[derive(Debug)]
struct Entry {
    address: IpAddr,
    opened: Instant,
    gauge: Arc<LabGauge>,
    /// Cancelled when the host closes the lab.
    closed_by_host: CancellationToken,
}

/// A lab as read from the directory at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The lab's number.
    pub lab: u64,
    /// The address of its page.
    pub address: IpAddr,
    /// When it opened.
    pub opened: Instant,
    /// Its model.
    pub model: ServerModel,
    /// Clients running.
    pub clients: u64,
    /// Events reported since it opened.
    pub emitted: u64,
    /// Events lost since it opened.
    pub dropped: u64,
    /// The thread of its echo server.
    pub server_thread: i32,
}

/// The labs open now.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    labs: Arc<Mutex<BTreeMap<u64, Entry>>>,
}

/// Keeps a lab on the list until dropped.
#[derive(Debug)]
pub struct Listing {
    labs: Arc<Mutex<BTreeMap<u64, Entry>>>,
    lab: u64,
}

impl Drop for Listing {
    fn drop(&mut self) {
        lock(&self.labs).remove(&self.lab);
    }
}

impl Directory {
    /// Lists lab `lab`, opened from `address`; the token is cancelled if
    /// the host closes it.
    pub fn list(
        &self,
        lab: u64,
        address: IpAddr,
        gauge: Arc<LabGauge>,
    ) -> (Listing, CancellationToken) {
        let closed_by_host = CancellationToken::new();
        lock(&self.labs).insert(
            lab,
            Entry {
                address,
                opened: Instant::now(),
                gauge,
                closed_by_host: closed_by_host.clone(),
            },
        );
        let listing = Listing {
            labs: Arc::clone(&self.labs),
            lab,
        };
        (listing, closed_by_host)
    }

    /// Closes `lab` on the host's word; says whether it was open.
    pub fn close(&self, lab: u64) -> bool {
        match lock(&self.labs).get(&lab) {
            Some(entry) => {
                entry.closed_by_host.cancel();
                true
            }
            None => false,
        }
    }

    /// Every listed lab, by number.
    pub fn read(&self) -> Vec<Reading> {
        lock(&self.labs)
            .iter()
            .map(|(lab, entry)| Reading {
                lab: *lab,
                address: entry.address,
                opened: entry.opened,
                model: *lock(&entry.gauge.model),
                clients: entry.gauge.clients.len() as u64,
                emitted: entry.gauge.probe.emitted.load(Ordering::Relaxed),
                dropped: entry.gauge.probe.dropped.load(Ordering::Relaxed),
                server_thread: entry.gauge.probe.server_thread.load(Ordering::Relaxed),
            })
            .collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing is left half-done under these locks.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lab_is_listed_until_its_listing_drops_and_the_host_can_close_it() {
        let directory = Directory::default();
        let probe = Arc::new(probe::Gauge::default());
        let gauge = Arc::new(LabGauge::new(
            ServerModel::AsyncTasks,
            TaskTracker::new(),
            Arc::clone(&probe),
        ));
        let (listing, closed) = directory.list(7, "127.0.0.2".parse().unwrap(), Arc::clone(&gauge));
        probe.emitted.store(12, Ordering::Relaxed);
        gauge.set_model(ServerModel::Selector);
        let read = directory.read();
        assert_eq!(read.len(), 1);
        assert_eq!(
            (read[0].lab, read[0].model, read[0].emitted),
            (7, ServerModel::Selector, 12)
        );
        assert!(!directory.close(8));
        assert!(directory.close(7));
        assert!(closed.is_cancelled());
        drop(listing);
        assert!(directory.read().is_empty());
    }
}
