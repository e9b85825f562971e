//! Everything that can happen to the page, as data: the [`PageAction`]s
//! the views, the sources and the browser send in, and the [`Effect`]s the
//! page asks of the browser in return. The shell turns events into actions
//! and carries effects out; nothing else crosses between the page and the
//! browser.

use loopscope_runfile::Header;
use protocol::workshop::HostPush;
use protocol::{
    ClientBehaviour, Command, HandlerStyle, Micros, ServerMessage, ServerModel, ShutdownPolicy,
};

use crate::model::lesson::Pane;
use crate::model::recording::Recording;
use crate::model::scenario::SimSettings;
use crate::model::world::World;
use crate::sources::live::LinkStatus;

/// Which of the page's two runs: its own, or the one it is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// The page's own run.
    Main,
    /// The same scenario under a second model, side by side.
    Compared,
}

/// Where the world's events come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A lab on the relay that served the page.
    Live,
    /// The simulator in the page.
    Sim,
    /// A run saved earlier, opened from a file.
    Saved,
}

/// What the simulation's controls ask.
#[derive(Clone, Debug, PartialEq)]
pub enum SimAction {
    /// Play if paused, pause if playing.
    TogglePlay,
    /// Run one loop iteration.
    Step,
    /// Start again from these settings.
    Reset(SimSettings),
    /// Change the speed.
    Speed(f64),
    /// Connect this many clients of this behaviour, from now on.
    AddClients(&'static str, usize),
    /// Begin a graceful shutdown under this policy, with this grace period.
    Shutdown(ShutdownPolicy, Micros),
}

/// What the live lab's controls ask.
#[derive(Clone, Debug, PartialEq)]
pub enum LabAction {
    /// Restart the lab's server under this model (the compared lab keeps
    /// its own).
    SetModel(ServerModel),
    /// Restart both labs' servers with handlers that do this with an error.
    SetErrors(HandlerStyle),
    /// Restart the lab's server as it is (after it crashed or stopped).
    Restart,
    /// Pause, step or resume the loop.
    Pause,
    Step,
    Resume,
    /// Start clients against both labs.
    Spawn {
        /// How many.
        count: u32,
        /// What each does.
        behaviour: ClientBehaviour,
    },
    /// Shut both labs' servers down (the compared one under its model's
    /// nearest policy).
    Shutdown {
        /// The grace period.
        grace_ms: u32,
        /// The policy.
        policy: ShutdownPolicy,
    },
}

/// What the timeline asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeAction {
    /// Show the run after this many events.
    Seek(u64),
    /// One server loop iteration back.
    StepBack,
    /// One iteration on (towards now).
    StepForward,
    /// Show now.
    Now,
}

/// What the lesson panel asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LessonAction {
    /// Open the step numbered so (from 1), and load its scenario.
    Go(usize),
    /// The learner predicts this answer.
    Predict(usize),
    /// Run the step's scenario (again, from its start).
    Run,
    /// Point at the step's element again (switching to its pane).
    Look,
    /// Close the panel.
    Close,
}

/// The keys the page answers (not those typed into a field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// Space: play or pause.
    Space,
    /// →: step on.
    Right,
    /// ←: step back.
    Left,
    /// End: show now.
    End,
    /// n and p: the next and the previous step of the lesson.
    NextStep,
    PreviousStep,
    /// ?: the help, shown or hidden.
    Help,
    /// Escape: the help hidden.
    Escape,
}

/// A run opened from a file, read by the shell.
pub struct OpenedRun {
    /// The file's name.
    pub name: String,
    /// Its first line.
    pub header: Header,
    /// Its events, and the world at its end.
    pub recording: Recording,
    pub world: World,
}

/// Everything that can happen to the page.
pub enum PageAction {
    /// An animation frame: `elapsed_ms` of real time passed since the last,
    /// and the sources may take `share_ms` of this one.
    Frame {
        /// Real time since the last frame.
        elapsed_ms: f64,
        /// The frame's share for the sources' work.
        share_ms: f64,
    },
    /// The page was drawn: the lesson reads its proof, points at its
    /// element, starts what waited for the drawing.
    Rendered,
    /// A lab sent a message (or what was wrong with one).
    LabMessage(Which, Result<ServerMessage, String>),
    /// The page's link to its lab changed.
    LinkStatus(LinkStatus),
    /// The host's push changed (or there is none any more).
    HostPush(Option<HostPush>),
    /// The learner follows the host, or no longer.
    Follow(bool),
    /// A key was pressed.
    Key(Key),
    /// The simulation's controls.
    Sim(SimAction),
    /// The live lab's controls.
    Lab(LabAction),
    /// The timeline.
    Time(TimeAction),
    /// The lesson panel.
    Lesson(LessonAction),
    /// The lesson button: open the lesson where the learner is, or close it.
    ToggleLesson,
    /// A source tab.
    Choose(Source),
    /// Compare with a second model, or nothing.
    Compare(Option<ServerModel>),
    /// The shutdown policy chosen in the controls.
    Policy(ShutdownPolicy),
    /// The pane shown beside the lesson.
    Pane(Pane),
    /// The text size, in percent.
    TextSize(u32),
    /// The help shown or hidden.
    Help(bool),
    /// Save the run shown to a file.
    Save,
    /// Save one run's trace (for Perfetto) to a file.
    SaveTrace(Which),
    /// Play a saved run at its own pace, or pause it.
    Replay,
    /// A run file was opened.
    Opened(Box<OpenedRun>),
    /// A run file could not be opened: why.
    NotOpened(String),
    /// The problem with opening a file, read and dismissed.
    DismissProblem,
    /// "Open a new lab": the page loads again.
    Reload,
    /// Something the page itself could not do (save a file), for that
    /// run's log.
    Note(Which, String),
}

/// What the page asks of the browser: carried out by the shell, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send a command to a lab.
    Send(Which, Command),
    /// Open the compared lab (it greets, then runs `model` with `errors`).
    OpenComparedLab,
    /// Close the compared lab.
    CloseComparedLab,
    /// Replace the page's address (no new history entry) by this one: a
    /// query, or the bare path when `?`.
    SetAddress(String),
    /// Store the learner's progress (as JSON).
    StoreProgress(String),
    /// Store whether the learner follows the host.
    StoreFollowing(bool),
    /// Offer the page's run to save, under this header.
    Save(Header),
    /// Offer a run's trace to save.
    SaveTrace(Which),
    /// Mark the first element these selectors find as the one the lesson
    /// points at (and no other); scroll it into view if asked.
    PointAt {
        /// CSS selectors, most precise first.
        selectors: &'static [&'static str],
        /// Whether to bring it into view.
        scroll: bool,
    },
    /// Load the page again (a new lab).
    Reload,
}
