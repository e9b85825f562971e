//! The lesson panel's wiring: opening a step loads its scenario into the
//! simulation (or, when a lab is connected, restarts the live server under
//! the step's model); Run starts it from the beginning; after each render
//! the step's proof is read off the world the views show, the step's
//! element is pointed at, and step 7's server is shut down on time. The
//! learner's progress goes to the page's local storage.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use protocol::{ClientBehaviour, Command, ShutdownPolicy};
use wasm_bindgen::JsCast;
use yew::prelude::*;

use super::{Fed, Source, follow, keep_in_address_exactly, page_query};
use crate::model::address;
use crate::model::lesson::{self, Progress, STEP_GRACE, STEPS, Tab};
use crate::views::{LessonAction, RunState, SimAction};
use crate::sources::live::Link;
use crate::sources::simulated::SimSource;

/// The class that marks the element a step points at.
const POINTED: &str = "pointed";

/// The lesson's state, kept across renders.
#[derive(Default)]
pub(super) struct LessonMode {
    /// The step open, if the panel is.
    pub open: Option<usize>,
    /// What the learner did so far.
    pub progress: Progress,
    /// The open step's run.
    pub run: RunState,
    /// How many runs were started since the page opened (the panel says
    /// which run a proof belongs to).
    pub runs: u32,
    /// Whether the run's server was shut down (step 7).
    shut_down: bool,
    /// Whether the pointed element should be scrolled into view.
    look: bool,
    /// Where the open step was loaded: in the live lab (`true`) or the
    /// simulation; `None` before it is.
    loaded_live: Option<bool>,
    /// A live run waits for its restarted server to say it listens before
    /// its clients start: the relay's events of the clients and of the new
    /// server come from different threads, and the run's counts begin with
    /// the new server.
    spawn_when_listening: bool,
}

impl LessonMode {
    /// The lesson as the page's address (`?lesson=N`) and its storage
    /// leave it.
    pub fn from_page() -> LessonMode {
        let stored =
            local_storage().and_then(|storage| storage.get_item(Progress::KEY).ok().flatten());
        LessonMode {
            open: address::lesson_step(&page_query(), STEPS.len()),
            progress: Progress::parse(stored.as_deref()),
            ..LessonMode::default()
        }
    }

    fn save_progress(&self) {
        if let Some(storage) = local_storage() {
            let _ = storage.set_item(Progress::KEY, &self.progress.to_json());
        }
    }
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// What acting on the lesson needs of the page (made again at each
/// render, so that it holds the page as it is now).
#[derive(Clone)]
pub(super) struct Page {
    /// The lesson's state.
    pub mode: Rc<RefCell<LessonMode>>,
    /// The page's simulation, and the world and recording it feeds.
    pub sim: Rc<RefCell<SimSource>>,
    pub fed: Fed,
    /// The compared simulation, and what it feeds (a step compares
    /// nothing: opening one ends a comparison).
    pub second_sim: Rc<RefCell<Option<SimSource>>>,
    pub second_fed: Fed,
    /// The source in force.
    pub active: Rc<Cell<Source>>,
    /// Whether the live lab is connected now.
    pub live: Rc<Cell<bool>>,
    /// Whether the page is still finding out if a relay answers.
    pub connecting: Rc<Cell<bool>>,
    /// The WebSocket to the live lab.
    pub lab: Link,
    /// The source the person chose, the compared model, the tab shown.
    pub chosen: UseStateHandle<Option<Source>>,
    pub compare: UseStateHandle<Option<protocol::ServerModel>>,
    pub tab: UseStateHandle<Tab>,
    /// The shutdown policy the controls have chosen: step 7 uses it.
    pub policy: ShutdownPolicy,
    /// Acts on the simulation as its controls do.
    pub on_sim_action: Callback<SimAction>,
    /// Asks for a render on the next frame.
    pub redraw: Callback<()>,
}

impl Page {
    /// Whether the step runs in the live lab (one is connected and shown).
    fn runs_live(&self) -> bool {
        self.live.get() && self.active.get() == Source::Live
    }

    /// Does what the panel asks.
    pub fn act(&self, action: LessonAction) {
        match action {
            LessonAction::Go(number) => self.open(number),
            LessonAction::Predict(answer) => {
                let mut mode = self.mode.borrow_mut();
                if let Some(number) = mode.open {
                    mode.progress.predicted.insert(number, answer);
                    mode.save_progress();
                }
            }
            LessonAction::Run => self.run(),
            LessonAction::Look => {
                let mut mode = self.mode.borrow_mut();
                if let Some(step) = mode.open.and_then(lesson::step) {
                    self.tab.set(step.look_at.tab.unwrap_or_default());
                    mode.look = true;
                }
            }
            LessonAction::Close => {
                let mut mode = self.mode.borrow_mut();
                mode.open = None;
                keep_in_address_exactly(&address::with_param(&page_query(), "lesson", None));
            }
        }
        self.redraw.emit(());
    }

    /// The next (`+1`) or previous (`-1`) step; the first step not done
    /// when the panel is closed.
    pub fn go_by(&self, by: isize) {
        let number = {
            let mode = self.mode.borrow();
            match mode.open {
                Some(open) => open.saturating_add_signed(by).clamp(1, STEPS.len()),
                None => mode.progress.next_step(),
            }
        };
        self.act(LessonAction::Go(number));
    }

    /// Opens step `number` in the simulation, whatever the source: a
    /// lesson the host pushed (the page's live lab is left alone).
    pub fn open_in_simulation(&self, number: usize) {
        self.chosen.set(Some(Source::Sim));
        self.open_where(number, false);
        self.redraw.emit(());
    }

    /// Opens step `number` and loads its scenario, not started.
    fn open(&self, number: usize) {
        self.open_where(number, self.runs_live());
    }

    /// Opens step `number` and loads its scenario, not started: in the live
    /// lab (`live`) or the simulation.
    fn open_where(&self, number: usize, live: bool) {
        let Some(step) = lesson::step(number) else {
            return;
        };
        {
            let mut mode = self.mode.borrow_mut();
            mode.open = Some(number);
            mode.run = RunState::Ready;
            mode.shut_down = false;
            mode.look = false;
            mode.loaded_live = Some(live);
            mode.spawn_when_listening = false;
        }
        keep_in_address_exactly(&address::with_param(
            &page_query(),
            "lesson",
            Some(&number.to_string()),
        ));
        self.tab.set(step.look_at.tab.unwrap_or_default());
        self.compare.set(None);
        self.load(step, live, false);
    }

    /// Loads the open step's scenario in the live lab (`live`) or the
    /// simulation: started (`start`) or waiting for Run.
    fn load(&self, step: &lesson::Step, live: bool, start: bool) {
        let scenario = step.link();
        if live {
            self.fed.flush();
            self.fed.back_to_now();
            let restarted = self.lab.send(&Command::SetModel {
                model: scenario.settings.model,
                errors: scenario.settings.style,
            });
            if restarted {
                self.fed
                    .recording
                    .borrow_mut()
                    .begin_fresh_run(&mut self.fed.world.borrow_mut());
            }
            self.mode.borrow_mut().spawn_when_listening = start && restarted;
        } else {
            // The page shows the simulation, or will: a saved run or a lab
            // that is gone gives way to it; while the page still finds out
            // whether a relay answers, it waits (a lab that connects takes
            // the step over).
            let shown = match self.active.get() {
                Source::Sim => true,
                Source::Live => self.connecting.get(),
                Source::Saved => false,
            };
            if !shown {
                self.chosen.set(Some(Source::Sim));
            }
            let query = format!("?{}", step.scenario);
            follow(
                &query,
                &self.sim,
                &self.fed,
                &self.second_sim,
                &self.second_fed,
            );
            self.sim.borrow_mut().playing = start;
        }
    }

    /// Starts the live run's clients (the restarted server listens), and
    /// step 7's shutdown on a timer.
    fn spawn_live_clients(&self, step: &lesson::Step) {
        // Runs of the same behaviour go as one command each.
        let mut runs: Vec<(&str, u32)> = Vec::new();
        for key in &step.link().clients {
            match runs.last_mut() {
                Some((last, count)) if last == key => *count += 1,
                _ => runs.push((key, 1)),
            }
        }
        for (key, count) in runs {
            if let Some(behaviour) = ClientBehaviour::preset(key) {
                self.lab.send(&Command::SpawnClients { count, behaviour });
            }
        }
        // Timed by the relay, from the clients' start on its own clock: a
        // browser's timer and the socket in between can come late on a busy
        // machine, and the step's shutdown must come while the clients talk.
        if let Some(after) = step.shutdown_after {
            self.lab.send(&Command::ShutdownAfter {
                after_ms: u32::try_from(after / 1000).unwrap_or(u32::MAX),
                grace_ms: (STEP_GRACE / 1000) as u32,
                policy: self.policy,
            });
        }
    }

    /// Runs the open step's scenario from its start.
    fn run(&self) {
        let Some(step) = self.mode.borrow().open.and_then(lesson::step) else {
            return;
        };
        {
            let mut mode = self.mode.borrow_mut();
            mode.run = RunState::Running;
            mode.runs += 1;
            mode.shut_down = false;
        }
        self.load(step, self.runs_live(), true);
    }

    /// After a render of `world`: reads the proof, shuts step 7's
    /// simulated server down on time, and points at the step's element.
    pub fn after_render(&self) {
        let (open, loaded_live) = {
            let mode = self.mode.borrow();
            (mode.open, mode.loaded_live)
        };
        let Some((number, step)) = open.and_then(|number| Some((number, lesson::step(number)?)))
        else {
            clear_pointer();
            return;
        };
        // Opened from the address, or the live lab came (or went) since:
        // the step loads where it runs now.
        if loaded_live != Some(self.runs_live()) {
            self.open(number);
            self.redraw.emit(());
            return;
        }
        let spawn_now = {
            let mut mode = self.mode.borrow_mut();
            let due = mode.spawn_when_listening && !self.fed.world.borrow().awaiting_fresh_run();
            if due {
                mode.spawn_when_listening = false;
            }
            due
        };
        if spawn_now && self.runs_live() {
            self.spawn_live_clients(step);
        }
        let (mut redraw, mut shut_down_now) = (false, false);
        {
            let mut mode = self.mode.borrow_mut();
            if mode.run == RunState::Running {
                let proof = step.proof_of(&self.fed.world.borrow());
                if let Some(proof) = proof {
                    mode.progress.proved.insert(number, proof.answer);
                    mode.save_progress();
                    mode.run = RunState::Proved(proof);
                    mode.look = true;
                    self.tab.set(step.look_at.tab.unwrap_or_default());
                    redraw = true;
                }
                if let Some(after) = step.shutdown_after.filter(|_| !self.runs_live()) {
                    let now = self.sim.borrow().now();
                    let shown_shutdown = self.fed.world.borrow().shutdown;
                    // Reset by the learner: the new run is shut down too.
                    if now < after {
                        mode.shut_down = false;
                    }
                    // Shut down already (by the learner): not again.
                    if now >= after && !mode.shut_down && shown_shutdown.is_none() {
                        shut_down_now = true;
                    }
                    mode.shut_down |= now >= after;
                }
            }
        }
        if shut_down_now {
            self.on_sim_action
                .emit(SimAction::Shutdown(self.policy, STEP_GRACE));
        }
        let look = std::mem::take(&mut self.mode.borrow_mut().look);
        point_at(step.look_at.selectors, look);
        if redraw {
            self.redraw.emit(());
        }
    }
}

/// Marks the first element `selectors` find (and only it) as pointed at;
/// scrolls it into view if `scroll`.
fn point_at(selectors: &[&str], scroll: bool) {
    let Some(document) = web_sys::window().and_then(|window| window.document()) else {
        return;
    };
    let target = selectors
        .iter()
        .find_map(|selector| document.query_selector(selector).ok().flatten());
    if let Ok(marked) = document.query_selector_all(&format!(".{POINTED}")) {
        for index in 0..marked.length() {
            if let Some(element) = marked
                .item(index)
                .and_then(|node| node.dyn_into::<web_sys::Element>().ok())
                && Some(&element) != target.as_ref()
            {
                let _ = element.class_list().remove_1(POINTED);
            }
        }
    }
    if let Some(target) = target {
        let _ = target.class_list().add_1(POINTED);
        if scroll && !on_screen(&document, &target) {
            let options = web_sys::ScrollIntoViewOptions::new();
            options.set_block(web_sys::ScrollLogicalPosition::Nearest);
            target.scroll_into_view_with_scroll_into_view_options(&options);
        }
    }
}

/// Whether `element` lies wholly on screen: inside the viewport, above
/// the timeline that sticks to its bottom.
fn on_screen(document: &web_sys::Document, element: &web_sys::Element) -> bool {
    let rect = element.get_bounding_client_rect();
    let bottom = document
        .query_selector(".timeline")
        .ok()
        .flatten()
        .map(|timeline| timeline.get_bounding_client_rect().top())
        .or_else(|| {
            web_sys::window()
                .and_then(|window| window.inner_height().ok())
                .and_then(|height| height.as_f64())
        })
        .unwrap_or(0.0);
    rect.top() >= 0.0 && rect.bottom() <= bottom
}

fn clear_pointer() {
    point_at(&[], false);
}
