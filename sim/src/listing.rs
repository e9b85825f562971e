//! The Python programs the simulation follows, one per model, and the lines
//! it lights as it steps.
//!
//! The programs live in `sim/python/` and are real: a test runs each against
//! real TCP clients. A model names the lines it runs by a piece of their
//! code (an anchor); [`Listing::line`] finds the line, and a test checks that
//! every anchor is found exactly once, so editing a program cannot silently
//! break the highlighting.

use protocol::ServerModel;

/// A model's Python program.
#[derive(Clone, Copy, Debug)]
pub struct Listing {
    /// The file name in `sim/python/`.
    pub file: &'static str,
    /// The program.
    pub source: &'static str,
}

impl Listing {
    /// The program for `model`.
    pub fn of(model: ServerModel) -> Listing {
        let (file, source) = match model {
            ServerModel::Blocking => ("blocking.py", include_str!("../python/blocking.py")),
            ServerModel::BusyPoll => ("busy_poll.py", include_str!("../python/busy_poll.py")),
            ServerModel::Selector => ("selector.py", include_str!("../python/selector.py")),
            ServerModel::AsyncTasks => ("async_tasks.py", include_str!("../python/async_tasks.py")),
        };
        Listing { file, source }
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
