//! One story, two sources: the same scenario run through the simulator and
//! through a live lab (real sockets, real threads) must tell the same story
//! in the protocol's events, model by model: who got their bytes back, that
//! the blocking server serves one client at a time and the others overlap,
//! that only busy poll counts would-blocks, that a handled reset is caught
//! once, that a graceful shutdown after everyone left stops with nothing
//! to cancel, and what each of asyncio's shutdown policies does to a client
//! that never leaves. Timing and kernel buffer sizes are where reality and
//! the simulator may differ, so neither is compared.

use std::collections::BTreeSet;

use loopscope_relay::Config;
use loopscope_sim::{ClientSpec, Scenario, Simulation};
use protocol::{
    ClientBehaviour, ClientId, Command, ConnId, Event, EventKind, HandlerStyle, LoopPhase,
    ServerModel, ShutdownPhase, ShutdownPolicy, TaskOutcome,
};

mod support;

use support::*;

const MS: u64 = 1000;

/// A polite client: 3 messages, 200 ms apart, a conversation of some
/// 400 ms (long enough that clients spawned together overlap, however late
/// a busy machine connects them).
fn polite() -> ClientBehaviour {
    ClientBehaviour::Polite {
        messages: 3,
        size: 16,
        interval_ms: 200,
    }
}

fn slow() -> ClientBehaviour {
    ClientBehaviour::Slow {
        messages: 2,
        size: 4,
        byte_interval_ms: 20,
    }
}

fn crasher() -> ClientBehaviour {
    ClientBehaviour::Crasher { size: 32 }
}

/// Bytes the polite and slow clients get back: 3 × 3 × 16 + 2 × 4.
const ECHOED: u64 = 152;

/// What the story says, whatever told it.
#[derive(Debug, PartialEq, Eq)]
struct Story {
    /// Bytes echoed to clients that finished without an error.
    echoed: u64,
    /// Clients that finished.
    finished: usize,
    /// Resets a handler caught.
    errors_handled: usize,
    /// Whether any non-blocking call would have blocked.
    would_block: bool,
    /// Whether a connection was accepted while another was open.
    overlapped: bool,
    /// Whether the shutdown reached its end.
    stopped: bool,
    /// Handler tasks cancelled at the deadline.
    cancelled: usize,
}

fn story(events: &[Event]) -> Story {
    let mut open = BTreeSet::new();
    let mut overlapped = false;
    let mut story = Story {
        echoed: 0,
        finished: 0,
        errors_handled: 0,
        would_block: false,
        overlapped: false,
        stopped: false,
        cancelled: 0,
    };
    for event in events {
        match &event.kind {
            EventKind::Accepted { conn, .. } => {
                overlapped |= !open.is_empty();
                open.insert(*conn);
            }
            EventKind::Closed { conn } => {
                open.remove::<ConnId>(conn);
            }
            EventKind::ClientFinished { echoed, error, .. } => {
                story.finished += 1;
                if error.is_none() {
                    story.echoed += echoed;
                }
            }
            EventKind::ErrorHandled { .. } => story.errors_handled += 1,
            EventKind::WouldBlock { .. } => story.would_block = true,
            EventKind::Spins { would_block, .. } => story.would_block |= *would_block > 0,
            EventKind::Shutdown {
                phase: ShutdownPhase::Stopped,
            } => story.stopped = true,
            // Handlers only: the simulator also reports asyncio's accept
            // loop (`acceptor.cancel()`), which the live tokio server runs
            // as a plain loop, not a task of the lesson's.
            EventKind::TaskFinished {
                conn: Some(_),
                outcome: TaskOutcome::Cancelled,
                ..
            } => story.cancelled += 1,
            _ => {}
        }
    }
    story.overlapped = overlapped;
    story
}

fn simulated(model: ServerModel) -> Vec<Event> {
    let clients = [
        (crasher(), 0),
        (polite(), 10 * MS),
        (polite(), 20 * MS),
        (polite(), 30 * MS),
        (slow(), 40 * MS),
    ];
    let mut simulation = Simulation::new(Scenario::new(model));
    for (behaviour, start) in clients {
        simulation.add_client(ClientSpec { behaviour, start });
    }
    let mut events = Vec::new();
    let finished = |events: &[Event]| {
        count(events, |kind| {
            matches!(kind, EventKind::ClientFinished { .. })
        })
    };
    while finished(&events) < 5 && simulation.now() < 60_000 * MS {
        simulation.run_until(simulation.now() + 10 * MS);
        events.extend(simulation.drain_events());
    }
    simulation.shutdown(1_000 * MS);
    let until = simulation.now() + 5_000 * MS;
    simulation.run_until(until);
    events.extend(simulation.drain_events());
    events
}

/// A live lab running `model`: its relay and its socket, once its server
/// listens.
async fn live_lab(model: ServerModel) -> (RunningRelay, Socket) {
    live_lab_with(model, HandlerStyle::default()).await
}

/// A live lab running `model` whose handlers do `errors` with a client's
/// error.
async fn live_lab_with(model: ServerModel, errors: HandlerStyle) -> (RunningRelay, Socket) {
    let relay = start_relay(Config::default()).await;
    let (socket, _hello) = open_lab_running(&relay, model, errors).await;
    (relay, socket)
}

/// Starts one silent client in the lab: the events until its server has
/// accepted it.
async fn a_silent_client_accepted(socket: &mut Socket) -> Vec<Event> {
    send_command(
        socket,
        &Command::SpawnClients {
            count: 1,
            behaviour: ClientBehaviour::Silent {},
        },
    )
    .await;
    events_until(socket, |seen| {
        count(seen, |kind| matches!(kind, EventKind::Accepted { .. })) == 1
    })
    .await
}

/// Shuts the lab's server down with `grace_ms`: the events until it
/// stopped.
async fn shut_down(socket: &mut Socket, grace_ms: u32) -> Vec<Event> {
    send_command(
        socket,
        &Command::Shutdown {
            grace_ms,
            policy: ShutdownPolicy::GraceThenCancel,
        },
    )
    .await;
    events_until(socket, |seen| {
        count(seen, |kind| {
            matches!(
                kind,
                EventKind::Shutdown {
                    phase: ShutdownPhase::Stopped
                }
            )
        }) == 1
    })
    .await
}

async fn live(model: ServerModel) -> Vec<Event> {
    let (relay, mut socket) = live_lab(model).await;
    let mut events = Vec::new();
    // The crasher first: a reset that reaches a connection still waiting
    // in the kernel's backlog may never be seen by the blocking server as
    // an error (the kernel's business, not the lesson's); served first, its
    // reset meets a recv() or send(), in both sources. So the others come
    // once the server has accepted it.
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 1,
            behaviour: crasher(),
        },
    )
    .await;
    events.extend(
        events_until(&mut socket, |seen| {
            count(seen, |kind| matches!(kind, EventKind::Accepted { .. })) == 1
        })
        .await,
    );
    for (count, behaviour) in [(3, polite()), (1, slow())] {
        send_command(&mut socket, &Command::SpawnClients { count, behaviour }).await;
    }
    let finished = |events: &[Event]| {
        count(events, |kind| {
            matches!(kind, EventKind::ClientFinished { .. })
        })
    };
    let already = finished(&events);
    events.extend(events_until(&mut socket, |seen| already + finished(seen) == 5).await);
    events.extend(shut_down(&mut socket, 1_000).await);
    relay.stop.cancel();
    events
}

#[tokio::test]
async fn the_simulator_and_a_live_lab_tell_the_same_story_in_every_model() {
    for model in [
        ServerModel::Blocking,
        ServerModel::BusyPoll,
        ServerModel::Selector,
        ServerModel::AsyncTasks,
    ] {
        let expected = Story {
            echoed: ECHOED,
            finished: 5,
            errors_handled: 1,
            would_block: model == ServerModel::BusyPoll,
            overlapped: model != ServerModel::Blocking,
            stopped: true,
            cancelled: 0,
        };
        assert_eq!(story(&simulated(model)), expected, "{model:?}, simulated");
        assert_eq!(story(&live(model).await), expected, "{model:?}, live");
    }
}

/// Connections the server still held when the grace period ended, closed
/// by the shutdown (after its `cancelling`).
fn closed_at_the_deadline(events: &[Event]) -> usize {
    let Some(deadline) = events.iter().position(|event| {
        matches!(
            event.kind,
            EventKind::Shutdown {
                phase: ShutdownPhase::Cancelling
            }
        )
    }) else {
        return 0;
    };
    count(&events[deadline..], |kind| {
        matches!(kind, EventKind::Closed { .. })
    })
}

/// An event loop's shutdown waits on the loop itself (asyncio's
/// `asyncio.wait(tasks, timeout=grace)`, `selector.py`'s `timeout =
/// max(0, deadline - now)`): while it drains, each `select()` waits at most
/// until the grace period ends; asyncio's timers phase comes before the
/// cancelling (`selector.py` has no timers phase).
fn the_loop_waits_for_the_grace_timer(
    events: &[Event],
    grace_us: u64,
    model: ServerModel,
    source: &str,
) {
    let phase_at = |wanted: fn(&EventKind) -> bool| {
        events
            .iter()
            .position(|event| wanted(&event.kind))
            .unwrap_or_else(|| panic!("{source}: a shutdown phase is missing"))
    };
    let draining = phase_at(|kind| {
        matches!(
            kind,
            EventKind::Shutdown {
                phase: ShutdownPhase::Draining { .. }
            }
        )
    });
    let cancelling = phase_at(|kind| {
        matches!(
            kind,
            EventKind::Shutdown {
                phase: ShutdownPhase::Cancelling
            }
        )
    });
    let timeouts: Vec<Option<u64>> = events[draining..cancelling]
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::SelectCalled { timeout_us } => Some(timeout_us),
            _ => None,
        })
        .collect();
    assert!(
        timeouts
            .iter()
            .any(|timeout| timeout.is_some_and(|us| us > 0)),
        "{source}: the loop slept towards the deadline: {timeouts:?}"
    );
    assert!(
        timeouts
            .iter()
            .all(|timeout| timeout.is_some_and(|us| us <= grace_us)),
        "{source}: no select() waits past the deadline: {timeouts:?}"
    );
    if model == ServerModel::AsyncTasks {
        assert!(
            events[draining..cancelling].iter().any(|event| matches!(
                event.kind,
                EventKind::Phase {
                    phase: LoopPhase::Timers
                }
            )),
            "{source}: the grace timer is due in a timers phase before the cancelling"
        );
    }
}

#[tokio::test]
async fn a_client_that_never_leaves_is_cut_off_at_the_deadline_in_both_sources() {
    const GRACE_MS: u32 = 2000;
    for model in [
        ServerModel::Blocking,
        ServerModel::BusyPoll,
        ServerModel::Selector,
        ServerModel::AsyncTasks,
    ] {
        // Simulated: a silent client, then a shutdown with a grace long
        // enough that a live server, however late a busy machine runs it,
        // still has time left to sleep towards the deadline.
        let mut simulation = Simulation::new(Scenario::new(model));
        simulation.add_client(ClientSpec {
            behaviour: ClientBehaviour::Silent {},
            start: 0,
        });
        simulation.run_until(100 * MS);
        simulation.shutdown(u64::from(GRACE_MS) * MS);
        simulation.run_until(100 * MS + u64::from(GRACE_MS) * MS + 2_000 * MS);
        let simulated = simulation.drain_events();

        // Live: the same.
        let (relay, mut socket) = live_lab(model).await;
        let mut live = a_silent_client_accepted(&mut socket).await;
        live.extend(shut_down(&mut socket, GRACE_MS).await);
        relay.stop.cancel();

        for (source, events) in [("simulated", &simulated), ("live", &live)] {
            assert_eq!(
                closed_at_the_deadline(events),
                1,
                "{model:?}, {source}: the silent client's connection is closed at the deadline"
            );
            assert_eq!(
                story(events).cancelled,
                usize::from(model == ServerModel::AsyncTasks),
                "{model:?}, {source}: asyncio cancels its handler task"
            );
            if matches!(model, ServerModel::AsyncTasks | ServerModel::Selector) {
                the_loop_waits_for_the_grace_timer(events, u64::from(GRACE_MS) * MS, model, source);
            }
        }
    }
}

/// What a shutdown policy did to a client that never leaves, whatever
/// told it.
#[derive(Debug, PartialEq, Eq)]
struct Farewell {
    /// The shutdown's phases, deadlines left out.
    phases: Vec<&'static str>,
    /// Handler tasks cancelled.
    cancelled: usize,
    /// Clients that finished, and those told goodbye.
    finished: usize,
    told_goodbye: usize,
}

fn farewell(events: &[Event]) -> Farewell {
    Farewell {
        phases: events
            .iter()
            .filter_map(|event| match event.kind {
                EventKind::Shutdown { phase } => Some(phase.name()),
                _ => None,
            })
            .collect(),
        cancelled: story(events).cancelled,
        finished: story(events).finished,
        told_goodbye: count(events, |kind| {
            matches!(
                kind,
                EventKind::ClientFinished {
                    told_goodbye: true,
                    ..
                }
            )
        }),
    }
}

#[tokio::test]
async fn each_asyncio_shutdown_policy_tells_the_same_story_in_both_sources() {
    for policy in ShutdownPolicy::ALL {
        // Simulated: a silent client, then a shutdown under `policy`.
        let mut simulation = Simulation::new(Scenario::new(ServerModel::AsyncTasks));
        simulation.add_client(ClientSpec {
            behaviour: ClientBehaviour::Silent {},
            start: 0,
        });
        simulation.run_until(100 * MS);
        simulation.shutdown_with(policy, 300 * MS);
        simulation.run_until(2_000 * MS);
        let simulated = simulation.drain_events();

        // Live: the same.
        let (relay, mut socket) = live_lab(ServerModel::AsyncTasks).await;
        let mut live = a_silent_client_accepted(&mut socket).await;
        send_command(
            &mut socket,
            &Command::Shutdown {
                grace_ms: 300,
                policy,
            },
        )
        .await;
        if policy == ShutdownPolicy::WaitForEveryone {
            // It never stops: once it waits, what it did by three grace
            // periods later, on the lab's own clock, is the whole story.
            let waiting = events_until(&mut socket, |seen| {
                seen.iter().any(|event| {
                    event.kind
                        == EventKind::Shutdown {
                            phase: ShutdownPhase::WaitingForEveryone,
                        }
                })
            })
            .await;
            let since = waiting
                .iter()
                .rev()
                .find(|event| matches!(event.kind, EventKind::Shutdown { .. }))
                .map_or(0, |event| event.at);
            live.extend(waiting);
            live.extend(events_until_the_lab_clock_passes(&mut socket, since + 3 * 300 * MS).await);
        } else {
            live.extend(
                events_until(&mut socket, |seen| stopped_and_clients_finished(seen, 1)).await,
            );
        }
        relay.stop.cancel();
        assert_eq!(farewell(&simulated), farewell(&live), "{policy:?}");
        let told = usize::from(policy == ShutdownPolicy::NotifyFirst);
        assert_eq!(farewell(&live).told_goodbye, told, "{policy:?}");
    }
}

/// What an error nothing catches did, whatever told it.
#[derive(Debug, PartialEq, Eq)]
struct Aftermath {
    /// Whether the server itself died of it.
    crashed: bool,
    /// Handler tasks that ended with it.
    tasks_failed: usize,
    /// Whether asyncio reported it late, as never retrieved.
    never_retrieved: bool,
    /// Bytes echoed to the clients that came after.
    echoed_after: u64,
    /// Clients that came after and ended with an error (nobody answered).
    failed_after: usize,
}

fn crash_or_task_failure(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::ServerCrashed { .. }
            | EventKind::TaskFinished {
                conn: Some(_),
                outcome: TaskOutcome::Failed { .. },
                ..
            }
    )
}

/// The aftermath of `before` (up to the error) and `after` (the two
/// clients that came next).
fn aftermath(before: &[Event], after: &[Event]) -> Aftermath {
    let all = || before.iter().chain(after);
    Aftermath {
        crashed: all().any(|event| matches!(event.kind, EventKind::ServerCrashed { .. })),
        tasks_failed: all()
            .filter(|event| {
                matches!(
                    event.kind,
                    EventKind::TaskFinished {
                        conn: Some(_),
                        outcome: TaskOutcome::Failed { .. },
                        ..
                    }
                )
            })
            .count(),
        never_retrieved: all()
            .any(|event| matches!(event.kind, EventKind::ExceptionNeverRetrieved { .. })),
        echoed_after: after
            .iter()
            .map(|event| match &event.kind {
                EventKind::ClientFinished {
                    client,
                    echoed,
                    error: None,
                    ..
                } if *client != CRASHER => *echoed,
                _ => 0,
            })
            .sum(),
        failed_after: count(
            after,
            |kind| matches!(kind, EventKind::ClientFinished { client, error: Some(_), .. } if *client != CRASHER),
        ),
    }
}

/// The crasher is the first client in both sources.
const CRASHER: ClientId = ClientId(1);

/// Whether `kind` says that one of the clients after the crasher ended.
fn one_after_finished(kind: &EventKind) -> bool {
    matches!(kind, EventKind::ClientFinished { client, .. } if *client != CRASHER)
}

/// With errors unhandled, a client's reset is the end of the blocking,
/// busy-poll and selector servers (one thread: the error escapes it), and
/// the clients after it find nobody listening; under asyncio it ends only
/// its task, reported late as never retrieved, and the clients after it
/// are served. Both sources say so.
#[tokio::test]
async fn an_unhandled_reset_crashes_a_one_thread_server_and_fails_one_asyncio_task_in_both_sources()
{
    for model in [
        ServerModel::Blocking,
        ServerModel::BusyPoll,
        ServerModel::Selector,
        ServerModel::AsyncTasks,
    ] {
        // Simulated: the crasher, then two polite clients once its error
        // has done its work.
        let mut simulation = Simulation::new(Scenario::new(model).style(HandlerStyle::Unhandled));
        let first = simulation.add_client(ClientSpec {
            behaviour: crasher(),
            start: 0,
        });
        assert_eq!(first, CRASHER);
        let mut before = Vec::new();
        while count(&before, crash_or_task_failure) == 0 && simulation.now() < 10_000 * MS {
            simulation.run_until(simulation.now() + 10 * MS);
            before.extend(simulation.drain_events());
        }
        for _ in 0..2 {
            simulation.add_client(ClientSpec {
                behaviour: polite(),
                start: simulation.now(),
            });
        }
        let mut after = Vec::new();
        while count(&after, one_after_finished) < 2 && simulation.now() < 60_000 * MS {
            simulation.run_until(simulation.now() + 10 * MS);
            after.extend(simulation.drain_events());
        }
        let simulated = aftermath(&before, &after);

        // Live: the same.
        let (relay, mut socket) = live_lab_with(model, HandlerStyle::Unhandled).await;
        send_command(
            &mut socket,
            &Command::SpawnClients {
                count: 1,
                behaviour: crasher(),
            },
        )
        .await;
        let before =
            events_until(&mut socket, |seen| count(seen, crash_or_task_failure) == 1).await;
        send_command(
            &mut socket,
            &Command::SpawnClients {
                count: 2,
                behaviour: polite(),
            },
        )
        .await;
        let after = events_until(&mut socket, |seen| count(seen, one_after_finished) == 2).await;
        relay.stop.cancel();
        let live = aftermath(&before, &after);

        let asyncio = model == ServerModel::AsyncTasks;
        let expected = Aftermath {
            crashed: !asyncio,
            tasks_failed: usize::from(asyncio),
            never_retrieved: asyncio,
            echoed_after: if asyncio { 2 * 3 * 16 } else { 0 },
            failed_after: if asyncio { 0 } else { 2 },
        };
        assert_eq!(simulated, expected, "{model:?}, simulated");
        assert_eq!(live, expected, "{model:?}, live");
    }
}
