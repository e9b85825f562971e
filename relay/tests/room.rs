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
        assert_echoes(&mut own, b"mine\n").await;
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
        assert_echoes(&mut own, b"x").await;
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
    leave(open.remove(0).0).await;
    let reopened = wait_for(|| async { try_open_lab_from(&relay, OWNER).await.ok() }).await;
    drop(reopened);
    relay.stop.cancel();
}

/// Loopback addresses playing the room's machines, one each.
const MACHINES: [&str; 5] = [
    "127.0.0.2",
    "127.0.0.3",
    "127.0.0.4",
    "127.0.0.5",
    "127.0.0.6",
];

/// Closes a lab's page and reads until the relay has closed its side.
async fn leave(mut page: Socket) {
    page.close(None).await.unwrap();
    tokio::time::timeout(PATIENCE, async { while page.next().await.is_some() {} })
        .await
        .expect("the relay closed its side of the page's socket");
}

#[tokio::test]
async fn the_room_refuses_the_fourth_lab_whatever_address_it_comes_from() {
    let relay = start_relay(relay_with(Limits {
        max_labs: 3,
        max_labs_per_address: 2,
        ..Limits::default()
    }))
    .await;
    // Three machines, one lab each: every address under its cap of two,
    // the room at its cap of three.
    let mut open = Vec::new();
    for machine in &MACHINES[..3] {
        open.push(open_lab_from(&relay, machine).await.0);
    }
    // A fourth machine, and a machine with a lab already, are refused with
    // the room's reason, not the address's.
    for machine in [MACHINES[3], MACHINES[0]] {
        let refusal = try_open_lab_from(&relay, machine).await.unwrap_err();
        assert!(
            refusal.contains("this relay runs at most 3 labs at once and all are taken"),
            "{machine}: {refusal}"
        );
    }
    // One leaves; the next machine gets its lab.
    leave(open.remove(1)).await;
    let _let_in = wait_for(|| async { try_open_lab_from(&relay, MACHINES[3]).await.ok() }).await;
    let refusal = try_open_lab_from(&relay, MACHINES[4]).await.unwrap_err();
    assert!(refusal.contains("at most 3 labs"), "full again: {refusal}");
    relay.stop.cancel();
}

/// A flood of a MiB: more than its sockets' buffers hold (four of 64 KiB,
/// doubled by the kernel), so each may pin 512 KiB, and does: it never
/// reads, so it never finishes.
fn stuck_flood() -> ClientBehaviour {
    ClientBehaviour::Flood { bytes: 1 << 20 }
}

/// Starts `floods` stuck floods in a lab and waits until its server has
/// accepted them all.
async fn start_floods(socket: &mut Socket, floods: u32) {
    send_command(
        socket,
        &Command::SpawnClients {
            count: floods,
            behaviour: stuck_flood(),
        },
    )
    .await;
    let events = events_until(socket, |seen| {
        count_of_accepted(seen) == floods as usize
            || count(seen, |kind| matches!(kind, EventKind::Error { .. })) > 0
    })
    .await;
    assert_eq!(count_of_accepted(&events), floods as usize, "{events:?}");
}

fn count_of_accepted(events: &[protocol::Event]) -> usize {
    count(events, |kind| matches!(kind, EventKind::Accepted { .. }))
}

#[tokio::test]
async fn the_room_refuses_a_flood_past_all_labs_in_flight_bytes_whichever_lab_asks() {
    let relay = start_relay(relay_with(Limits {
        // Two stuck floods a lab, three in the room.
        max_lab_in_flight_bytes: 1 << 20,
        max_in_flight_bytes: 3 << 19,
        ..Limits::default()
    }))
    .await;
    // Three machines' labs, one flood each: every lab under its own
    // budget, the room's spent.
    let mut labs = Vec::new();
    for machine in &MACHINES[..3] {
        let (mut socket, _) = open_lab_from(&relay, machine).await;
        start_floods(&mut socket, 1).await;
        labs.push(socket);
    }
    let (mut fourth, _) = open_lab_from(&relay, MACHINES[3]).await;
    // A fourth lab's flood, and a second one in a lab with room for it,
    // are refused with the room's reason.
    for socket in [&mut fourth, &mut labs[0]] {
        send_command(
            socket,
            &Command::SpawnClients {
                count: 1,
                behaviour: stuck_flood(),
            },
        )
        .await;
        let refusal = next_error(socket).await;
        assert!(
            refusal.contains(
                "1 flood clients could keep 512 KiB in kernel socket buffers, and the relay has 0 of 1536 KiB left; none were started"
            ),
            "{refusal}"
        );
    }
    // One lab leaves, and its flood's bytes with it: the fourth lab's
    // flood is let in (once the leaving lab's clients are gone).
    leave(labs.remove(1)).await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        send_command(
            &mut fourth,
            &Command::SpawnClients {
                count: 1,
                behaviour: stuck_flood(),
            },
        )
        .await;
        let events = events_until(&mut fourth, |seen| {
            count_of_accepted(seen) == 1
                || count(seen, |kind| matches!(kind, EventKind::Error { .. })) > 0
        })
        .await;
        if count_of_accepted(&events) == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the flood was never let in");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    relay.stop.cancel();
}

/// A connection from `from` that the relay has answered once and keeps
/// open (HTTP/1.1 keeps it alive): it holds one of the relay's HTTP
/// connections.
async fn kept_alive(relay: &RunningRelay, from: &str) -> tokio::net::TcpStream {
    let mut stream = connect_from(from, relay.addr).await.unwrap();
    let request = format!("GET /ws HTTP/1.1\r\nHost: {}\r\n\r\n", relay.addr);
    stream.write_all(request.as_bytes()).await.unwrap();
    // A plain GET of `/ws` is answered 400 with these words.
    const ANSWER: &[u8] = b"/ws speaks WebSocket (version 13) only";
    let mut answer = Vec::new();
    let read = async {
        let mut chunk = [0; 1024];
        while !answer.ends_with(ANSWER) {
            let got = stream.read(&mut chunk).await.unwrap();
            assert!(got > 0, "closed: {}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&chunk[..got]);
        }
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("no answer");
    assert!(answer.starts_with(b"HTTP/1.1 400 "));
    stream
}

#[tokio::test]
async fn the_room_refuses_the_seventh_http_connection_whatever_address_it_comes_from() {
    let relay = start_relay(relay_with(Limits {
        max_http_connections: 6,
        max_http_connections_per_address: 4,
        // Kept-alive connections are not closed for idling meanwhile.
        header_timeout_s: 600,
        ..Limits::default()
    }))
    .await;
    // Two machines, three connections each: every address under its cap
    // of four, the room at its cap of six.
    let mut held = Vec::new();
    for machine in &MACHINES[..2] {
        for _ in 0..3 {
            held.push(kept_alive(&relay, machine).await);
        }
    }
    // A third machine, and one of the two, are refused with the room's
    // reason, not the address's.
    for machine in [MACHINES[2], MACHINES[0]] {
        let refused = http(machine, relay.addr, "GET", "/", &[], "").await;
        assert_eq!(refused.status, 503, "{machine}: {}", refused.text());
        assert!(
            refused
                .text()
                .contains("this relay serves at most 6 HTTP connections at once and all are taken"),
            "{machine}: {}",
            refused.text()
        );
    }
    // One closes; the next is served.
    drop(held.remove(4));
    let served = wait_for(|| async {
        let answer = http(MACHINES[2], relay.addr, "GET", "/ws", &[], "").await;
        (answer.status != 503).then_some(answer)
    })
    .await;
    assert_eq!(served.status, 400, "{}", served.text());
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
    // Timed from before the page connects: the relay starts listening for
    // it (and its pongs) later, so the lab cannot be lost sooner than a
    // timeout after this, however slow the hello.
    let started = Instant::now();
    let (silent, hello) = open_lab_from(&relay, OWNER).await;
    let echo = echo_addr(&hello);
    // The page never reads again, so it never answers a ping.
    wait_for(|| async { connect_from(OWNER, echo).await.is_err().then_some(()) }).await;
    let lost_after = started.elapsed();
    assert!(
        lost_after >= Duration::from_secs(1),
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
    // and then; a twenty-first from it is told why it is not served.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = connect_from("127.0.0.5", relay.addr).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
        slow.push(stream);
    }
    let over_cap = http("127.0.0.5", relay.addr, "GET", "/", &[], "").await;
    assert_eq!(over_cap.status, 429, "{}", over_cap.text());
    assert!(
        over_cap
            .text()
            .contains("your address (127.0.0.5) has 20 HTTP connections open"),
        "{}",
        over_cap.text()
    );
    // Another machine loads the page meanwhile.
    let page = http(OWNER, relay.addr, "GET", "/", &[], "").await;
    assert!(
        ![429, 503].contains(&page.status),
        "the page was refused: {}",
        page.text()
    );
    // Each slowloris is closed (well within the patience: a relay with no
    // header timeout would keep them for ever).
    for stream in &mut slow {
        let _ = stream.write_all(b"s").await;
        let mut rest = Vec::new();
        let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "a slowloris connection stayed open");
    }
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
    assert_echoes(&mut own, b"ok").await;
    relay.stop.cancel();
}

/// (Linux: the idle policy is read back with `sched_getscheduler`.)
#[cfg(target_os = "linux")]
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
#[cfg(target_os = "linux")]
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

/// A burst of this many refused commands is answered at once; past it,
/// one answer a second (the session's `REFUSAL_BURST`).
const ANSWERED_AT_ONCE: u64 = 5;

#[tokio::test]
async fn a_command_flood_is_throttled_and_another_labs_clients_are_echoed_in_full_meanwhile() {
    // How fast the honest lab echoes under a flood is the room benchmark's
    // to measure (`relay/benches/room.rs`, echo p99); here, that it is
    // served in full while the flood goes on, and the flooder is answered
    // no faster than the relay promises.
    let relay = start_relay(Config::default()).await;
    let (flooder, _) = open_lab_from(&relay, STRANGER).await;
    let (mut honest, _) = open_lab_from(&relay, OWNER).await;
    let (mut sink, replies) = flooder.split();
    let flood_started = Instant::now();
    let heard = tokio::sync::watch::channel(0);
    let listening = tokio::spawn(count_error_replies(replies, heard.0));
    let honest_done = tokio_util::sync::CancellationToken::new();
    let flood = tokio::spawn({
        let honest_done = honest_done.clone();
        async move {
            let mut sent = 0u64;
            // Each a refused command: an unknown type. (The relay reads at
            // its byte rate, so a send may wait for room.) Until the honest
            // clients are done: they all run during the flood.
            loop {
                tokio::select! {
                    _ = honest_done.cancelled() => break,
                    done = sink.send(Message::text(r#"{"type":"x"}"#)) => match done {
                        Ok(()) => sent += 1,
                        Err(_) => break,
                    },
                }
            }
            sent
        }
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
    honest_done.cancel();
    let sent = flood.await.unwrap();
    assert_eq!(clients_echoed_in_full(&events, 50 * 32), 20);
    assert!(sent > 100, "the flood sent {sent}");
    // However many were sent, the flooder heard of them a few times: at
    // least once, and never more than a burst and one a second.
    let mut heard = heard.1;
    tokio::time::timeout(PATIENCE, heard.wait_for(|&replies| replies >= 1))
        .await
        .expect("the flooder never heard of its refused commands")
        .unwrap();
    let replies = *heard.borrow();
    let seconds = flood_started.elapsed().as_secs();
    assert!(
        replies <= ANSWERED_AT_ONCE + seconds + 1,
        "{replies} error replies in {seconds} s for {sent} refused commands"
    );
    listening.abort();
    relay.stop.cancel();
}

/// Counts the error events that arrive on `stream`, telling `heard` the
/// count so far.
async fn count_error_replies<S>(mut stream: S, heard: tokio::sync::watch::Sender<u64>)
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    while let Some(Ok(frame)) = stream.next().await {
        if let Message::Text(text) = frame {
            let errors = text.matches("\"type\":\"error\"").count() as u64;
            heard.send_modify(|heard| *heard += errors);
        }
    }
}

#[tokio::test]
async fn closing_the_page_during_a_shutdown_then_switch_frees_the_lab_without_waiting_out_the_grace()
 {
    // The most a shutdown may give (`max_pause_ms`): a lab freed only once
    // its grace ran out would not be freed within the patience.
    const GRACE: Duration = Duration::from_secs(60);
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
            grace_ms: GRACE.as_millis() as u32,
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
    tokio::time::timeout(PATIENCE, async { while socket.next().await.is_some() {} })
        .await
        .expect("the relay closed its side of the socket");
    wait_for(|| async {
        connect_from(OWNER, echo_addr(&hello))
            .await
            .is_err()
            .then_some(())
    })
    .await;
    let _again = wait_for(|| async { try_open_lab_from(&relay, OWNER).await.ok() }).await;
    let freed_after = closed.elapsed();
    assert!(
        freed_after < GRACE,
        "the silent clients' grace was not waited out: {freed_after:?}"
    );
    relay.stop.cancel();
}
