//! The Python programs the simulation follows, two per model (a client's
//! error handled by `except ConnectionError`, or not), and the lines it
//! lights as it steps.
//!
//! The programs live in `sim/python/` and are real: a test runs each against
//! real TCP clients and checks that it survives or dies of a reset client as
//! the simulation says. A model names the lines it runs by a piece of their
//! code (an anchor); [`Listing::line`] finds the line, and a test checks that
//! every anchor is found exactly once, so editing a program cannot silently
//! break the highlighting.

use protocol::{HandlerStyle, ServerModel};

/// A model's Python program.
#[derive(Clone, Copy, Debug)]
pub struct Listing {
    /// The file name in `sim/python/`.
    pub file: &'static str,
    /// The program.
    pub source: &'static str,
}

impl Listing {
    /// The program for `model` whose handlers do `errors` with a client's
    /// error.
    pub fn of(model: ServerModel, errors: HandlerStyle) -> Listing {
        use HandlerStyle::{Handled, Unhandled};
        let (file, source) = match (model, errors) {
            (ServerModel::Blocking, Handled) => {
                ("blocking.py", include_str!("../python/blocking.py"))
            }
            (ServerModel::Blocking, Unhandled) => (
                "blocking_unhandled.py",
                include_str!("../python/blocking_unhandled.py"),
            ),
            (ServerModel::BusyPoll, Handled) => {
                ("busy_poll.py", include_str!("../python/busy_poll.py"))
            }
            (ServerModel::BusyPoll, Unhandled) => (
                "busy_poll_unhandled.py",
                include_str!("../python/busy_poll_unhandled.py"),
            ),
            (ServerModel::Selector, Handled) => {
                ("selector.py", include_str!("../python/selector.py"))
            }
            (ServerModel::Selector, Unhandled) => (
                "selector_unhandled.py",
                include_str!("../python/selector_unhandled.py"),
            ),
            (ServerModel::AsyncTasks, Handled) => {
                ("async_tasks.py", include_str!("../python/async_tasks.py"))
            }
            (ServerModel::AsyncTasks, Unhandled) => (
                "async_tasks_unhandled.py",
                include_str!("../python/async_tasks_unhandled.py"),
            ),
        };
        Listing { file, source }
    }

    /// Whether the program has a line containing `text`.
    pub fn has(&self, text: &str) -> bool {
        self.source.contains(text)
    }

    /// The 1-based number of the first line containing `anchor`.
    ///
    /// # Panics
    /// When no line contains it: a model and its program disagree, which
    /// the listing tests catch.
    pub fn line(&self, anchor: &str) -> u32 {
        self.lines_with(anchor)
            .next()
            .unwrap_or_else(|| panic!("{} has no line with {anchor:?}", self.file))
    }

    /// Every line containing `anchor`.
    pub fn lines_with<'a>(&'a self, anchor: &'a str) -> impl Iterator<Item = u32> + 'a {
        self.source
            .lines()
            .enumerate()
            .filter(move |(_, line)| line.contains(anchor))
            .map(|(index, _)| index as u32 + 1)
    }
}
