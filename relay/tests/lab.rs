//! The relay over real sockets: a real WebSocket client drives a relay served
//! on an ephemeral loopback port, and real TCP clients talk to its labs.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use loopscope_relay::Config;
use protocol::{
    ClientBehaviour, ClientId, Command, ConnId, Event, EventKind, HandlerStyle, ServerMessage,
    ServerModel, ShutdownPhase, ShutdownPolicy, TaskId, TaskOutcome,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

mod support;

use support::*;

fn polite(messages: u32, size: u32) -> ClientBehaviour {
    ClientBehaviour::Polite {
        messages,
        size,
        interval_ms: 0,
    }
}

#[tokio::test]
async fn spawned_clients_are_accepted_served_echoed_and_finished() {
    let relay = start_relay(Config::default()).await;
    let (mut socket, hello) = open_lab(&relay).await;
    let echo_addr: SocketAddr = hello.echo_addr.parse().unwrap();
    assert!(
        echo_addr.ip().is_loopback(),
        "labs listen on loopback by default"
    );

    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 3,
            behaviour: polite(4, 10),
        },
    )
    .await;
    let events = events_until(&mut socket, |seen| {
        count(seen, |kind| {
            matches!(kind, EventKind::ClientFinished { .. })
        }) == 3
            && count(seen, |kind| matches!(kind, EventKind::Closed { .. })) == 3
    })
    .await;

    assert_eq!(
        count(&events, |kind| matches!(kind, EventKind::Accepted { .. })),
        3
    );
    assert_eq!(
        count(&events, |kind| matches!(
            kind,
            EventKind::TaskSpawned { .. }
        )),
        3
    );
    assert!(
        count(&events, |kind| matches!(
            kind,
            EventKind::TaskWaiting { .. }
        )) >= 3
    );
    let bytes = |pick: fn(&EventKind) -> Option<u64>| {
        events.iter().filter_map(|e| pick(&e.kind)).sum::<u64>()
    };
    let received = bytes(|kind| match kind {
        EventKind::Received { bytes, .. } => Some(*bytes),
        _ => None,
    });
    let sent = bytes(|kind| match kind {
        EventKind::Sent { bytes, .. } => Some(*bytes),
        _ => None,
    });
    assert_eq!(
        (received, sent),
        (120, 120),
        "3 clients × 4 messages × 10 bytes, each way"
    );
    assert_eq!(
        count(&events, |kind| matches!(
            kind,
            EventKind::TaskFinished {
                outcome: TaskOutcome::Ok,
                ..
            }
        )),
        3
    );
    for event in &events {
        if let EventKind::ClientFinished { echoed, error, .. } = &event.kind {
            assert_eq!((*echoed, error.as_deref()), (40, None));
        }
    }
    // (latency, when it was reported), in µs on the lab's clock.
    let round_trips: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::RoundTrip { latency_us, .. } => Some((latency_us, event.at)),
            _ => None,
        })
        .collect();
    assert_eq!(round_trips.len(), 12, "one round trip per message");
    // Measured, in microseconds: more than nothing, and no longer than the
    // lab had existed when its echo came back (how fast is the benchmarks'
    // to say).
    assert!(
        round_trips
            .iter()
            .all(|&(latency, at)| latency > 0 && latency <= at),
        "{round_trips:?}"
    );
    assert!(
        events.windows(2).all(|pair| pair[0].at <= pair[1].at),
        "events come in time order"
    );
}

/// Ten polite clients and one that resets its connection, under `model`
/// with `errors`; the events until every client is done and the server has
/// finished the tasks (or, when it crashed, closed the connections).
async fn ten_polite_and_a_crasher(
    model: ServerModel,
    errors: HandlerStyle,
) -> Vec<protocol::Event> {
    let relay = start_relay(Config::default()).await;
    let (mut socket, _) = open_lab(&relay).await;
    send_command(&mut socket, &Command::SetModel { model, errors }).await;
    events_until(&mut socket, |seen| {
        count(
            seen,
            |kind| matches!(kind, EventKind::Listening { errors: e, .. } if *e == errors),
        ) >= 1
    })
    .await;
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 10,
            behaviour: ClientBehaviour::Polite {
                messages: POLITE_MESSAGES,
                size: POLITE_SIZE,
                interval_ms: 200,
            },
        },
    )
    .await;
    // The crasher comes once the others have connected: their
    // conversations (20 messages, 200 ms apart: about 4 s) are still going
    // on, however late the crasher comes on a busy machine.
    let mut events = events_until(&mut socket, |seen| {
        count(seen, |kind| matches!(kind, EventKind::Accepted { .. })) >= 10
    })
    .await;
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 1,
            behaviour: ClientBehaviour::Crasher { size: 40 },
        },
    )
    .await;
    let before = events.clone();
    events.extend(
        events_until(&mut socket, |seen| {
            let all = || before.iter().chain(seen.iter());
            let counted =
                |pick: fn(&EventKind) -> bool| all().filter(|event| pick(&event.kind)).count();
            counted(|kind| matches!(kind, EventKind::ClientFinished { .. })) == 11
                && (counted(|kind| matches!(kind, EventKind::ServerCrashed { .. })) == 1
                    || counted(|kind| matches!(kind, EventKind::TaskFinished { .. })) == 11)
        })
        .await,
    );
    events
}

const POLITE_MESSAGES: u32 = 20;
const POLITE_SIZE: u32 = 20;

/// The polite clients that got every byte back.
fn polite_done(events: &[protocol::Event]) -> usize {
    let in_full = u64::from(POLITE_MESSAGES * POLITE_SIZE);
    count(events, |kind| {
        matches!(
            kind,
            EventKind::ClientFinished {
                echoed,
                error: None,
                ..
            } if *echoed == in_full
        )
    })
}

#[tokio::test]
async fn a_handled_error_in_an_asyncio_handler_is_caught_and_its_task_ends_well() {
    let events = ten_polite_and_a_crasher(ServerModel::AsyncTasks, HandlerStyle::Handled).await;
    assert_eq!(
        polite_done(&events),
        10,
        "every polite client got all its bytes back"
    );
    let handled: Vec<&str> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::ErrorHandled { error, .. } => Some(error.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(handled.len(), 1, "{handled:?}");
    assert!(handled[0].contains("reset"), "the OS's words: {handled:?}");
    assert_eq!(
        count(&events, |kind| matches!(
            kind,
            EventKind::TaskFinished {
                outcome: TaskOutcome::Failed { .. },
                ..
            }
        )),
        0,
        "`except ConnectionError` caught it: no task failed"
    );
}

#[tokio::test]
async fn an_unhandled_error_fails_only_its_own_asyncio_task_and_is_reported_as_never_retrieved() {
    let events = ten_polite_and_a_crasher(ServerModel::AsyncTasks, HandlerStyle::Unhandled).await;
    assert_eq!(
        polite_done(&events),
        10,
        "every polite client got all its bytes back"
    );
    let failures: Vec<(TaskId, String)> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::TaskFinished {
                task,
                outcome: TaskOutcome::Failed { error },
                ..
            } => Some((*task, error.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].1.contains("reset"),
        "the OS's words: {failures:?}"
    );
    assert!(
        events.iter().any(|event| matches!(&event.kind,
            EventKind::ExceptionNeverRetrieved { task, .. } if *task == failures[0].0)),
        "asyncio's late report names the failed task"
    );
    assert_eq!(
        count(&events, |kind| matches!(
            kind,
            EventKind::ErrorHandled { .. }
        )),
        0
    );
    assert_eq!(
        count(&events, |kind| matches!(
            kind,
            EventKind::ServerCrashed { .. }
        )),
        0
    );
}

#[tokio::test]
async fn an_unhandled_error_kills_a_threaded_server_and_every_client_loses_it() {
    for model in [ServerModel::BusyPoll, ServerModel::Selector] {
        let events = ten_polite_and_a_crasher(model, HandlerStyle::Unhandled).await;
        let crash = events
            .iter()
            .position(|event| matches!(event.kind, EventKind::ServerCrashed { .. }))
            .unwrap_or_else(|| panic!("{model:?}: the server crashed"));
        let accepted = count(&events, |kind| matches!(kind, EventKind::Accepted { .. }));
        let closed = count(&events, |kind| matches!(kind, EventKind::Closed { .. }));
        assert_eq!(
            closed, accepted,
            "{model:?}: every connection it had is closed"
        );
        assert!(
            !events[crash..].iter().any(|event| matches!(
                event.kind,
                EventKind::Sent { .. }
                    | EventKind::Accepted { .. }
                    | EventKind::ErrorHandled { .. }
            )),
            "{model:?}: nothing is served after the crash"
        );
        assert!(
            polite_done(&events) < 10,
            "{model:?}: polite clients lost the server mid-conversation"
        );
    }
}

#[tokio::test]
async fn slow_and_flood_clients_behave_on_real_sockets() {
    let relay = start_relay(Config::default()).await;
    let (mut socket, _) = open_lab(&relay).await;
    // 200 ms between bytes: the server reads a message in pieces even when
    // a busy machine serves it late (it would have to come 600 ms late to
    // find a whole message waiting).
    let slow = ClientBehaviour::Slow {
        messages: 2,
        size: 4,
        byte_interval_ms: 200,
    };
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 1,
            behaviour: slow,
        },
    )
    .await;
    let events = events_until(&mut socket, |seen| {
        count(seen, |kind| {
            matches!(kind, EventKind::ClientFinished { .. })
        }) == 1
    })
    .await;
    assert!(events.iter().any(|event| matches!(
        event.kind,
        EventKind::ClientFinished {
            echoed: 8,
            error: None,
            ..
        }
    )));
    // A byte at a time: the server reads more times than there are
    // messages (how many reads exactly depends on how promptly it is
    // scheduled).
    let reads = count(&events, |kind| matches!(kind, EventKind::Received { .. }));
    assert!(
        reads > 2,
        "{reads} reads for 2 messages sent a byte at a time"
    );

    // A flood that never reads fills the buffers: the server's task ends up
    // waiting for room to write. (64 MiB, the most a flood may send, is more
    // than loopback's buffers hold however the kernel tunes them, so the
    // flood cannot finish and close before the buffers are sampled.)
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 1,
            behaviour: ClientBehaviour::Flood { bytes: 64 << 20 },
        },
    )
    .await;
    // The sampler sees the echo pile up in the kernel: bytes the flood does
    // not take, and (once the server stops reading) bytes it has not read.
    // (One wait for both: either may come first, in the same frame or not.)
    let flood = ConnId(2);
    events_until(&mut socket, |seen| {
        let waits_to_write = count(seen, |kind| {
            matches!(
                kind,
                EventKind::TaskWaiting {
                    op: protocol::IoOp::Write,
                    ..
                }
            )
        }) > 0;
        let both_buffers_hold_bytes = count(seen, |kind| {
            matches!(kind, EventKind::Buffered { conn, recv_queue, send_queue }
                if *conn == flood && *recv_queue > 0 && *send_queue > 0)
        }) > 0;
        waits_to_write && both_buffers_hold_bytes
    })
    .await;
}

fn phase_at(events: &[Event], phase: ShutdownPhase) -> Option<u64> {
    events
        .iter()
        .find_map(|event| (event.kind == EventKind::Shutdown { phase }).then_some(event.at))
}

#[tokio::test]
async fn a_lab_shutdown_stops_accepting_lets_fast_clients_finish_and_cancels_the_slow_one() {
    // Long enough for the fast clients' last 300 ms on a busy machine.
    const GRACE_MS: u32 = 3000;
    let relay = start_relay(Config::default()).await;
    let (mut socket, hello) = open_lab(&relay).await;
    let fast = ClientBehaviour::Polite {
        messages: 3,
        size: 10,
        interval_ms: 100,
    };
    // 100 bytes, 200 ms apart: 20 s, far longer than the grace.
    let slow = ClientBehaviour::Slow {
        messages: 1,
        size: 100,
        byte_interval_ms: 200,
    };
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 3,
            behaviour: fast,
        },
    )
    .await;
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 1,
            behaviour: slow,
        },
    )
    .await;
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 1,
            behaviour: ClientBehaviour::Silent {},
        },
    )
    .await;
    let mut events = events_until(&mut socket, |seen| {
        count(seen, |kind| matches!(kind, EventKind::Accepted { .. })) == 5
            && count(seen, |kind| matches!(kind, EventKind::Received { .. })) >= 4
    })
    .await;

    send_command(
        &mut socket,
        &Command::Shutdown {
            grace_ms: GRACE_MS,
            policy: ShutdownPolicy::GraceThenCancel,
        },
    )
    .await;
    events.extend(
        events_until(&mut socket, |seen| {
            count(seen, |kind| {
                matches!(
                    kind,
                    EventKind::Shutdown {
                        phase: ShutdownPhase::StopAccepting
                    }
                )
            }) == 1
        })
        .await,
    );
    let refused = TcpStream::connect(&hello.echo_addr).await.unwrap_err();
    assert_eq!(
        refused.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "accepting stopped at once"
    );

    events.extend(events_until(&mut socket, |seen| stopped_and_clients_finished(seen, 5)).await);
    let stop = phase_at(&events, ShutdownPhase::StopAccepting).unwrap();
    let cancelling = phase_at(&events, ShutdownPhase::Cancelling)
        .expect("the slow and silent ones outlast the grace");
    let waited = cancelling - stop;
    // Not before the deadline; after it, however late a busy machine lets
    // the server act, well before the slow client would have finished.
    let grace_us = u64::from(GRACE_MS) * 1000;
    assert!(
        (grace_us..grace_us + 5_000_000).contains(&waited),
        "cancelled at the deadline: {waited} µs"
    );

    let outcomes: Vec<(TaskOutcome, u64)> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::TaskFinished { outcome, .. } => Some((outcome.clone(), event.at)),
            _ => None,
        })
        .collect();
    let done_in_time = outcomes
        .iter()
        .filter(|(outcome, at)| *outcome == TaskOutcome::Ok && *at < cancelling)
        .count();
    let cancelled = outcomes
        .iter()
        .filter(|(outcome, at)| *outcome == TaskOutcome::Cancelled && *at >= cancelling)
        .count();
    assert_eq!((done_in_time, cancelled), (3, 2), "{outcomes:?}");
    // Nothing is left open: every accepted connection was closed.
    assert_eq!(
        count(&events, |kind| matches!(kind, EventKind::Accepted { .. })),
        count(&events, |kind| matches!(kind, EventKind::Closed { .. }))
    );
    let polite_ok = count(&events, |kind| {
        matches!(
            kind,
            EventKind::ClientFinished {
                echoed: 30,
                error: None,
                ..
            }
        )
    });
    assert_eq!(polite_ok, 3);
    send_command(
        &mut socket,
        &Command::Shutdown {
            grace_ms: 10,
            policy: ShutdownPolicy::GraceThenCancel,
        },
    )
    .await;
    assert!(
        next_error(&mut socket)
            .await
            .contains("already shutting down")
    );
}

#[tokio::test]
async fn a_panicking_handler_fails_alone_and_the_server_serves_on() {
    let relay = start_relay(Config {
        test_commands: true,
        ..Config::default()
    })
    .await;
    let (mut socket, hello) = open_lab(&relay).await;
    let mut doomed = TcpStream::connect(&hello.echo_addr).await.unwrap();
    events_until(&mut socket, |seen| {
        count(seen, |kind| matches!(kind, EventKind::Accepted { .. })) == 1
    })
    .await;
    send_command(
        &mut socket,
        &Command::PanicHandler {
            conn: protocol::ConnId(1),
        },
    )
    .await;
    // The command takes effect at the handler's next read: keep talking
    // until the connection dies.
    let mut echo = [0; 1];
    let talk_until_it_dies = async {
        loop {
            let echoed = doomed.write_all(b"x").await.is_ok()
                && matches!(doomed.read(&mut echo).await, Ok(1));
            if !echoed {
                break;
            }
        }
    };
    tokio::time::timeout(PATIENCE, talk_until_it_dies)
        .await
        .expect("the panicking handler's connection died");

    let events = events_until(&mut socket, |seen| {
        count(seen, |kind| matches!(kind, EventKind::TaskFinished { .. })) == 1
    })
    .await;
    let error = events
        .iter()
        .find_map(|event| match &event.kind {
            EventKind::TaskFinished {
                outcome: TaskOutcome::Failed { error },
                ..
            } => Some(error.clone()),
            _ => None,
        })
        .expect("the task failed");
    assert!(error.starts_with("panicked: "), "{error}");

    let mut survivor = TcpStream::connect(&hello.echo_addr).await.unwrap();
    assert_echoes(&mut survivor, b"still serving?").await;
}

#[tokio::test]
async fn test_commands_are_refused_by_a_normal_relay() {
    let relay = start_relay(Config::default()).await;
    let (mut socket, _) = open_lab(&relay).await;
    send_command(
        &mut socket,
        &Command::PanicHandler {
            conn: protocol::ConnId(1),
        },
    )
    .await;
    assert!(
        next_error(&mut socket)
            .await
            .contains("test commands are off")
    );
}

#[tokio::test]
async fn a_raw_tcp_client_gets_exactly_its_bytes_back_and_shows_up() {
    let relay = start_relay(Config::default()).await;
    let (mut socket, hello) = open_lab(&relay).await;
    let mut tcp = TcpStream::connect(&hello.echo_addr).await.unwrap();
    let local = tcp.local_addr().unwrap().to_string();

    let sent: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (mut reader, mut writer) = tcp.split();
    let mut echoed = vec![0; sent.len()];
    let (write, read) = tokio::time::timeout(PATIENCE, async {
        tokio::join!(writer.write_all(&sent), reader.read_exact(&mut echoed))
    })
    .await
    .expect("the echo came back within PATIENCE");
    write.unwrap();
    read.unwrap();
    assert!(
        echoed == sent,
        "the echo must be the same bytes in the same order"
    );

    let events = events_until(&mut socket, |seen| {
        count(seen, |kind| matches!(kind, EventKind::Accepted { .. })) == 1
    })
    .await;
    let peers: Vec<_> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::Accepted { peer, .. } => Some(peer.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(peers, vec![local]);
}

#[tokio::test]
async fn closing_the_websocket_closes_the_labs_echo_port() {
    let relay = start_relay(Config::default()).await;
    let (mut socket, hello) = open_lab(&relay).await;
    TcpStream::connect(&hello.echo_addr)
        .await
        .expect("the echo port is open while the lab lives");

    socket.close(None).await.unwrap();
    // The relay tears the lab down before it lets go of the socket, so once
    // the stream ends the port must be closed.
    while let Some(Ok(_)) = tokio::time::timeout(PATIENCE, socket.next()).await.unwrap() {}

    let refused = TcpStream::connect(&hello.echo_addr).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}

async fn handshake_status(relay: &RunningRelay, host: &str, origin: Option<&str>) -> u16 {
    let mut request = format!("ws://{}/ws", relay.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Host", HeaderValue::from_str(host).unwrap());
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", HeaderValue::from_str(origin).unwrap());
    }
    let handshake = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(request))
        .await
        .expect("the relay answered the handshake");
    match handshake {
        Ok((_, response)) => response.status().as_u16(),
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected handshake failure: {other}"),
    }
}

#[tokio::test]
async fn only_the_relays_own_pages_may_open_a_lab() {
    let relay = start_relay(Config::default()).await;
    let own_host = relay.addr.to_string();
    let own_origin = format!("http://{own_host}");
    assert_eq!(
        handshake_status(&relay, &own_host, Some(&own_origin)).await,
        101
    );
    assert_eq!(
        handshake_status(&relay, &own_host, None).await,
        101,
        "programs send no Origin"
    );
    assert_eq!(
        handshake_status(&relay, &own_host, Some("https://evil.example")).await,
        403
    );
    let rebound = format!("evil.example:{}", relay.addr.port());
    assert_eq!(
        handshake_status(&relay, &rebound, Some(&format!("http://{rebound}"))).await,
        403,
        "a DNS-rebound name is refused"
    );
}

#[tokio::test]
async fn bad_frames_get_error_events_and_the_session_goes_on() {
    let relay = start_relay(Config::default()).await;
    let (mut socket, _) = open_lab(&relay).await;

    socket
        .send(Message::text("this is not json"))
        .await
        .unwrap();
    assert!(next_error(&mut socket).await.starts_with("not a command"));
    socket
        .send(Message::text(r#"{"type":"launch_missiles"}"#))
        .await
        .unwrap();
    assert!(next_error(&mut socket).await.contains("launch_missiles"));
    socket.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert!(next_error(&mut socket).await.contains("binary"));
    socket
        .send(Message::text(r#"{"type":"pause","x":1}"#))
        .await
        .unwrap();
    assert!(next_error(&mut socket).await.contains("unknown field"));

    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 1,
            behaviour: polite(2, 8),
        },
    )
    .await;
    let events = until_clients_finished(&mut socket, 1).await;
    assert_eq!(clients_echoed_in_full(&events, 16), 1);
}

#[tokio::test]
async fn a_spawn_above_the_cap_is_refused_whole() {
    let mut config = Config::default();
    config.limits.max_clients = 5;
    let relay = start_relay(config).await;
    let (mut socket, hello) = open_lab(&relay).await;
    assert_eq!(hello.limits.max_clients, 5);

    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 6,
            behaviour: polite(1, 1),
        },
    )
    .await;
    let message = next_error(&mut socket).await;
    assert!(message.contains("at most 5"), "{message}");

    // Had any of the six started, this one would not be client #1.
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 1,
            behaviour: polite(1, 1),
        },
    )
    .await;
    let events = events_until(&mut socket, |seen| {
        count(seen, |kind| matches!(kind, EventKind::ClientStarted { .. })) == 1
    })
    .await;
    let started: Vec<_> = events
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::ClientStarted { client, .. } => Some(client),
            _ => None,
        })
        .collect();
    assert_eq!(started, vec![ClientId(1)]);
}

/// A message larger than the socket buffers, written whole before its echo
/// is read, would stall client and server for ever: such a client is
/// refused with the reason, and one of exactly a buffer's size is echoed
/// in full (real kernel buffers, set to the smallest the flag allows here).
#[tokio::test]
async fn a_message_larger_than_the_socket_buffers_is_refused_and_one_that_fits_is_echoed() {
    let mut config = Config::default();
    config.limits.socket_buffer_bytes = 4096;
    let relay = start_relay(config).await;
    let (mut socket, _hello) = open_lab(&relay).await;

    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 1,
            behaviour: polite(1, 4097),
        },
    )
    .await;
    let message = next_error(&mut socket).await;
    assert!(
        message.contains("4097 bytes") && message.contains("wait for ever"),
        "{message}"
    );

    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 1,
            behaviour: polite(3, 4096),
        },
    )
    .await;
    let events = until_clients_finished(&mut socket, 1).await;
    assert_eq!(
        clients_echoed_in_full(&events, 12_288),
        1,
        "the refused client never ran, and the one that fits was echoed whole"
    );
}

#[tokio::test]
async fn stopping_the_relay_shuts_labs_down_gracefully_and_says_goodbye() {
    let relay = start_relay(Config {
        grace: Duration::from_millis(300),
        ..Config::default()
    })
    .await;
    let (mut socket, hello) = open_lab(&relay).await;
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 1,
            behaviour: ClientBehaviour::Silent {},
        },
    )
    .await;
    events_until(&mut socket, |seen| {
        count(seen, |kind| matches!(kind, EventKind::Accepted { .. })) == 1
    })
    .await;

    relay.stop.cancel();
    let mut phases = Vec::new();
    let close = loop {
        match tokio::time::timeout(PATIENCE, socket.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame.expect("a close frame with a reason"),
            Some(Ok(Message::Text(text))) => {
                if let ServerMessage::Events { events } = serde_json::from_str(&text).unwrap() {
                    phases.extend(events.into_iter().filter_map(|event| match event.kind {
                        EventKind::Shutdown { phase } => Some(phase),
                        _ => None,
                    }));
                }
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    let deadline = match phases.get(1) {
        Some(ShutdownPhase::Draining { deadline }) => *deadline,
        other => panic!("{phases:?}: {other:?}"),
    };
    assert_eq!(
        phases,
        vec![
            ShutdownPhase::StopAccepting,
            ShutdownPhase::Draining { deadline },
            ShutdownPhase::Cancelling,
            ShutdownPhase::Stopped
        ],
        "the browser watches its lab shut down, then gets the goodbye"
    );
    assert_eq!(close.code, CloseCode::Away);
    assert!(close.reason.contains("shutting down"));
    tokio::time::timeout(PATIENCE, relay.served)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let refused = TcpStream::connect(&hello.echo_addr).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn a_client_with_nothing_to_say_and_one_with_empty_messages_finish_cleanly() {
    let relay = start_relay(Config::default()).await;
    let (mut socket, _) = open_lab(&relay).await;
    for (messages, size) in [(0, 32), (3, 0)] {
        send_command(
            &mut socket,
            &Command::SpawnClients {
                count: 1,
                behaviour: ClientBehaviour::Polite {
                    messages,
                    size,
                    interval_ms: 10,
                },
            },
        )
        .await;
    }
    let events = events_until(&mut socket, |seen| {
        count(seen, |kind| {
            matches!(kind, EventKind::ClientFinished { .. })
        }) >= 2
    })
    .await;
    let results: Vec<(u64, Option<String>)> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::ClientFinished { echoed, error, .. } => Some((*echoed, error.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(results, [(0, None), (0, None)], "as the simulator's do");
}
