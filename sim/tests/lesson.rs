#![cfg(not(target_arch = "wasm32"))]
//! The lesson's claims, checked on the simulator: each test states one
//! thing the playground teaches and watches the simulated server do it.

use loopscope_sim::{
    ClientBehaviour, ClientSpec, HandlerStyle, Listing, Scenario, ServerModel, Simulation,
};
use proptest::prelude::*;
use protocol::{
    Call, ConnId, Event, EventKind, Micros, ShutdownPhase, ShutdownPolicy, Sock, TaskOutcome,
};

const MS: Micros = 1000;
const SECOND: Micros = 1_000_000;
const MODELS: [ServerModel; 4] = [
    ServerModel::Blocking,
    ServerModel::BusyPoll,
    ServerModel::Selector,
    ServerModel::AsyncTasks,
];

fn polite(messages: u32, size: u32, interval_ms: u32) -> ClientBehaviour {
    ClientBehaviour::Polite {
        messages,
        size,
        interval_ms,
    }
}

/// Runs until every client has finished (or `limit`), returning all events.
fn run_to_completion(scenario: Scenario, limit: Micros) -> (Simulation, Vec<Event>) {
    let clients = scenario.clients.len();
    let mut simulation = Simulation::new(scenario);
    let mut events = Vec::new();
    let mut finished = 0;
    while finished < clients && simulation.now() < limit {
        simulation.run_until(simulation.now() + 10 * MS);
        let batch = simulation.drain_events();
        finished += batch
            .iter()
            .filter(|event| matches!(event.kind, EventKind::ClientFinished { .. }))
            .count();
        events.extend(batch);
    }
    assert_eq!(finished, clients, "every client finished within {limit} µs");
    (simulation, events)
}

fn client_results(events: &[Event]) -> Vec<(u64, Option<String>)> {
    events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::ClientFinished { echoed, error, .. } => Some((*echoed, error.clone())),
            _ => None,
        })
        .collect()
}

fn first_time(events: &[Event], matches: impl Fn(&EventKind) -> bool) -> Option<Micros> {
    events
        .iter()
        .find(|event| matches(&event.kind))
        .map(|event| event.at)
}

/// When each connection was accepted and closed.
fn service_spans(events: &[Event]) -> Vec<(ConnId, Micros, Micros)> {
    let mut spans = Vec::new();
    for event in events {
        if let EventKind::Accepted { conn, .. } = event.kind {
            let closed =
                first_time(events, |kind| *kind == EventKind::Closed { conn }).expect("closed");
            spans.push((conn, event.at, closed));
        }
    }
    spans
}

#[test]
fn the_same_scenario_and_seed_give_the_same_events_byte_for_byte() {
    for model in MODELS {
        let scenario = Scenario::new(model)
            .clients(5, polite(4, 100, 30), 0, 7 * MS)
            .client(ClientBehaviour::Crasher { size: 40 }, 20 * MS)
            .seed(42);
        let run = |scenario: Scenario| {
            let mut simulation = Simulation::new(scenario);
            simulation.run_until(2 * SECOND);
            serde_json::to_string(&simulation.drain_events()).unwrap()
        };
        let first = run(scenario.clone());
        assert_eq!(first, run(scenario.clone()), "{model:?}");
        assert_ne!(
            first,
            run(scenario.seed(43)),
            "{model:?}: the seed moves the clients' timing"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Over the whole range a client's parameters may take: no messages
    /// (it connects and leaves), empty messages (their echo is complete at
    /// once), buffers down to one byte; each message fits the buffers (a
    /// larger one, written whole before reading, stalls: see below).
    #[test]
    fn every_byte_a_polite_client_sends_comes_back_once_in_order_under_every_model(
        (buffer, clients) in (1usize..4096).prop_flat_map(|buffer| (
            Just(buffer),
            proptest::collection::vec((0u32..5, 0..=buffer as u32, 0u32..40, 0u64..100), 1..6),
        )),
        model in proptest::sample::select(MODELS.to_vec()),
        seed in any::<u64>(),
    ) {
        let mut scenario = Scenario::new(model).seed(seed).buffer(buffer);
        let mut expected = Vec::new();
        for &(messages, size, interval, start_ms) in &clients {
            scenario = scenario.client(polite(messages, size, interval), start_ms * MS);
            expected.push(u64::from(messages) * u64::from(size));
        }
        let (_, events) = run_to_completion(scenario, 600 * SECOND);
        let results = client_results(&events);
        // Clients check every byte against what they sent; any mix-up or
        // loss would end one with an error.
        prop_assert!(results.iter().all(|(_, error)| error.is_none()), "{results:?}");
        let mut echoed: Vec<u64> = results.iter().map(|(echoed, _)| *echoed).collect();
        echoed.sort_unstable();
        expected.sort_unstable();
        prop_assert_eq!(echoed, expected);
        let total = |pick: fn(&EventKind) -> u64| events.iter().map(|event| pick(&event.kind)).sum::<u64>();
        let received = total(|kind| if let EventKind::Received { bytes, .. } = kind { *bytes } else { 0 });
        let sent = total(|kind| if let EventKind::Sent { bytes, .. } = kind { *bytes } else { 0 });
        prop_assert_eq!(received, sent, "the server sent back exactly what it read");
    }
}

#[test]
fn a_client_with_nothing_to_say_connects_and_leaves_and_an_empty_message_is_echoed_at_once() {
    for model in MODELS {
        let scenario = Scenario::new(model)
            .client(polite(0, 32, 10), 0)
            .client(polite(3, 0, 10), MS)
            .client(polite(2, 1, 0), 2 * MS)
            .buffer(1);
        let (_, events) = run_to_completion(scenario, 10 * SECOND);
        let mut results = client_results(&events);
        results.sort();
        assert_eq!(results, [(0, None), (0, None), (2, None)], "{model:?}");
        assert_eq!(
            count_kind(&events, |kind| matches!(kind, EventKind::Accepted { .. })),
            3,
            "{model:?}: all three connected"
        );
    }
}

/// A client that writes a whole message before reading its echo stalls
/// when the message is larger than what the buffers of both directions
/// hold: the server's echo fills the client's receive buffer and its own
/// send buffer, so it stops reading, and the client's write waits forever.
/// The live relay's clients write the same way, and stall the same way
/// (at the kernel's buffer sizes instead of the simulator's).
#[test]
fn a_message_larger_than_the_buffers_written_whole_before_reading_stalls() {
    for model in MODELS {
        let scenario = Scenario::new(model)
            .buffer(1024)
            .client(polite(1, 64 * 1024, 0), 0);
        let mut simulation = Simulation::new(scenario);
        simulation.run_until(30 * SECOND);
        let events = simulation.drain_events();
        assert!(
            client_results(&events).is_empty(),
            "{model:?}: the client never finishes"
        );
        let echoed: u64 = events
            .iter()
            .map(|event| match event.kind {
                EventKind::Received { bytes, .. } => bytes,
                _ => 0,
            })
            .sum();
        assert!(
            echoed < 64 * 1024,
            "{model:?}: the server stopped reading at {echoed}"
        );
    }
}

fn count_kind(events: &[Event], pick: impl Fn(&EventKind) -> bool) -> usize {
    events.iter().filter(|event| pick(&event.kind)).count()
}

#[test]
fn the_blocking_server_serves_one_client_at_a_time() {
    let scenario = Scenario::new(ServerModel::Blocking).clients(3, polite(3, 50, 40), 0, MS);
    let (simulation, events) = run_to_completion(scenario, 10 * SECOND);
    let spans = service_spans(&events);
    assert_eq!(spans.len(), 3);
    for pair in spans.windows(2) {
        assert!(
            pair[0].2 <= pair[1].1,
            "{pair:?}: the next is accepted only after the last is closed"
        );
    }
    // The second client's first echo comes after the first disconnects.
    let second_echo = first_time(&events, |kind| {
        matches!(
            kind,
            EventKind::Sent {
                conn: ConnId(2),
                ..
            }
        )
    })
    .unwrap();
    assert!(second_echo > spans[0].2);
    // Meanwhile the others waited in the backlog...
    assert!(
        events
            .iter()
            .any(|event| event.kind == EventKind::Backlog { waiting: 2 })
    );
    // ...and the thread was parked, not spinning.
    assert!(events.iter().any(|event| event.kind
        == EventKind::CallBlocked {
            call: Call::Recv,
            sock: Sock::Conn(ConnId(1))
        }));
    let stats = simulation.stats();
    assert!(
        stats.busy * 100 < simulation.now(),
        "idle while blocked: {stats:?}"
    );
}

#[test]
fn the_busy_poll_server_burns_the_cpu_and_counts_would_blocks_even_when_nobody_sends() {
    let mut simulation =
        Simulation::new(Scenario::new(ServerModel::BusyPoll).client(ClientBehaviour::Silent {}, 0));
    simulation.run_until(SECOND / 2);
    let half = simulation.stats();
    simulation.run_until(SECOND);
    let whole = simulation.stats();
    assert!(whole.busy >= SECOND * 99 / 100, "CPU busy 100%: {whole:?}");
    assert!(half.would_block > 10_000, "{half:?}");
    // Twice the idle time, about twice the would-blocks.
    let ratio = whole.would_block as f64 / half.would_block as f64;
    assert!((1.9..2.1).contains(&ratio), "{ratio}");
    let cpu: Vec<_> = simulation
        .drain_events()
        .into_iter()
        .filter_map(|event| match event.kind {
            EventKind::Cpu { busy_us, window_us } => Some(busy_us * 100 / window_us),
            _ => None,
        })
        .collect();
    assert!(
        !cpu.is_empty() && cpu.iter().all(|&percent| percent >= 99),
        "{cpu:?}"
    );
}

#[test]
fn the_busy_poll_server_serves_everyone_at_once() {
    let scenario = Scenario::new(ServerModel::BusyPoll).clients(3, polite(5, 50, 50), 0, MS);
    let (_, events) = run_to_completion(scenario, 10 * SECOND);
    let spans = service_spans(&events);
    assert!(
        spans[1].1 < spans[0].2 && spans[2].1 < spans[0].2,
        "{spans:?}: all served together"
    );
}

#[test]
fn selector_and_tasks_sleep_when_nobody_sends_and_serve_clients_concurrently() {
    for model in [ServerModel::Selector, ServerModel::AsyncTasks] {
        let mut idle = Simulation::new(Scenario::new(model).client(ClientBehaviour::Silent {}, 0));
        idle.run_until(2 * SECOND);
        let stats = idle.stats();
        assert!(
            stats.busy * 1000 < 2 * SECOND,
            "{model:?}: CPU idle when nobody sends: {stats:?}"
        );
        assert_eq!(stats.would_block, 0, "{model:?}: no spinning");

        let scenario = Scenario::new(model).clients(4, polite(5, 100, 50), 0, 2 * MS);
        let (_, events) = run_to_completion(scenario, 10 * SECOND);
        let spans = service_spans(&events);
        assert_eq!(spans.len(), 4);
        for (conn, accepted, _) in &spans[1..] {
            assert!(
                *accepted < spans[0].2,
                "{model:?}: {conn} served while conn#1 still is"
            );
        }
    }
}

#[test]
fn a_task_suspends_at_await_and_is_woken_by_the_selector() {
    let scenario = Scenario::new(ServerModel::AsyncTasks).client(polite(2, 10, 100), 0);
    let (_, events) = run_to_completion(scenario, SECOND);
    let kinds: Vec<&EventKind> = events.iter().map(|event| &event.kind).collect();
    let waiting = kinds
        .iter()
        .position(|kind| {
            matches!(
                kind,
                EventKind::TaskWaiting {
                    sock: Sock::Conn(_),
                    ..
                }
            )
        })
        .expect("the handler suspends on recv");
    let woken = kinds[waiting..]
        .iter()
        .position(|kind| matches!(kind, EventKind::TaskWoken { .. }))
        .expect("then it is woken");
    let select = kinds[waiting..waiting + woken]
        .iter()
        .any(|kind| matches!(kind, EventKind::SelectReturned { ready } if !ready.is_empty()));
    assert!(select, "by a select() that found its socket ready");
}

#[test]
fn a_full_send_buffer_suspends_sock_sendall_on_write() {
    let scenario = Scenario::new(ServerModel::AsyncTasks)
        .buffer(1024)
        .client(ClientBehaviour::Flood { bytes: 64 * 1024 }, 0);
    let mut simulation = Simulation::new(scenario);
    simulation.run_until(SECOND);
    let events = simulation.drain_events();
    assert!(events.iter().any(|event| matches!(
        event.kind,
        EventKind::TaskWaiting {
            op: protocol::IoOp::Write,
            ..
        }
    )));
}

#[test]
fn a_slow_sender_is_echoed_byte_by_byte() {
    for model in MODELS {
        let slow = ClientBehaviour::Slow {
            messages: 2,
            size: 5,
            byte_interval_ms: 10,
        };
        let (_, events) = run_to_completion(Scenario::new(model).client(slow, 0), 5 * SECOND);
        assert_eq!(client_results(&events), vec![(10, None)], "{model:?}");
    }
}

fn with_a_crasher(model: ServerModel, style: HandlerStyle) -> Scenario {
    Scenario::new(model)
        .style(style)
        .clients(3, polite(4, 30, 50), 0, MS)
        .client(ClientBehaviour::Crasher { size: 40 }, 20 * MS)
}

#[test]
fn a_handled_reset_never_stops_the_other_clients() {
    for model in MODELS {
        let (_, events) =
            run_to_completion(with_a_crasher(model, HandlerStyle::Handled), 10 * SECOND);
        let results = client_results(&events);
        let polite_ok = results
            .iter()
            .filter(|(echoed, error)| *echoed == 120 && error.is_none())
            .count();
        assert_eq!(polite_ok, 3, "{model:?}: {results:?}");
        assert!(
            events.iter().any(|event| matches!(&event.kind, EventKind::ErrorHandled { error, .. } if error.contains("reset"))),
            "{model:?}"
        );
    }
}

#[test]
fn an_unhandled_error_kills_only_its_task_and_is_reported_late() {
    let (_, events) = run_to_completion(
        with_a_crasher(ServerModel::AsyncTasks, HandlerStyle::Unhandled),
        10 * SECOND,
    );
    let results = client_results(&events);
    assert_eq!(
        results
            .iter()
            .filter(|(echoed, error)| *echoed == 120 && error.is_none())
            .count(),
        3
    );
    let failed = events
        .iter()
        .find_map(|event| match &event.kind {
            EventKind::TaskFinished {
                task,
                outcome: TaskOutcome::Failed { error },
                ..
            } => Some((*task, error.clone(), event.at)),
            _ => None,
        })
        .expect("the crasher's task fails");
    assert!(failed.1.contains("reset"));
    let kinds: Vec<&EventKind> = events.iter().map(|event| &event.kind).collect();
    let failed_at = kinds
        .iter()
        .position(|kind| matches!(kind, EventKind::TaskFinished { task, .. } if *task == failed.0))
        .unwrap();
    let reported_at = kinds
        .iter()
        .position(|kind| matches!(kind, EventKind::ExceptionNeverRetrieved { task, .. } if *task == failed.0))
        .expect("never retrieved");
    assert!(
        reported_at > failed_at,
        "reported after the task died, at the loop's timers"
    );
    assert!(
        !kinds
            .iter()
            .any(|kind| matches!(kind, EventKind::ServerCrashed { .. }))
    );
}

#[test]
fn the_same_unhandled_error_takes_a_thread_based_server_down() {
    for model in [
        ServerModel::Blocking,
        ServerModel::BusyPoll,
        ServerModel::Selector,
    ] {
        let scenario = Scenario::new(model)
            .style(HandlerStyle::Unhandled)
            .client(ClientBehaviour::Crasher { size: 40 }, 0)
            .client(polite(20, 30, 50), 5 * MS);
        let (simulation, events) = run_to_completion(scenario, 10 * SECOND);
        assert!(simulation.server_stopped(), "{model:?}");
        assert!(
            events
                .iter()
                .any(|event| matches!(event.kind, EventKind::ServerCrashed { .. }))
        );
        let results = client_results(&events);
        assert!(
            results.iter().any(|(_, error)| error.is_some()),
            "{model:?}: the polite client lost its server"
        );
    }
}

#[test]
fn graceful_shutdown_stops_accepting_lets_work_finish_and_cancels_the_rest() {
    let grace = SECOND;
    let scenario = Scenario::new(ServerModel::AsyncTasks)
        .client(polite(4, 20, 100), 0) // done within the grace period
        .client(polite(50, 20, 100), 0) // still sending at the deadline
        .client(ClientBehaviour::Silent {}, 0);
    let mut simulation = Simulation::new(scenario);
    simulation.run_until(200 * MS);
    simulation.shutdown(grace);
    let late = simulation.add_client(ClientSpec {
        behaviour: polite(1, 10, 0),
        start: simulation.now(),
    });
    simulation.run_until(5 * SECOND);
    let events = simulation.drain_events();
    let at = |phase: ShutdownPhase| {
        first_time(&events, |kind| *kind == EventKind::Shutdown { phase }).unwrap()
    };
    let stop = at(ShutdownPhase::StopAccepting);
    let cancelling = at(ShutdownPhase::Cancelling);
    let stopped = at(ShutdownPhase::Stopped);
    assert_eq!(cancelling, stop + grace);
    assert!(stopped <= cancelling + MS, "stops right after cancelling");

    assert!(
        events
            .iter()
            .all(|event| event.at <= stop || !matches!(event.kind, EventKind::Accepted { .. }))
    );
    assert!(events.iter().any(|event| matches!(&event.kind,
        EventKind::ClientFinished { client, error: Some(error), .. } if *client == late && error.contains("refused"))));
    let outcome_of = |conn: u64| {
        events.iter().find_map(|event| match &event.kind {
            EventKind::TaskFinished {
                conn: Some(c),
                outcome,
                ..
            } if *c == ConnId(conn) => Some((outcome.clone(), event.at)),
            _ => None,
        })
    };
    let (short, short_at) = outcome_of(1).unwrap();
    assert_eq!(
        short,
        TaskOutcome::Ok,
        "finished within grace: done, not cancelled"
    );
    assert!(short_at < cancelling);
    assert_eq!(outcome_of(2).unwrap(), (TaskOutcome::Cancelled, cancelling));
    assert_eq!(outcome_of(3).unwrap(), (TaskOutcome::Cancelled, cancelling));
    // No task runs past the deadline except to be cancelled.
    assert!(
        !events
            .iter()
            .any(|event| event.at > cancelling
                && matches!(event.kind, EventKind::TaskResumed { .. }))
    );
    assert!(simulation.server_stopped());
}

#[test]
fn every_model_shuts_down_gracefully() {
    for model in MODELS {
        let scenario = Scenario::new(model)
            .client(polite(100, 20, 100), 0)
            .client(ClientBehaviour::Silent {}, 0);
        let mut simulation = Simulation::new(scenario);
        simulation.run_until(300 * MS);
        simulation.shutdown(SECOND);
        simulation.run_until(3 * SECOND);
        let events = simulation.drain_events();
        assert!(simulation.server_stopped(), "{model:?}");
        let stopped = first_time(&events, |kind| {
            *kind
                == EventKind::Shutdown {
                    phase: ShutdownPhase::Stopped,
                }
        });
        assert!(
            stopped.is_some_and(|at| at <= 300 * MS + SECOND + MS),
            "{model:?}: {stopped:?}"
        );
    }
}

#[test]
fn step_runs_exactly_one_loop_iteration() {
    for model in MODELS {
        let mut simulation =
            Simulation::new(Scenario::new(model).clients(2, polite(10, 10, 20), 0, MS));
        simulation.drain_events();
        for _ in 0..20 {
            assert!(simulation.step(10 * SECOND), "{model:?}");
            let iterations = simulation
                .drain_events()
                .iter()
                .filter(|event| matches!(event.kind, EventKind::LoopIteration { .. }))
                .count();
            assert_eq!(iterations, 1, "{model:?}");
        }
    }
}

#[test]
fn the_lit_line_is_the_line_the_server_is_on() {
    for model in MODELS {
        let listing = Listing::of(model, HandlerStyle::Handled);
        let source: Vec<&str> = listing.source.lines().collect();
        let scenario = Scenario::new(model).clients(2, polite(3, 10, 20), 0, MS);
        let (_, events) = run_to_completion(scenario, 5 * SECOND);
        let mut line = 0;
        let mut checked = 0;
        for event in &events {
            match &event.kind {
                EventKind::CodeLine { line: at } => line = *at,
                EventKind::Accepted { .. } => {
                    assert!(
                        source[line as usize - 1].contains("accept"),
                        "{model:?}: {}",
                        source[line as usize - 1]
                    );
                    checked += 1;
                }
                EventKind::Received { .. } => {
                    assert!(
                        source[line as usize - 1].contains("recv"),
                        "{model:?}: {}",
                        source[line as usize - 1]
                    );
                    checked += 1;
                }
                EventKind::Sent { .. } => {
                    assert!(
                        source[line as usize - 1].contains("send"),
                        "{model:?}: {}",
                        source[line as usize - 1]
                    );
                    checked += 1;
                }
                _ => {}
            }
        }
        assert!(checked >= 10, "{model:?}");
    }
}

fn round_trips(events: &[Event]) -> Vec<(protocol::ClientId, Micros)> {
    events
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::RoundTrip { client, latency_us } => Some((client, latency_us)),
            _ => None,
        })
        .collect()
}

#[test]
fn latency_tells_who_waited_for_whom() {
    let scenario = |model| Scenario::new(model).clients(2, polite(3, 50, 100), 0, MS);
    // Blocking: the second client's first echo waits out the whole first
    // conversation (three messages 100 ms apart).
    let (_, events) = run_to_completion(scenario(ServerModel::Blocking), 10 * SECOND);
    let trips = round_trips(&events);
    assert_eq!(trips.len(), 6);
    let first_of_second = trips.iter().find(|(client, _)| client.0 == 2).unwrap().1;
    assert!(first_of_second > 150 * MS, "{trips:?}");
    // Selector: nobody waits for anybody.
    let (_, events) = run_to_completion(scenario(ServerModel::Selector), 10 * SECOND);
    let worst = round_trips(&events)
        .iter()
        .map(|(_, latency)| *latency)
        .max()
        .unwrap();
    assert!(worst < MS, "{worst} µs");
}

#[test]
fn the_buffers_fill_when_a_client_stops_reading_and_empty_when_echoed() {
    // A flood client never reads: the echo backs up in the server's send
    // buffer until it is full; then the server stops reading, and the flood
    // backs up in the receive buffer too.
    let scenario = Scenario::new(ServerModel::AsyncTasks)
        .buffer(1024)
        .client(ClientBehaviour::Flood { bytes: 64 * 1024 }, 0);
    let mut simulation = Simulation::new(scenario);
    simulation.run_until(SECOND);
    let levels: Vec<(u64, u64)> = simulation
        .drain_events()
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::Buffered {
                recv_queue,
                send_queue,
                ..
            } => Some((recv_queue, send_queue)),
            _ => None,
        })
        .collect();
    assert!(
        levels
            .iter()
            .all(|&(recv, send)| recv <= 1024 && send <= 1024)
    );
    assert_eq!(levels.last(), Some(&(1024, 1024)), "both full: {levels:?}");
    assert!(
        levels.windows(2).all(|pair| pair[0] != pair[1]),
        "only changes are reported"
    );

    // Polite clients read each echo: everything buffered is taken again.
    let (_, events) = run_to_completion(
        Scenario::new(ServerModel::Selector).clients(3, polite(2, 100, 50), 0, MS),
        10 * SECOND,
    );
    let mut last = std::collections::BTreeMap::new();
    for event in &events {
        if let EventKind::Buffered {
            conn,
            recv_queue,
            send_queue,
        } = event.kind
        {
            last.insert(conn, (recv_queue, send_queue));
        }
    }
    assert_eq!(last.len(), 3);
    assert!(last.values().all(|levels| *levels == (0, 0)), "{last:?}");
}

#[test]
fn what_a_client_sent_from_the_backlog_is_buffered_when_it_is_accepted() {
    let (_, events) = run_to_completion(
        Scenario::new(ServerModel::Blocking).clients(2, polite(2, 100, 50), 0, MS),
        10 * SECOND,
    );
    let second = ConnId(2);
    let accepted = events
        .iter()
        .position(|event| matches!(event.kind, EventKind::Accepted { conn, .. } if conn == second))
        .expect("the second client is accepted");
    // Its first message waited in the backlog: the first report of its
    // buffers, before the server reads from it, shows those bytes.
    let first_report = events[accepted..]
        .iter()
        .find_map(|event| match event.kind {
            EventKind::Buffered {
                conn, recv_queue, ..
            } if conn == second => Some(recv_queue),
            EventKind::Received { conn, .. } if conn == second => Some(0),
            _ => None,
        });
    assert_eq!(first_report, Some(100));
}

/// The lines lit through a client's error and a shutdown are lines of the
/// listing in force (the handled or the unhandled variant): the `except`
/// that caught the error, then each step of the shutdown code, in the
/// branch of the policy in force.
/// Two polite clients, a crasher and a silent client, then a shutdown
/// under `policy` (200 ms grace): every kind of line a listing lights.
fn errors_then_shutdown(
    model: ServerModel,
    style: HandlerStyle,
    policy: ShutdownPolicy,
) -> Vec<Event> {
    let mut simulation = Simulation::new(
        Scenario::new(model)
            .style(style)
            .clients(2, polite(2, 10, 50), 0, MS)
            .client(ClientBehaviour::Crasher { size: 40 }, 20 * MS)
            .client(ClientBehaviour::Silent {}, 30 * MS),
    );
    simulation.run_until(500 * MS);
    simulation.shutdown_with(policy, 200 * MS);
    simulation.run_until(2 * SECOND);
    simulation.drain_events()
}

/// Every model with the default shutdown, and asyncio's under each policy.
fn models_styles_and_policies() -> Vec<(ServerModel, HandlerStyle, ShutdownPolicy)> {
    let mut runs = Vec::new();
    for model in MODELS {
        for style in [HandlerStyle::Handled, HandlerStyle::Unhandled] {
            let policies: &[ShutdownPolicy] = if model.offers_shutdown_policies() {
                &ShutdownPolicy::ALL
            } else {
                &[ShutdownPolicy::GraceThenCancel]
            };
            runs.extend(policies.iter().map(|policy| (model, style, *policy)));
        }
    }
    runs
}

#[test]
fn errors_and_shutdowns_light_the_lines_of_the_listing_in_force() {
    for (model, style, policy) in models_styles_and_policies() {
        let listing = Listing::of(model, style);
        let source: Vec<&str> = listing.source.lines().collect();
        let line_text = |line: u32| source[line as usize - 1];
        let events = errors_then_shutdown(model, style, policy);
        let crashed = events
            .iter()
            .any(|event| matches!(event.kind, EventKind::ServerCrashed { .. }));
        let expect_crash = style == HandlerStyle::Unhandled && model != ServerModel::AsyncTasks;
        assert_eq!(crashed, expect_crash, "{}", listing.file);
        let cancel_line = match policy {
            ShutdownPolicy::GraceThenCancel => "# the grace period is over",
            ShutdownPolicy::CancelAtOnce => "# cancel at once",
            ShutdownPolicy::NotifyFirst => "# then close it",
            ShutdownPolicy::WaitForEveryone => "(no cancelling)",
        };
        let mut lit = 0;
        let mut seen = Vec::new();
        let at_line = |lit: u32, anchor: &'static str, seen: &mut Vec<&str>| {
            assert!(
                line_text(lit).contains(anchor),
                "{} {policy:?}: {anchor:?} expected, line {lit} is {:?}",
                listing.file,
                line_text(lit)
            );
            seen.push(anchor);
        };
        for event in &events {
            match &event.kind {
                EventKind::CodeLine { line } => lit = *line,
                EventKind::ErrorHandled { .. } => {
                    assert!(
                        line_text(lit).contains("except ConnectionError"),
                        "{}: {:?}",
                        listing.file,
                        line_text(lit)
                    );
                    seen.push("except");
                }
                EventKind::Shutdown { phase } => match phase {
                    ShutdownPhase::StopAccepting => at_line(lit, "# stop accepting", &mut seen),
                    ShutdownPhase::Cancelling => at_line(lit, cancel_line, &mut seen),
                    ShutdownPhase::WaitingForEveryone => {
                        at_line(lit, "# wait for everyone, no deadline", &mut seen)
                    }
                    ShutdownPhase::Notifying => at_line(lit, "# say goodbye", &mut seen),
                    ShutdownPhase::Stopped => at_line(lit, "print(\"shut down\"", &mut seen),
                    ShutdownPhase::Draining { .. } => {}
                },
                _ => {}
            }
        }
        let shutdown: &[&str] = match policy {
            ShutdownPolicy::GraceThenCancel | ShutdownPolicy::CancelAtOnce => {
                &["# stop accepting", cancel_line, "print(\"shut down\""]
            }
            // The silent client never leaves: the server never stops.
            ShutdownPolicy::WaitForEveryone => {
                &["# stop accepting", "# wait for everyone, no deadline"]
            }
            ShutdownPolicy::NotifyFirst => &[
                "# stop accepting",
                "# say goodbye",
                cancel_line,
                "print(\"shut down\"",
            ],
        };
        let expected: Vec<&str> = match (style, crashed) {
            (HandlerStyle::Handled, _) => ["except"].iter().chain(shutdown).copied().collect(),
            (HandlerStyle::Unhandled, false) => shutdown.to_vec(),
            // A dead server has nothing left to shut down.
            (HandlerStyle::Unhandled, true) => Vec::new(),
        };
        assert_eq!(seen, expected, "{} {policy:?}", listing.file);
    }
}

/// A live lab reports no lines: the page lights the line each happening
/// stands at ([`HappeningLines`]). Those lines are the ones the simulator
/// itself lights at the same happenings, in every model and variant, and
/// in each branch of asyncio's shutdown.
#[test]
fn the_lines_a_live_run_lights_are_the_lines_the_simulator_lights() {
    use loopscope_sim::HappeningLines;
    use std::collections::BTreeMap;
    for (model, style, policy) in models_styles_and_policies() {
        let mut lines = HappeningLines::of(model, style);
        let mut lit = 0;
        let mut agreed: BTreeMap<&str, usize> = BTreeMap::new();
        for event in errors_then_shutdown(model, style, policy) {
            if let EventKind::CodeLine { line } = event.kind {
                lit = line;
                continue;
            }
            let Some(line) = lines.line(&event.kind) else {
                continue;
            };
            assert_eq!(
                line, lit,
                "{model:?} {style:?} {policy:?}: {:?} stands at line {line}, the simulator is at {lit}",
                event.kind
            );
            *agreed.entry(kind_of(&event.kind)).or_default() += 1;
        }
        assert!(agreed.len() >= 4, "{model:?} {style:?}: {agreed:?}");
        let crashed = style == HandlerStyle::Unhandled && model != ServerModel::AsyncTasks;
        if !crashed {
            let phases = agreed.get("shutdown").copied().unwrap_or(0);
            let expected = match policy {
                ShutdownPolicy::WaitForEveryone => 2,
                ShutdownPolicy::NotifyFirst => 4,
                _ => 3,
            };
            assert_eq!(
                phases, expected,
                "{model:?} {style:?} {policy:?}: {agreed:?}"
            );
        }
    }
}

fn kind_of(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::Accepted { .. } => "accepted",
        EventKind::Received { .. } => "received",
        EventKind::Sent { .. } => "sent",
        EventKind::Closed { .. } => "closed",
        EventKind::Shutdown { .. } => "shutdown",
        EventKind::ErrorHandled { .. } => "error_handled",
        _ => "other",
    }
}
