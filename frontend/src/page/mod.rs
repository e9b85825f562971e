//! The page: everything the playground knows and does, in plain Rust.
//!
//! [`Page`] holds the page's state (its two [`Run`]s, the source in force,
//! the link's status, the lesson, the host's push, what the learner chose)
//! and [`Page::act`] is the one way to change it: a [`PageAction`] in (a
//! frame, a lab's message, a key, a button), an [`Update`] out, with the
//! [`Effect`]s the browser must carry out (send a command, write the
//! address, store progress, point at an element) and whether to draw again.
//! Worlds are changed in place, never cloned per action: frames come sixty
//! times a second.
//!
//! After every action the page settles what follows from it, in order: a
//! new source starts from an empty run; a comparison begun (or ended)
//! starts both runs afresh; a host's new push is followed. The shell draws;
//! after each drawing it sends [`PageAction::Rendered`], on which the
//! lesson reads its proof.

pub mod action;
mod lesson_flow;
#[cfg(test)]
mod lesson_proofs;
mod run;
#[cfg(test)]
mod tests;

use loopscope_runfile::{Header, RunSource};
use protocol::workshop::HostPush;
use protocol::{Command, EventKind, Hello, Micros, ServerMessage, ServerModel, ShutdownPolicy};

pub use action::{
    Effect, Key, LabAction, LessonAction, OpenedRun, PageAction, SimAction, Source, TimeAction,
    Which,
};
pub use lesson_flow::{LessonFlow, RunState};
pub use run::{Run, Runs};

use crate::model::address;
use crate::model::lesson::Pane;
use crate::model::narration::Life;
use crate::model::scenario::{MAX_LINK_CLIENTS, ScenarioLink, SimSettings};
use crate::model::world::World;
use crate::sources::live::{LinkStatus, StatusHistory};
use crate::sources::simulated::SimSource;

/// What the page starts from, as the browser has it.
pub struct Start {
    /// The page's query (`?model=…`), the join token already taken out.
    pub query: String,
    /// Whether a relay comes with the page (not on a static site).
    pub relay_expected: bool,
    /// The learner's stored progress in the lesson.
    pub stored_progress: Option<String>,
    /// Whether the learner follows the host (as stored).
    pub following: bool,
}

/// What an action did: the effects to carry out, and whether the page must
/// be drawn again.
#[derive(Debug, Default, PartialEq)]
pub struct Update {
    /// What the browser must do, in order.
    pub effects: Vec<Effect>,
    /// Whether anything shown changed.
    pub redraw: bool,
}

/// A run opened from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedRun {
    /// The file's name.
    pub name: String,
    /// Its first line.
    pub header: Header,
}

/// The compared lab, while a live comparison runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ComparedLab {
    /// The model it runs once it greets.
    model: ServerModel,
    /// What its handlers do with an error (as the page's lab's do).
    errors: protocol::HandlerStyle,
}

/// The page.
pub struct Page {
    /// The page's run and the compared one.
    pub runs: Runs,
    /// The source the person chose; `None` leaves it to the link.
    chosen: Option<Source>,
    /// The source in force (entered: its run started).
    active: Source,
    /// The source the page's run was last started for, and the source and
    /// comparison both runs were; `None` before the first settling.
    entered_source: Option<Source>,
    entered_comparison: Option<(Source, Option<ServerModel>)>,
    /// The model compared with, if any.
    compare: Option<ServerModel>,
    /// The compared live lab, while one is open.
    compared_lab: Option<ComparedLab>,
    /// The page's link to its lab.
    pub status: LinkStatus,
    /// The statuses the link went through (the tests read them).
    pub status_history: StatusHistory,
    /// A run opened from a file.
    pub saved: Option<SavedRun>,
    /// While a saved run plays at its own pace: the moment it has reached.
    pub replaying: Option<Micros>,
    /// What went wrong opening a run file.
    pub run_problem: Option<String>,
    /// Whether the help is shown.
    pub help: bool,
    /// The host's push, listened to for the page's life.
    pub host_push: Option<HostPush>,
    /// Whether the learner follows it.
    pub following: bool,
    /// The serial of the push last followed (0: none yet).
    followed_serial: u64,
    /// The lesson.
    pub lesson: LessonFlow,
    /// The pane shown beside the lesson.
    pub pane: Pane,
    /// The text size, in percent.
    pub text_size: u32,
    /// The shutdown policy the controls offer (the lesson's step 7 shuts
    /// down with it too).
    pub policy: ShutdownPolicy,
    /// What the page keeps of its live lab while it shows another source.
    lab_memo: LabMemo,
    /// The page's query as it is now (the page alone writes it).
    query: String,
    /// Milliseconds on a steady clock (the browser's, or a test's).
    clock: Box<dyn Fn() -> f64>,
    /// The effects of the action being handled.
    effects: Vec<Effect>,
}

impl Page {
    /// The page as it opens, and what it first asks of the browser.
    pub fn new(start: Start, clock: Box<dyn Fn() -> f64>) -> (Page, Update) {
        let link = ScenarioLink::parse(&start.query);
        // A link that carries a scenario asks for the simulation; a
        // lesson's step defines its own, and runs live when a lab connects.
        let chosen = (start.query.contains("model=") && Page::pushed_step(&start.query).is_none())
            .then_some(Source::Sim);
        let status = if start.relay_expected {
            LinkStatus::Connecting
        } else {
            // A static site's page never looks for a relay.
            LinkStatus::Static
        };
        let mut status_history = StatusHistory::default();
        status_history.record(&status);
        let mut page = Page {
            runs: Runs::default(),
            chosen,
            active: Source::Live,
            entered_source: None,
            entered_comparison: None,
            compare: link.compare,
            compared_lab: None,
            status,
            status_history,
            saved: None,
            replaying: None,
            run_problem: None,
            help: false,
            host_push: None,
            following: start.following,
            followed_serial: 0,
            lesson: LessonFlow::new(&start.query, start.stored_progress.as_deref()),
            pane: Pane::default(),
            text_size: address::text_size(&start.query),
            policy: ShutdownPolicy::default(),
            lab_memo: LabMemo::default(),
            query: start.query,
            clock,
            effects: Vec::new(),
        };
        page.runs.main.sim = Some(SimSource::new(link));
        page.settle();
        let update = Update {
            effects: std::mem::take(&mut page.effects),
            redraw: true,
        };
        (page, update)
    }

    /// Does `action`, settles what follows, and says what the browser must
    /// do.
    pub fn act(&mut self, action: PageAction) -> Update {
        let redraw = self.handle(action);
        self.settle();
        Update {
            effects: std::mem::take(&mut self.effects),
            redraw,
        }
    }

    /// The source in force.
    pub fn source(&self) -> Source {
        self.active
    }

    /// The model compared with, if any (none while a saved run is shown).
    pub fn compare(&self) -> Option<ServerModel> {
        self.compare.filter(|_| self.active != Source::Saved)
    }

    /// Whether the page's lab is connected.
    pub fn live(&self) -> bool {
        self.status == LinkStatus::Live
    }

    /// Whether the page still finds out if a relay answers.
    fn connecting(&self) -> bool {
        self.status == LinkStatus::Connecting
    }

    /// The page's simulation.
    pub fn sim(&self) -> &SimSource {
        self.runs
            .main
            .sim
            .as_ref()
            .expect("the page always has its simulation")
    }

    /// The model of the run shown.
    pub fn model(&self) -> ServerModel {
        match self.active {
            Source::Sim => self.sim().settings().model,
            Source::Live | Source::Saved => self.runs.main.world.model.unwrap_or_default(),
        }
    }

    /// The lab's world now, whatever moment the views show: its controls
    /// act on now.
    pub fn now_world(&self) -> &World {
        self.runs.main.recording.now_world(&self.runs.main.world)
    }

    /// Where the server is in its life now.
    pub fn life_now(&self) -> Life {
        Life::of(self.now_world())
    }

    /// Whether the page answers `key` itself (the browser's own use of it
    /// is then prevented).
    pub fn takes_key(&self, key: Key) -> bool {
        match key {
            Key::Space => matches!(self.active, Source::Sim | Source::Saved),
            Key::Right | Key::Left | Key::End => true,
            Key::NextStep | Key::PreviousStep | Key::Help | Key::Escape => false,
        }
    }

    /// The query the page's address holds.
    #[cfg(test)]
    pub fn query(&self) -> &str {
        &self.query
    }

    fn handle(&mut self, action: PageAction) -> bool {
        match action {
            PageAction::Frame {
                elapsed_ms,
                share_ms,
            } => return self.frame(elapsed_ms, share_ms),
            PageAction::Rendered => return self.lesson_after_drawing(),
            PageAction::LabMessage(which, message) => return self.lab_message(which, message),
            PageAction::LinkStatus(status) => {
                self.status_history.record(&status);
                self.status = status;
            }
            PageAction::HostPush(push) => self.host_push = push,
            PageAction::Follow(follow) => {
                self.effects.push(Effect::StoreFollowing(follow));
                if follow {
                    // Coming back: the host's push starts again here.
                    self.followed_serial = 0;
                }
                self.following = follow;
            }
            PageAction::Key(key) => self.key(key),
            PageAction::Sim(action) => self.sim_action(action),
            PageAction::Lab(action) => self.lab_action(action),
            PageAction::Time(action) => self.time_action(action),
            PageAction::Lesson(action) => self.lesson_action(action),
            PageAction::ToggleLesson => match self.lesson.open {
                Some(_) => self.lesson_action(LessonAction::Close),
                None => self.go_by(0),
            },
            PageAction::Choose(source) => self.chosen = Some(source),
            PageAction::Compare(model) => self.compare = model,
            PageAction::Policy(policy) => self.policy = policy,
            PageAction::Pane(pane) => self.pane = pane,
            PageAction::TextSize(size) => {
                let size = address::text_size(&format!("text={size}"));
                let value = (size != address::TEXT_SIZES[0]).then(|| size.to_string());
                self.set_view_param("text", value.as_deref());
                self.text_size = size;
            }
            PageAction::Help(shown) => self.help = shown,
            PageAction::Save => self.save(),
            PageAction::Replay => self.replay(),
            PageAction::Opened(opened) => self.open_saved(*opened),
            PageAction::NotOpened(problem) => self.run_problem = Some(problem),
            PageAction::DismissProblem => self.run_problem = None,
            PageAction::Reload => self.effects.push(Effect::Reload),
            PageAction::SaveTrace(which) => self.effects.push(Effect::SaveTrace(which)),
            PageAction::Note(which, text) => self.runs.get_mut(which).note(text),
        }
        true
    }

    /// Settles what follows from the state: the source in force, the
    /// comparison, the host's push (each may change the ones before).
    fn settle(&mut self) {
        for _ in 0..4 {
            let source = self
                .chosen
                .unwrap_or_else(|| automatic_source(&self.status));
            if self.entered_source != Some(source) {
                self.entered_source = Some(source);
                self.enter_source(source);
            }
            if self.entered_comparison != Some((source, self.compare)) {
                self.entered_comparison = Some((source, self.compare));
                self.enter_comparison(source, self.compare);
            }
            if !self.follow_host() {
                return;
            }
        }
    }

    /// A new source starts from an empty run; the live one knows its lab
    /// at once.
    fn enter_source(&mut self, source: Source) {
        self.active = source;
        // A saved run was put in place as it opened; leaving it lets it go
        // (its recording is the page's, which the new source fills).
        if source != Source::Saved {
            self.replaying = None;
            self.saved = None;
            // Events a lab sent before are no part of the new run.
            let main = &mut self.runs.main;
            main.restart();
            if source == Source::Live {
                self.lab_memo.replay(main);
            }
        }
    }

    /// Comparing (again, or no more): both runs start afresh together.
    fn enter_comparison(&mut self, source: Source, compare: Option<ServerModel>) {
        self.runs.compared.restart();
        self.runs.compared.sim = None;
        if self.compared_lab.take().is_some() {
            self.effects.push(Effect::CloseComparedLab);
        }
        match (source, compare) {
            (Source::Sim, compare) => {
                if let Some(model) = compare {
                    let main = &mut self.runs.main;
                    main.restart();
                    let sim = main
                        .sim
                        .as_mut()
                        .expect("the page always has its simulation");
                    sim.reset(sim.settings());
                    let mut second = compared_run(&sim.link(), model);
                    second.playing = sim.playing;
                    self.runs.compared.sim = Some(second);
                }
                // A link that compares says so; one that no longer does,
                // no more. (A plain page keeps its plain address.)
                if compare.is_some() || self.query.contains("compare=") {
                    let link = ScenarioLink {
                        compare,
                        ..self.sim().link()
                    };
                    self.keep_scenario(&link.to_query());
                }
            }
            (Source::Live, Some(model)) => {
                // This page's lab restarts its server too (same model: the
                // one running now), so that both runs start with no one
                // connected.
                let main = &mut self.runs.main;
                main.flush();
                main.back_to_now();
                let (current, errors) = (main.world.model, main.world.errors);
                if let Some(current) = current
                    && self.send(
                        Which::Main,
                        Command::SetModel {
                            model: current,
                            errors,
                        },
                    )
                {
                    self.runs.main.begin_fresh_run();
                }
                self.compared_lab = Some(ComparedLab { model, errors });
                self.effects.push(Effect::OpenComparedLab);
            }
            (Source::Live, None) | (Source::Saved, _) => {}
        }
    }

    /// Follows the host's push, once per push, unless the learner does not
    /// follow: its scenario starts in the simulation, and a step of the
    /// lesson opens. Says whether it did.
    fn follow_host(&mut self) -> bool {
        let Some(push) = self.host_push.as_ref().filter(|_| self.following) else {
            return false;
        };
        if push.serial == self.followed_serial {
            return false;
        }
        self.followed_serial = push.serial;
        let query = push.query.clone();
        match Page::pushed_step(&query) {
            // A pushed step opens where the page runs: a live page stays
            // live, its lab restarted under the step's model.
            Some(number) if self.runs_live() => self.open_step_where(number, true),
            Some(number) => self.open_step_in_simulation(number),
            None => {
                // A scenario runs in the simulation, as its link says.
                self.follow_scenario(&query);
                self.compare = ScenarioLink::parse(&query).compare;
                self.chosen = Some(Source::Sim);
            }
        }
        true
    }

    /// Starts the scenario of `query` (a link's) in the page's simulation,
    /// and in the compared one if the link compares.
    fn follow_scenario(&mut self, query: &str) {
        let link = ScenarioLink::parse(query);
        self.runs.compared.sim = link.compare.map(|model| compared_run(&link, model));
        self.runs.main.sim = Some(SimSource::new(link));
        self.runs.main.restart();
        self.runs.compared.restart();
        self.keep_scenario(query);
    }

    /// An animation frame: the source in force moves on for at most its
    /// share of the frame.
    fn frame(&mut self, elapsed_ms: f64, share_ms: f64) -> bool {
        let clock = &self.clock;
        let out_of_time_after = |ms: f64| {
            let started = clock();
            move || clock() - started > ms
        };
        match (self.active, self.replaying) {
            (Source::Saved, Some(at)) => {
                // A saved run plays on at its own pace, to its end.
                let at = at + (elapsed_ms * 1000.0) as Micros;
                let main = &mut self.runs.main;
                main.follow_time(at);
                self.replaying = main.is_looking_back().then_some(at);
                true
            }
            (Source::Live, _) => {
                // A live lab's burst is applied a slice at a time.
                let out_of_time = out_of_time_after(share_ms);
                let changed = self.runs.main.apply_waiting(&out_of_time);
                self.runs.compared.apply_waiting(&out_of_time) || changed
            }
            (Source::Sim, _) => {
                // The simulations get a share of the frame (half each when
                // two run side by side); whatever does not fit waits for
                // the next one. The compared run goes to the first one's
                // moment, so the two never drift apart.
                let Runs { main, compared } = &mut self.runs;
                let share = if compared.sim.is_some() {
                    share_ms / 2.0
                } else {
                    share_ms
                };
                let mut changed =
                    main.simulate(&out_of_time_after(share), |sim, out_of_time, take| {
                        sim.advance_into(elapsed_ms, out_of_time, take);
                    });
                let leader = main.sim.as_ref().map_or(0, SimSource::now);
                changed |=
                    compared.simulate(&out_of_time_after(share), |sim, out_of_time, take| {
                        sim.advance_to_into(leader, out_of_time, take);
                    });
                changed
            }
            (Source::Saved, None) => false,
        }
    }

    /// A message from one of the labs.
    fn lab_message(&mut self, which: Which, message: Result<ServerMessage, String>) -> bool {
        if which == Which::Main {
            if let Ok(message) = &message {
                self.lab_memo.note(message);
            }
            if self.active != Source::Live {
                return false;
            }
        }
        if which == Which::Main {
            return self.runs.main.take_message(message);
        }
        // A lab closed (or replaced) since says nothing of this comparison.
        let Some(compared) = self.compared_lab else {
            return false;
        };
        // The compared lab switches to its model as soon as it greets.
        let greeted = matches!(message, Ok(ServerMessage::Hello(_)));
        let changed = self.runs.compared.take_message(message);
        if greeted {
            self.effects.push(Effect::Send(
                Which::Compared,
                Command::SetModel {
                    model: compared.model,
                    errors: compared.errors,
                },
            ));
        }
        changed
    }

    fn key(&mut self, key: Key) {
        match (key, self.active) {
            (Key::Space, Source::Sim) => self.sim_action(SimAction::TogglePlay),
            (Key::Space, Source::Saved) => self.replay(),
            (Key::Space, Source::Live) => {}
            (Key::Right, Source::Sim) => self.sim_action(SimAction::Step),
            (Key::Right, _) => self.time_action(TimeAction::StepForward),
            (Key::Left, _) => self.time_action(TimeAction::StepBack),
            (Key::End, _) => self.time_action(TimeAction::Now),
            (Key::NextStep, _) => self.go_by(1),
            (Key::PreviousStep, _) => self.go_by(-1),
            (Key::Help, _) => self.help = !self.help,
            (Key::Escape, _) => self.help = false,
        }
    }

    /// Does what the simulation's controls ask, to the page's simulation
    /// and to the compared one.
    fn sim_action(&mut self, action: SimAction) {
        // Looking back, Step moves on through the recording; every other
        // action acts now, so the page shows now first.
        if self.runs.main.is_looking_back() {
            if action == SimAction::Step {
                self.runs.main.step_forward();
                self.runs.line_up();
                return;
            }
            if !matches!(action, SimAction::Speed(_)) {
                self.runs.back_to_now();
            }
        }
        self.runs.simulate_action(&action);
        // The page's address always reproduces the scenario.
        let link = ScenarioLink {
            compare: self
                .runs
                .compared
                .sim
                .as_ref()
                .map(|second| second.settings().model),
            ..self.sim().link()
        };
        self.keep_scenario(&link.to_query());
    }

    /// Does what the live lab's controls ask, to the page's lab and to the
    /// compared one (which keeps its own model).
    fn lab_action(&mut self, action: LabAction) {
        let now = self.now_world();
        let (model, errors) = (now.model.unwrap_or_default(), now.errors);
        let compared = self.compared_lab;
        let to_both = |command: Command| -> Vec<(Which, Command)> {
            let mut sends = vec![(Which::Main, command.clone())];
            if compared.is_some() {
                sends.push((Which::Compared, command));
            }
            sends
        };
        let sends = match action {
            LabAction::SetModel(model) => vec![(Which::Main, Command::SetModel { model, errors })],
            LabAction::SetErrors(errors) => {
                if let Some(compared) = &mut self.compared_lab {
                    compared.errors = errors;
                }
                restart_both(model, errors, self.compared_lab)
            }
            LabAction::Restart => restart_both(model, errors, compared),
            LabAction::Pause => to_both(Command::Pause {}),
            LabAction::Step => to_both(Command::Step {}),
            LabAction::Resume => to_both(Command::Resume {}),
            LabAction::Spawn { count, behaviour } => {
                to_both(Command::SpawnClients { count, behaviour })
            }
            LabAction::Shutdown { grace_ms, policy } => {
                let mut sends = vec![(Which::Main, Command::Shutdown { grace_ms, policy })];
                if let Some(compared) = compared {
                    let policy = compared.model.shutdown_policy(policy);
                    sends.push((Which::Compared, Command::Shutdown { grace_ms, policy }));
                }
                sends
            }
        };
        for (which, command) in sends {
            self.send(which, command);
        }
    }

    /// Moves the page's run through time, and the compared run with it.
    fn time_action(&mut self, action: TimeAction) {
        // Stepping holds a playing saved run still; a drag does not.
        if !matches!(action, TimeAction::Seek(_)) {
            self.replaying = None;
        }
        let main = &mut self.runs.main;
        match action {
            TimeAction::Seek(position) => main.seek(position),
            TimeAction::StepBack => main.step_back(),
            TimeAction::StepForward => main.step_forward(),
            TimeAction::Now => main.back_to_now(),
        }
        self.runs.line_up();
        if self.runs.main.is_looking_back() {
            // A simulation holds still while the learner looks back.
            self.runs.set_playing(false);
        }
        if self.replaying.is_some() {
            self.replaying = Some(self.runs.main.time_shown());
        }
    }

    /// Offers the run shown to save: a live run with everything it has
    /// said so far.
    fn save(&mut self) {
        let header = match self.active {
            Source::Sim => Header::new(
                RunSource::Simulation,
                Some(self.sim().link().to_query()),
                None,
            ),
            Source::Live => Header::new(
                RunSource::Live,
                None,
                self.runs.main.recording.hello().cloned(),
            ),
            Source::Saved => match &self.saved {
                Some(saved) => saved.header.clone(),
                None => return,
            },
        };
        self.runs.main.flush();
        let header = Header {
            let_go: self.runs.main.recording.let_go(),
            ..header
        };
        self.effects.push(Effect::Save(header));
    }

    /// Plays a saved run at its own pace (from its start when at its end),
    /// or pauses it.
    fn replay(&mut self) {
        if self.replaying.take().is_none() {
            let main = &mut self.runs.main;
            if !main.is_looking_back() {
                let first = main.recording.first();
                main.seek(first);
            }
            self.replaying = Some(main.time_shown());
        }
    }

    /// Shows a run opened from a file, alone: no source feeds the page's
    /// run from here on.
    fn open_saved(&mut self, opened: OpenedRun) {
        // The source settles to the saved run, which enters it as it is.
        self.chosen = Some(Source::Saved);
        self.replaying = None;
        let main = &mut self.runs.main;
        main.clear_inbox();
        main.recording = opened.recording;
        main.world = opened.world;
        main.serial += 1;
        self.saved = Some(SavedRun {
            name: opened.name,
            header: opened.header,
        });
        self.run_problem = None;
        self.compare = None;
    }

    /// Sends `command` to a lab, if it can go: the page's own while it is
    /// connected, the compared one while it is open. Says whether it went.
    fn send(&mut self, which: Which, command: Command) -> bool {
        let goes = match which {
            Which::Main => self.live(),
            Which::Compared => self.compared_lab.is_some(),
        };
        if goes {
            self.effects.push(Effect::Send(which, command));
        }
        goes
    }

    /// Keeps `scenario` in the page's address, so that a copied link
    /// reproduces it; the view it keeps (the lesson step, the text size)
    /// stays.
    fn keep_scenario(&mut self, scenario: &str) {
        let query = address::with_view(scenario, &self.query);
        self.set_address(query);
    }

    /// Sets (or with `None` removes) one of the view's parameters in the
    /// address.
    fn set_view_param(&mut self, key: &str, value: Option<&str>) {
        let query = address::with_param(&self.query, key, value);
        self.set_address(query);
    }

    fn set_address(&mut self, query: String) {
        if query != self.query {
            self.query.clone_from(&query);
            self.effects.push(Effect::SetAddress(query));
        }
    }
}

impl Runs {
    /// Does what the simulation's controls ask to the page's simulation,
    /// and the same to the compared one (which keeps its own model).
    fn simulate_action(&mut self, action: &SimAction) {
        let Runs { main, compared } = self;
        if let Some(second) = compared.sim.as_mut() {
            match action {
                SimAction::TogglePlay => {}
                SimAction::Step => {
                    let events = second.step();
                    compared.record(events);
                }
                SimAction::Reset(settings) => {
                    let model = second.settings().model;
                    second.reset(SimSettings { model, ..*settings });
                    compared.restart();
                }
                SimAction::Speed(speed) => second.speed = *speed,
                SimAction::AddClients(key, count) => {
                    second.add_clients(key, *count);
                }
                SimAction::Shutdown(policy, grace) => {
                    let policy = second.settings().model.shutdown_policy(*policy);
                    second.shutdown(policy, *grace);
                }
            }
        }
        let sim = main
            .sim
            .as_mut()
            .expect("the page always has its simulation");
        match action {
            SimAction::TogglePlay => sim.playing = !sim.playing,
            SimAction::Step => {
                let events = sim.step();
                let tries = events
                    .iter()
                    .filter(|event| matches!(event.kind, EventKind::WouldBlock { .. }))
                    .count();
                main.record(events);
                // Would-blocks are too many to log one by one; a step
                // still says what it tried.
                if tries > 0 {
                    main.note(format!(
                        "this step: {tries} {} would block (BlockingIOError), each a call wasted",
                        if tries == 1 { "try" } else { "tries" }
                    ));
                }
            }
            SimAction::Reset(settings) => {
                sim.reset(*settings);
                main.restart();
            }
            SimAction::Speed(speed) => sim.speed = *speed,
            SimAction::AddClients(key, count) => {
                if sim.add_clients(key, *count) < *count {
                    main.note(format!(
                        "a simulation holds at most {MAX_LINK_CLIENTS} clients: \
                         reset it to start again"
                    ));
                }
            }
            SimAction::Shutdown(policy, grace) => sim.shutdown(*policy, *grace),
        }
        // The compared run plays, or not, with the page's own.
        let playing = main.sim.as_ref().is_some_and(|sim| sim.playing);
        if let Some(second) = compared.sim.as_mut() {
            second.playing = playing;
        }
    }

    /// The page's simulation plays from now (`true`) or waits.
    fn set_main_playing(&mut self, playing: bool) {
        if let Some(sim) = self.main.sim.as_mut() {
            sim.playing = playing;
        }
    }

    /// The page's simulated time.
    fn main_sim_now(&self) -> Micros {
        self.main.sim.as_ref().map_or(0, SimSource::now)
    }
}

/// Both labs' servers started again: the page's under `model` with
/// `errors`, the compared one (if any) under its own model and errors.
fn restart_both(
    model: ServerModel,
    errors: protocol::HandlerStyle,
    compared: Option<ComparedLab>,
) -> Vec<(Which, Command)> {
    let mut sends = vec![(Which::Main, Command::SetModel { model, errors })];
    if let Some(compared) = compared {
        sends.push((
            Which::Compared,
            Command::SetModel {
                model: compared.model,
                errors: compared.errors,
            },
        ));
    }
    sends
}

/// The source when the person has not picked one: live when a relay
/// answers, the simulation when none does.
fn automatic_source(status: &LinkStatus) -> Source {
    match status {
        LinkStatus::NoRelay { .. } | LinkStatus::Refused { .. } | LinkStatus::Static => Source::Sim,
        LinkStatus::Connecting
        | LinkStatus::Live
        | LinkStatus::Lost { .. }
        | LinkStatus::Closed { .. } => Source::Live,
    }
}

/// The scenario of `link` under `model`: the second run of a comparison.
fn compared_run(link: &ScenarioLink, model: ServerModel) -> SimSource {
    SimSource::new(ScenarioLink {
        settings: SimSettings {
            model,
            ..link.settings
        },
        compare: None,
        ..link.clone()
    })
}

/// What the page keeps of its live lab while it shows another source: the
/// relay's hello and the event that started the lab's current server, so
/// that switching back shows the lab (its port, its model) at once.
#[derive(Default)]
struct LabMemo {
    hello: Option<Hello>,
    listening: Option<protocol::Event>,
}

impl LabMemo {
    /// Keeps what `message` says about the lab.
    fn note(&mut self, message: &ServerMessage) {
        match message {
            ServerMessage::Hello(hello) => {
                self.hello = Some(hello.clone());
                self.listening = None;
            }
            ServerMessage::Events { events } => {
                if let Some(started) = events
                    .iter()
                    .rev()
                    .find(|event| matches!(event.kind, EventKind::Listening { .. }))
                {
                    self.listening = Some(started.clone());
                }
            }
        }
    }

    /// Tells `run` what is kept, as the relay said it.
    fn replay(&self, run: &mut Run) {
        if let Some(hello) = &self.hello {
            run.recording
                .record(&mut run.world, ServerMessage::Hello(hello.clone()));
        }
        if let Some(started) = &self.listening {
            run.record(vec![started.clone()]);
        }
    }
}
