//! The recording: every event of the run the page shows, kept so that the
//! views can show any earlier moment (the scrubber, Step back), and so that
//! the run can be saved and opened again ([`loopscope_runfile`]).
//!
//! Events go through [`Recording::record`], which keeps them and applies
//! them to the world at the end of the run (the *head*). Every interval of
//! events it keeps a snapshot of the head; seeking to a position clones the
//! snapshot before it and applies the events between, so a seek costs at
//! most one interval of events whatever the run's length. The interval is
//! at least [`EVENTS_PER_LANE`] events per connection shown, so that the
//! cost of a snapshot (a clone of every lane) stays a small part of the
//! events' own. Snapshots share a memory budget: when they pass it, every
//! other one goes and the interval doubles.
//!
//! While the page shows an earlier moment, the head is kept aside and goes
//! on taking the events that arrive; [`Recording::back_to_now`] puts it back.
//!
//! Both sources record the same way. The simulation could instead re-run
//! from its seed, but a run is also shaped by what the learner did when
//! (clients added, steps, a shutdown), so a re-run would need those actions
//! recorded too; and re-simulating up to a moment costs the whole simulation
//! where a snapshot costs one interval. One way also makes Save run the same
//! file for both.
//!
//! The log is a view of the recording too: one position (8 bytes) per event
//! worth a line, put in words ([`wording::describe`]) only when shown.

mod chunked;

use std::collections::{HashMap, VecDeque};

use chunked::Chunked;

use loopscope_runfile::{Entry, Header, Limits, Reader, RunFileError, Writer};
use protocol::{ConnId, Event, EventKind, Hello, Micros, ServerMessage, Sock, TaskId};

use crate::world::World;
use crate::world::wording::{self, describe, greeting, is_frequent, kind_name, subjects};

/// Events a recording keeps; older ones are let go.
pub const MAX_EVENTS: u64 = 2_000_000;
/// The stretch of a run a recording keeps: 30 minutes; older events are let
/// go.
pub const MAX_SPAN: Micros = 30 * 60 * 1_000_000;
/// Memory the snapshots may take, in bytes.
pub const SNAPSHOT_BUDGET: usize = 32 << 20;
/// Events between two snapshots to begin with.
pub const FIRST_INTERVAL: u64 = 1024;
/// Events between two snapshots, at least, per connection in the world.
pub const EVENTS_PER_LANE: u64 = 32;

/// What a line of the log is about: what its filter reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogSubject {
    /// The event's type name (`"hello"` for the lab's greeting).
    pub kind: &'static str,
    /// The socket it is about, if one (a task's events: the socket its task
    /// serves).
    pub sock: Option<Sock>,
    /// The task it is about, if one.
    pub task: Option<TaskId>,
}

/// One line of the event log, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// When it happened.
    pub at: Micros,
    /// What happened, in words.
    pub text: String,
    /// A class for colouring: the event's type name.
    pub kind: &'static str,
}

/// Which log lines to show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Only events of this type name.
    pub kind: Option<&'static str>,
    /// Only events about this socket.
    pub sock: Option<Sock>,
    /// Only events about this task.
    pub task: Option<TaskId>,
}

impl LogFilter {
    /// Reads what a person types to pick a socket or a task: `conn#3`,
    /// `conn 3`, `task#2`, `listener`. `None` if it names neither.
    pub fn subject(text: &str) -> Option<(Option<Sock>, Option<TaskId>)> {
        let text = text.trim().to_ascii_lowercase();
        if text == "listener" {
            return Some((Some(Sock::Listener), None));
        }
        let number = |prefix: &str| {
            text.strip_prefix(prefix)?
                .trim_start_matches(['#', ' '])
                .parse::<u64>()
                .ok()
        };
        if let Some(conn) = number("conn") {
            Some((Some(Sock::Conn(protocol::ConnId(conn))), None))
        } else {
            number("task").map(|task| (None, Some(TaskId(task))))
        }
    }

    /// Whether a line about `subject` passes.
    pub fn matches(&self, subject: &LogSubject) -> bool {
        self.kind.is_none_or(|kind| kind == subject.kind)
            && self.sock.is_none_or(|sock| subject.sock == Some(sock))
            && self.task.is_none_or(|task| subject.task == Some(task))
    }

    /// Whether it lets every line through.
    pub fn is_open(&self) -> bool {
        *self == LogFilter::default()
    }
}

/// The world at one position, kept for seeking.
#[derive(Clone, Debug)]
struct Snapshot {
    /// Events applied to reach it.
    at: u64,
    world: World,
    weight: usize,
    /// Made where the world changed outside the events (a fresh run
    /// begun): thinning keeps it.
    pinned: bool,
}

/// A run's events, its log, and snapshots of its world.
#[derive(Clone, Debug)]
pub struct Recording {
    hello: Option<Hello>,
    /// The position of the oldest event kept (how many were let go).
    first: u64,
    events: Chunked<Event>,
    /// Each log line's position: where it shows from, one past its event
    /// (0 for the hello's line).
    log: VecDeque<u64>,
    /// The connection each task served, for filing its lines under it.
    task_conns: HashMap<TaskId, ConnId>,
    /// Positions of the events that begin a server loop iteration.
    iterations: VecDeque<u64>,
    /// Positions where the page began a fresh run.
    fresh_runs: Vec<u64>,
    /// Oldest first; the first is always at `first`.
    snapshots: Vec<Snapshot>,
    snapshot_bytes: usize,
    interval: u64,
    first_interval: u64,
    /// The position of the newest snapshot made for the interval.
    last_snapshot: u64,
    snapshot_budget: usize,
    max_events: u64,
    /// The world at the end of the run, while the page shows an earlier
    /// position.
    head_aside: Option<World>,
    /// The position shown, while it is not the end.
    cursor: Option<u64>,
}

impl Default for Recording {
    fn default() -> Self {
        Recording::with_limits(MAX_EVENTS, SNAPSHOT_BUDGET, FIRST_INTERVAL)
    }
}

impl Recording {
    /// An empty recording that keeps `max_events`, spends `snapshot_budget`
    /// bytes on snapshots, and makes one every `interval` events until the
    /// budget is reached (a power of two).
    pub fn with_limits(max_events: u64, snapshot_budget: usize, interval: u64) -> Self {
        Recording {
            hello: None,
            first: 0,
            events: Chunked::default(),
            log: VecDeque::new(),
            task_conns: HashMap::new(),
            iterations: VecDeque::new(),
            fresh_runs: Vec::new(),
            snapshots: vec![Snapshot {
                at: 0,
                world: World::default(),
                weight: 0,
                pinned: true,
            }],
            snapshot_bytes: 0,
            interval,
            first_interval: interval,
            last_snapshot: 0,
            snapshot_budget,
            max_events,
            head_aside: None,
            cursor: None,
        }
    }

    /// Forgets everything: the page shows an empty world.
    pub fn restart(&mut self, shown: &mut World) {
        *self = Recording::with_limits(self.max_events, self.snapshot_budget, self.first_interval);
        *shown = World::default();
    }

    /// Keeps one frame from the source and applies it to the run's head
    /// (`shown`, unless the page shows an earlier moment). A hello begins a
    /// new recording.
    pub fn record(&mut self, shown: &mut World, message: ServerMessage) {
        match message {
            ServerMessage::Hello(hello) => {
                self.restart(shown);
                shown.apply_message(ServerMessage::Hello(hello.clone()));
                self.snapshots[0].world = shown.clone();
                self.log.push_back(0);
                self.hello = Some(hello);
            }
            ServerMessage::Events { events } => {
                for event in events {
                    self.push(shown, event);
                }
                self.let_go_beyond_caps(shown);
            }
        }
    }

    /// Records a problem of the page itself (say, an unreadable frame) as an
    /// `error` event, in the log where the person looking will see it.
    pub fn note(&mut self, shown: &mut World, text: String) {
        let at = self.head(shown).now;
        self.record(
            shown,
            ServerMessage::Events {
                events: vec![Event {
                    at,
                    kind: EventKind::Error { message: text },
                }],
            },
        );
    }

    /// Makes the server's next start begin a fresh run
    /// ([`World::begin_fresh_run`]), and remembers where.
    pub fn begin_fresh_run(&mut self, shown: &mut World) {
        let end = self.end();
        let head = self.head(shown);
        head.begin_fresh_run();
        let world = head.clone();
        self.fresh_runs.push(end);
        self.keep_snapshot(end, world, true);
    }

    /// The relay's hello, when the run is a live lab's.
    pub fn hello(&self) -> Option<&Hello> {
        self.hello.as_ref()
    }

    /// The position of the oldest event kept: the scrubber's start.
    pub fn first(&self) -> u64 {
        self.first
    }

    /// The position after the newest event: now.
    pub fn end(&self) -> u64 {
        self.first + self.events.len() as u64
    }

    /// Events let go to stay within the caps.
    pub fn let_go(&self) -> u64 {
        self.first
    }

    /// The position shown.
    pub fn position(&self) -> u64 {
        self.cursor.unwrap_or_else(|| self.end())
    }

    /// Whether the page shows an earlier moment than now.
    pub fn is_looking_back(&self) -> bool {
        self.cursor.is_some()
    }

    /// Events between two snapshots now.
    #[cfg(test)]
    pub fn interval(&self) -> u64 {
        self.interval
    }

    /// Snapshots kept, and the bytes they hold.
    #[cfg(test)]
    pub fn snapshots(&self) -> (usize, usize) {
        (self.snapshots.len(), self.snapshot_bytes)
    }

    /// The time of the newest event before `position` (0 before any).
    pub fn time_at(&self, position: u64) -> Micros {
        position
            .checked_sub(self.first + 1)
            .and_then(|index| self.events.get(usize::try_from(index).ok()?))
            .map_or(0, |event| event.at)
    }

    /// The first position whose newest event happened at or after `at`:
    /// where another run stands at the same moment.
    pub fn position_at_time(&self, at: Micros) -> u64 {
        self.first + self.events.partition_point(|event| event.at <= at) as u64
    }

    /// Shows the run as it was after `position` events (clamped to what is
    /// kept); the end is now.
    pub fn seek(&mut self, shown: &mut World, position: u64) {
        let position = position.clamp(self.first, self.end());
        if position == self.end() {
            self.back_to_now(shown);
            return;
        }
        if self.head_aside.is_none() {
            self.head_aside = Some(std::mem::take(shown));
        }
        let current = self.cursor.unwrap_or(u64::MAX);
        let snapshot = self.snapshot_before(position);
        if (snapshot.at..=position).contains(&current) {
            // Forward within one interval: on from where the page is.
            self.apply_range(shown, current, position);
        } else {
            *shown = self.world_at(position);
        }
        self.cursor = Some(position);
    }

    /// Shows now again: the head the recording kept aside.
    pub fn back_to_now(&mut self, shown: &mut World) {
        if let Some(head) = self.head_aside.take() {
            *shown = head;
        }
        self.cursor = None;
    }

    /// Shows the run one server loop iteration earlier: at the beginning of
    /// the iteration before the position shown. A run whose server reports
    /// no iterations (tokio's tasks report none) steps one log line.
    pub fn step_back(&mut self, shown: &mut World) {
        let position = self.position();
        let before = self
            .stops()
            .take_while(|stop| *stop < position)
            .last()
            .unwrap_or(self.first);
        self.seek(shown, before);
    }

    /// The mirror of [`Recording::step_back`]: one iteration later, or now.
    /// Says whether it moved (it does not when the page shows now).
    pub fn step_forward(&mut self, shown: &mut World) -> bool {
        let Some(position) = self.cursor else {
            return false;
        };
        let next = self
            .stops()
            .find(|stop| *stop > position)
            .unwrap_or_else(|| self.end());
        self.seek(shown, next);
        true
    }

    /// Where Step back and Step stop: before each event that begins a loop
    /// iteration, or each log line's event when there are none.
    fn stops(&self) -> Box<dyn Iterator<Item = u64> + '_> {
        if self.iterations.is_empty() {
            Box::new(
                self.log
                    .iter()
                    .filter(|position| **position > 0)
                    .map(|position| position - 1),
            )
        } else {
            Box::new(self.iterations.iter().copied())
        }
    }

    /// How many log lines show at `position`.
    pub fn log_len_at(&self, position: u64) -> usize {
        self.log
            .partition_point(|shows_from| *shows_from <= position)
    }

    /// Log lines kept.
    #[cfg(test)]
    pub fn log_len(&self) -> usize {
        self.log.len()
    }

    /// The position from which the log's `index`-th line (oldest first)
    /// shows.
    pub fn log_position(&self, index: usize) -> Option<u64> {
        self.log.get(index).copied()
    }

    /// What the log's `index`-th line is about.
    pub fn log_subject(&self, index: usize) -> Option<LogSubject> {
        let position = self.log_position(index)?;
        let Some(event) = position.checked_sub(1).and_then(|at| self.event_at(at)) else {
            return Some(LogSubject {
                kind: "hello",
                sock: None,
                task: None,
            });
        };
        let (sock, task) = subjects(&event.kind);
        let sock = sock.or_else(|| Some(Sock::Conn(*self.task_conns.get(&task?)?)));
        Some(LogSubject {
            kind: kind_name(&event.kind),
            sock,
            task,
        })
    }

    /// The log's `index`-th line in words.
    pub fn log_line(&self, index: usize) -> Option<LogLine> {
        let position = self.log_position(index)?;
        Some(
            match position.checked_sub(1).and_then(|at| self.event_at(at)) {
                Some(event) => LogLine {
                    at: event.at,
                    text: describe(&event.kind),
                    kind: kind_name(&event.kind),
                },
                None => LogLine {
                    at: 0,
                    text: self.hello.as_ref().map(greeting).unwrap_or_default(),
                    kind: "hello",
                },
            },
        )
    }

    /// The event at `position` (the one applied to go from `position` to
    /// the next), if kept.
    pub fn event_at(&self, position: u64) -> Option<&Event> {
        self.events
            .get(usize::try_from(position.checked_sub(self.first)?).ok()?)
    }

    /// The events kept from position `from` to `to`, oldest first.
    pub fn events_between(&self, from: u64, to: u64) -> impl Iterator<Item = &Event> {
        let index = |position: u64| position.saturating_sub(self.first) as usize;
        self.events.range(index(from)..index(to))
    }

    /// Writes the recording into a run file (the events kept, and where
    /// fresh runs began).
    pub fn write_to<W: std::io::Write>(&self, writer: &mut Writer<W>) {
        let mut from = self.first;
        for &fresh in self.fresh_runs.iter().filter(|at| **at >= self.first) {
            writer.events(self.events_between(from, fresh));
            writer.fresh_run();
            from = fresh;
        }
        writer.events(self.events_between(from, self.end()));
    }

    /// Opens a run file: its header, its recording, and the world at its
    /// end. Nothing of the page's run is touched, so a file that fails
    /// loses nothing.
    pub fn open(bytes: &[u8], limits: &Limits) -> Result<(Header, Recording, World), RunFileError> {
        let mut reader = Reader::new(bytes, limits)?;
        let (mut recording, mut world) = (Recording::default(), World::default());
        if let Some(hello) = &reader.header().hello {
            recording.record(&mut world, ServerMessage::Hello(hello.clone()));
        }
        while let Some(entry) = reader.next_entry()? {
            recording.load(&mut world, entry);
        }
        Ok((reader.header().clone(), recording, world))
    }

    /// Takes one entry of a run file being opened.
    pub fn load(&mut self, shown: &mut World, entry: Entry) {
        match entry {
            Entry::Events(events) => self.record(shown, ServerMessage::Events { events }),
            Entry::FreshRun => self.begin_fresh_run(shown),
        }
    }

    /// The world events go to: the head.
    fn head<'a>(&'a mut self, shown: &'a mut World) -> &'a mut World {
        self.head_aside.as_mut().unwrap_or(shown)
    }

    fn push(&mut self, shown: &mut World, event: Event) {
        let position = self.end();
        let head = self.head_aside.as_mut().unwrap_or(shown);
        head.apply(&event);
        if !is_frequent(&event.kind) {
            self.log.push_back(position + 1);
        }
        if let EventKind::TaskSpawned {
            task,
            conn: Some(conn),
        } = event.kind
        {
            self.task_conns.insert(task, conn);
        }
        if matches!(event.kind, EventKind::LoopIteration { .. }) {
            self.iterations.push_back(position);
        }
        self.events.push_back(event);
        let end = position + 1;
        let head = self.head_aside.as_ref().unwrap_or(shown);
        let interval = self
            .interval
            .max(head.connections.len() as u64 * EVENTS_PER_LANE);
        if end - self.last_snapshot >= interval {
            let world = head.clone();
            self.last_snapshot = end;
            self.keep_snapshot(end, world, false);
        }
    }

    fn keep_snapshot(&mut self, at: u64, world: World, pinned: bool) {
        let weight = world.weight();
        match self.snapshots.last_mut() {
            Some(last) if last.at == at => {
                self.snapshot_bytes = self.snapshot_bytes - last.weight + weight;
                last.world = world;
                last.weight = weight;
                last.pinned |= pinned;
            }
            _ => {
                self.snapshot_bytes += weight;
                self.snapshots.push(Snapshot {
                    at,
                    world,
                    weight,
                    pinned,
                });
            }
        }
        // Over budget: every other snapshot goes, and they come half as
        // often from now on (the first and the pinned stay).
        while self.snapshot_bytes > self.snapshot_budget {
            let before = self.snapshots.len();
            let mut index = 0;
            self.snapshots.retain(|snapshot| {
                index += 1;
                snapshot.pinned || index % 2 == 1
            });
            if self.snapshots.len() == before {
                break;
            }
            self.interval *= 2;
            self.snapshot_bytes = self.snapshots.iter().map(|snapshot| snapshot.weight).sum();
        }
    }

    /// Lets the oldest events go, down to a snapshot, while the recording
    /// holds more than its caps ([`MAX_EVENTS`], [`MAX_SPAN`]).
    fn let_go_beyond_caps(&mut self, shown: &mut World) {
        let (Some(oldest), Some(newest)) = (self.events.front(), self.events.back()) else {
            return;
        };
        let too_old = newest.at.saturating_sub(MAX_SPAN);
        if self.events.len() as u64 <= self.max_events && oldest.at >= too_old {
            return;
        }
        let by_count = self.end().saturating_sub(self.max_events);
        let by_time = self.first + self.events.partition_point(|event| event.at < too_old) as u64;
        // A sixteenth more than needed goes, so that this happens seldom.
        let cut = (by_count.max(by_time) + self.max_events / 16).min(self.end());
        // The world at the cut becomes the first snapshot.
        let world = self.world_at(cut);
        let index = self.snapshots.partition_point(|snapshot| snapshot.at < cut);
        let weight = world.weight();
        self.snapshots.insert(
            index,
            Snapshot {
                at: cut,
                world,
                weight,
                pinned: false,
            },
        );
        self.let_go_before(cut, shown);
    }

    fn let_go_before(&mut self, cut: u64, shown: &mut World) {
        if cut <= self.first {
            return;
        }
        self.events.let_go((cut - self.first) as usize);
        self.first = cut;
        let (first, hello) = (cut, self.hello.is_some());
        self.log
            .retain(|position| *position > first || (hello && *position == 0));
        while self.iterations.front().is_some_and(|at| *at < first) {
            self.iterations.pop_front();
        }
        self.fresh_runs.retain(|at| *at >= first);
        self.snapshots.retain(|snapshot| snapshot.at >= first);
        self.snapshot_bytes = self.snapshots.iter().map(|snapshot| snapshot.weight).sum();
        if self.cursor.is_some_and(|cursor| cursor < first) {
            self.seek(shown, first);
        }
    }

    /// The world after `position` events, from the snapshot before it.
    fn world_at(&self, position: u64) -> World {
        let snapshot = self.snapshot_before(position);
        let mut world = snapshot.world.clone();
        self.apply_range(&mut world, snapshot.at, position);
        world
    }

    fn snapshot_before(&self, position: u64) -> &Snapshot {
        let index = self
            .snapshots
            .partition_point(|snapshot| snapshot.at <= position);
        &self.snapshots[index.saturating_sub(1)]
    }

    fn apply_range(&self, world: &mut World, from: u64, to: u64) {
        let (from, to) = ((from - self.first) as usize, (to - self.first) as usize);
        for event in self.events.range(from..to) {
            world.apply(event);
        }
    }
}

pub use wording::KIND_NAMES;

#[cfg(test)]
mod tests;
