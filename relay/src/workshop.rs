//! Workshop mode: the room's tokens, the host's push (the scenario the host
//! leads everyone to), and the once-a-second view of the room the host's
//! dashboard shows.
//!
//! The host's push is a `watch` channel: each page listening (`/lesson`)
//! gets the push in force when it joins, then every change, and a page
//! that falls behind skips to the newest. The room view is sampled by one task
//! for every dashboard, so a dashboard costs a clone, not a scan.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use protocol::workshop::{HostPush, LabView, PushFeed, RoomBudget, RoomView, Usage, lesson_query};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::cpu;
use crate::directory::Reading;
use crate::room::Room;
use crate::secret::Secret;

/// How often the room view is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Who may come in, and what the host leads.
#[derive(Debug)]
pub struct Workshop {
    /// The token of the join link; `None` lets every page in (loopback).
    pub join: Option<Secret>,
    /// The token of the host's dashboard.
    pub host: Secret,
    push: watch::Sender<PushFeed>,
    pushes: AtomicU64,
    view: watch::Sender<RoomView>,
}

impl Workshop {
    /// A workshop whose pages need `join` (if any) and whose host needs
    /// `host`.
    pub fn new(join: Option<Secret>, host: Secret) -> Self {
        Workshop {
            join,
            host,
            push: watch::Sender::new(PushFeed { lesson: None }),
            pushes: AtomicU64::new(0),
            view: watch::Sender::new(RoomView::default()),
        }
    }

    /// Whether a page offering `token` may open a lab and follow the host:
    /// any page when the room has no join token.
    pub fn lets_in(&self, token: Option<&str>) -> bool {
        self.join.as_ref().is_none_or(|join| join.admits(token))
    }

    /// Leads the room to the scenario of `link`; every page listening gets
    /// it at once, and every page that joins later starts on it.
    pub fn lead(&self, link: &str) -> Result<HostPush, &'static str> {
        let query = lesson_query(link)?;
        let push = HostPush {
            serial: self.pushes.fetch_add(1, Ordering::Relaxed) + 1,
            query,
        };
        self.push.send_replace(PushFeed {
            lesson: Some(push.clone()),
        });
        Ok(push)
    }

    /// Takes the host's push back: pages keep what they show and stop
    /// offering to follow.
    pub fn stop_leading(&self) {
        self.push.send_replace(PushFeed { lesson: None });
    }

    /// The host's push in force, then each change.
    pub fn push_feed(&self) -> watch::Receiver<PushFeed> {
        self.push.subscribe()
    }

    /// The newest room view, then each new one.
    pub fn room_views(&self) -> watch::Receiver<RoomView> {
        self.view.subscribe()
    }

    /// The newest room view.
    pub fn room_view(&self) -> RoomView {
        self.view.borrow().clone()
    }
}

/// Samples the room every [`SAMPLE_EVERY`] until `stop` is cancelled.
pub async fn sample_room(room: Room, workshop: std::sync::Arc<Workshop>, stop: CancellationToken) {
    let mut sampler = Sampler::new(Instant::now(), cpu::process_time());
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let readings = room.directory.read();
        let budget = RoomBudget {
            labs: usage(&room.labs),
            descriptors: usage(&room.descriptors),
            busy_poll_labs: usage(&room.busy_poll),
            in_flight_kib: usage(&room.in_flight_kib),
            cpu_percent: 0.0,
            cores: cpu::cores(),
        };
        let mut view = sampler.sample(
            Instant::now(),
            &readings,
            cpu::thread_time,
            cpu::process_time(),
            budget,
        );
        view.lesson = workshop.push.borrow().lesson.clone();
        view.followers = workshop.push.receiver_count() as u64;
        view.join_token = workshop
            .join
            .as_ref()
            .map(|token| token.reveal().to_owned());
        workshop.view.send_replace(view);
    }
}

fn usage(budget: &crate::room::Budget) -> Usage {
    Usage {
        used: budget.total() - budget.available(),
        cap: budget.total(),
    }
}

/// What was read at the last sample, to turn counts into rates.
#[derive(Debug)]
pub struct Sampler {
    at: Instant,
    process_time: Duration,
    labs: HashMap<u64, LabSample>,
}

#[derive(Debug, Clone, Copy)]
struct LabSample {
    emitted: u64,
    server_thread: i32,
    thread_time: Option<Duration>,
}

impl Sampler {
    /// A sampler starting at `now`, when the relay had used `process_time`.
    pub fn new(now: Instant, process_time: Duration) -> Self {
        Sampler {
            at: now,
            process_time,
            labs: HashMap::new(),
        }
    }

    /// The room view at `now`: `readings` of every lab, the CPU time of a
    /// thread as `thread_time` reads it, and the relay's own.
    pub fn sample(
        &mut self,
        now: Instant,
        readings: &[Reading],
        thread_time: impl Fn(i32) -> Option<Duration>,
        process_time: Duration,
        mut budget: RoomBudget,
    ) -> RoomView {
        let elapsed = now.saturating_duration_since(self.at);
        // Rates over less than a tenth of a second (the first sample, at
        // start) would say more about the clock than about the labs.
        let measured = elapsed >= Duration::from_millis(100);
        let per_second = |count: u64| {
            if measured {
                (count as f64 / elapsed.as_secs_f64()).round() as u64
            } else {
                0
            }
        };
        let percent = |used: Duration| {
            if measured {
                cpu::percent(used, elapsed)
            } else {
                0.0
            }
        };
        let mut labs = Vec::with_capacity(readings.len());
        let mut samples = HashMap::with_capacity(readings.len());
        for reading in readings {
            let time = thread_time(reading.server_thread);
            let before = self.labs.get(&reading.lab);
            let emitted_before = before.map_or(0, |before| before.emitted);
            // A new server thread (the model changed) used all its time
            // since the last sample, or nearly.
            let time_before = before
                .filter(|before| before.server_thread == reading.server_thread)
                .and_then(|before| before.thread_time)
                .unwrap_or_default();
            let used = time.map_or(Duration::ZERO, |time| time.saturating_sub(time_before));
            labs.push(LabView {
                lab: reading.lab,
                address: reading.address.to_string(),
                model: reading.model,
                clients: reading.clients,
                events_per_s: per_second(reading.emitted.saturating_sub(emitted_before)),
                cpu_percent: percent(used),
                dropped: reading.dropped,
                age_s: now.saturating_duration_since(reading.opened).as_secs(),
            });
            samples.insert(
                reading.lab,
                LabSample {
                    emitted: reading.emitted,
                    server_thread: reading.server_thread,
                    thread_time: time,
                },
            );
        }
        budget.cpu_percent = percent(process_time.saturating_sub(self.process_time));
        self.at = now;
        self.process_time = process_time;
        self.labs = samples;
        RoomView {
            clients: labs.iter().map(|lab| lab.clients).sum(),
            events_per_s: labs.iter().map(|lab| lab.events_per_s).sum(),
            labs,
            budget,
            lesson: None,
            followers: 0,
            join_token: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ServerModel;

    fn reading(lab: u64, emitted: u64, server_thread: i32, opened: Instant) -> Reading {
        Reading {
            lab,
            address: "127.0.0.2".parse().unwrap(),
            opened,
            model: ServerModel::Selector,
            clients: 3,
            emitted,
            dropped: 0,
            server_thread,
        }
    }

    #[test]
    fn rates_come_from_the_counts_since_the_last_sample() {
        let start = Instant::now();
        let mut sampler = Sampler::new(start, Duration::ZERO);
        let times = |tid: i32| Some(Duration::from_millis(if tid == 1 { 100 } else { 900 }));
        sampler.sample(
            start + Duration::from_secs(1),
            &[reading(1, 1_000, 1, start)],
            times,
            Duration::from_millis(300),
            RoomBudget::default(),
        );
        // Two seconds later: 4,000 more events, and the model switched to a
        // new thread that used 900 ms of CPU.
        let view = sampler.sample(
            start + Duration::from_secs(3),
            &[reading(1, 5_000, 2, start)],
            times,
            Duration::from_millis(1_300),
            RoomBudget::default(),
        );
        assert_eq!(view.labs[0].events_per_s, 2_000);
        assert_eq!(view.labs[0].cpu_percent, 45.0);
        assert_eq!(view.labs[0].age_s, 3);
        assert_eq!(view.budget.cpu_percent, 50.0);
        assert_eq!((view.clients, view.events_per_s), (3, 2_000));
    }

    #[test]
    fn the_hosts_push_reaches_pages_that_listen_and_pages_that_join_later() {
        let workshop = Workshop::new(None, Secret::generate());
        let mut early = workshop.push_feed();
        assert_eq!(early.borrow_and_update().lesson, None);
        let push = workshop
            .lead("http://10.0.0.1:8080/?token=abcdefgh&model=blocking")
            .unwrap();
        assert_eq!(push.query, "?model=blocking");
        assert!(early.has_changed().unwrap());
        assert_eq!(early.borrow_and_update().lesson.as_ref(), Some(&push));
        let late = workshop.push_feed();
        assert_eq!(late.borrow().lesson.as_ref(), Some(&push));
        let again = workshop.lead("?model=blocking").unwrap();
        assert_eq!(again.serial, push.serial + 1);
        workshop.stop_leading();
        assert_eq!(late.borrow().lesson, None);
        assert!(workshop.lead("no scenario here").is_err());
    }
}
