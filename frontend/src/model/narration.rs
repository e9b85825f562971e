//! The lesson's words: one or two plain sentences for what the server is
//! doing right now, shown where the eye already is (beside the loop), and
//! the server's life (running, shutting down, stopped, crashed) that the
//! ring, the card and the controls all follow. Pure: a function of a
//! [`Moment`], which is read off the [`World`] the other views show, so
//! the card never tells a different story from the ring and the lanes.
//!
//! A shutdown is told under the policy in force, which the world reads off
//! the shutdown's phases (a live server's as well as the simulator's), in
//! the words of that policy's branch of the listing; a figure the card
//! gives (the CPU, a grace period) is the world's measurement, never a
//! number the card assumes. The countdown over the lanes is worded here
//! too ([`countdown`]), beside the card it must agree with.

use loopscope_sim::Listing;
use protocol::{
    Call, HandlerStyle, LoopPhase, Micros, ServerModel, ShutdownPhase, ShutdownPolicy, Sock,
};

use crate::model::latency::human;
use crate::model::world::{TaskState, World};

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
    /// The policy the shutdown runs under, once its phases have told it
    /// ([`World::shutdown_policy`]).
    pub policy: Option<ShutdownPolicy>,
    /// The grace period it gives, when its policy gives one.
    pub grace: Option<Micros>,
    /// Clients that read the server's goodbye line before their end.
    pub told_goodbye: u64,
    /// How busy the server's thread was in the last window, in ‰, once
    /// measured: the CPU counter's number.
    pub cpu_permille: Option<u32>,
    /// Lanes whose task is ready to run.
    pub ready_tasks: usize,
    /// Registered sockets the last `select()` returned ready.
    pub ready_sockets: usize,
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
            policy: world.shutdown_policy,
            grace: world.grace(),
            told_goodbye: world.counters.told_goodbye,
            cpu_permille: world.counters.cpu_permille,
            ready_tasks: world
                .connections
                .values()
                .filter(|connection| connection.state == TaskState::Ready)
                .count(),
            ready_sockets: world
                .sockets
                .values()
                .filter(|row| row.ready && !row.closed)
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

/// A CPU share as the counter shows it: `97%`.
fn percent(permille: u32) -> String {
    format!("{}%", permille / 10)
}

/// The grace period in words: `2.00 s of grace`, or `the grace period`
/// when its length is not known.
fn grace_words(grace: Option<Micros>) -> String {
    grace.map_or_else(
        || "the grace period".to_owned(),
        |grace| format!("{} of grace", human(grace)),
    )
}

/// What the server is doing, in a sentence or two. `restart` names the
/// control that starts a stopped server again.
pub fn explain(moment: &Moment, restart: &str) -> String {
    let file = Listing::of(moment.model, moment.errors).file;
    match moment.life() {
        Life::Crashed => {
            let error = moment.crashed.as_deref().unwrap_or_default();
            let error = crate::model::world::wording::python_error(error);
            return format!(
                "The server crashed: {error} escaped, because {file} has no \
                 except ConnectionError, and the program ended. Every client lost its \
                 connection and nobody can connect. {restart} starts it again."
            );
        }
        Life::Stopped => {
            let how = match shut_down_how(moment) {
                Some(how) => format!(" {how}"),
                None => String::new(),
            };
            return format!(
                "The server has shut down: the listener is closed and every connection has \
                 ended, so nobody can connect.{how} {restart} starts it again."
            );
        }
        Life::ShuttingDown => {
            let closed = if moment.model == ServerModel::AsyncTasks {
                "acceptor.cancel() and server.close() closed the listener"
            } else {
                "server.close() closed the listener"
            };
            let now = match shutting_down_now(moment) {
                Some(now) => format!(" {now}"),
                None => String::new(),
            };
            return format!("Shutting down: {closed}, so no new client gets in.{now}");
        }
        Life::Running => {}
    }
    match moment.model {
        ServerModel::Blocking => match moment.parked {
            // Parked, the thread takes no CPU; the counter's window may
            // still hold the work done before it parked, so the number is
            // given as the counter's, not as the parked thread's.
            Some((Call::Accept, _)) => format!(
                "The only thread is parked in accept(): it waits for a client and can do \
                 nothing else. A parked thread takes no CPU while it waits ({}).",
                match moment.cpu_permille {
                    Some(cpu) => format!("the CPU counter, over its last window: {}", percent(cpu)),
                    None => "no CPU measurement yet".to_owned(),
                }
            ),
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
        // The loop never sleeps, so it takes all the CPU it is given: a
        // whole core on an idle machine, less where other work comes
        // first (a live lab runs it at idle priority). The number is the
        // measured one.
        ServerModel::BusyPoll => {
            let measured = match moment.cpu_permille {
                Some(cpu) if cpu >= 900 => format!("here {}", percent(cpu)),
                Some(cpu) => format!(
                    "here {}: less than a core only because other work on the machine \
                     comes first",
                    percent(cpu)
                ),
                None => "no CPU measurement yet".to_owned(),
            };
            format!(
                "Every socket is non-blocking and the loop tries them all, again and again: \
                 every client is served, but each try with nothing to do raises BlockingIOError \
                 (a wasted would-block), and the loop never sleeps: it spins a whole core while \
                 it runs, even when nobody sends ({measured})."
            )
        }
        ServerModel::Selector => match moment.phase {
            Some(LoopPhase::Run) if moment.ready_sockets == 0 => {
                "selector.select() returned with no socket ready: there is no callback to \
                 call this time round, and the loop goes back to select()."
                    .into()
            }
            Some(LoopPhase::Run) => {
                "selector.select() returned the ready set; the loop calls the callback \
                 registered for each ready socket (accept, receive or send). A callback must \
                 not block: a slow one delays everyone."
                    .into()
            }
            _ => format!(
                "selector.select() sleeps until one of the registered sockets is ready: asleep, \
                 the thread takes no CPU, so what it uses goes to the callbacks ({}).",
                match moment.cpu_permille {
                    Some(cpu) => format!("here {} in the last window", percent(cpu)),
                    None => "no CPU measurement yet".to_owned(),
                }
            ),
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

/// What a shutdown under way does now, after the listener closed, in the
/// words of the listing's branch for the policy in force: `None` in the
/// instant before the phase that tells the policy. A grace period is
/// spoken of only under the policy that gives one.
fn shutting_down_now(moment: &Moment) -> Option<String> {
    let grace = grace_words(moment.grace);
    let text = match moment.model {
        ServerModel::AsyncTasks => match (moment.shutdown?, moment.policy) {
            (ShutdownPhase::StopAccepting, _) | (ShutdownPhase::Stopped, _) => return None,
            (ShutdownPhase::Draining { .. }, _) => format!(
                "asyncio.wait(tasks, timeout=grace) lets the tasks still running finish within \
                 the {grace}; then task.cancel() cancels each one still running."
            ),
            (ShutdownPhase::Cancelling, Some(ShutdownPolicy::GraceThenCancel)) => {
                "The grace period is over: task.cancel() cancels each task still running, and \
                 asyncio.gather() waits until they have ended."
                    .to_owned()
            }
            (ShutdownPhase::Cancelling, Some(ShutdownPolicy::NotifyFirst)) => {
                "Goodbye said: task.cancel() now closes each connection, and asyncio.gather() \
                 waits until the tasks have ended."
                    .to_owned()
            }
            (ShutdownPhase::Cancelling, _) => {
                "Cancel at once: task.cancel() cancels every task at once, mid-conversation, \
                 and asyncio.gather() waits until they have ended."
                    .to_owned()
            }
            (ShutdownPhase::WaitingForEveryone, _) => {
                "Wait for everyone: asyncio.gather(*tasks) waits until every task has ended \
                 by itself, with no deadline and nothing cancelled: a client that never leaves \
                 keeps the server running."
                    .to_owned()
            }
            (ShutdownPhase::Notifying, _) => {
                "Say goodbye: client.send(GOODBYE) writes \"server shutting down, goodbye\" to \
                 each client still connected, never waiting for room (a client that reads \
                 nothing misses it); then task.cancel() closes it."
                    .to_owned()
            }
        },
        // The thread-based programs have one way to shut down: a grace
        // period, then the connections still open are closed.
        ServerModel::Blocking => match moment.shutdown? {
            ShutdownPhase::Draining { .. } => format!(
                "signal.setitimer(signal.ITIMER_REAL, grace) lets the client being served \
                 finish within the {grace}; then GraceOver is raised and `with client:` \
                 closes its connection."
            ),
            ShutdownPhase::Cancelling => "The grace period is over: GraceOver is raised in the \
                 thread, and `with client:` closes the connection still served."
                .to_owned(),
            _ => return None,
        },
        ServerModel::Selector => match moment.shutdown? {
            ShutdownPhase::Draining { .. } => format!(
                "deadline = time.monotonic() + grace: the clients may finish within the {grace}, \
                 selector.select() waking by then at the latest; then key.fileobj.close() \
                 closes each socket still registered."
            ),
            ShutdownPhase::Cancelling => "The grace period is over: key.fileobj.close() closes \
                 each socket still registered."
                .to_owned(),
            _ => return None,
        },
        ServerModel::BusyPoll => match moment.shutdown? {
            ShutdownPhase::Draining { .. } => format!(
                "deadline = time.monotonic() + grace: the loop goes on trying the clients, \
                 which may finish within the {grace}; then client.close() closes each one \
                 still open."
            ),
            ShutdownPhase::Cancelling => "The grace period is over: client.close() closes each \
                 connection still open."
                .to_owned(),
            _ => return None,
        },
    };
    Some(text)
}

/// How a finished shutdown went, under the policy it ran: `None` when its
/// phases never told the policy.
fn shut_down_how(moment: &Moment) -> Option<String> {
    let grace = grace_words(moment.grace);
    let asyncio = moment.model == ServerModel::AsyncTasks;
    let text = match moment.policy? {
        ShutdownPolicy::GraceThenCancel if asyncio => format!(
            "asyncio.wait() gave the tasks the {grace}; any still running at its end were \
             cancelled (task.cancel())."
        ),
        ShutdownPolicy::GraceThenCancel => {
            format!("The clients had the {grace}; any connection still open at its end was closed.")
        }
        ShutdownPolicy::CancelAtOnce => {
            "Every task still running was cancelled at once (task.cancel()).".to_owned()
        }
        ShutdownPolicy::WaitForEveryone => {
            "asyncio.gather() waited until every task had ended by itself.".to_owned()
        }
        ShutdownPolicy::NotifyFirst => {
            let read = match moment.told_goodbye {
                0 => String::new(),
                1 => ": 1 client read its goodbye first".to_owned(),
                told => format!(": {told} clients read its goodbye first"),
            };
            format!("Each client still connected was sent the goodbye line, then closed{read}.")
        }
    };
    Some(text)
}

/// The countdown over the lanes while a shutdown goes on, and once it is
/// over: what the lanes have left, under the policy in force, in the
/// card's terms (a deadline only under a grace period). `None` before a
/// shutdown.
pub fn countdown(world: &World) -> Option<String> {
    let asyncio = world.model == Some(ServerModel::AsyncTasks);
    let text = match world.shutdown? {
        ShutdownPhase::StopAccepting => "Shutting down: no new connections".to_owned(),
        ShutdownPhase::Draining { deadline } => format!(
            "Shutting down: {} in {}",
            if asyncio {
                "what still runs is cancelled"
            } else {
                "what is still open is closed"
            },
            human(deadline.saturating_sub(world.now))
        ),
        ShutdownPhase::WaitingForEveryone => {
            "Shutting down: waiting for every client to leave, with no deadline".to_owned()
        }
        ShutdownPhase::Notifying => "Shutting down: saying goodbye to each client".to_owned(),
        ShutdownPhase::Cancelling => match world.shutdown_policy {
            Some(ShutdownPolicy::GraceThenCancel) if !asyncio => {
                "Shutting down: the grace period is over, closing what is still open".to_owned()
            }
            Some(ShutdownPolicy::GraceThenCancel) => {
                "Shutting down: the grace period is over, cancelling what still runs".to_owned()
            }
            Some(ShutdownPolicy::NotifyFirst) => {
                "Shutting down: goodbye said, closing every connection".to_owned()
            }
            _ => "Shutting down: cancelling every task at once".to_owned(),
        },
        ShutdownPhase::Stopped => match world.counters.told_goodbye {
            0 => "Server stopped".to_owned(),
            1 => "Server stopped: 1 client read its goodbye first".to_owned(),
            told => format!("Server stopped: {told} clients read its goodbye first"),
        },
    };
    Some(text)
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
            policy: None,
            grace: None,
            told_goodbye: 0,
            cpu_permille: None,
            ready_tasks: 0,
            ready_sockets: 0,
            unhandled_errors: 0,
        }
    }

    #[test]
    fn the_selector_names_a_callback_only_when_a_socket_is_ready() {
        let running = |ready_sockets| {
            explain(
                &Moment {
                    phase: Some(LoopPhase::Run),
                    ready_sockets,
                    ..moment(ServerModel::Selector)
                },
                "Reset",
            )
        };
        let empty = running(0);
        assert!(!empty.contains("calls the callback"), "{empty}");
        assert!(empty.contains("no socket ready"), "{empty}");
        let ready = running(2);
        assert!(ready.contains("calls the callback"), "{ready}");
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

    /// The share the card gives: the digits before its `%`, with it.
    fn share_in(card: &str) -> Option<String> {
        let at = card.find('%')?;
        let digits: String = card[..at]
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        (!digits.is_empty()).then(|| format!("{digits}%"))
    }

    /// A world running `model` whose CPU counter has measured
    /// `busy_us` out of each millisecond, if given.
    fn measured(model: ServerModel, busy_us: Option<u64>) -> World {
        let mut world = World::default();
        let mut kinds = vec![protocol::EventKind::Listening {
            addr: "127.0.0.1:1".into(),
            model,
            errors: HandlerStyle::Handled,
        }];
        if let Some(busy_us) = busy_us {
            kinds.push(protocol::EventKind::Cpu {
                busy_us,
                window_us: 1_000,
            });
        }
        if model == ServerModel::Blocking {
            kinds.push(protocol::EventKind::CallBlocked {
                call: Call::Accept,
                sock: Sock::Listener,
            });
        }
        for kind in kinds {
            world.apply(&protocol::Event { at: 0, kind });
        }
        world
    }

    /// Where the card gives the CPU, the number is the world's, as the CPU
    /// counter shows it; with no measurement yet, the card gives none.
    #[test]
    fn the_cpu_the_card_gives_is_the_counter_s_measurement_or_none() {
        for model in [
            ServerModel::Blocking,
            ServerModel::BusyPoll,
            ServerModel::Selector,
        ] {
            for busy_us in [0, 3, 397, 968, 1_000] {
                let world = measured(model, Some(busy_us));
                let card = explain(&Moment::of(model, &world), "Reset");
                let shown = crate::model::numbers::cpu_text(&world.counters);
                // One share, the measured one.
                assert_eq!(card.matches('%').count(), 1, "{model:?}: {card}");
                assert_eq!(
                    share_in(&card).as_deref(),
                    Some(shown.as_str()),
                    "{model:?}: {card}"
                );
            }
            let world = measured(model, None);
            let card = explain(&Moment::of(model, &world), "Reset");
            assert!(!card.contains('%'), "{model:?}: {card}");
            assert!(card.contains("no CPU measurement yet"), "{model:?}: {card}");
        }
    }

    /// Busy polling spins a whole core while it runs; a live lab on a busy
    /// machine (idle priority) measures less, and the card says why
    /// rather than claiming 100%.
    #[test]
    fn busy_polling_is_told_with_the_share_it_got() {
        let card = |busy_us| {
            let world = measured(ServerModel::BusyPoll, Some(busy_us));
            explain(&Moment::of(ServerModel::BusyPoll, &world), "Reset")
        };
        let idle_machine = card(970);
        assert!(idle_machine.contains("here 97%"), "{idle_machine}");
        assert!(!idle_machine.contains("less than a core"), "{idle_machine}");
        let busy_machine = card(400);
        assert!(
            busy_machine.contains("here 40%") && busy_machine.contains("less than a core"),
            "{busy_machine}"
        );
        assert!(busy_machine.contains("spins a whole core while it runs"));
    }

    /// A parked thread and a sleeping selector take no CPU; the card does
    /// not say the counter reads 0% when the counter says otherwise.
    #[test]
    fn a_parked_or_sleeping_server_is_not_told_at_a_cpu_it_was_not_measured_at() {
        let world = measured(ServerModel::Blocking, Some(120));
        let card = explain(&Moment::of(ServerModel::Blocking, &world), "Reset");
        assert!(card.contains("parked in accept()"), "{card}");
        assert_eq!(share_in(&card).as_deref(), Some("12%"), "{card}");
        let world = measured(ServerModel::Selector, Some(30));
        let card = explain(&Moment::of(ServerModel::Selector, &world), "Reset");
        assert!(
            card.contains("takes no CPU") && card.contains("here 3%"),
            "{card}"
        );
    }

    /// Each phase of each policy has its own words: no two moments of a
    /// shutdown read the same, so the card follows the shutdown as the
    /// countdown does.
    #[test]
    fn every_phase_of_every_policy_has_its_own_words() {
        use ShutdownPhase as Phase;
        use ShutdownPolicy as Policy;
        let cases = [
            (
                Policy::GraceThenCancel,
                Phase::Draining {
                    deadline: 2_000_000,
                },
            ),
            (Policy::GraceThenCancel, Phase::Cancelling),
            (Policy::GraceThenCancel, Phase::Stopped),
            (Policy::CancelAtOnce, Phase::Cancelling),
            (Policy::CancelAtOnce, Phase::Stopped),
            (Policy::WaitForEveryone, Phase::WaitingForEveryone),
            (Policy::WaitForEveryone, Phase::Stopped),
            (Policy::NotifyFirst, Phase::Notifying),
            (Policy::NotifyFirst, Phase::Cancelling),
            (Policy::NotifyFirst, Phase::Stopped),
        ];
        let texts: std::collections::HashSet<String> = cases
            .iter()
            .map(|(policy, phase)| {
                explain(
                    &Moment {
                        shutdown: Some(*phase),
                        policy: Some(*policy),
                        grace: (*policy == Policy::GraceThenCancel).then_some(2_000_000),
                        ..moment(ServerModel::AsyncTasks)
                    },
                    "Reset",
                )
            })
            .collect();
        assert_eq!(texts.len(), cases.len());
        // The grace period's length is the world's.
        let draining = explain(
            &Moment {
                shutdown: Some(Phase::Draining {
                    deadline: 1_500_000,
                }),
                policy: Some(Policy::GraceThenCancel),
                grace: Some(1_500_000),
                ..moment(ServerModel::AsyncTasks)
            },
            "Reset",
        );
        assert!(draining.contains("1.50 s of grace"), "{draining}");
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
mod agreement;
