//! The lesson's words: one or two plain sentences for what the server is
//! doing right now, shown where the eye already is (beside the loop), and
//! the server's life (running, shutting down, stopped, crashed) that the
//! ring, the card and the controls all follow. Pure: a function of a
//! [`Moment`], which is read off the [`World`] the other views show, so
//! the card never tells a different story from the ring and the lanes.

use loopscope_sim::Listing;
use protocol::{Call, HandlerStyle, LoopPhase, ServerModel, ShutdownPhase, Sock};

use crate::world::{TaskState, World};

/// Where the server is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Life {
    /// Serving.
    Running,
    /// A shutdown began: the listener is closed, the rest may finish.
    ShuttingDown,
    /// It shut down.
    Stopped,
    /// An error nothing caught ended it.
    Crashed,
}

impl Life {
    /// Where the server `world` shows is in its life (cheaper than a whole
    /// [`Moment`], for the controls).
    pub fn of(world: &World) -> Life {
        Life::from_parts(world.crashed.is_some(), world.shutdown)
    }

    fn from_parts(crashed: bool, shutdown: Option<ShutdownPhase>) -> Life {
        if crashed {
            Life::Crashed
        } else {
            match shutdown {
                None => Life::Running,
                Some(ShutdownPhase::Stopped) => Life::Stopped,
                Some(_) => Life::ShuttingDown,
            }
        }
    }

    /// Whether the server is gone, so that nothing can connect to it.
    pub fn is_over(self) -> bool {
        matches!(self, Life::Stopped | Life::Crashed)
    }

    /// Why an action that needs the server cannot be taken now, if so.
    pub fn why_not(self) -> Option<&'static str> {
        match self {
            Life::Running => None,
            Life::ShuttingDown => Some("The server is shutting down: it accepts no new clients."),
            Life::Stopped => Some("The server has shut down: nothing listens any more."),
            Life::Crashed => Some("The server crashed: nothing listens any more."),
        }
    }
}

/// What the words depend on at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Moment {
    /// The model.
    pub model: ServerModel,
    /// Which variant of its program runs.
    pub errors: HandlerStyle,
    /// The loop's phase.
    pub phase: Option<LoopPhase>,
    /// The blocking call the thread is parked in.
    pub parked: Option<(Call, Sock)>,
    /// The error that killed the server.
    pub crashed: Option<String>,
    /// How far a shutdown has got.
    pub shutdown: Option<ShutdownPhase>,
    /// Lanes whose task is ready to run.
    pub ready_tasks: usize,
    /// Errors no handler caught so far.
    pub unhandled_errors: u64,
}

impl Moment {
    /// The moment `world` shows, the server running `model`.
    pub fn of(model: ServerModel, world: &World) -> Moment {
        Moment {
            model,
            errors: world.errors,
            phase: world.phase,
            parked: world.parked,
            crashed: world.crashed.clone(),
            shutdown: world.shutdown,
            ready_tasks: world
                .connections
                .values()
                .filter(|connection| connection.state == TaskState::Ready)
                .count(),
            unhandled_errors: world.counters.errors_unhandled,
        }
    }

    /// Where the server is in its life.
    pub fn life(&self) -> Life {
        Life::from_parts(self.crashed.is_some(), self.shutdown)
    }

    /// The ring's phase to light: none once the server is gone.
    pub fn lit_phase(&self) -> Option<LoopPhase> {
        if self.life().is_over() {
            None
        } else {
            self.phase
        }
    }
}

/// The phases of a model's loop as its ring draws them: the phase, its
/// key, and what it is in the words of the model's listing. `selector.py`
/// has no timers; asyncio's loop (inside `asyncio.run`) has.
pub fn ring_phases(model: ServerModel) -> &'static [(LoopPhase, &'static str, &'static str)] {
    match model {
        ServerModel::Selector => &[
            (
                LoopPhase::Select,
                "select",
                "selector.select(): sleep until a registered socket is ready",
            ),
            (
                LoopPhase::Run,
                "callbacks",
                "callback(key.fileobj): run the callback of each ready socket",
            ),
        ],
        _ => &[
            (
                LoopPhase::Select,
                "select",
                "select(): sleep until a socket some task awaits is ready",
            ),
            (
                LoopPhase::ReadyEvents,
                "ready",
                "ready events: wake the tasks whose sockets are ready",
            ),
            (
                LoopPhase::Run,
                "run",
                "run: resume each ready task until its next await",
            ),
            (
                LoopPhase::Timers,
                "timers",
                "timers: run the callbacks that are due (asyncio.wait's timeout)",
            ),
        ],
    }
}

/// What the server is doing, in a sentence or two. `restart` names the
/// control that starts a stopped server again.
pub fn explain(moment: &Moment, restart: &str) -> String {
    let file = Listing::of(moment.model, moment.errors).file;
    match moment.life() {
        Life::Crashed => {
            let error = moment.crashed.as_deref().unwrap_or_default();
            let error = crate::world::wording::python_error(error);
            return format!(
                "The server crashed: {error} escaped, because {file} has no \
                 except ConnectionError, and the program ended. Every client lost its \
                 connection and nobody can connect. {restart} starts it again."
            );
        }
        Life::Stopped => {
            return format!(
                "The server has shut down: the listener is closed and every connection has \
                 ended, so nobody can connect. {restart} starts it again."
            );
        }
        Life::ShuttingDown => {
            let rest = if moment.model == ServerModel::AsyncTasks {
                "the tasks still running are cancelled"
            } else {
                "the connections still open are closed"
            };
            let now = match moment.shutdown {
                Some(ShutdownPhase::Cancelling) => {
                    format!("The grace period is over: {rest}.")
                }
                _ => format!(
                    "The clients in flight may finish until the grace period ends; then {rest}."
                ),
            };
            return format!(
                "Shutting down: the listener is closed, so no new client gets in. {now}"
            );
        }
        Life::Running => {}
    }
    match moment.model {
        ServerModel::Blocking => match moment.parked {
            Some((Call::Accept, _)) => {
                "The only thread is parked in accept(): it waits for a client and can do \
                 nothing else. CPU 0%."
                    .into()
            }
            Some((Call::Recv, sock)) => format!(
                "The only thread is parked in recv() on {sock}: until that client sends or leaves, \
                 every other client waits in the listen backlog."
            ),
            Some((Call::Send, sock)) => format!(
                "The only thread is parked in sendall() on {sock}: its send buffer is full, so it \
                 waits for that client to read."
            ),
            None => "The thread runs: it has just returned from a blocking call and handles its \
                 result before blocking again."
                .into(),
        },
        ServerModel::BusyPoll => {
            "Every socket is non-blocking and the loop tries them all, again and again: \
             every client is served, but each try with nothing to do raises BlockingIOError \
             (a wasted would-block), and the CPU stays at 100% even when nobody sends."
                .into()
        }
        ServerModel::Selector => match moment.phase {
            Some(LoopPhase::Run) => {
                "selector.select() returned the ready set; the loop calls the callback \
                 registered for each ready socket (accept, receive or send). A callback must \
                 not block: a slow one delays everyone."
                    .into()
            }
            _ => "selector.select() sleeps until one of the registered sockets is ready: no \
                  CPU while nobody sends."
                .into(),
        },
        ServerModel::AsyncTasks => match moment.phase {
            Some(LoopPhase::Select) | None if moment.ready_tasks > 0 => {
                "A task is ready to run, so select() only polls (timeout 0) and does not \
                 sleep: the ready tasks run next."
                    .into()
            }
            Some(LoopPhase::Select) | None => {
                "No task can run: the loop sleeps in select() until a socket some \
                 task awaits is ready."
                    .into()
            }
            Some(LoopPhase::ReadyEvents) => {
                "select() returned: each task waiting on a ready socket is woken, \
                 moved to the ready queue."
                    .into()
            }
            Some(LoopPhase::Run) => {
                "The loop resumes each ready task in turn; a task runs until an await \
                 finds its socket not ready, and suspends there."
                    .into()
            }
            Some(LoopPhase::Timers) => {
                let late =
                    if moment.errors == HandlerStyle::Unhandled && moment.unhandled_errors > 0 {
                        " A failed task nobody awaited is reported late, when it is dropped: \
                     \"Task exception was never retrieved\"."
                    } else {
                        ""
                    };
                format!(
                    "Timers and callbacks that are due run (asyncio.wait's timeout is one); \
                     then the next iteration.{late}"
                )
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ConnId;

    fn moment(model: ServerModel) -> Moment {
        Moment {
            model,
            errors: HandlerStyle::Handled,
            phase: None,
            parked: None,
            crashed: None,
            shutdown: None,
            ready_tasks: 0,
            unhandled_errors: 0,
        }
    }

    #[test]
    fn the_blocking_server_names_the_call_and_socket_it_is_parked_on() {
        let text = explain(
            &Moment {
                parked: Some((Call::Recv, Sock::Conn(ConnId(3)))),
                ..moment(ServerModel::Blocking)
            },
            "Reset",
        );
        assert!(
            text.contains("recv() on conn#3") && text.contains("backlog"),
            "{text}"
        );
    }

    #[test]
    fn every_phase_of_the_async_loop_has_its_own_words() {
        let texts: std::collections::HashSet<String> = ring_phases(ServerModel::AsyncTasks)
            .iter()
            .map(|(phase, ..)| {
                explain(
                    &Moment {
                        phase: Some(*phase),
                        ..moment(ServerModel::AsyncTasks)
                    },
                    "Reset",
                )
            })
            .collect();
        assert_eq!(texts.len(), 4);
    }

    #[test]
    fn a_crashed_server_is_told_as_crashed_whatever_its_phase_was() {
        let text = explain(
            &Moment {
                phase: Some(LoopPhase::Run),
                crashed: Some("Connection reset by peer (os error 104)".into()),
                errors: HandlerStyle::Unhandled,
                ..moment(ServerModel::Selector)
            },
            "Reset",
        );
        assert!(text.starts_with("The server crashed"), "{text}");
        assert!(text.contains("ConnectionResetError"), "{text}");
        assert!(text.contains("selector_unhandled.py"), "{text}");
        assert!(!text.contains("callback"), "{text}");
    }
}

#[cfg(test)]
mod consistency;
