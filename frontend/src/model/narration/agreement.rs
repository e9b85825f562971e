//! The page never contradicts the server or the listing it shows: for every
//! model × error handling × the server's life (running, stepped one loop
//! iteration at a time, crashed, shut down under each policy asked for,
//! with a client that never leaves or without), the simulator's events go
//! through the [`World`] the views read, and at every moment the ring, the
//! card, the countdown, the listener's row, the lanes and the counters
//! must agree with the events, and every call the log names must be in
//! the listing shown. While shutting down (at each phase) and once
//! stopped, the card speaks the policy in force in the words of its
//! branch of the listing, agrees with the countdown, and never speaks of a
//! grace period or a deadline under a policy that has none. A table of
//! expectations, not snapshots of prose.

use std::collections::BTreeSet;

use loopscope_sim::{ClientBehaviour, HandlerStyle, Listing, Scenario, ServerModel, Simulation};
use protocol::{Event, EventKind, IoOp, ShutdownPhase, ShutdownPolicy, Sock, TaskOutcome};

use super::{Life, Moment, countdown, explain, ring_phases};
use crate::model::world::wording::describe;
use crate::model::world::{TaskState, World};

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
    /// It plays into a shutdown asked for under `policy` (with a short
    /// grace period where it has one), to the end; `silent`: a client that
    /// never sends nor leaves is among the clients.
    ShutDown {
        policy: ShutdownPolicy,
        silent: bool,
    },
}

/// Every course: running, stepping, and a shutdown asked for under each
/// policy, with a silent client and without (a server waiting for everyone
/// stops only without one). The thread-based models are asked for each
/// policy too: they run the one their program has.
fn courses() -> Vec<Course> {
    let mut courses = vec![Course::Running, Course::Stepping];
    for policy in ShutdownPolicy::ALL {
        for silent in [true, false] {
            courses.push(Course::ShutDown { policy, silent });
        }
    }
    courses
}

/// The short grace period the shutdown courses give: short enough that
/// even the blocking server, which serves one client at a time, is still
/// serving one when it ends (a cancelling moment for every model).
const GRACE: u64 = 20 * MS;

fn scenario(model: ServerModel, errors: HandlerStyle, silent: bool) -> Scenario {
    let polite = ClientBehaviour::Polite {
        messages: 3,
        size: 20,
        interval_ms: 60,
    };
    let scenario = Scenario::new(model)
        .style(errors)
        .clients(3, polite, 0, 10 * MS)
        .client(ClientBehaviour::Crasher { size: 40 }, 40 * MS);
    if silent {
        scenario.client(ClientBehaviour::Silent {}, 50 * MS)
    } else {
        scenario
    }
}

/// Every event the run produced, in batches as the page would get them.
fn run(model: ServerModel, errors: HandlerStyle, course: Course) -> Vec<Vec<Event>> {
    let silent = match course {
        Course::ShutDown { silent, .. } => silent,
        _ => true,
    };
    let mut simulation = Simulation::new(scenario(model, errors, silent));
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
        Course::ShutDown { policy, .. } => {
            play(&mut simulation, 200 * MS, &mut batches);
            simulation.shutdown_with(policy, GRACE);
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
    // No callback is named for a select() that returned nothing ready (the
    // selector's table shows which are).
    let ready_sockets = world.sockets.values().any(|row| row.ready && !row.closed);
    if card.contains("calls the callback") && !ready_sockets {
        wrong.push("the card names a callback on an empty ready set".into());
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

/// Whether `text` speaks of a grace period or a deadline, other than to
/// say there is none ("with no deadline", the listing's own words for
/// waiting for everyone).
fn speaks_of_a_deadline(text: &str) -> bool {
    let text = text.to_lowercase().replace("no deadline", "");
    ["grace", "deadline", "timeout="]
        .iter()
        .any(|word| text.contains(word))
}

/// The pieces of `model`'s listing the card must say at a shutdown's
/// `phase` under `policy`: the lines of that policy's branch (each must be
/// in the listing too).
fn listing_terms(
    model: ServerModel,
    policy: Option<ShutdownPolicy>,
    phase: ShutdownPhase,
) -> &'static [&'static str] {
    use ShutdownPhase as Phase;
    use ShutdownPolicy as Policy;
    match (model, phase, policy) {
        (ServerModel::AsyncTasks, Phase::StopAccepting, _) => {
            &["acceptor.cancel()", "server.close()"]
        }
        (ServerModel::AsyncTasks, Phase::Draining { .. }, _) => {
            &["asyncio.wait(tasks, timeout=grace)", "task.cancel()"]
        }
        (ServerModel::AsyncTasks, Phase::Cancelling, Some(Policy::CancelAtOnce)) => {
            &["task.cancel()", "asyncio.gather(", "at once"]
        }
        (ServerModel::AsyncTasks, Phase::Cancelling, _) => &["task.cancel()", "asyncio.gather("],
        (ServerModel::AsyncTasks, Phase::WaitingForEveryone, _) => {
            &["asyncio.gather(*tasks", "no deadline"]
        }
        (ServerModel::AsyncTasks, Phase::Notifying, _) => {
            &["client.send(GOODBYE)", "task.cancel()"]
        }
        (ServerModel::AsyncTasks, Phase::Stopped, Some(Policy::GraceThenCancel)) => {
            &["asyncio.wait(", "task.cancel()"]
        }
        (ServerModel::AsyncTasks, Phase::Stopped, Some(Policy::CancelAtOnce)) => &["task.cancel()"],
        (ServerModel::AsyncTasks, Phase::Stopped, Some(Policy::WaitForEveryone)) => {
            &["asyncio.gather("]
        }
        (ServerModel::AsyncTasks, Phase::Stopped, _) => &["goodbye"],
        (_, Phase::StopAccepting, _) => &["server.close()"],
        (ServerModel::Blocking, Phase::Draining { .. }, _) => &[
            "signal.setitimer(signal.ITIMER_REAL, grace)",
            "GraceOver",
            "with client:",
        ],
        (ServerModel::Blocking, Phase::Cancelling, _) => &["GraceOver", "with client:"],
        (ServerModel::Selector, Phase::Draining { .. }, _) => {
            &["deadline = time.monotonic() + grace", "key.fileobj.close()"]
        }
        (ServerModel::Selector, Phase::Cancelling, _) => &["key.fileobj.close()"],
        (ServerModel::BusyPoll, Phase::Draining { .. }, _) => {
            &["deadline = time.monotonic() + grace", "client.close()"]
        }
        (ServerModel::BusyPoll, Phase::Cancelling, _) => &["client.close()"],
        _ => &[],
    }
}

/// What the card and the countdown over the lanes both say at a
/// shutdown's `phase` under `policy` (the card's words, the countdown's),
/// compared without case.
fn shared_gist(
    asyncio: bool,
    policy: Option<ShutdownPolicy>,
    phase: ShutdownPhase,
) -> (&'static str, &'static str) {
    match (phase, policy) {
        (ShutdownPhase::StopAccepting, _) => ("no new client gets in", "no new connections"),
        (ShutdownPhase::Draining { .. }, _) if asyncio => {
            ("task.cancel() cancels", "cancelled in ")
        }
        (ShutdownPhase::Draining { .. }, _) => ("close", "closed in "),
        (ShutdownPhase::Cancelling, Some(ShutdownPolicy::GraceThenCancel)) => {
            ("the grace period is over", "the grace period is over")
        }
        (ShutdownPhase::Cancelling, Some(ShutdownPolicy::NotifyFirst)) => {
            ("goodbye said", "goodbye said")
        }
        (ShutdownPhase::Cancelling, _) => ("at once", "at once"),
        (ShutdownPhase::WaitingForEveryone, _) => ("no deadline", "no deadline"),
        (ShutdownPhase::Notifying, _) => ("goodbye", "goodbye"),
        (ShutdownPhase::Stopped, _) => ("has shut down", "server stopped"),
    }
}

/// Checks the words of a shutdown under way or over, at one moment of a
/// run asked to shut down under `asked`: the policy the world tells, the
/// card in the listing's words for it, the countdown agreeing, and no
/// grace period or deadline spoken of under a policy that has none.
fn check_shutdown_words(
    model: ServerModel,
    errors: HandlerStyle,
    asked: ShutdownPolicy,
    world: &World,
) -> Vec<String> {
    let mut wrong = Vec::new();
    let Some(phase) = world.shutdown else {
        return wrong;
    };
    if world.crashed.is_some() {
        return wrong;
    }
    // The thread-based programs have one policy, whatever was asked.
    let runs = model.shutdown_policy(asked);
    let told = (phase != ShutdownPhase::StopAccepting).then_some(runs);
    if world.shutdown_policy != told {
        wrong.push(format!(
            "{}: the world tells {:?}, the run is under {told:?}",
            phase.name(),
            world.shutdown_policy
        ));
    }
    let card = explain(&Moment::of(model, world), "Reset");
    let Some(countdown) = countdown(world) else {
        wrong.push(format!("{}: no countdown", phase.name()));
        return wrong;
    };
    if runs != ShutdownPolicy::GraceThenCancel {
        if speaks_of_a_deadline(&card) {
            wrong.push(format!(
                "{}: the card speaks of a grace period under {runs:?}: {card:?}",
                phase.name()
            ));
        }
        if speaks_of_a_deadline(&countdown) {
            wrong.push(format!(
                "{}: the countdown speaks of a deadline under {runs:?}: {countdown:?}",
                phase.name()
            ));
        }
    } else if matches!(phase, ShutdownPhase::Draining { .. }) && !speaks_of_a_deadline(&card) {
        wrong.push(format!("draining: the card says no grace period: {card:?}"));
    }
    let listing = Listing::of(model, errors);
    for term in listing_terms(model, world.shutdown_policy, phase) {
        if !listing.has(term) {
            wrong.push(format!(
                "{}: {} has no {term:?}",
                phase.name(),
                listing.file
            ));
        }
        if !card.contains(term) {
            wrong.push(format!(
                "{}: the card leaves out {term:?} of {}: {card:?}",
                phase.name(),
                listing.file
            ));
        }
    }
    let (said, counted) = shared_gist(
        model == ServerModel::AsyncTasks,
        world.shutdown_policy,
        phase,
    );
    if !card.to_lowercase().contains(said) || !countdown.to_lowercase().contains(counted) {
        wrong.push(format!(
            "{}: the card ({card:?}) and the countdown ({countdown:?}) disagree",
            phase.name()
        ));
    }
    // The same clients told goodbye, in both.
    let told_goodbye = world.counters.told_goodbye;
    if phase == ShutdownPhase::Stopped && told_goodbye > 0 {
        let number = format!("{told_goodbye} client");
        if !card.contains(&number) || !countdown.contains(&number) {
            wrong.push(format!(
                "{told_goodbye} told goodbye: the card says {card:?}, the countdown {countdown:?}"
            ));
        }
    }
    wrong
}

/// The phases a shutdown under `policy` can go through.
fn phases_of(policy: ShutdownPolicy) -> &'static [&'static str] {
    match policy {
        ShutdownPolicy::GraceThenCancel => &["stop accepting", "draining", "cancelling", "stopped"],
        ShutdownPolicy::CancelAtOnce => &["stop accepting", "cancelling", "stopped"],
        ShutdownPolicy::WaitForEveryone => &["stop accepting", "waiting for everyone", "stopped"],
        ShutdownPolicy::NotifyFirst => &["stop accepting", "notifying", "cancelling", "stopped"],
    }
}

#[test]
fn the_ring_the_card_the_listener_the_lanes_and_the_counters_agree_with_the_events() {
    let mut cases = 0;
    // Each model × policy × phase some moment of the table was checked at.
    let mut covered = BTreeSet::new();
    for model in MODELS {
        for errors in [HandlerStyle::Handled, HandlerStyle::Unhandled] {
            for course in courses() {
                let mut world = World::default();
                let mut told = Told::default();
                let mut lives = Vec::new();
                // One moment: the world against the events so far.
                let mut check = |world: &World, told: &Told, lives: &mut Vec<Life>| {
                    let mut wrong = check_moment(model, errors, world, told);
                    if let Course::ShutDown { policy, .. } = course {
                        wrong.extend(check_shutdown_words(model, errors, policy, world));
                        if let Some(phase) = world.shutdown {
                            let runs = model.shutdown_policy(policy);
                            assert!(
                                phases_of(runs).contains(&phase.name()),
                                "{model:?} {errors:?} {course:?}: {} under {runs:?}",
                                phase.name()
                            );
                            covered.insert((model.key(), runs.as_str(), phase.name()));
                        }
                    }
                    assert!(
                        wrong.is_empty(),
                        "{model:?} {errors:?} {course:?} at {} µs: {wrong:?}",
                        world.now
                    );
                    let life = Moment::of(model, world).life();
                    if lives.last() != Some(&life) {
                        lives.push(life);
                    }
                };
                for batch in run(model, errors, course) {
                    for event in &batch {
                        world.apply(event);
                        told.take(event);
                        // Each phase of a shutdown is a moment of its own,
                        // even when the next comes in the same batch.
                        if matches!(event.kind, EventKind::Shutdown { .. }) {
                            check(&world, &told, &mut lives);
                        }
                    }
                    check(&world, &told, &mut lives);
                }
                // The table: the lives each run must go through.
                // The blocking server reaches the crasher only after the
                // polite clients: a shutdown at 200 ms finds it still in
                // the backlog, and it is reset with the listener.
                let shuts_down = matches!(course, Course::ShutDown { .. });
                let crashes = errors == HandlerStyle::Unhandled
                    && model != ServerModel::AsyncTasks
                    && !(model == ServerModel::Blocking && shuts_down);
                // Waiting for everyone waits for ever for a silent client.
                let waits_for_ever = model == ServerModel::AsyncTasks
                    && course
                        == Course::ShutDown {
                            policy: ShutdownPolicy::WaitForEveryone,
                            silent: true,
                        };
                let expected: &[Life] = match (crashes, shuts_down) {
                    (true, _) => &[Life::Running, Life::Crashed],
                    (false, true) if waits_for_ever => &[Life::Running, Life::ShuttingDown],
                    (false, true) => &[Life::Running, Life::ShuttingDown, Life::Stopped],
                    (false, false) => &[Life::Running],
                };
                assert_eq!(lives, expected, "{model:?} {errors:?} {course:?}");
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 80);
    // Every phase of every policy a model's program has was a moment of
    // the table: asyncio's four, the others' grace then cancel.
    for model in MODELS {
        let policies: &[ShutdownPolicy] = if model.offers_shutdown_policies() {
            &ShutdownPolicy::ALL
        } else {
            &[ShutdownPolicy::GraceThenCancel]
        };
        for policy in policies {
            for phase in phases_of(*policy) {
                assert!(
                    covered.contains(&(model.key(), policy.as_str(), *phase)),
                    "{model:?}: no moment {phase} under {policy:?}"
                );
            }
        }
    }
}

/// The check above would catch the card this page once showed: a grace
/// period under every policy.
#[test]
fn a_grace_period_spoken_of_under_a_policy_without_one_is_caught() {
    for old in [
        "Shutting down: the listener is closed, so no new client gets in. The clients in \
         flight may finish until the grace period ends; then the tasks still running are \
         cancelled.",
        "Shutting down: the listener is closed, so no new client gets in. The grace period \
         is over: the tasks still running are cancelled.",
        "select() waits at most until the deadline",
        "asyncio.wait(tasks, timeout=5)",
    ] {
        assert!(speaks_of_a_deadline(old), "{old}");
    }
    assert!(!speaks_of_a_deadline(
        "Shutting down: waiting for every client to leave, with no deadline"
    ));
    // A world at each no-grace policy's phases, with the old words'
    // mistake made on purpose (a deadline the policy does not have): the
    // check fails.
    let mut world = World::default();
    for kind in [
        EventKind::Listening {
            addr: "127.0.0.1:1".into(),
            model: ServerModel::AsyncTasks,
            errors: HandlerStyle::Handled,
        },
        EventKind::Shutdown {
            phase: ShutdownPhase::StopAccepting,
        },
        EventKind::Shutdown {
            phase: ShutdownPhase::WaitingForEveryone,
        },
    ] {
        world.apply(&Event { at: 0, kind });
    }
    assert!(
        check_shutdown_words(
            ServerModel::AsyncTasks,
            HandlerStyle::Handled,
            ShutdownPolicy::WaitForEveryone,
            &world
        )
        .is_empty()
    );
    // The world told grace then cancel (its phases said draining) while
    // the run was asked to wait for everyone: caught.
    world.apply(&Event {
        at: 0,
        kind: EventKind::Shutdown {
            phase: ShutdownPhase::Draining { deadline: 1_000 },
        },
    });
    let wrong = check_shutdown_words(
        ServerModel::AsyncTasks,
        HandlerStyle::Handled,
        ShutdownPolicy::WaitForEveryone,
        &world,
    );
    assert!(
        wrong
            .iter()
            .any(|line| line.contains("speaks of a grace period")),
        "{wrong:?}"
    );
}

/// Every policy × phase the card can be shown at, built by hand (as a
/// live server's events would leave the world): under the three policies
/// without a grace period, neither the card nor the countdown speaks of
/// one, at any phase, for any length of grace the world may still hold.
#[test]
fn no_policy_without_a_grace_period_is_told_with_one() {
    let phases = [
        ShutdownPhase::StopAccepting,
        ShutdownPhase::WaitingForEveryone,
        ShutdownPhase::Notifying,
        ShutdownPhase::Cancelling,
        ShutdownPhase::Stopped,
    ];
    for policy in [
        ShutdownPolicy::CancelAtOnce,
        ShutdownPolicy::WaitForEveryone,
        ShutdownPolicy::NotifyFirst,
    ] {
        for errors in [HandlerStyle::Handled, HandlerStyle::Unhandled] {
            for phase in phases {
                for told_goodbye in [0, 2] {
                    let moment = Moment {
                        model: ServerModel::AsyncTasks,
                        errors,
                        phase: None,
                        parked: None,
                        crashed: None,
                        shutdown: Some(phase),
                        policy: (phase != ShutdownPhase::StopAccepting).then_some(policy),
                        grace: None,
                        told_goodbye,
                        cpu_permille: Some(20),
                        ready_tasks: 0,
                        ready_sockets: 0,
                        unhandled_errors: 0,
                    };
                    let card = explain(&moment, "Reset");
                    assert!(!speaks_of_a_deadline(&card), "{policy:?} {phase:?}: {card}");
                }
            }
        }
    }
}

#[test]
fn every_call_the_log_names_is_in_the_listing_shown() {
    for model in MODELS {
        for errors in [HandlerStyle::Handled, HandlerStyle::Unhandled] {
            let listing = Listing::of(model, errors);
            let mut named = BTreeSet::new();
            let shutdowns = ShutdownPolicy::ALL.map(|policy| Course::ShutDown {
                policy,
                silent: true,
            });
            for batch in shutdowns
                .into_iter()
                .flat_map(|course| run(model, errors, course))
            {
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
