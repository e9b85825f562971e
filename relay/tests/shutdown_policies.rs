//! The four ways asyncio's server can shut down, live: two polite lab
//! clients in the middle of their conversation and one lingering client
//! this test holds on a real socket, then a shutdown under each policy.
//! Which tasks finished and which were cancelled, what the clients read
//! (the goodbye line, or the end), and the phases; and a thread model
//! refusing a policy its program does not offer.

use loopscope_relay::Config;
use protocol::{
    ClientBehaviour, ClientId, Command, Event, EventKind, GOODBYE, HandlerStyle, ServerModel,
    ShutdownPhase, ShutdownPolicy, TaskOutcome,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

mod support;
use support::*;

/// 20 messages of 10 bytes, 250 ms apart: some 5 s of conversation, so a
/// shutdown sent once it has begun lands in its middle, however slowly a
/// busy machine carries the command.
const POLITE: ClientBehaviour = ClientBehaviour::Polite {
    messages: 20,
    size: 10,
    interval_ms: 250,
};
/// What a polite client gets back when it is let finish.
const IN_FULL: u64 = 200;
/// A grace that outlasts the rest of a polite conversation (under 5 s),
/// with room for a busy machine.
const GRACE_OUTLASTING_THE_POLITE_MS: u32 = 10_000;

/// A lab running asyncio's server with the two polite clients talking and
/// a lingering client of the test's own connected and echoed once.
async fn mid_conversation() -> (RunningRelay, Socket, TcpStream, Vec<Event>) {
    let relay = start_relay(Config::default()).await;
    let (mut socket, hello) =
        open_lab_running(&relay, ServerModel::AsyncTasks, HandlerStyle::Handled).await;
    let mut lingering = TcpStream::connect(&hello.echo_addr).await.unwrap();
    assert_echoes(&mut lingering, b"hello").await;
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 2,
            behaviour: POLITE,
        },
    )
    .await;
    let events = events_until(&mut socket, |seen| {
        count(seen, |kind| matches!(kind, EventKind::RoundTrip { .. })) >= 2
    })
    .await;
    (relay, socket, lingering, events)
}

async fn shut_down(socket: &mut Socket, policy: ShutdownPolicy, grace_ms: u32) {
    send_command(socket, &Command::Shutdown { grace_ms, policy }).await;
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

/// How the handler tasks ended, in the order they ended.
fn outcomes(events: &[Event]) -> Vec<TaskOutcome> {
    events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::TaskFinished { outcome, .. } => Some(outcome.clone()),
            _ => None,
        })
        .collect()
}

/// The lab clients' ends: (client, echoed, error, told goodbye), by client.
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

/// Everything the server still sends the lingering client, until it closes.
async fn read_to_the_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        let mut buffer = [0; 256];
        while let Ok(read @ 1..) = stream.read(&mut buffer).await {
            rest.extend_from_slice(&buffer[..read]);
        }
    })
    .await
    .expect("the server closes the connection");
    rest
}

#[tokio::test]
async fn grace_then_cancel_lets_the_polite_finish_and_cancels_the_lingering_one() {
    let (_relay, mut socket, mut lingering, _) = mid_conversation().await;
    shut_down(
        &mut socket,
        ShutdownPolicy::GraceThenCancel,
        GRACE_OUTLASTING_THE_POLITE_MS,
    )
    .await;
    let events = events_until(&mut socket, |seen| stopped_and_clients_finished(seen, 2)).await;
    assert_eq!(
        phases(&events),
        ["stop accepting", "draining", "cancelling", "stopped"]
    );
    assert_eq!(
        outcomes(&events),
        [TaskOutcome::Ok, TaskOutcome::Ok, TaskOutcome::Cancelled]
    );
    assert_eq!(
        finished(&events),
        [
            (ClientId(1), IN_FULL, None, false),
            (ClientId(2), IN_FULL, None, false)
        ]
    );
    assert_eq!(read_to_the_end(&mut lingering).await, b"");
}

#[tokio::test]
async fn cancel_at_once_cuts_every_conversation_short() {
    let (_relay, mut socket, mut lingering, _) = mid_conversation().await;
    shut_down(&mut socket, ShutdownPolicy::CancelAtOnce, 3_000).await;
    let events = events_until(&mut socket, |seen| stopped_and_clients_finished(seen, 2)).await;
    assert_eq!(phases(&events), ["stop accepting", "cancelling", "stopped"]);
    assert_eq!(outcomes(&events), vec![TaskOutcome::Cancelled; 3]);
    for (client, echoed, error, told) in finished(&events) {
        assert!(echoed < IN_FULL, "{client} was cut short: {echoed}");
        assert!(error.is_some(), "{client} lost the server");
        assert!(!told, "{client} was told nothing");
    }
    assert_eq!(
        read_to_the_end(&mut lingering).await,
        b"",
        "closed, no goodbye"
    );
}

#[tokio::test]
async fn wait_for_everyone_serves_the_lingering_client_until_it_leaves() {
    let (_relay, mut socket, mut lingering, _) = mid_conversation().await;
    shut_down(&mut socket, ShutdownPolicy::WaitForEveryone, 100).await;
    let mut events = events_until(&mut socket, |seen| {
        count(seen, |kind| {
            matches!(kind, EventKind::ClientFinished { .. })
        }) == 2
    })
    .await;
    // The polite ones finished their conversation, long after a grace of
    // 100 ms would have ended it.
    assert_eq!(
        finished(&events),
        [
            (ClientId(1), IN_FULL, None, false),
            (ClientId(2), IN_FULL, None, false)
        ]
    );
    // The lingering client is still served, and the server waits on.
    assert_echoes(&mut lingering, b"still here?").await;
    // Echoed, and the loop back to sleep in select().
    events.extend(
        events_until(&mut socket, |seen| {
            seen.iter()
                .skip_while(|event| !matches!(event.kind, EventKind::Sent { .. }))
                .any(|event| matches!(event.kind, EventKind::SelectCalled { .. }))
        })
        .await,
    );
    assert_eq!(phases(&events), ["stop accepting", "waiting for everyone"]);
    assert_eq!(outcomes(&events), [TaskOutcome::Ok, TaskOutcome::Ok]);
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
    let timeouts: Vec<Option<u64>> = events[waiting..]
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::SelectCalled { timeout_us } => Some(timeout_us),
            _ => None,
        })
        .collect();
    assert!(!timeouts.is_empty());
    assert!(timeouts.iter().all(Option::is_none), "{timeouts:?}");

    drop(lingering);
    events.extend(events_until(&mut socket, |seen| stopped_and_clients_finished(seen, 0)).await);
    assert_eq!(
        phases(&events),
        ["stop accepting", "waiting for everyone", "stopped"]
    );
    assert_eq!(outcomes(&events), vec![TaskOutcome::Ok; 3]);
}

#[tokio::test]
async fn notify_first_says_goodbye_to_everyone_then_closes() {
    let (_relay, mut socket, mut lingering, _) = mid_conversation().await;
    shut_down(&mut socket, ShutdownPolicy::NotifyFirst, 3_000).await;
    let events = events_until(&mut socket, |seen| stopped_and_clients_finished(seen, 2)).await;
    assert_eq!(
        phases(&events),
        ["stop accepting", "notifying", "cancelling", "stopped"]
    );
    assert_eq!(outcomes(&events), vec![TaskOutcome::Cancelled; 3]);
    for (client, echoed, error, told) in finished(&events) {
        assert!(told, "{client} read the goodbye");
        assert_eq!(error, None, "{client}: a goodbye is no error");
        assert!(echoed < IN_FULL && echoed % 10 == 0, "{client}: {echoed}");
    }
    assert_eq!(
        read_to_the_end(&mut lingering).await,
        GOODBYE,
        "the goodbye line, then the end"
    );
}

#[tokio::test]
async fn a_thread_model_refuses_a_policy_its_program_does_not_offer_and_serves_on() {
    let relay = start_relay(Config::default()).await;
    let (mut socket, _) =
        open_lab_running(&relay, ServerModel::Selector, HandlerStyle::Handled).await;
    shut_down(&mut socket, ShutdownPolicy::NotifyFirst, 1_000).await;
    let refusal = next_error(&mut socket).await;
    assert!(
        refusal.contains("only the asyncio program offers a choice"),
        "{refusal}"
    );
    // Nothing was shut down: the server serves a client in full, and the
    // shutdown its program does offer still works.
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 1,
            behaviour: POLITE,
        },
    )
    .await;
    let events = until_clients_finished(&mut socket, 1).await;
    assert_eq!(clients_echoed_in_full(&events, IN_FULL), 1);
    assert!(phases(&events).is_empty(), "{:?}", phases(&events));
    shut_down(&mut socket, ShutdownPolicy::GraceThenCancel, 100).await;
    let events = events_until(&mut socket, |seen| stopped_and_clients_finished(seen, 0)).await;
    assert_eq!(phases(&events), ["stop accepting", "draining", "stopped"]);
}

#[tokio::test]
async fn a_restart_cuts_short_a_wait_for_a_client_that_never_leaves() {
    let (_relay, mut socket, mut lingering, _) = mid_conversation().await;
    shut_down(&mut socket, ShutdownPolicy::WaitForEveryone, 100).await;
    events_until(&mut socket, |seen| {
        seen.iter().any(|event| {
            event.kind
                == EventKind::Shutdown {
                    phase: ShutdownPhase::WaitingForEveryone,
                }
        })
    })
    .await;
    // The lingering client never leaves: the shutdown would wait for ever.
    // A restart (what Restart server, a new model or a lesson's step sends)
    // ends it and starts the new server.
    send_command(
        &mut socket,
        &Command::SetModel {
            model: ServerModel::Selector,
            errors: HandlerStyle::Handled,
        },
    )
    .await;
    let events = events_until(&mut socket, |seen| {
        seen.iter().any(|event| {
            matches!(
                event.kind,
                EventKind::Listening {
                    model: ServerModel::Selector,
                    ..
                }
            )
        })
    })
    .await;
    assert!(
        phases(&events).ends_with(&["stopped"]),
        "{:?}",
        phases(&events)
    );
    // The lingering connection was closed by the restart.
    assert_eq!(read_to_the_end(&mut lingering).await, b"");
}
