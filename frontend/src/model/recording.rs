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
//! The log is a view of the recording too: 16 bytes per event worth a line
//! (where it shows from, and the connection its task served then), put in
//! words ([`wording::describe`]) only when shown.

mod chunked;

use std::collections::VecDeque;

use chunked::Chunked;

use loopscope_runfile::{Entry, Header, Limits, Reader, RunFileError, Writer};
use protocol::{ConnId, Event, EventKind, Hello, Micros, ServerMessage, ServerModel, Sock, TaskId};

use crate::model::world::World;
use crate::model::world::wording::{self, describe, greeting, is_frequent, kind_name, subjects};

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
    /// The same happening in the machinery's own terms (the protocol's
    /// event, tokio's poll, the OS's error), for the log's details.
    pub details: String,
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

/// A number no recording had before: what views key their caches on.
fn next_epoch() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The world at one position, kept for seeking.
#[derive(Clone, Debug)]
struct Snapshot {
    /// Events applied to reach it.
    at: u64,
    world: World,
    weight: usize,
}

/// A log line as kept: where it shows from (one past its event; 0 for the
/// hello's line), and the connection its task served when it happened
/// (`conn + 1`; 0 when it names no task, or the task's connection is not
/// known).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Line {
    shows_from: u64,
    task_conn: u64,
}

/// Open connections a run may hold at once: more than any lab allows (a
/// page's relay caps a lab at a few thousand clients). A file claiming more
/// is refused rather than allowed to fill the page's memory with lanes.
pub const MAX_OPEN_CONNECTIONS: usize = 10_000;

/// A run's events, its log, and snapshots of its world.
#[derive(Clone, Debug)]
pub struct Recording {
    hello: Option<Hello>,
    /// The position of the oldest event kept (how many were let go).
    first: u64,
    events: Chunked<Event>,
    log: VecDeque<Line>,
    /// Positions of the events that begin a server loop iteration.
    iterations: VecDeque<u64>,
    /// Positions of the events that start a server (`listening`): where
    /// the stretch of one server (one model) begins.
    starts: VecDeque<u64>,
    /// Positions where the page began a fresh run: before the event there,
    /// the world was told to ([`World::begin_fresh_run`]).
    fresh_runs: VecDeque<u64>,
    /// Oldest first; the first is always at `first`.
    snapshots: Vec<Snapshot>,
    snapshot_bytes: usize,
    interval: u64,
    first_interval: u64,
    /// The position of the newest snapshot made for the interval.
    last_snapshot: u64,
    snapshot_budget: usize,
    max_events: u64,
    /// Bumped whenever positions of log lines change meaning (a restart,
    /// events let go): what a view caches of the log is stale.
    epoch: u64,
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
    /// budget is reached.
    pub fn with_limits(max_events: u64, snapshot_budget: usize, interval: u64) -> Self {
        Recording {
            hello: None,
            first: 0,
            events: Chunked::default(),
            log: VecDeque::new(),
            iterations: VecDeque::new(),
            starts: VecDeque::new(),
            fresh_runs: VecDeque::new(),
            snapshots: vec![Snapshot {
                at: 0,
                world: World::default(),
                weight: 0,
            }],
            snapshot_bytes: 0,
            interval,
            first_interval: interval,
            last_snapshot: 0,
            snapshot_budget,
            max_events,
            epoch: next_epoch(),
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
                self.log.push_back(Line {
                    shows_from: 0,
                    task_conn: 0,
                });
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
    /// ([`World::begin_fresh_run`]), and remembers where, so that seeking
    /// past here does the same.
    pub fn begin_fresh_run(&mut self, shown: &mut World) {
        let end = self.end();
        self.head(shown).begin_fresh_run();
        if self.fresh_runs.back() != Some(&end) {
            self.fresh_runs.push_back(end);
        }
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

    /// Events let go to stay within the caps (or before a saved run's
    /// file began).
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

    /// Changes whenever cached log line numbers go stale (a restart, lines
    /// let go), and differs between recordings.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The world now, whatever moment the page shows (`shown` is the
    /// page's world).
    pub fn now_world<'a>(&'a self, shown: &'a World) -> &'a World {
        self.head_aside.as_ref().unwrap_or(shown)
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

    /// The time of the moment after `position` events: that of the newest
    /// of them (at the start, that of the oldest event kept, or 0).
    pub fn time_at(&self, position: u64) -> Micros {
        let index = match position.checked_sub(self.first + 1) {
            Some(index) => index,
            None if self.first == 0 => return 0,
            None => 0,
        };
        self.events
            .get(usize::try_from(index).unwrap_or(usize::MAX))
            .map_or(0, |event| event.at)
    }

    /// The first position whose newest event happened at or after `at`:
    /// where another run stands at the same moment.
    pub fn position_at_time(&self, at: Micros) -> u64 {
        self.first + self.events.partition_point(|event| event.at <= at) as u64
    }

    /// When the server shown at `position` started (its `listening`, or the
    /// run's start): two runs compared line up on it.
    pub fn origin(&self, position: u64) -> Micros {
        let index = self.starts.partition_point(|start| *start < position);
        match index
            .checked_sub(1)
            .and_then(|index| self.starts.get(index))
        {
            Some(start) => self.event_at(*start).map_or(0, |event| event.at),
            None => self.time_at(self.first),
        }
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
        let snapshot = self.snapshot_before(position).at;
        if (snapshot..=position).contains(&current) {
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
    /// the iteration before the position shown. Where the server reports
    /// no iterations (tokio's tasks report none), it steps one log line;
    /// it stops where a server starts (a model switched).
    pub fn step_back(&mut self, shown: &mut World) {
        let position = self.position();
        let before = self.stop_before(position);
        self.seek(shown, before);
    }

    /// The mirror of [`Recording::step_back`]: one iteration later, or now.
    /// Says whether it moved (it does not when the page shows now).
    pub fn step_forward(&mut self, shown: &mut World) -> bool {
        let Some(position) = self.cursor else {
            return false;
        };
        let next = self.stop_after(position);
        self.seek(shown, next);
        true
    }

    /// The stretch of one server around `position`: from its start (or the
    /// first position) to the next start (or the end).
    fn stretch(&self, position: u64) -> (u64, u64) {
        let index = self.starts.partition_point(|start| *start <= position);
        let from = index
            .checked_sub(1)
            .and_then(|index| self.starts.get(index))
            .copied()
            .unwrap_or(self.first);
        let to = self
            .starts
            .get(index)
            .copied()
            .unwrap_or_else(|| self.end());
        (from, to)
    }

    /// Whether the server of the stretch `from..to` reports iterations.
    fn iterates(&self, from: u64, to: u64) -> bool {
        let index = self.iterations.partition_point(|at| *at < from);
        self.iterations.get(index).is_some_and(|at| *at < to)
    }

    /// The positions before each log line's event.
    fn line_stop(&self, index: usize) -> Option<u64> {
        self.log
            .get(index)
            .and_then(|line| line.shows_from.checked_sub(1))
    }

    /// The latest stop before `position`: a stretch's start, an iteration's
    /// start within a stretch that iterates, a log line's within one that
    /// does not.
    fn stop_before(&self, position: u64) -> u64 {
        if position <= self.first {
            return self.first;
        }
        let (from, to) = self.stretch(position - 1);
        let within = if self.iterates(from, to) {
            let index = self.iterations.partition_point(|at| *at < position);
            index
                .checked_sub(1)
                .and_then(|index| self.iterations.get(index))
                .copied()
        } else {
            let index = self
                .log
                .partition_point(|line| line.shows_from < position + 1);
            (0..index).rev().find_map(|index| self.line_stop(index))
        };
        within.filter(|stop| *stop >= from).unwrap_or(from)
    }

    /// The earliest stop after `position` (the end when none is left).
    fn stop_after(&self, position: u64) -> u64 {
        let (from, to) = self.stretch(position);
        let within = if self.iterates(from, to) {
            let index = self.iterations.partition_point(|at| *at <= position);
            self.iterations.get(index).copied()
        } else {
            let index = self
                .log
                .partition_point(|line| line.shows_from <= position + 1);
            (index..self.log.len()).find_map(|index| self.line_stop(index))
        };
        within.filter(|stop| *stop < to).unwrap_or(to)
    }

    /// How many log lines show at `position`.
    pub fn log_len_at(&self, position: u64) -> usize {
        self.log.partition_point(|line| line.shows_from <= position)
    }

    /// Log lines kept.
    #[cfg(test)]
    pub fn log_len(&self) -> usize {
        self.log.len()
    }

    /// The position from which the log's `index`-th line (oldest first)
    /// shows.
    pub fn log_position(&self, index: usize) -> Option<u64> {
        self.log.get(index).map(|line| line.shows_from)
    }

    /// What the log's `index`-th line is about.
    pub fn log_subject(&self, index: usize) -> Option<LogSubject> {
        let line = self.log.get(index)?;
        let Some(event) = line
            .shows_from
            .checked_sub(1)
            .and_then(|at| self.event_at(at))
        else {
            return Some(LogSubject {
                kind: "hello",
                sock: None,
                task: None,
            });
        };
        let (sock, task) = subjects(&event.kind);
        let sock = sock.or_else(|| {
            let conn = line.task_conn.checked_sub(1)?;
            Some(Sock::Conn(ConnId(conn)))
        });
        Some(LogSubject {
            kind: kind_name(&event.kind),
            sock,
            task,
        })
    }

    /// The model of the server that ran at `position`: the one whose start
    /// came last before it (or the lab's first, from its hello).
    fn model_at(&self, position: u64) -> Option<ServerModel> {
        let index = self.starts.partition_point(|start| *start < position);
        index
            .checked_sub(1)
            .and_then(|index| self.starts.get(index))
            .and_then(|start| self.event_at(*start))
            .and_then(|event| match event.kind {
                EventKind::Listening { model, .. } => Some(model),
                _ => None,
            })
            .or_else(|| self.hello.as_ref().map(|hello| hello.model))
    }

    /// The log's `index`-th line in words.
    pub fn log_line(&self, index: usize) -> Option<LogLine> {
        let position = self.log_position(index)?;
        Some(
            match position.checked_sub(1).and_then(|at| self.event_at(at)) {
                Some(event) => LogLine {
                    at: event.at,
                    text: describe(&event.kind, self.model_at(position)),
                    kind: kind_name(&event.kind),
                    details: wording::details(&event.kind),
                },
                None => LogLine {
                    at: 0,
                    text: self.hello.as_ref().map(greeting).unwrap_or_default(),
                    kind: "hello",
                    details: String::new(),
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
    /// loses nothing. A file that began after events were let go starts
    /// at their count, as the run it was saved from did.
    #[cfg(test)]
    pub fn open(bytes: &[u8], limits: &Limits) -> Result<(Header, Recording, World), RunFileError> {
        Recording::open_within(bytes, limits, || false)
    }

    /// [`Recording::open`], giving up when `too_long` says so (it is asked
    /// after each line): a hostile file can be cheap to read and costly to
    /// replay.
    pub fn open_within(
        bytes: &[u8],
        limits: &Limits,
        mut too_long: impl FnMut() -> bool,
    ) -> Result<(Header, Recording, World), RunFileError> {
        let mut reader = Reader::new(bytes, limits)?;
        let (mut recording, mut world) = (Recording::default(), World::default());
        if let Some(hello) = &reader.header().hello {
            recording.record(&mut world, ServerMessage::Hello(hello.clone()));
        }
        let let_go = reader.header().let_go;
        recording.first = let_go;
        recording.last_snapshot = let_go;
        recording.snapshots[0].at = let_go;
        while let Some(entry) = reader.next_entry()? {
            recording.load(&mut world, entry);
            if world.connections.len() > MAX_OPEN_CONNECTIONS {
                return Err(RunFileError::Implausible(format!(
                    "it holds more than {MAX_OPEN_CONNECTIONS} connections at once"
                )));
            }
            if too_long() {
                return Err(RunFileError::Implausible(
                    "it takes too long to replay".to_owned(),
                ));
            }
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

    /// The world after `position` events, from the snapshot before it.
    pub fn world_at(&self, position: u64) -> World {
        let snapshot = self.snapshot_before(position);
        let mut world = snapshot.world.clone();
        self.apply_range(&mut world, snapshot.at, position);
        world
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
            // The connection a task's line is about, as the world knew it
            // then (task numbers start again with each server).
            let task_conn = match subjects(&event.kind) {
                (None, Some(task)) => head.conn_of_task(task).map_or(0, |conn| conn.0 + 1),
                _ => 0,
            };
            self.log.push_back(Line {
                shows_from: position + 1,
                task_conn,
            });
        }
        match event.kind {
            EventKind::LoopIteration { .. } => self.iterations.push_back(position),
            EventKind::Listening { .. } => self.starts.push_back(position),
            _ => {}
        }
        self.events.push_back(event);
        let end = position + 1;
        let head = self.head_aside.as_ref().unwrap_or(shown);
        let interval = self
            .interval
            .max(head.connections.len() as u64 * EVENTS_PER_LANE);
        if end - self.last_snapshot >= interval {
            self.last_snapshot = end;
            // A world too large for the budget is not copied at all:
            // seeking replays from an earlier snapshot instead.
            if head.weight() <= self.snapshot_budget / 4 {
                let world = head.clone();
                self.keep_snapshot(end, world);
            }
        }
    }

    fn keep_snapshot(&mut self, at: u64, world: World) {
        let weight = world.weight();
        match self.snapshots.last_mut() {
            Some(last) if last.at == at => {
                self.snapshot_bytes = self.snapshot_bytes - last.weight + weight;
                last.world = world;
                last.weight = weight;
            }
            _ => {
                self.snapshot_bytes += weight;
                self.snapshots.push(Snapshot { at, world, weight });
            }
        }
        // Over budget: every other snapshot goes (the first stays), and
        // they come half as often from now on.
        while self.snapshot_bytes > self.snapshot_budget && self.snapshots.len() > 1 {
            let mut index = 0;
            self.snapshots.retain(|_| {
                index += 1;
                index % 2 == 1
            });
            self.interval = self.interval.saturating_mul(2);
            self.snapshot_bytes = self.snapshots.iter().map(|snapshot| snapshot.weight).sum();
        }
    }

    /// Lets the oldest events go while the recording holds more than its
    /// caps ([`MAX_EVENTS`], [`MAX_SPAN`]): a sixteenth more than needed, so
    /// that this happens seldom, down to the world at the cut.
    fn let_go_beyond_caps(&mut self, shown: &mut World) {
        let (Some(oldest), Some(newest)) = (self.events.front(), self.events.back()) else {
            return;
        };
        let (oldest, newest) = (oldest.at, newest.at);
        let mut cut = self.first;
        if self.events.len() as u64 > self.max_events {
            cut = cut.max(self.end() - self.max_events + self.max_events / 16);
        }
        if newest.saturating_sub(oldest) > MAX_SPAN {
            let keep_from = newest.saturating_sub(MAX_SPAN - MAX_SPAN / 16);
            let index = self.events.partition_point(|event| event.at < keep_from);
            cut = cut.max(self.first + index as u64);
        }
        let cut = cut.min(self.end());
        if cut == self.first {
            return;
        }
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
        self.epoch = next_epoch();
        let (first, hello) = (cut, self.hello.is_some());
        self.log
            .retain(|line| line.shows_from > first || (hello && line.shows_from == 0));
        for positions in [&mut self.iterations, &mut self.starts, &mut self.fresh_runs] {
            while positions.front().is_some_and(|at| *at < first) {
                positions.pop_front();
            }
        }
        self.snapshots.retain(|snapshot| snapshot.at >= first);
        self.snapshot_bytes = self.snapshots.iter().map(|snapshot| snapshot.weight).sum();
        if self.cursor.is_some_and(|cursor| cursor < first) {
            self.seek(shown, first);
        }
    }

    fn snapshot_before(&self, position: u64) -> &Snapshot {
        let index = self
            .snapshots
            .partition_point(|snapshot| snapshot.at <= position);
        &self.snapshots[index.saturating_sub(1)]
    }

    /// Applies the events from position `from` to `to` to `world`, telling
    /// it where fresh runs began as the head was told.
    fn apply_range(&self, world: &mut World, from: u64, to: u64) {
        let mut fresh = self.fresh_runs.partition_point(|at| *at < from);
        for (position, event) in (from..to).zip(self.events_between(from, to)) {
            while self.fresh_runs.get(fresh).is_some_and(|at| *at <= position) {
                world.begin_fresh_run();
                fresh += 1;
            }
            world.apply(event);
        }
    }
}

pub use wording::KIND_NAMES;

#[cfg(test)]
mod tests;
