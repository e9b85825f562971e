//! The four server models, live: the lesson's claims on real sockets, each
//! model switched in with `set_model` and watched over a real WebSocket.

use std::net::SocketAddr;
use std::time::Duration;

use loopscope_relay::Config;
use protocol::{ClientBehaviour, Command, ConnId, EventKind, IoOp, Ready, ServerModel, Sock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

mod support;

use support::*;

/// A lab on a fresh in-process relay, switched to `model`.
async fn lab_with(model: ServerModel) -> (Socket, SocketAddr, CancellationToken) {
    let relay = start_relay(Config::default()).await;
    let (socket, hello) = open_lab_running(&relay, model, Default::default()).await;
    (socket, hello.echo_addr.parse().unwrap(), relay.stop)
}

fn polite(messages: u32, size: u32, interval_ms: u32) -> ClientBehaviour {
    ClientBehaviour::Polite {
        messages,
        size,
        interval_ms,
    }
}

#[tokio::test]
async fn every_model_echoes_twenty_clients_times_fifty_messages_exactly() {
    for model in [
        ServerModel::Blocking,
        ServerModel::BusyPoll,
        ServerModel::Selector,
        ServerModel::AsyncTasks,
    ] {
        let (mut socket, _, stop) = lab_with(model).await;
        send_command(
            &mut socket,
            &Command::SpawnClients {
                count: 20,
                behaviour: polite(50, 32, 0),
            },
        )
        .await;
        let events = events_until(&mut socket, |seen| {
            count(seen, |kind| {
                matches!(kind, EventKind::ClientFinished { .. })
            }) == 20
        })
        .await;
        // Each client compares every echoed byte with what it sent.
        let intact = count(&events, |kind| {
            matches!(
                kind,
                EventKind::ClientFinished {
                    echoed: 1600,
                    error: None,
                    ..
                }
            )
        });
        assert_eq!(intact, 20, "{model:?}");
        stop.cancel();
    }
}

#[tokio::test]
async fn the_blocking_server_makes_the_second_client_wait_in_the_backlog() {
    let (mut socket, _, stop) = lab_with(ServerModel::Blocking).await;
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 2,
            behaviour: polite(3, 16, 150),
        },
    )
    .await;
    let events = events_until(&mut socket, |seen| {
        count(seen, |kind| {
            matches!(kind, EventKind::ClientFinished { .. })
        }) == 2
            && count(seen, |kind| matches!(kind, EventKind::Closed { .. })) == 2
    })
    .await;
    let at = |wanted: &EventKind| {
        events
            .iter()
            .find(|event| event.kind == *wanted)
            .map(|event| event.at)
    };
    let first_closed = at(&EventKind::Closed { conn: ConnId(1) }).unwrap();
    let second_first_echo = events
        .iter()
        .find(|event| {
            matches!(
                event.kind,
                EventKind::Sent {
                    conn: ConnId(2),
                    ..
                }
            )
        })
        .unwrap()
        .at;
    assert!(
        second_first_echo > first_closed,
        "served only after the first left"
    );
    assert!(
        events
            .iter()
            .any(|event| event.kind == EventKind::Backlog { waiting: 1 }),
        "the kernel's backlog showed the second waiting"
    );
    assert!(
        count(&events, |kind| matches!(
            kind,
            EventKind::CallBlocked { .. }
        )) > 0
    );
    stop.cancel();
}

#[tokio::test]
async fn the_busy_poll_server_counts_would_blocks_while_idle_and_burns_its_cpu() {
    let (mut socket, _, stop) = lab_with(ServerModel::BusyPoll).await;
    let events = events_until(&mut socket, |seen| {
        count(seen, |kind| matches!(kind, EventKind::Spins { .. })) >= 5
            && count(seen, |kind| matches!(kind, EventKind::Cpu { .. })) >= 2
    })
    .await;
    let would_blocks: Vec<u64> = events
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::Spins { would_block, .. } => Some(would_block),
            _ => None,
        })
        .collect();
    assert!(
        would_blocks.iter().all(|&tries| tries > 1000),
        "spinning with nobody there: {would_blocks:?}"
    );
    let busiest = events
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::Cpu { busy_us, window_us } => Some(busy_us * 100 / window_us.max(1)),
            _ => None,
        })
        .max()
        .unwrap();
    assert!(busiest >= 50, "the thread keeps a CPU busy: {busiest}%");
    stop.cancel();
}

/// The shares of its thread's CPU a lab reported, in %.
fn cpu_shares(events: &[protocol::Event]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::Cpu { busy_us, window_us } => Some(busy_us * 100 / window_us.max(1)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn every_other_model_reports_its_thread_idle_while_nobody_sends() {
    for model in [
        ServerModel::Blocking,
        ServerModel::Selector,
        ServerModel::AsyncTasks,
    ] {
        let (mut socket, echo_addr, stop) = lab_with(model).await;
        // A client connected and silent: the server waits on it (in
        // recv(), in select(), at an await), using no CPU.
        let _silent = TcpStream::connect(echo_addr).await.unwrap();
        let events = events_until(&mut socket, |seen| {
            count(seen, |kind| matches!(kind, EventKind::Cpu { .. })) >= 3
        })
        .await;
        let shares = cpu_shares(&events);
        assert!(
            shares.iter().all(|&share| share <= 10),
            "{model:?} waits without spinning: {shares:?}"
        );
        stop.cancel();
    }
}

#[tokio::test]
async fn the_selector_reports_exactly_the_sockets_that_had_data() {
    let (mut socket, echo_addr, stop) = lab_with(ServerModel::Selector).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(TcpStream::connect(echo_addr).await.unwrap());
    }
    events_until(&mut socket, |seen| {
        count(seen, |kind| {
            matches!(
                kind,
                EventKind::Registered {
                    sock: Sock::Conn(_),
                    op: IoOp::Read,
                    modify: false,
                }
            )
        }) == 3
    })
    .await;
    clients[1].write_all(b"only me").await.unwrap();
    let events = events_until(&mut socket, |seen| {
        count(
            seen,
            |kind| matches!(kind, EventKind::SelectReturned { ready } if !ready.is_empty()),
        ) > 0
    })
    .await;
    let ready = events
        .iter()
        .find_map(|event| match &event.kind {
            EventKind::SelectReturned { ready } if !ready.is_empty() => Some(ready.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        ready,
        vec![Ready {
            sock: Sock::Conn(ConnId(2)),
            op: IoOp::Read
        }]
    );
    let mut echo = [0; 7];
    clients[1].read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"only me");
    stop.cancel();
}

#[tokio::test]
async fn a_tokio_task_is_suspended_on_read_between_messages() {
    let (mut socket, _, stop) = lab_with(ServerModel::AsyncTasks).await;
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 1,
            behaviour: polite(3, 8, 100),
        },
    )
    .await;
    let events = events_until(&mut socket, |seen| {
        count(seen, |kind| {
            matches!(kind, EventKind::ClientFinished { .. })
        }) == 1
    })
    .await;
    // The first message may already be there when the task starts, and the
    // client's close may race the last read; but between two messages, sent
    // 100 ms apart, the task has nothing to read: it must suspend on read.
    let mut waited_since_last_message = None;
    let mut messages = 0;
    for event in &events {
        match &event.kind {
            EventKind::TaskWaiting {
                sock: Sock::Conn(_),
                op: IoOp::Read,
                ..
            } => waited_since_last_message = waited_since_last_message.map(|_| true),
            EventKind::Received { .. } => {
                if let Some(waited) = waited_since_last_message {
                    assert!(
                        waited,
                        "message {} arrived without a suspension on read",
                        messages + 1
                    );
                }
                messages += 1;
                waited_since_last_message = Some(false);
            }
            _ => {}
        }
    }
    assert_eq!(messages, 3, "one read per message: {events:?}");
    send_command(&mut socket, &Command::Pause {}).await;
    let refusal = events_until(&mut socket, |seen| {
        count(seen, |kind| matches!(kind, EventKind::Error { .. })) > 0
    })
    .await;
    assert!(refusal.iter().any(|event| matches!(&event.kind, EventKind::Error { message } if message.contains("cannot be paused live"))));
    stop.cancel();
}

#[tokio::test]
async fn a_paused_selector_really_waits_and_a_step_runs_exactly_one_iteration() {
    let (mut socket, echo_addr, stop) = lab_with(ServerModel::Selector).await;
    send_command(&mut socket, &Command::Pause {}).await;
    events_until(&mut socket, |seen| {
        count(seen, |kind| *kind == EventKind::Stepping { paused: true }) == 1
    })
    .await;
    // The loop may finish the iteration it was in; then it waits.
    events_within(&mut socket, Duration::from_millis(1200)).await;

    let mut client = TcpStream::connect(echo_addr).await.unwrap();
    client.write_all(b"ping").await.unwrap();
    let mut echo = [0; 4];
    let waited =
        tokio::time::timeout(Duration::from_millis(300), client.read_exact(&mut echo)).await;
    assert!(waited.is_err(), "no echo while the server is paused");
    // Nothing from the paused loop (the lab's own CPU report goes on).
    assert_eq!(
        count(
            &events_within(&mut socket, Duration::from_millis(100)).await,
            |kind| !matches!(kind, EventKind::Cpu { .. })
        ),
        0
    );

    // One step: one iteration (select → accept → register), then it waits.
    send_command(&mut socket, &Command::Step {}).await;
    let step = events_until(&mut socket, |seen| {
        count(seen, |kind| {
            matches!(
                kind,
                EventKind::Registered {
                    sock: Sock::Conn(_),
                    ..
                }
            )
        }) == 1
    })
    .await;
    let mut step = step;
    step.extend(events_within(&mut socket, Duration::from_millis(300)).await);
    assert_eq!(
        count(&step, |kind| matches!(
            kind,
            EventKind::LoopIteration { .. }
        )),
        1,
        "{step:?}"
    );
    assert_eq!(
        count(&step, |kind| matches!(kind, EventKind::Accepted { .. })),
        1
    );
    assert_eq!(
        count(&step, |kind| matches!(kind, EventKind::Received { .. })),
        0,
        "not yet read"
    );

    // Two more: receive, then send; the echo arrives.
    send_command(&mut socket, &Command::Step {}).await;
    send_command(&mut socket, &Command::Step {}).await;
    tokio::time::timeout(PATIENCE, client.read_exact(&mut echo))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echo, b"ping");
    send_command(&mut socket, &Command::Resume {}).await;
    stop.cancel();
}

#[tokio::test]
async fn the_tokio_loop_sleeps_in_epoll_and_wakes_with_exactly_the_sockets_that_had_data() {
    let (mut socket, echo_addr, stop) = lab_with(ServerModel::AsyncTasks).await;
    let mut quiet = TcpStream::connect(echo_addr).await.unwrap();
    let mut talker = TcpStream::connect(echo_addr).await.unwrap();
    // Both accepted and suspended on their reads: the loop sleeps.
    events_until(&mut socket, |seen| {
        count(seen, |kind| {
            matches!(
                kind,
                EventKind::TaskWaiting {
                    sock: Sock::Conn(_),
                    op: IoOp::Read,
                    ..
                }
            )
        }) >= 2
    })
    .await;
    talker.write_all(b"ping").await.unwrap();
    let events = events_until(&mut socket, |seen| {
        // Echoed, and back to sleep in epoll.
        seen.iter()
            .position(|event| matches!(event.kind, EventKind::Sent { .. }))
            .is_some_and(|sent| {
                count(&seen[sent..], |kind| {
                    matches!(kind, EventKind::SelectCalled { .. })
                }) >= 1
            })
    })
    .await;
    let mut echo = [0; 4];
    talker.read_exact(&mut echo).await.unwrap();
    // Which connection is the talker: the one the server echoed.
    let talker_conn = events
        .iter()
        .find_map(|event| match event.kind {
            EventKind::Sent { conn, .. } => Some(conn),
            _ => None,
        })
        .unwrap();
    let ready_sets: Vec<&Vec<Ready>> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::SelectReturned { ready } => Some(ready),
            _ => None,
        })
        .collect();
    assert!(
        ready_sets.iter().any(|ready| ready
            .iter()
            .any(|entry| entry.sock == Sock::Conn(talker_conn) && entry.op == IoOp::Read)),
        "the talker's read woke the loop: {ready_sets:?}"
    );
    assert!(
        ready_sets
            .iter()
            .flat_map(|ready| ready.iter())
            .all(|entry| entry.sock == Sock::Conn(talker_conn)),
        "the quiet client was never ready: {ready_sets:?}"
    );
    let iterations: Vec<u64> = events
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::LoopIteration { iteration } => Some(iteration),
            _ => None,
        })
        .collect();
    assert!(
        iterations.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "iterations count up: {iterations:?}"
    );
    drop(quiet.write_all(b"").await);
    stop.cancel();
}
