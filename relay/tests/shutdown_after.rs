//! A shutdown put off (`shutdown_after`), live: timed on the relay's clock,
//! so that a scripted run (the lesson's step 7) shuts down at the same
//! point of its clients' conversations however late a browser's timer would
//! fire; refused past its limit or when one is already due; replaced by a
//! shutdown now or by a restart.

use loopscope_relay::Config;
use protocol::{
    Command, Event, EventKind, HandlerStyle, MAX_SHUTDOWN_DELAY_MS, Micros, ServerModel,
    ShutdownPhase, ShutdownPolicy,
};

mod support;
use support::*;

const MS: Micros = 1_000;

/// An asyncio lab and the time on its clock of an event already seen: a
/// command sent now is carried out after it.
async fn lab_and_its_clock() -> (RunningRelay, Socket, Micros) {
    let relay = start_relay(Config::default()).await;
    let (mut socket, _) =
        open_lab_running(&relay, ServerModel::AsyncTasks, HandlerStyle::Handled).await;
    let seen = events_until(&mut socket, |seen| !seen.is_empty()).await;
    let now = seen.last().map_or(0, |event| event.at);
    (relay, socket, now)
}

fn shutdown_after(after_ms: u32) -> Command {
    Command::ShutdownAfter {
        after_ms,
        grace_ms: 500,
        policy: ShutdownPolicy::GraceThenCancel,
    }
}

/// When each shutdown phase came, on the lab's clock.
fn phases(events: &[Event]) -> Vec<(&'static str, Micros)> {
    events
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::Shutdown { phase } => Some((phase.name(), event.at)),
            _ => None,
        })
        .collect()
}

/// Reads events until the lab's clock passes `at`, for a lab whose server
/// has stopped (it reports nothing more by itself): each `pause` it is
/// asked is refused (the asyncio server cannot pause) in an error stamped
/// with the lab's time.
async fn stopped_lab_clock_passes(socket: &mut Socket, at: Micros) -> Vec<Event> {
    let mut seen = Vec::new();
    while seen.last().is_none_or(|event: &Event| event.at <= at) {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        send_command(socket, &Command::Pause {}).await;
        seen.extend(
            events_until(socket, |seen| {
                count(seen, |kind| matches!(kind, EventKind::Error { .. })) > 0
            })
            .await,
        );
    }
    seen
}

fn stopped(seen: &[Event]) -> bool {
    count(seen, |kind| {
        matches!(
            kind,
            EventKind::Shutdown {
                phase: ShutdownPhase::Stopped
            }
        )
    }) > 0
}

#[tokio::test]
async fn a_shutdown_put_off_begins_no_sooner_than_asked_on_the_labs_clock() {
    let (_relay, mut socket, sent_after) = lab_and_its_clock().await;
    send_command(&mut socket, &shutdown_after(1_500)).await;
    let events = events_until(&mut socket, stopped).await;
    let phases = phases(&events);
    let names: Vec<_> = phases.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["stop accepting", "draining", "stopped"]);
    let (_, began) = phases[0];
    assert!(
        began >= sent_after + 1_500 * MS,
        "began at {began} µs, the command came after {sent_after} µs"
    );
}

#[tokio::test]
async fn a_shutdown_put_off_past_the_limit_or_a_second_one_is_refused_in_words() {
    let (_relay, mut socket, _) = lab_and_its_clock().await;
    send_command(&mut socket, &shutdown_after(MAX_SHUTDOWN_DELAY_MS + 1)).await;
    let refusal = next_error(&mut socket).await;
    assert!(
        refusal.contains(&format!("at most {MAX_SHUTDOWN_DELAY_MS} ms")),
        "{refusal}"
    );
    send_command(&mut socket, &shutdown_after(30_000)).await;
    send_command(&mut socket, &shutdown_after(1_000)).await;
    let refusal = next_error(&mut socket).await;
    assert!(
        refusal.contains("a shutdown is already due in"),
        "{refusal}"
    );
}

#[tokio::test]
async fn a_shutdown_now_replaces_the_one_put_off() {
    let (_relay, mut socket, sent_after) = lab_and_its_clock().await;
    send_command(&mut socket, &shutdown_after(1_000)).await;
    send_command(
        &mut socket,
        &Command::Shutdown {
            grace_ms: 0,
            policy: ShutdownPolicy::GraceThenCancel,
        },
    )
    .await;
    let mut events = events_until(&mut socket, stopped).await;
    // Well past when the one put off was due, on the lab's own clock.
    events.extend(stopped_lab_clock_passes(&mut socket, sent_after + 2_500 * MS).await);
    let began = phases(&events)
        .into_iter()
        .filter(|(name, _)| *name == "stop accepting")
        .count();
    assert_eq!(began, 1, "one shutdown: {:?}", phases(&events));
    let refusals: Vec<_> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::Error { message } if !message.contains("cannot be paused") => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(refusals, Vec::<&String>::new(), "the one due was let go");
}

#[tokio::test]
async fn a_restart_replaces_a_shutdown_put_off() {
    let (_relay, mut socket, sent_after) = lab_and_its_clock().await;
    send_command(&mut socket, &shutdown_after(1_000)).await;
    send_command(
        &mut socket,
        &Command::SetModel {
            model: ServerModel::Selector,
            errors: HandlerStyle::Handled,
        },
    )
    .await;
    let events = events_until_the_lab_clock_passes(&mut socket, sent_after + 2_500 * MS).await;
    assert!(
        events.iter().any(|event| matches!(
            event.kind,
            EventKind::Listening {
                model: ServerModel::Selector,
                ..
            }
        )),
        "the restarted server listens"
    );
    assert_eq!(phases(&events), [], "and is not shut down");
}
