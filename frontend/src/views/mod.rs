//! The views: small function components that take slices of the page as
//! props and send [`PageAction`]s up through callbacks, and [`layout`],
//! which lays the page out from the [`Page`]. None of them owns business
//! state or talks to a lab.

mod code_listing;
mod comparison;
mod counters;
mod event_log;
mod help;
mod lab_panel;
mod lanes;
pub mod layout;
mod lesson_panel;
mod loop_cycle;
mod measured;
mod no_relay;
mod number_field;
mod saved_run;
mod selector_table;
mod shutdown_control;
pub mod sim_controls;
mod status;
pub mod timeline;
pub mod windowing;

pub use code_listing::CodeListing;
pub use comparison::Comparison;
pub use counters::CountersView;
pub use event_log::EventLog;
pub use help::HelpOverlay;
pub use lab_panel::LabPanel;
pub use lanes::TaskLanes;
pub use lesson_panel::LessonPanel;
pub use loop_cycle::LoopCycle;
pub use no_relay::NoRelayNotice;
pub use selector_table::SelectorTable;
pub use shutdown_control::ShutdownControl;
pub use sim_controls::SimControls;
pub use status::StatusBadge;
pub use timeline::Timeline;

use std::cell::{Ref, RefCell};
use std::rc::Rc;

use yew::Callback;

use crate::model::recording::Recording;
use crate::model::world::World;
use crate::page::{Page, PageAction, Which};

/// One of the page's runs, as a view reads it while it draws: `frame`
/// tells one drawing from the next (a view draws again only when it
/// changes), and the view can send the page an action.
#[derive(Clone)]
pub struct RunView {
    page: Rc<RefCell<Page>>,
    which: Which,
    frame: u64,
    dispatch: Callback<PageAction>,
}

impl PartialEq for RunView {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.page, &other.page)
            && self.which == other.which
            && self.frame == other.frame
    }
}

impl RunView {
    /// The run `which` of `page`, at drawing `frame`.
    pub fn new(
        page: &Rc<RefCell<Page>>,
        which: Which,
        frame: u64,
        dispatch: &Callback<PageAction>,
    ) -> RunView {
        RunView {
            page: Rc::clone(page),
            which,
            frame,
            dispatch: dispatch.clone(),
        }
    }

    /// Which run it is.
    pub fn which(&self) -> Which {
        self.which
    }

    /// Its world, at the moment shown.
    pub fn world(&self) -> Ref<'_, World> {
        Ref::map(self.page.borrow(), |page| &page.runs.get(self.which).world)
    }

    /// Its recording: its log and its events.
    pub fn recording(&self) -> Ref<'_, Recording> {
        Ref::map(self.page.borrow(), |page| {
            &page.runs.get(self.which).recording
        })
    }

    /// Sends the page an action.
    pub fn act(&self, action: PageAction) {
        self.dispatch.emit(action);
    }
}
