//! The tokio model's loop, shown as asyncio's: each time the lab's
//! one-thread runtime runs out of ready tasks it parks in epoll, which is
//! `select()` in `BaseSelectorEventLoop._run_once`, and each time it wakes,
//! the tasks the reactor woke meanwhile are the ready set, the loop goes on
//! to run them.
//!
//! What each event corresponds to, and where the analogy ends:
//!
//! * `loop_iteration`, `phase: select`, `select_called` come from the
//!   runtime's park hook (`on_thread_park`): `_run_once` calling
//!   `self._selector.select(timeout)` with nothing ready. The timeout is
//!   the time to the loop's next timer. The hook does not see tokio's
//!   timers, but the server has one alone, as the lesson's program has:
//!   a graceful shutdown's grace period (`asyncio.wait(tasks,
//!   timeout=grace)`), which runs on this loop; its deadline is reported
//!   (`shutdown` `draining`), so the timeout is the time left to it, and
//!   none before a shutdown, nor in one that waits for everyone with no
//!   deadline.
//! * `select_returned` and `phase: run` come from the unpark hook
//!   (`on_thread_unpark`): the reactor has turned the epoll events into
//!   wakes (each a `task_woken`), so the ready set is the sockets those
//!   tasks were suspended on (their last `task_waiting`); asyncio's
//!   `_process_events` plus the run of `_ready`.
//! * While tasks stay ready, tokio polls epoll without sleeping (every 61
//!   polls, and at a yield); those turns park nothing and are not counted
//!   as iterations. asyncio would count one `select(0)` each.
//! * `phase: timers` comes once, in the first wake at or after that
//!   deadline: the timer is due, and its callback (the end of the grace
//!   period) runs in that turn, as asyncio moves a due `_scheduled` handle
//!   to `_ready`. tokio's timers have millisecond resolution, so this turn
//!   may come up to a millisecond before the one the timer itself wakes;
//!   a `select()` in between is reported with timeout 0, as asyncio's
//!   would be with a timer due.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use protocol::{EventKind, IoOp, LoopPhase, Micros, Ready, ShutdownPhase, Sock, TaskId};

use crate::report::Report;

/// What the loop's tasks wait on, and which of them were woken since the
/// loop parked.
#[derive(Debug, Default)]
pub struct LoopWatch {
    state: Mutex<LoopState>,
}

#[derive(Debug, Default)]
struct LoopState {
    iteration: u64,
    waiting: HashMap<TaskId, (Sock, IoOp)>,
    /// A set: a loop kept busy never parks, and a task woken again and
    /// again is still one entry (so this is bounded by the lab's tasks,
    /// which its client cap bounds).
    woken: BTreeSet<TaskId>,
    /// The loop's one timer: the end of a shutdown's grace period, until
    /// the shutdown has gone past it (cancelling) or ended.
    timer: Option<Micros>,
    /// Whether a turn has already found that timer due.
    timer_due: bool,
}

impl LoopWatch {
    fn state(&self) -> std::sync::MutexGuard<'_, LoopState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes note of an event on its way: what a task suspends on, which
    /// task the reactor woke.
    pub fn observe(&self, kind: &EventKind) {
        match kind {
            EventKind::TaskWaiting { task, sock, op } => {
                self.state().waiting.insert(*task, (*sock, *op));
            }
            EventKind::TaskWoken { task } => {
                self.state().woken.insert(*task);
            }
            EventKind::TaskFinished { task, .. } => {
                self.state().waiting.remove(task);
            }
            EventKind::Shutdown {
                phase: ShutdownPhase::Draining { deadline },
            } => {
                let mut state = self.state();
                state.timer = Some(*deadline);
                state.timer_due = false;
            }
            // The timer's callback ran (cancelling), or everyone left
            // before the deadline and the wait cancelled its timer.
            EventKind::Shutdown {
                phase: ShutdownPhase::Cancelling | ShutdownPhase::Stopped,
            } => self.state().timer = None,
            _ => {}
        }
    }

    /// The runtime parks: no task is ready, the loop sleeps in epoll.
    pub fn parked(&self, probe: &impl Report) {
        let (iteration, timer) = {
            let mut state = self.state();
            state.iteration += 1;
            state.woken.clear();
            (state.iteration, state.timer)
        };
        probe.emit(EventKind::LoopIteration { iteration });
        probe.emit(EventKind::Phase {
            phase: LoopPhase::Select,
        });
        let timeout_us = timer.map(|deadline| deadline.saturating_sub(probe.now()));
        probe.emit(EventKind::SelectCalled { timeout_us });
    }

    /// The runtime wakes: the sockets of the tasks woken meanwhile are the
    /// ready set, and the loop runs them.
    pub fn unparked(&self, probe: &impl Report) {
        let (ready, timer_due) = {
            let mut state = self.state();
            // tokio's timers fire on the millisecond after their instant, so
            // the first turn at or past the deadline stands for the one the
            // timer wakes (at most a millisecond early); it is said once.
            let timer_due =
                !state.timer_due && state.timer.is_some_and(|deadline| probe.now() >= deadline);
            state.timer_due |= timer_due;
            let woken = std::mem::take(&mut state.woken);
            let mut ready: Vec<Ready> = woken
                .iter()
                .filter_map(|task| state.waiting.get(task))
                .map(|&(sock, op)| Ready { sock, op })
                .collect();
            ready.dedup();
            (ready, timer_due)
        };
        probe.emit(EventKind::SelectReturned { ready });
        if timer_due {
            probe.emit(EventKind::Phase {
                phase: LoopPhase::Timers,
            });
        }
        probe.emit(EventKind::Phase {
            phase: LoopPhase::Run,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Recorder;
    use protocol::ConnId;

    /// The grace period's timer: select() waits at most until it, the first
    /// turn past it is the timers phase (once), and after that the loop
    /// has no timer.
    #[test]
    fn the_grace_timer_bounds_select_and_is_due_once() {
        let probe = Recorder::default();
        let watch = LoopWatch::default();
        let far = probe.now() + 60_000_000;
        watch.observe(&EventKind::Shutdown {
            phase: ShutdownPhase::Draining { deadline: far },
        });
        watch.parked(&probe);
        watch.unparked(&probe);
        // The deadline is reached: the next turns find it due, once.
        watch.observe(&EventKind::Shutdown {
            phase: ShutdownPhase::Draining { deadline: 0 },
        });
        watch.parked(&probe);
        watch.unparked(&probe);
        watch.parked(&probe);
        watch.unparked(&probe);
        watch.observe(&EventKind::Shutdown {
            phase: ShutdownPhase::Cancelling,
        });
        watch.parked(&probe);
        let kinds = probe.take();
        let timeouts: Vec<Option<Micros>> = kinds
            .iter()
            .filter_map(|kind| match kind {
                EventKind::SelectCalled { timeout_us } => Some(*timeout_us),
                _ => None,
            })
            .collect();
        assert_eq!(timeouts.len(), 4);
        assert!(
            timeouts[0].is_some_and(|us| us > 59_000_000 && us <= 60_000_000),
            "{timeouts:?}"
        );
        assert_eq!(
            &timeouts[1..],
            [Some(0), Some(0), None],
            "due, due, then no timer"
        );
        let timers = kinds
            .iter()
            .filter(|kind| {
                matches!(
                    kind,
                    EventKind::Phase {
                        phase: LoopPhase::Timers
                    }
                )
            })
            .count();
        assert_eq!(timers, 1, "{kinds:?}");
    }

    /// Waiting for everyone has no deadline: the loop has no timer, and
    /// select() waits with no timeout.
    #[test]
    fn waiting_for_everyone_leaves_select_without_a_timeout() {
        let probe = Recorder::default();
        let watch = LoopWatch::default();
        for phase in [
            ShutdownPhase::StopAccepting,
            ShutdownPhase::WaitingForEveryone,
        ] {
            watch.observe(&EventKind::Shutdown { phase });
        }
        watch.parked(&probe);
        watch.unparked(&probe);
        let timeouts: Vec<Option<Micros>> = probe
            .take()
            .into_iter()
            .filter_map(|kind| match kind {
                EventKind::SelectCalled { timeout_us } => Some(timeout_us),
                _ => None,
            })
            .collect();
        assert_eq!(timeouts, [None]);
    }

    #[test]
    fn the_ready_set_is_what_the_woken_tasks_were_suspended_on() {
        let probe = Recorder::default();
        let watch = LoopWatch::default();
        let waiting = |task, conn, op| EventKind::TaskWaiting {
            task: TaskId(task),
            sock: Sock::Conn(ConnId(conn)),
            op,
        };
        watch.observe(&waiting(1, 1, IoOp::Read));
        watch.observe(&waiting(2, 2, IoOp::Write));
        watch.observe(&waiting(3, 3, IoOp::Read));
        watch.parked(&probe);
        watch.observe(&EventKind::TaskWoken { task: TaskId(2) });
        watch.observe(&EventKind::TaskWoken { task: TaskId(9) });
        let state = watch.state();
        let ready: Vec<_> = state
            .woken
            .iter()
            .filter_map(|task| state.waiting.get(task))
            .collect();
        assert_eq!(ready, [&(Sock::Conn(ConnId(2)), IoOp::Write)]);
        assert_eq!(state.iteration, 1);
        drop(state);
        // A loop that never parks again: a million wakes of one task keep
        // one entry, and a finished task is forgotten.
        for _ in 0..1_000_000 {
            watch.observe(&EventKind::TaskWoken { task: TaskId(1) });
        }
        watch.observe(&EventKind::TaskFinished {
            task: TaskId(3),
            conn: Some(ConnId(3)),
            outcome: protocol::TaskOutcome::Ok,
        });
        let state = watch.state();
        assert_eq!(state.woken.len(), 3, "tasks 1, 2 and 9");
        assert_eq!(state.waiting.len(), 2);
    }
}
