//! A room of attendees, some careless, some hostile, played on loopback's
//! many addresses (127.0.0.2 is the owner's machine, 127.0.0.3 a
//! stranger's, ...): no one of them can take another's lab down.

mod support;

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use loopscope_relay::Config;
use protocol::{ClientBehaviour, Command, EventKind, Limits, ServerModel, ShutdownPolicy};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const OWNER: &str = "127.0.0.2";
const STRANGER: &str = "127.0.0.3";

fn polite(messages: u32, size: u32) -> ClientBehaviour {
    ClientBehaviour::Polite {
        messages,
        size,
        interval_ms: 0,
    }
}

fn relay_with(limits: Limits) -> Config {
    Config {
        limits,
        ..Config::default()
    }
}

fn echo_addr(hello: &protocol::Hello) -> std::net::SocketAddr {
    hello.echo_addr.parse().unwrap()
}

async fn switch_to(socket: &mut Socket, model: ServerModel) {
    send_command(
        socket,
        &Command::SetModel {
            model,
            errors: Default::default(),
        },
    )
    .await;
    events_until(socket, |seen| {
        count(
            seen,
            |kind| matches!(kind, EventKind::Listening { model: m, .. } if *m == model),
        ) > 0
    })
    .await;
}

#[tokio::test]
async fn a_stranger_cannot_reach_another_labs_echo_port_in_any_model_while_the_owners_echo_goes_on()
{
    let relay = start_relay(Config::default()).await;
    for model in [
        ServerModel::Blocking,
        ServerModel::BusyPoll,
        ServerModel::Selector,
        ServerModel::AsyncTasks,
    ] {
        let (mut socket, hello) = open_lab_from(&relay, OWNER).await;
        if model != ServerModel::AsyncTasks {
            switch_to(&mut socket, model).await;
        }
        let echo = echo_addr(&hello);
        // The stranger's connections are all closed at once, none echoed.
        for _ in 0..30 {
            let mut stranger = connect_from(STRANGER, echo).await.unwrap();
            assert!(
                closed_without_echo(&mut stranger, b"let me in\n").await,
                "{model:?}: a stranger was served"
            );
        }
        // Meanwhile the lab's own clients are served in full...
        send_command(
            &mut socket,
            &Command::SpawnClients {
                count: 5,
                behaviour: polite(3, 20),
            },
        )
        .await;
        let events = until_clients_finished(&mut socket, 5).await;
        assert_eq!(clients_echoed_in_full(&events, 60), 5, "{model:?}");
        let refusals: Vec<_> = events
            .iter()
            .filter_map(|event| match &event.kind {
                EventKind::Error { message } if message.contains(STRANGER) => Some(message),
                _ => None,
            })
            .collect();
        assert!(
            !refusals.is_empty(),
            "{model:?}: the page hears of the refused connections"
        );
        assert!(
            refusals.len() <= 5,
            "{model:?}: refusals are reported at most once a second, got {}",
            refusals.len()
        );
        assert_eq!(
            count(
                &events,
                |kind| matches!(kind, EventKind::Accepted { peer, .. } if peer.starts_with(STRANGER))
            ),
            0,
            "{model:?}: the stranger never shows up as a connection"
        );
        // ...and so is the owner's own `nc`, from the page's address.
        let mut own = connect_from(OWNER, echo).await.unwrap();
        own.write_all(b"mine\n").await.unwrap();
        let mut echoed = [0; 5];
        tokio::time::timeout(PATIENCE, own.read_exact(&mut echoed))
            .await
            .expect("the owner's nc is echoed")
            .unwrap();
        assert_eq!(&echoed, b"mine\n");
        socket.close(None).await.unwrap();
    }
    relay.stop.cancel();
}

#[tokio::test]
async fn the_owners_own_connections_are_capped_and_the_labs_clients_are_not_starved() {
    let relay = start_relay(relay_with(Limits {
        max_own_connections: 3,
        ..Limits::default()
    }))
    .await;
    let (mut socket, hello) = open_lab_from(&relay, OWNER).await;
    let echo = echo_addr(&hello);
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut own = connect_from(OWNER, echo).await.unwrap();
        own.write_all(b"x").await.unwrap();
        let mut byte = [0; 1];
        own.read_exact(&mut byte).await.unwrap();
        held.push(own);
    }
    let mut fourth = connect_from(OWNER, echo).await.unwrap();
    assert!(closed_without_echo(&mut fourth, b"x").await);
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 20,
            behaviour: polite(2, 10),
        },
    )
    .await;
    let events = until_clients_finished(&mut socket, 20).await;
    assert_eq!(clients_echoed_in_full(&events, 20), 20);
    relay.stop.cancel();
}

#[tokio::test]
async fn one_address_opens_at_most_its_cap_of_labs_and_another_address_still_can() {
    let relay = start_relay(relay_with(Limits {
        max_labs_per_address: 3,
        ..Limits::default()
    }))
    .await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(open_lab_from(&relay, OWNER).await);
    }
    let refusal = try_open_lab_from(&relay, OWNER).await.unwrap_err();
    assert!(refusal.contains("has 3 labs open"), "{refusal}");
    let (_other, _) = open_lab_from(&relay, STRANGER).await;
    // Closing one tab frees its slot.
    let (mut first, _) = open.remove(0);
    first.close(None).await.unwrap();
    while first.next().await.is_some() {}
    let reopened = wait_for(|| async { try_open_lab_from(&relay, OWNER).await.ok() }).await;
    drop(reopened);
    relay.stop.cancel();
}

/// Tries `attempt` until it gives something, for at most [`PATIENCE`].
async fn wait_for<T, F, Fut>(mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(found) = attempt().await {
            return found;
        }
        assert!(Instant::now() < deadline, "gave up waiting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_page_that_answers_no_pings_loses_its_lab_and_its_slot() {
    let relay = start_relay(relay_with(Limits {
        ping_timeout_s: 1,
        max_labs_per_address: 1,
        ..Limits::default()
    }))
    .await;
    let (silent, hello) = open_lab_from(&relay, OWNER).await;
    let echo = echo_addr(&hello);
    // The page never reads again, so it never answers a ping.
    let started = Instant::now();
    wait_for(|| async { connect_from(OWNER, echo).await.is_err().then_some(()) }).await;
    let lost_after = started.elapsed();
    assert!(
        lost_after >= Duration::from_millis(900),
        "not before the timeout: {lost_after:?}"
    );
    // Its slot is free again: the same address gets a new lab.
    let _again = open_lab_from(&relay, OWNER).await;
    drop(silent);
    relay.stop.cancel();
}

#[tokio::test]
async fn a_lab_with_no_commands_or_paused_too_long_is_closed_with_a_reason() {
    let relay = start_relay(relay_with(Limits {
        idle_timeout_s: 1,
        ..Limits::default()
    }))
    .await;
    let (mut idle, _) = open_lab_from(&relay, OWNER).await;
    let reason = close_reason(&mut idle).await;
    assert!(reason.contains("no command for 1 s"), "{reason}");

    let relay = start_relay(relay_with(Limits {
        pause_timeout_s: 1,
        ..Limits::default()
    }))
    .await;
    let (mut paused, _) = open_lab_from(&relay, OWNER).await;
    switch_to(&mut paused, ServerModel::Selector).await;
    send_command(&mut paused, &Command::Pause {}).await;
    let reason = close_reason(&mut paused).await;
    assert!(reason.contains("paused for 1 s"), "{reason}");
}

#[tokio::test]
async fn a_slowloris_is_closed_after_the_header_timeout_and_the_page_loads_meanwhile() {
    let relay = start_relay(relay_with(Limits {
        header_timeout_s: 1,
        max_http_connections_per_address: 20,
        ..Limits::default()
    }))
    .await;
    // Twenty connections from one machine, each sending a header byte now
    // and then; a twenty-first from it is closed at once.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = connect_from("127.0.0.5", relay.addr).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
        slow.push(stream);
    }
    let mut over_cap = connect_from("127.0.0.5", relay.addr).await.unwrap();
    assert!(closed_without_echo(&mut over_cap, b"GET / HTTP/1.1\r\n").await);
    let started = Instant::now();
    // Another machine loads the page meanwhile.
    let mut page = connect_from(OWNER, relay.addr).await.unwrap();
    page.write_all(
        format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            relay.addr
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = String::new();
    page.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    for stream in &mut slow {
        let _ = stream.write_all(b"s").await;
        let mut rest = Vec::new();
        let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "a slowloris connection stayed open");
    }
    let closed_after = started.elapsed();
    assert!(closed_after < Duration::from_secs(5), "{closed_after:?}");
    relay.stop.cancel();
}

#[tokio::test]
async fn a_lab_asking_for_more_clients_than_the_descriptor_budget_is_refused_and_others_echo() {
    let relay = start_relay(relay_with(Limits {
        max_descriptors: 100,
        ..Limits::default()
    }))
    .await;
    let (mut greedy, _) = open_lab_from(&relay, OWNER).await;
    let (mut other, _) = open_lab_from(&relay, STRANGER).await;
    // Two labs hold 20; 30 clients would need 90 more.
    send_command(
        &mut greedy,
        &Command::SpawnClients {
            count: 30,
            behaviour: ClientBehaviour::Silent {},
        },
    )
    .await;
    let refusal = next_error(&mut greedy).await;
    assert!(refusal.contains("file descriptors"), "{refusal}");
    assert!(refusal.contains("none were started"), "{refusal}");
    send_command(
        &mut other,
        &Command::SpawnClients {
            count: 20,
            behaviour: polite(3, 10),
        },
    )
    .await;
    let events = until_clients_finished(&mut other, 20).await;
    assert_eq!(clients_echoed_in_full(&events, 30), 20);
    // The greedy lab can still have what fits.
    send_command(
        &mut greedy,
        &Command::SpawnClients {
            count: 5,
            behaviour: polite(1, 10),
        },
    )
    .await;
    let events = until_clients_finished(&mut greedy, 5).await;
    assert_eq!(clients_echoed_in_full(&events, 10), 5);
    relay.stop.cancel();
}

#[tokio::test]
async fn a_burst_of_model_switches_leaves_a_working_echo_server() {
    let relay = start_relay(relay_with(Limits {
        max_commands_per_second: 1000,
        ..Limits::default()
    }))
    .await;
    let (mut socket, hello) = open_lab_from(&relay, OWNER).await;
    let models = [
        ServerModel::Blocking,
        ServerModel::Selector,
        ServerModel::BusyPoll,
        ServerModel::AsyncTasks,
    ];
    for round in 0..200 {
        let model = models[round % models.len()];
        send_command(
            &mut socket,
            &Command::SetModel {
                model,
                errors: Default::default(),
            },
        )
        .await;
    }
    // The last switch (to the async-tasks model) is the one in force.
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 3,
            behaviour: polite(3, 10),
        },
    )
    .await;
    let events = until_clients_finished(&mut socket, 3).await;
    assert_eq!(clients_echoed_in_full(&events, 30), 3);
    let errors: Vec<_> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::Error { message } => Some(message),
            _ => None,
        })
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let restarts = count(&events, |kind| matches!(kind, EventKind::Listening { .. }));
    assert!(
        restarts < 200,
        "switches were coalesced: {restarts} restarts"
    );
    let last = events.iter().rev().find_map(|event| match event.kind {
        EventKind::Listening { model, .. } => Some(model),
        _ => None,
    });
    assert_eq!(last, Some(ServerModel::AsyncTasks));
    // And the port is still the lab's.
    let mut own = connect_from(OWNER, echo_addr(&hello)).await.unwrap();
    own.write_all(b"ok").await.unwrap();
    let mut echoed = [0; 2];
    own.read_exact(&mut echoed).await.unwrap();
    relay.stop.cancel();
}

#[tokio::test]
async fn busy_poll_labs_are_capped_and_spin_at_idle_priority() {
    let relay = start_relay(relay_with(Limits {
        max_busy_poll_labs: 1,
        ..Limits::default()
    }))
    .await;
    let (mut first, _) = open_lab_from(&relay, OWNER).await;
    let (mut second, _) = open_lab_from(&relay, STRANGER).await;
    switch_to(&mut first, ServerModel::BusyPoll).await;
    let spinning = busy_poll_threads();
    assert!(!spinning.is_empty(), "a busy-poll thread runs");
    for tid in spinning {
        // SAFETY: plain query of a thread of this process.
        let policy = unsafe { libc::sched_getscheduler(tid) };
        assert_eq!(
            policy,
            libc::SCHED_IDLE,
            "thread {tid} spins at idle priority"
        );
    }
    send_command(
        &mut second,
        &Command::SetModel {
            model: ServerModel::BusyPoll,
            errors: Default::default(),
        },
    )
    .await;
    let refusal = next_error(&mut second).await;
    assert!(refusal.contains("at most 1 busy-poll labs"), "{refusal}");
    // The refused lab keeps its server.
    send_command(
        &mut second,
        &Command::SpawnClients {
            count: 2,
            behaviour: polite(2, 10),
        },
    )
    .await;
    let events = until_clients_finished(&mut second, 2).await;
    assert_eq!(clients_echoed_in_full(&events, 20), 2);
    // Once the first lab moves on, the slot is free.
    switch_to(&mut first, ServerModel::Selector).await;
    switch_to(&mut second, ServerModel::BusyPoll).await;
    relay.stop.cancel();
}

/// Thread ids of this process's busy-poll servers.
fn busy_poll_threads() -> Vec<i32> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            (name.trim() == "BusyPoll server")
                .then(|| entry.file_name().to_str()?.parse().ok())
                .flatten()
        })
        .collect()
}

#[tokio::test]
async fn a_frame_over_the_command_limit_closes_with_1009() {
    let relay = start_relay(Config::default()).await;
    let (mut socket, _) = open_lab_from(&relay, OWNER).await;
    socket
        .send(Message::text("x".repeat(65 * 1024)))
        .await
        .unwrap();
    let code = loop {
        match tokio::time::timeout(PATIENCE, socket.next()).await.unwrap() {
            Some(Ok(Message::Close(Some(frame)))) => break u16::from(frame.code),
            Some(Ok(_)) => {}
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(code, 1009);
    relay.stop.cancel();
}

#[tokio::test]
async fn a_command_flood_is_throttled_and_another_labs_echo_keeps_its_latency() {
    let relay = start_relay(Config::default()).await;
    let (flooder, _) = open_lab_from(&relay, STRANGER).await;
    let (mut honest, _) = open_lab_from(&relay, OWNER).await;
    let (mut sink, mut replies) = flooder.split();
    let flood_started = Instant::now();
    let flood = tokio::spawn(async move {
        let started = Instant::now();
        let mut sent = 0u64;
        while started.elapsed() < Duration::from_secs(3) {
            // Each a refused command: an unknown type. (The relay reads at
            // its byte rate, so a send may wait for room.)
            let send = sink.send(Message::text(r#"{"type":"x"}"#));
            match tokio::time::timeout(Duration::from_millis(100), send).await {
                Ok(Ok(())) => sent += 1,
                Ok(Err(_)) => break,
                Err(_) => {}
            }
        }
        (sent, sink)
    });
    send_command(
        &mut honest,
        &Command::SpawnClients {
            count: 20,
            behaviour: ClientBehaviour::Polite {
                messages: 50,
                size: 32,
                interval_ms: 20,
            },
        },
    )
    .await;
    let events = until_clients_finished(&mut honest, 20).await;
    let (sent, _sink) = flood.await.unwrap();
    assert_eq!(clients_echoed_in_full(&events, 50 * 32), 20);
    let mut latencies: Vec<u64> = events
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::RoundTrip { latency_us, .. } => Some(latency_us),
            _ => None,
        })
        .collect();
    latencies.sort_unstable();
    let p99 = latencies[latencies.len() * 99 / 100];
    assert!(p99 < 100_000, "honest p99 {p99} µs with a flood next door");
    // However many were sent, the flooder heard of them a few times.
    let replies = events_within_stream(&mut replies, Duration::from_millis(500)).await;
    assert!(sent > 100, "the flood sent {sent}");
    // A burst of five answers, then one a second (the relay reads the
    // flood at its byte rate, so it may still be refusing when we stop).
    let seconds = flood_started.elapsed().as_secs();
    assert!(
        replies >= 1 && replies as u64 <= 5 + seconds + 1,
        "{replies} error replies in {seconds} s for {sent} refused commands"
    );
    relay.stop.cancel();
}

/// Error events that arrive on `stream` within `quiet`.
async fn events_within_stream<S>(stream: &mut S, quiet: Duration) -> usize
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut errors = 0;
    let deadline = tokio::time::Instant::now() + quiet;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, stream.next()).await {
        if let Message::Text(text) = frame {
            errors += text.matches("\"type\":\"error\"").count();
        }
    }
    errors
}

#[tokio::test]
async fn closing_the_page_during_a_shutdown_then_switch_frees_the_lab_within_a_second() {
    let relay = start_relay(relay_with(Limits {
        max_labs_per_address: 1,
        ..Limits::default()
    }))
    .await;
    let (mut socket, hello) = open_lab_from(&relay, OWNER).await;
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 3,
            behaviour: ClientBehaviour::Silent {},
        },
    )
    .await;
    events_until(&mut socket, |seen| {
        count(seen, |kind| matches!(kind, EventKind::Accepted { .. })) >= 3
    })
    .await;
    send_command(
        &mut socket,
        &Command::Shutdown {
            grace_ms: 30_000,
            policy: ShutdownPolicy::GraceThenCancel,
        },
    )
    .await;
    send_command(
        &mut socket,
        &Command::SetModel {
            model: ServerModel::Selector,
            errors: Default::default(),
        },
    )
    .await;
    events_until(&mut socket, |seen| {
        count(seen, |kind| matches!(kind, EventKind::Shutdown { .. })) >= 2
    })
    .await;
    let closed = Instant::now();
    socket.close(None).await.unwrap();
    while socket.next().await.is_some() {}
    wait_for(|| async {
        connect_from(OWNER, echo_addr(&hello))
            .await
            .is_err()
            .then_some(())
    })
    .await;
    let _again = wait_for(|| async { try_open_lab_from(&relay, OWNER).await.ok() }).await;
    let freed_after = closed.elapsed();
    assert!(freed_after < Duration::from_secs(1), "{freed_after:?}");
    relay.stop.cancel();
}
