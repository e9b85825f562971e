#![cfg(not(target_arch = "wasm32"))]
//! The four ways asyncio's server can shut down, on the simulator: two
//! polite clients in the middle of their conversation and one silent client
//! that never says a word, then a shutdown under each policy. Who finished,
//! who was cancelled, who was told goodbye, and in what phases.

use loopscope_sim::{ClientBehaviour, Scenario, ServerModel, Simulation};
use protocol::{ClientId, Event, EventKind, Micros, ShutdownPhase, ShutdownPolicy, TaskOutcome};

const MS: Micros = 1000;
const SECOND: Micros = 1_000_000;

/// 20 messages of 10 bytes, 50 ms apart: about a second of conversation.
const POLITE: ClientBehaviour = ClientBehaviour::Polite {
    messages: 20,
    size: 10,
    interval_ms: 50,
};
/// What a polite client gets back when it is let finish.
const IN_FULL: u64 = 200;
const SILENT: ClientId = ClientId(3);

/// Two polite clients and a silent one, shut down under `policy` (with a
/// grace of `grace`) 200 ms in, and run for `run` more.
fn shut_down_mid_conversation(
    polite: usize,
    silent: bool,
    policy: ShutdownPolicy,
    grace: Micros,
    run: Micros,
) -> (Simulation, Vec<Event>) {
    let mut scenario = Scenario::new(ServerModel::AsyncTasks).clients(polite, POLITE, 0, MS);
    if silent {
        scenario = scenario.client(ClientBehaviour::Silent {}, 5 * MS);
    }
    let mut simulation = Simulation::new(scenario);
    simulation.run_until(200 * MS);
    let mut events = simulation.drain_events();
    let before = count(&events, |kind| matches!(kind, EventKind::RoundTrip { .. }));
    assert!(
        before >= 2 * polite,
        "mid-conversation: {before} round trips"
    );
    assert_eq!(
        count(&events, |kind| matches!(
            kind,
            EventKind::ClientFinished { .. }
        )),
        0
    );
    simulation.shutdown_with(policy, grace);
    simulation.run_until(200 * MS + run);
    events.extend(simulation.drain_events());
    (simulation, events)
}

fn count(events: &[Event], pick: impl Fn(&EventKind) -> bool) -> usize {
    events.iter().filter(|event| pick(&event.kind)).count()
}

/// The shutdown's phases in order, deadlines left out.
fn phases(events: &[Event]) -> Vec<&'static str> {
    events
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::Shutdown { phase } => Some(phase.name()),
            _ => None,
        })
        .collect()
}

/// How each handler task ended, in the order they ended.
fn outcomes(events: &[Event]) -> Vec<TaskOutcome> {
    events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::TaskFinished {
                conn: Some(_),
                outcome,
                ..
            } => Some(outcome.clone()),
            _ => None,
        })
        .collect()
}

/// Each client's end: (client, echoed, error, told goodbye), by client.
fn finished(events: &[Event]) -> Vec<(ClientId, u64, Option<String>, bool)> {
    let mut ends: Vec<_> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::ClientFinished {
                client,
                echoed,
                error,
                told_goodbye,
            } => Some((*client, *echoed, error.clone(), *told_goodbye)),
            _ => None,
        })
        .collect();
    ends.sort_by_key(|end| end.0);
    ends
}

#[test]
fn grace_then_cancel_lets_the_polite_finish_and_cancels_the_silent_at_the_deadline() {
    let (simulation, events) = shut_down_mid_conversation(
        2,
        true,
        ShutdownPolicy::GraceThenCancel,
        2 * SECOND,
        5 * SECOND,
    );
    assert_eq!(
        phases(&events),
        ["stop accepting", "draining", "cancelling", "stopped"]
    );
    assert_eq!(
        outcomes(&events),
        [TaskOutcome::Ok, TaskOutcome::Ok, TaskOutcome::Cancelled]
    );
    let ends = finished(&events);
    assert_eq!(ends[0], (ClientId(1), IN_FULL, None, false));
    assert_eq!(ends[1], (ClientId(2), IN_FULL, None, false));
    assert_eq!(ends[2], (SILENT, 0, None, false));
    assert!(simulation.server_stopped());
}

#[test]
fn cancel_at_once_cuts_every_conversation_short_without_a_deadline() {
    let (simulation, events) = shut_down_mid_conversation(
        2,
        true,
        ShutdownPolicy::CancelAtOnce,
        2 * SECOND,
        5 * SECOND,
    );
    assert_eq!(phases(&events), ["stop accepting", "cancelling", "stopped"]);
    assert_eq!(outcomes(&events), vec![TaskOutcome::Cancelled; 3]);
    let at = |phase: &str| {
        events
            .iter()
            .find(|event| phases(std::slice::from_ref(event)) == [phase])
            .map(|event| event.at)
            .unwrap()
    };
    assert_eq!(at("cancelling"), at("stop accepting"), "no grace at all");
    assert!(at("stopped") - at("stop accepting") < 10 * MS);
    for (client, echoed, error, told) in &finished(&events)[..2] {
        assert!(*echoed < IN_FULL, "{client} was cut short: {echoed}");
        assert_eq!(echoed % 10, 0, "{client} got whole echoes only");
        assert_eq!(
            error.as_deref(),
            Some("the server closed the connection"),
            "{client}"
        );
        assert!(!told, "{client} was told nothing");
    }
    assert_eq!(finished(&events)[2], (SILENT, 0, None, false));
    assert!(simulation.server_stopped());
}

#[test]
fn wait_for_everyone_waits_for_ever_while_a_silent_client_stays() {
    let (simulation, events) =
        shut_down_mid_conversation(2, true, ShutdownPolicy::WaitForEveryone, 0, 60 * SECOND);
    assert_eq!(phases(&events), ["stop accepting", "waiting for everyone"]);
    // The polite ones finish their conversation, however long after the
    // shutdown began; the silent one is still served a minute later.
    assert_eq!(outcomes(&events), [TaskOutcome::Ok, TaskOutcome::Ok]);
    let ends = finished(&events);
    assert_eq!(
        ends,
        [
            (ClientId(1), IN_FULL, None, false),
            (ClientId(2), IN_FULL, None, false)
        ]
    );
    assert!(!simulation.server_stopped());
    // Nothing bounds the loop's wait: select() has no timeout.
    let waiting = events
        .iter()
        .position(|event| {
            matches!(
                event.kind,
                EventKind::Shutdown {
                    phase: ShutdownPhase::WaitingForEveryone
                }
            )
        })
        .unwrap();
    let timeouts: Vec<Option<Micros>> = events[waiting..]
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::SelectCalled { timeout_us } => Some(timeout_us),
            _ => None,
        })
        .collect();
    assert!(!timeouts.is_empty());
    assert!(
        timeouts.iter().all(|t| matches!(t, None | Some(0))),
        "{timeouts:?}"
    );
    assert_eq!(timeouts.last(), Some(&None));
}

#[test]
fn wait_for_everyone_stops_when_the_last_client_leaves_by_itself() {
    let (simulation, events) =
        shut_down_mid_conversation(2, false, ShutdownPolicy::WaitForEveryone, 0, 5 * SECOND);
    assert_eq!(
        phases(&events),
        ["stop accepting", "waiting for everyone", "stopped"]
    );
    assert_eq!(outcomes(&events), [TaskOutcome::Ok, TaskOutcome::Ok]);
    let last_left = events
        .iter()
        .filter(|event| matches!(event.kind, EventKind::TaskFinished { .. }))
        .map(|event| event.at)
        .max()
        .unwrap();
    let stopped = events
        .iter()
        .find(|event| {
            matches!(
                event.kind,
                EventKind::Shutdown {
                    phase: ShutdownPhase::Stopped
                }
            )
        })
        .unwrap()
        .at;
    assert!(
        stopped >= last_left && last_left > 900 * MS,
        "stopped at {stopped} µs, once the last left at {last_left} µs"
    );
    assert!(simulation.server_stopped());
}

#[test]
fn notify_first_says_goodbye_to_everyone_then_closes() {
    let (simulation, events) =
        shut_down_mid_conversation(2, true, ShutdownPolicy::NotifyFirst, 2 * SECOND, 5 * SECOND);
    assert_eq!(
        phases(&events),
        ["stop accepting", "notifying", "cancelling", "stopped"]
    );
    assert_eq!(outcomes(&events), vec![TaskOutcome::Cancelled; 3]);
    let ends = finished(&events);
    for (client, echoed, error, told) in &ends[..2] {
        assert!(*told, "{client} read the goodbye");
        assert_eq!(*error, None, "{client}: a goodbye is no error");
        assert!(*echoed < IN_FULL && echoed % 10 == 0, "{client}: {echoed}");
    }
    assert_eq!(ends[2], (SILENT, 0, None, true));
    assert!(simulation.server_stopped());
}

#[test]
fn only_asyncio_offers_a_choice_the_others_give_grace_then_cancel() {
    for model in [
        ServerModel::Blocking,
        ServerModel::BusyPoll,
        ServerModel::Selector,
    ] {
        let mut simulation =
            Simulation::new(Scenario::new(model).client(ClientBehaviour::Silent {}, 0));
        simulation.run_until(100 * MS);
        simulation.shutdown_with(ShutdownPolicy::NotifyFirst, 300 * MS);
        simulation.run_until(SECOND);
        let events = simulation.drain_events();
        assert_eq!(
            phases(&events),
            ["stop accepting", "draining", "cancelling", "stopped"],
            "{model:?}"
        );
        assert!(
            finished(&events).iter().all(|end| !end.3),
            "{model:?}: nobody was told goodbye"
        );
    }
}
