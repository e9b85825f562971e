//! The page never contradicts the server or the listing it shows: for every
//! model × error handling × the server's life (running, stepped one loop
//! iteration at a time, crashed, shut down), the simulator's events go
//! through the [`World`] the views read, and at every moment the ring, the
//! card, the listener's row, the lanes and the counters must agree with
//! the events, and every call the log names must be in the listing shown.
//! A table of expectations, not snapshots of prose.

use loopscope_sim::{ClientBehaviour, HandlerStyle, Listing, Scenario, ServerModel, Simulation};
use protocol::{Event, EventKind, IoOp, ShutdownPhase, Sock, TaskOutcome};

use super::{Life, Moment, explain, ring_phases};
use crate::world::wording::describe;
use crate::world::{TaskState, World};

const MS: u64 = 1000;

const MODELS: [ServerModel; 4] = [
    ServerModel::Blocking,
    ServerModel::BusyPoll,
    ServerModel::Selector,
    ServerModel::AsyncTasks,
];

/// How a run goes on after its clients have started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Course {
    /// It plays freely.
    Running,
    /// It is stepped one loop iteration at a time.
    Stepping,
    /// It plays into a shutdown with a short grace period, to the end.
    ShutDown,
}

fn scenario(model: ServerModel, errors: HandlerStyle) -> Scenario {
    let polite = ClientBehaviour::Polite {
        messages: 3,
        size: 20,
        interval_ms: 60,
    };
    Scenario::new(model)
        .style(errors)
        .clients(3, polite, 0, 10 * MS)
        .client(ClientBehaviour::Crasher { size: 40 }, 40 * MS)
        .client(ClientBehaviour::Silent {}, 50 * MS)
}

/// Every event the run produced, in batches as the page would get them.
fn run(model: ServerModel, errors: HandlerStyle, course: Course) -> Vec<Vec<Event>> {
    let mut simulation = Simulation::new(scenario(model, errors));
    let mut batches = Vec::new();
    let play = |simulation: &mut Simulation, until: u64, batches: &mut Vec<Vec<Event>>| {
        while simulation.now() < until {
            simulation.run_until(simulation.now() + 5 * MS);
            batches.push(simulation.drain_events());
        }
    };
    match course {
        Course::Running => play(&mut simulation, 600 * MS, &mut batches),
        Course::Stepping => {
            play(&mut simulation, 45 * MS, &mut batches);
            for _ in 0..60 {
                simulation.step(1_000 * MS);
                batches.push(simulation.drain_events());
            }
        }
        Course::ShutDown => {
            play(&mut simulation, 200 * MS, &mut batches);
            simulation.shutdown(100 * MS);
            batches.push(simulation.drain_events());
            play(&mut simulation, 2_000 * MS, &mut batches);
        }
    }
    batches
}

/// What the events said, tallied independently of the world.
#[derive(Default)]
struct Told {
    crashed: bool,
    shutdown: Option<ShutdownPhase>,
    errors_handled: u64,
    errors_unhandled: u64,
    accepted: u64,
    closed: u64,
}

impl Told {
    fn take(&mut self, event: &Event) {
        match &event.kind {
            EventKind::ServerCrashed { .. } => {
                self.crashed = true;
                self.errors_unhandled += 1;
            }
            EventKind::TaskFinished {
                outcome: TaskOutcome::Failed { .. },
                ..
            } => self.errors_unhandled += 1,
            EventKind::ErrorHandled { .. } => self.errors_handled += 1,
            EventKind::Shutdown { phase } => self.shutdown = Some(*phase),
            EventKind::Accepted { .. } => self.accepted += 1,
            EventKind::Closed { .. } => self.closed += 1,
            _ => {}
        }
    }

    fn life(&self) -> Life {
        match (self.crashed, self.shutdown) {
            (true, _) => Life::Crashed,
            (false, Some(ShutdownPhase::Stopped)) => Life::Stopped,
            (false, Some(_)) => Life::ShuttingDown,
            (false, None) => Life::Running,
        }
    }
}

/// The calls a line of the log names: `name(` pieces, as `recv(` or
/// `loop.sock_recv(`.
fn calls_named(text: &str) -> Vec<String> {
    let mut calls = Vec::new();
    for (at, _) in text.match_indices('(') {
        let name: String = text[..at]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if !name.is_empty() {
            calls.push(format!("{name}("));
        }
    }
    calls
}

/// Checks one moment: the world after a batch, against what the events
/// told so far. Returns a description of each disagreement.
fn check_moment(
    model: ServerModel,
    errors: HandlerStyle,
    world: &World,
    told: &Told,
) -> Vec<String> {
    let mut wrong = Vec::new();
    let moment = Moment::of(model, world);
    let life = moment.life();
    if life != told.life() {
        wrong.push(format!("life {life:?}, the events say {:?}", told.life()));
    }
    // The ring lights a phase of the listing's loop, and none once the
    // server is gone.
    match moment.lit_phase() {
        Some(phase) if life.is_over() => wrong.push(format!("{phase:?} lit on a dead server")),
        Some(phase)
            if matches!(model, ServerModel::Selector | ServerModel::AsyncTasks)
                && !ring_phases(model).iter().any(|(drawn, ..)| *drawn == phase) =>
        {
            wrong.push(format!("{phase:?} is not on the ring"))
        }
        _ => {}
    }
    // The card tells the same life, and no task "cannot run" while a lane
    // shows it ready.
    let card = explain(&moment, "Reset");
    let opening = match life {
        Life::Crashed => "The server crashed",
        Life::Stopped => "The server has shut down",
        Life::ShuttingDown => "Shutting down",
        Life::Running => "",
    };
    if !card.starts_with(opening) {
        wrong.push(format!("card {card:?} for {life:?}"));
    }
    if life == Life::Running && opening.is_empty() {
        for other in [
            "The server crashed",
            "The server has shut down",
            "Shutting down",
        ] {
            if card.starts_with(other) {
                wrong.push(format!("card {card:?} on a running server"));
            }
        }
    }
    let ready_lanes = world
        .connections
        .values()
        .any(|connection| connection.state == TaskState::Ready);
    if card.contains("No task can run") && ready_lanes {
        wrong.push("the card says no task can run while a lane is ready".into());
    }
    // The listener: closed once the server stopped accepting or died, and
    // then registered for nothing.
    if let Some(listener) = world.sockets.get(&Sock::Listener) {
        let should_be_closed = told.crashed || told.shutdown.is_some();
        if listener.closed != should_be_closed {
            wrong.push(format!("listener closed: {}", listener.closed));
        }
        if listener.closed && listener.interest.is_some() {
            wrong.push("a closed listener is registered".into());
        }
    }
    if life.is_over() {
        if let Some(open) = world.sockets.values().find(|row| !row.closed) {
            wrong.push(format!("{} open on a dead server", open.sock));
        }
        for connection in world.connections.values() {
            if !connection.state.is_final() && connection.state != TaskState::Backlog {
                wrong.push(format!(
                    "{} {:?} on a dead server",
                    connection.conn, connection.state
                ));
            }
        }
    }
    if told.crashed {
        let failed = world
            .connections
            .values()
            .filter(|connection| {
                matches!(
                    connection.state,
                    TaskState::Finished(TaskOutcome::Failed { .. })
                )
            })
            .count();
        if failed == 0 {
            wrong.push("the crash failed no lane".into());
        }
    }
    // The counters count what the events told.
    let counters = &world.counters;
    if counters.errors_handled != told.errors_handled
        || counters.errors_unhandled != told.errors_unhandled
    {
        wrong.push(format!(
            "errors {} / {}, the events say {} / {}",
            counters.errors_handled,
            counters.errors_unhandled,
            told.errors_handled,
            told.errors_unhandled
        ));
    }
    if counters.open != told.accepted - told.closed.min(told.accepted) {
        wrong.push(format!(
            "open {} for {} accepted, {} closed",
            counters.open, told.accepted, told.closed
        ));
    }
    if errors == HandlerStyle::Handled && counters.errors_unhandled > 0 {
        wrong.push("an unhandled error under the handled listing".into());
    }
    wrong
}

#[test]
fn the_ring_the_card_the_listener_the_lanes_and_the_counters_agree_with_the_events() {
    let mut cases = 0;
    for model in MODELS {
        for errors in [HandlerStyle::Handled, HandlerStyle::Unhandled] {
            for course in [Course::Running, Course::Stepping, Course::ShutDown] {
                let mut world = World::default();
                let mut told = Told::default();
                let mut lives = Vec::new();
                for batch in run(model, errors, course) {
                    for event in &batch {
                        world.apply(event);
                        told.take(event);
                    }
                    let wrong = check_moment(model, errors, &world, &told);
                    assert!(
                        wrong.is_empty(),
                        "{model:?} {errors:?} {course:?} at {} µs: {wrong:?}",
                        world.now
                    );
                    let life = Moment::of(model, &world).life();
                    if lives.last() != Some(&life) {
                        lives.push(life);
                    }
                }
                // The table: the lives each run must go through.
                // The blocking server reaches the crasher only after the
                // polite clients: a shutdown at 200 ms finds it still in
                // the backlog, and it is reset with the listener.
                let crashes = errors == HandlerStyle::Unhandled
                    && model != ServerModel::AsyncTasks
                    && !(model == ServerModel::Blocking && course == Course::ShutDown);
                let expected: &[Life] = match (crashes, course) {
                    (true, _) => &[Life::Running, Life::Crashed],
                    (false, Course::ShutDown) => {
                        &[Life::Running, Life::ShuttingDown, Life::Stopped]
                    }
                    (false, _) => &[Life::Running],
                };
                assert_eq!(lives, expected, "{model:?} {errors:?} {course:?}");
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 24);
}

#[test]
fn every_call_the_log_names_is_in_the_listing_shown() {
    for model in MODELS {
        for errors in [HandlerStyle::Handled, HandlerStyle::Unhandled] {
            let listing = Listing::of(model, errors);
            let mut named = std::collections::BTreeSet::new();
            for batch in run(model, errors, Course::ShutDown) {
                for event in &batch {
                    let text = describe(&event.kind, Some(model));
                    // asyncio's own loop (select, its timers) runs inside
                    // asyncio.run(): the listing cannot show it, and the
                    // ring says whose loop it is.
                    let asyncio_internal = model == ServerModel::AsyncTasks
                        && matches!(
                            event.kind,
                            EventKind::SelectCalled { .. } | EventKind::SelectReturned { .. }
                        );
                    if asyncio_internal {
                        continue;
                    }
                    for call in calls_named(&text) {
                        assert!(
                            listing.has(&call),
                            "{}: the log says {text:?}, but the listing has no {call}",
                            listing.file
                        );
                        named.insert(call);
                    }
                    if text.contains("except ConnectionError") {
                        assert!(
                            listing.has("except ConnectionError"),
                            "{}: {text}",
                            listing.file
                        );
                    }
                }
            }
            assert!(named.len() >= 2, "{}: {named:?}", listing.file);
        }
    }
    // Selector words are selector.py's: send() and selector.modify(), no
    // sendall, no timers.
    let selector = describe(
        &EventKind::Registered {
            sock: Sock::Conn(protocol::ConnId(1)),
            op: IoOp::Write,
            modify: true,
        },
        Some(ServerModel::Selector),
    );
    assert_eq!(selector, "selector.modify(conn#1, EVENT_WRITE, send)");
}

#[test]
fn every_phase_on_a_ring_is_a_line_of_its_listing_or_asyncio_s_own_loop() {
    for errors in [HandlerStyle::Handled, HandlerStyle::Unhandled] {
        let selector = Listing::of(ServerModel::Selector, errors);
        for (_, _, label) in ring_phases(ServerModel::Selector) {
            let call = label.split(':').next().unwrap().trim_end_matches(')');
            assert!(selector.has(call), "{}: {call}", selector.file);
        }
        assert!(
            !ring_phases(ServerModel::Selector)
                .iter()
                .any(|(phase, ..)| *phase == protocol::LoopPhase::Timers),
            "selector.py has no timers"
        );
        let tasks = Listing::of(ServerModel::AsyncTasks, errors);
        assert!(tasks.has("asyncio.run("), "{}", tasks.file);
        assert!(
            tasks.has("timeout=grace"),
            "the timer asyncio's loop runs: {}",
            tasks.file
        );
    }
}
