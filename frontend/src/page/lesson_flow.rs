//! The lesson's flow on the page: opening a step loads its scenario into
//! the simulation (or, when a lab is connected and shown, restarts the live
//! server under the step's model); Run starts it from the beginning; after
//! each drawing the step's proof is read off the world the views show, the
//! step's element is pointed at, and step 7's server is shut down on time.
//! The learner's progress is stored by the shell, as an effect.

use protocol::{ClientBehaviour, Command};

use super::Page;
use super::action::{Effect, LessonAction, SimAction, Source, Which};
use crate::model::address;
use crate::model::lesson::{self, Progress, Proof, STEP_GRACE, STEPS, Step};

/// Where the open step's run is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RunState {
    /// Loaded, not started: time to predict.
    #[default]
    Ready,
    /// Running, nothing proved yet.
    Running,
    /// The run proved an answer.
    Proved(Proof),
}

/// The lesson's state.
#[derive(Default)]
pub struct LessonFlow {
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

impl LessonFlow {
    /// The lesson as the page's address (`?lesson=N`) and the stored
    /// progress leave it.
    pub fn new(query: &str, stored_progress: Option<&str>) -> LessonFlow {
        LessonFlow {
            open: address::lesson_step(query, STEPS.len()),
            progress: Progress::parse(stored_progress),
            ..LessonFlow::default()
        }
    }
}

impl Page {
    /// Whether the step runs in the live lab (one is connected and shown).
    pub(super) fn runs_live(&self) -> bool {
        self.live() && self.active == Source::Live
    }

    /// Does what the panel asks.
    pub(super) fn lesson_action(&mut self, action: LessonAction) {
        match action {
            LessonAction::Go(number) => self.open_step(number),
            LessonAction::Predict(answer) => {
                if let Some(number) = self.lesson.open {
                    self.lesson.progress.predicted.insert(number, answer);
                    self.store_progress();
                }
            }
            LessonAction::Run => self.run_step(),
            LessonAction::Look => {
                if let Some(step) = self.lesson.open.and_then(lesson::step) {
                    self.pane = step.look_at.pane.unwrap_or_default();
                    self.lesson.look = true;
                }
            }
            LessonAction::Close => {
                self.lesson.open = None;
                self.set_view_param("lesson", None);
            }
        }
    }

    /// The next (`+1`) or previous (`-1`) step; the first step not done
    /// when the panel is closed.
    pub(super) fn go_by(&mut self, by: isize) {
        let number = match self.lesson.open {
            Some(open) => open.saturating_add_signed(by).clamp(1, STEPS.len()),
            None => self.lesson.progress.next_step(),
        };
        self.lesson_action(LessonAction::Go(number));
    }

    fn store_progress(&mut self) {
        self.effects
            .push(Effect::StoreProgress(self.lesson.progress.to_json()));
    }

    /// Opens step `number` in the simulation, whatever the source showed.
    pub(super) fn open_step_in_simulation(&mut self, number: usize) {
        self.chosen = Some(Source::Sim);
        self.open_step_where(number, false);
    }

    /// Opens step `number` and loads its scenario, not started.
    fn open_step(&mut self, number: usize) {
        self.open_step_where(number, self.runs_live());
    }

    /// Opens step `number` and loads its scenario, not started: in the live
    /// lab (`live`) or the simulation.
    pub(super) fn open_step_where(&mut self, number: usize, live: bool) {
        let Some(step) = lesson::step(number) else {
            return;
        };
        self.lesson.open = Some(number);
        self.lesson.run = RunState::Ready;
        self.lesson.shut_down = false;
        self.lesson.look = false;
        self.lesson.loaded_live = Some(live);
        self.lesson.spawn_when_listening = false;
        self.set_view_param("lesson", Some(&number.to_string()));
        self.pane = step.look_at.pane.unwrap_or_default();
        self.compare = None;
        self.load_step(step, live, false);
    }

    /// Loads the open step's scenario in the live lab (`live`) or the
    /// simulation: started (`start`) or waiting for Run.
    fn load_step(&mut self, step: &Step, live: bool, start: bool) {
        let scenario = step.link();
        if live {
            let main = &mut self.runs.main;
            main.flush();
            main.back_to_now();
            let restarted = self.send(
                Which::Main,
                Command::SetModel {
                    model: scenario.settings.model,
                    errors: scenario.settings.style,
                },
            );
            if restarted {
                self.runs.main.begin_fresh_run();
            }
            self.lesson.spawn_when_listening = start && restarted;
        } else {
            // The page shows the simulation, or will: a saved run or a lab
            // that is gone gives way to it; while the page still finds out
            // whether a relay answers, it waits (a lab that connects takes
            // the step over).
            let shown = match self.active {
                Source::Sim => true,
                Source::Live => self.connecting(),
                Source::Saved => false,
            };
            if !shown {
                self.chosen = Some(Source::Sim);
            }
            self.follow_scenario(&format!("?{}", step.scenario));
            self.runs.set_main_playing(start);
        }
    }

    /// Starts the live run's clients (the restarted server listens), and
    /// step 7's shutdown, timed by the relay.
    fn spawn_live_clients(&mut self, step: &Step) {
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
                self.send(Which::Main, Command::SpawnClients { count, behaviour });
            }
        }
        // Timed by the relay, from the clients' start on its own clock: a
        // browser's timer and the socket in between can come late on a busy
        // machine, and the step's shutdown must come while the clients talk.
        if let Some(after) = step.shutdown_after {
            self.send(
                Which::Main,
                Command::ShutdownAfter {
                    after_ms: u32::try_from(after / 1000).unwrap_or(u32::MAX),
                    grace_ms: (STEP_GRACE / 1000) as u32,
                    policy: self.policy,
                },
            );
        }
    }

    /// Runs the open step's scenario from its start.
    fn run_step(&mut self) {
        let Some(step) = self.lesson.open.and_then(lesson::step) else {
            return;
        };
        self.lesson.run = RunState::Running;
        self.lesson.runs += 1;
        self.lesson.shut_down = false;
        self.load_step(step, self.runs_live(), true);
    }

    /// After a drawing of the world: reads the proof, shuts step 7's
    /// simulated server down on time, and points at the step's element.
    /// Says whether the page must be drawn again.
    pub(super) fn lesson_after_drawing(&mut self) -> bool {
        let Some((number, step)) = self
            .lesson
            .open
            .and_then(|number| Some((number, lesson::step(number)?)))
        else {
            self.effects.push(Effect::PointAt {
                selectors: &[],
                scroll: false,
            });
            return false;
        };
        // Opened from the address, or the live lab came (or went) since:
        // the step loads where it runs now.
        if self.lesson.loaded_live != Some(self.runs_live()) {
            self.open_step(number);
            return true;
        }
        let due = self.lesson.spawn_when_listening && !self.runs.main.world.awaiting_fresh_run();
        if due {
            self.lesson.spawn_when_listening = false;
            if self.runs_live() {
                self.spawn_live_clients(step);
            }
        }
        let mut redraw = false;
        if self.lesson.run == RunState::Running {
            if let Some(proof) = step.proof_of(&self.runs.main.world) {
                self.lesson.progress.proved.insert(number, proof.answer);
                self.store_progress();
                self.lesson.run = RunState::Proved(proof);
                self.lesson.look = true;
                self.pane = step.look_at.pane.unwrap_or_default();
                redraw = true;
            }
            if let Some(after) = step.shutdown_after.filter(|_| !self.runs_live()) {
                let now = self.runs.main_sim_now();
                let shown_shutdown = self.runs.main.world.shutdown;
                // Reset by the learner: the new run is shut down too.
                if now < after {
                    self.lesson.shut_down = false;
                }
                // Shut down already (by the learner): not again.
                let shut_down_now =
                    now >= after && !self.lesson.shut_down && shown_shutdown.is_none();
                self.lesson.shut_down |= now >= after;
                if shut_down_now {
                    self.sim_action(SimAction::Shutdown(self.policy, STEP_GRACE));
                    redraw = true;
                }
            }
        }
        // Brought into view once drawn where it now is: a proof that switched
        // the pane scrolls at the next drawing, which shows that pane.
        let scroll = !redraw && std::mem::take(&mut self.lesson.look);
        self.effects.push(Effect::PointAt {
            selectors: step.look_at.selectors,
            scroll,
        });
        redraw
    }

    /// Where the step's run happens, in the panel's words.
    pub fn lesson_runs_where(&self) -> &'static str {
        if self.live() && self.active == Source::Live {
            "in the live lab"
        } else {
            "in the simulation"
        }
    }

    /// The step a host's push opens, if it is one.
    pub(super) fn pushed_step(query: &str) -> Option<usize> {
        address::lesson_step(query, STEPS.len())
    }
}
