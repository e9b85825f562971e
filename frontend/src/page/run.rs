//! A run: the world the views read and the recording that feeds it, the
//! inbox where a live lab's bursts wait for a frame with time for them,
//! and the simulation when the run is simulated. The page holds two, its
//! own and the compared one, as [`Runs`], which does to both what an action
//! does, in one place.

use protocol::{Event, Micros, ServerMessage};

use crate::model::recording::Recording;
use crate::model::world::World;
use crate::sources::inbox::{self, Inbox};
use crate::sources::simulated::SimSource;

use super::action::Which;

/// A world and the recording that feeds it: every event goes through the
/// recording, and the world shows the moment the recording is at.
#[derive(Default)]
pub struct Run {
    /// The world at the moment shown.
    pub world: World,
    /// The run's events, its log and its snapshots.
    pub recording: Recording,
    /// A live lab's events that wait for a frame.
    inbox: Inbox,
    /// The run's simulation, when it is simulated.
    pub sim: Option<SimSource>,
    /// Which run this is: counts the fresh starts (a restart, a server
    /// started again for a new run, a saved run put in place), so that a
    /// view (or a verdict) knows when the run it shows is another one.
    pub serial: u64,
}

impl Run {
    /// Records `events` from the source.
    pub fn record(&mut self, events: Vec<Event>) {
        self.recording
            .record(&mut self.world, ServerMessage::Events { events });
    }

    /// Takes one message from a lab (or what was wrong with it): its events
    /// join the inbox, for [`Run::apply_waiting`]; anything else is
    /// recorded at once, after what waits. A full inbox is emptied now.
    /// Says whether the world changed now.
    pub fn take_message(&mut self, message: Result<ServerMessage, String>) -> bool {
        let message = match message {
            Ok(ServerMessage::Events { events }) if self.inbox.has_room_for(events.len()) => {
                self.inbox.push(events);
                return false;
            }
            other => other,
        };
        if matches!(message, Ok(ServerMessage::Hello(_))) {
            // A greeting starts the run afresh: what waits belonged to the
            // one before.
            self.inbox.clear();
        } else {
            self.flush();
        }
        match message {
            Ok(message) => self.recording.record(&mut self.world, message),
            Err(problem) => self.recording.note(&mut self.world, problem),
        }
        true
    }

    /// Records every event in the inbox now (before the run is read or
    /// changed other than by its source).
    pub fn flush(&mut self) {
        let waiting = self.inbox.take_all();
        if !waiting.is_empty() {
            self.record(waiting);
        }
    }

    /// Records the inbox's events, a slice at a time, until it is empty or
    /// `out_of_time`; says whether any were.
    pub fn apply_waiting(&mut self, out_of_time: &dyn Fn() -> bool) -> bool {
        let mut any = false;
        loop {
            let slice = self.inbox.take(inbox::SLICE);
            if slice.is_empty() {
                return any;
            }
            any = true;
            self.record(slice);
            if out_of_time() {
                return any;
            }
        }
    }

    /// Runs the simulation (if any) for as long as `out_of_time` allows:
    /// `advance` moves it on and hands over its events as they come. Says
    /// whether anything happened.
    pub fn simulate(
        &mut self,
        out_of_time: &dyn Fn() -> bool,
        advance: impl FnOnce(&mut SimSource, &dyn Fn() -> bool, &mut dyn FnMut(Vec<Event>)),
    ) -> bool {
        let Some(sim) = self.sim.as_mut() else {
            return false;
        };
        let (recording, world) = (&mut self.recording, &mut self.world);
        let mut changed = false;
        advance(sim, out_of_time, &mut |events| {
            if !events.is_empty() {
                changed = true;
                recording.record(world, ServerMessage::Events { events });
            }
        });
        changed
    }

    /// Puts a problem of the page's own in the log.
    pub fn note(&mut self, text: String) {
        self.recording.note(&mut self.world, text);
    }

    /// Forgets the run.
    pub fn restart(&mut self) {
        self.serial += 1;
        self.inbox.clear();
        self.recording.restart(&mut self.world);
    }

    /// Forgets what a lab sent before (none of the new run).
    pub fn clear_inbox(&mut self) {
        self.inbox.clear();
    }

    /// A new run on the same lab starts here: what came before stays in
    /// the recording, the counts start afresh.
    pub fn begin_fresh_run(&mut self) {
        self.serial += 1;
        self.recording.begin_fresh_run(&mut self.world);
    }

    pub fn seek(&mut self, position: u64) {
        self.recording.seek(&mut self.world, position);
    }

    pub fn step_back(&mut self) {
        self.recording.step_back(&mut self.world);
    }

    pub fn step_forward(&mut self) {
        self.recording.step_forward(&mut self.world);
    }

    pub fn back_to_now(&mut self) {
        self.recording.back_to_now(&mut self.world);
    }

    /// Whether the run shows a moment before now.
    pub fn is_looking_back(&self) -> bool {
        self.recording.is_looking_back()
    }

    /// The time of the moment shown.
    pub fn time_shown(&self) -> Micros {
        self.recording.time_at(self.recording.position())
    }

    /// Shows this run after its events up to `at`.
    pub fn follow_time(&mut self, at: Micros) {
        let position = self.recording.position_at_time(at);
        self.seek(position);
    }

    /// Shows the same moment as `leader` shows: a compared run follows the
    /// page's own (its start at the other's start, else the events up to
    /// the time of the other's newest one shown).
    pub fn show_moment_of(&mut self, leader: &Run) {
        let leader = &leader.recording;
        let position = leader.position();
        if position == leader.first() {
            let first = self.recording.first();
            self.seek(first);
            return;
        }
        let since_start = leader
            .time_at(position)
            .saturating_sub(leader.origin(position));
        // Each lab counts time from its own start: both line up on the
        // start of their server (this one's newest: the one started for
        // the comparison).
        let origin = self.recording.origin(self.recording.end());
        self.follow_time(origin + since_start);
    }
}

/// The page's run and the one compared with it, side by side: what is done
/// to one for the learner is done to the other here.
#[derive(Default)]
pub struct Runs {
    /// The page's own run.
    pub main: Run,
    /// The compared run (empty when nothing is compared).
    pub compared: Run,
}

impl Runs {
    /// One of the two.
    pub fn get(&self, which: Which) -> &Run {
        match which {
            Which::Main => &self.main,
            Which::Compared => &self.compared,
        }
    }

    /// One of the two, to change.
    pub fn get_mut(&mut self, which: Which) -> &mut Run {
        match which {
            Which::Main => &mut self.main,
            Which::Compared => &mut self.compared,
        }
    }

    /// Both show now.
    pub fn back_to_now(&mut self) {
        self.main.back_to_now();
        self.compared.back_to_now();
    }

    /// The compared run shows the page's moment: the same moment looking
    /// back, or now.
    pub fn line_up(&mut self) {
        if self.main.is_looking_back() {
            self.compared.show_moment_of(&self.main);
        } else {
            self.compared.back_to_now();
        }
    }

    /// Both simulations (the compared one only while comparing) play or
    /// hold still.
    pub fn set_playing(&mut self, playing: bool) {
        for sim in [self.main.sim.as_mut(), self.compared.sim.as_mut()]
            .into_iter()
            .flatten()
        {
            sim.playing = playing;
        }
    }
}
