//! The four server models, live: the lesson's claims on real sockets, each
//! model switched in with `set_model` and watched over a real WebSocket.

use std::net::SocketAddr;
use std::time::Duration;

use loopscope_relay::Config;
use protocol::{Call, ClientBehaviour, Command, ConnId, EventKind, IoOp, Ready, ServerModel, Sock};
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
    // Its thread spins at idle priority: on a busy machine it may wait for
    // a free core, and then takes all of it.
    let events = events_until(&mut socket, |seen| {
        spins(seen).len() >= 5 && cpu_shares(seen).iter().any(|&share| share >= 50)
    })
    .await;
    // Nobody there: each iteration's one try, at accept(), would block.
    let tallies = spins(&events);
    assert!(
        tallies
            .iter()
            .all(|&(iterations, would_block)| iterations > 0 && would_block == iterations),
        "spinning with nobody there: {tallies:?}"
    );
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
    tokio::time::timeout(PATIENCE, clients[1].read_exact(&mut echo))
        .await
        .expect("the echo came")
        .unwrap();
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

/// How long a test watches for what a paused server must not do: an
/// absence can only be watched for a while. A server that ran would echo
/// within a millisecond; a second is generous, and costs only this wait.
const WHILE_PAUSED: Duration = Duration::from_secs(1);

/// Whether the lab says its server's loop is paused: its answer to a
/// pause, and the loop's own word once it stops again after a step.
fn says_paused(kind: &EventKind) -> bool {
    *kind == EventKind::Stepping { paused: true }
}

/// Pauses the lab's server; returns once the lab says it is paused (the
/// loop may still finish the iteration it was in).
async fn pause(socket: &mut Socket) {
    send_command(socket, &Command::Pause {}).await;
    events_until(socket, |seen| count(seen, says_paused) == 1).await;
}

/// One step: the events from it until the loop says it is paused again.
async fn step(socket: &mut Socket) -> Vec<protocol::Event> {
    send_command(socket, &Command::Step {}).await;
    let mut events = events_until(socket, |seen| count(seen, says_paused) == 1).await;
    let paused_again = events
        .iter()
        .position(|event| says_paused(&event.kind))
        .unwrap();
    events.truncate(paused_again);
    events
}

/// What a paused server does in [`WHILE_PAUSED`] while `client` waits for
/// an echo: the bytes echoed, and what the lab reports of its loop (its
/// CPU, its sockets' buffer levels and the listen backlog, which other
/// threads sample, left out).
async fn while_paused(socket: &mut Socket, client: &mut TcpStream) -> (Vec<u8>, Vec<EventKind>) {
    let mut echoed = vec![0; 64];
    let (read, events) = tokio::join!(
        tokio::time::timeout(WHILE_PAUSED, client.read(&mut echoed)),
        events_within(socket, WHILE_PAUSED)
    );
    echoed.truncate(match read {
        Ok(Ok(got)) => got,
        _ => 0,
    });
    (echoed, loop_events(&events))
}

/// The events of `events` that the server's loop reported.
fn loop_events(events: &[protocol::Event]) -> Vec<EventKind> {
    events
        .iter()
        .map(|event| event.kind.clone())
        .filter(|kind| {
            !matches!(
                kind,
                EventKind::Cpu { .. } | EventKind::Buffered { .. } | EventKind::Backlog { .. }
            )
        })
        .collect()
}

fn iterations(events: &[protocol::Event]) -> usize {
    count(events, |kind| {
        matches!(kind, EventKind::LoopIteration { .. })
    })
}

/// Reads exactly `expected` from `client`, within the patience.
async fn read_echo(client: &mut TcpStream, expected: &[u8]) {
    let mut echo = vec![0; expected.len()];
    tokio::time::timeout(PATIENCE, client.read_exact(&mut echo))
        .await
        .expect("no echo")
        .unwrap();
    assert_eq!(echo, expected);
}

/// A lab on a fresh relay whose blocking server has begun its first
/// iteration: it waits in `accept()`.
async fn blocking_lab_in_accept() -> (Socket, SocketAddr, CancellationToken) {
    let relay = start_relay(Config::default()).await;
    let (mut socket, hello) = open_lab(&relay).await;
    send_command(
        &mut socket,
        &Command::SetModel {
            model: ServerModel::Blocking,
            errors: Default::default(),
        },
    )
    .await;
    events_until(&mut socket, |seen| {
        seen.iter()
            .skip_while(|event| {
                !matches!(
                    event.kind,
                    EventKind::Listening {
                        model: ServerModel::Blocking,
                        ..
                    }
                )
            })
            .any(|event| {
                event.kind
                    == EventKind::CallBlocked {
                        call: Call::Accept,
                        sock: Sock::Listener,
                    }
            })
    })
    .await;
    (socket, hello.echo_addr.parse().unwrap(), relay.stop)
}

#[tokio::test]
async fn a_paused_blocking_server_really_waits_and_a_step_runs_exactly_one_iteration() {
    let (mut socket, echo_addr, stop) = blocking_lab_in_accept().await;
    pause(&mut socket).await;
    // The accept() it waits in returns (that iteration began before the
    // pause); then the loop waits at its gate, before the next recv().
    let mut client = TcpStream::connect(echo_addr).await.unwrap();
    client.write_all(b"ping").await.unwrap();
    let accepted = events_until(&mut socket, |seen| {
        count(seen, |kind| matches!(kind, EventKind::Accepted { .. })) == 1
    })
    .await;
    let (echoed, mut events) = while_paused(&mut socket, &mut client).await;
    events.extend(loop_events(&accepted));
    assert!(echoed.is_empty(), "echoed while paused: {echoed:?}");
    assert!(
        !events.iter().any(|kind| matches!(
            kind,
            EventKind::LoopIteration { .. } | EventKind::Received { .. }
        )),
        "the loop went on while paused: {events:?}"
    );

    // One step: one iteration, the recv() and send() of the waiting
    // message; then it waits again.
    let first = step(&mut socket).await;
    assert_eq!(iterations(&first), 1, "{first:?}");
    assert_eq!(
        count(&first, |kind| matches!(
            kind,
            EventKind::Received { bytes: 4, .. }
        )),
        1
    );
    assert_eq!(
        count(&first, |kind| matches!(
            kind,
            EventKind::Sent { bytes: 4, .. }
        )),
        1
    );
    read_echo(&mut client, b"ping").await;

    // A step with nothing to read: its one iteration waits in recv() for
    // as long as the client is silent, and ends with the client's next
    // message.
    send_command(&mut socket, &Command::Step {}).await;
    let mut second = events_until(&mut socket, |seen| {
        count(seen, |kind| {
            matches!(
                kind,
                EventKind::CallBlocked {
                    call: Call::Recv,
                    ..
                }
            )
        }) == 1
    })
    .await;
    assert!(!second.iter().any(|event| says_paused(&event.kind)));
    client.write_all(b"pong").await.unwrap();
    second.extend(events_until(&mut socket, |seen| count(seen, says_paused) == 1).await);
    assert_eq!(iterations(&second), 1, "{second:?}");
    read_echo(&mut client, b"pong").await;

    // Paused again, for sure (it said so): nothing more is echoed...
    client.write_all(b"more").await.unwrap();
    let (echoed, events) = while_paused(&mut socket, &mut client).await;
    assert!(echoed.is_empty(), "echoed while paused: {echoed:?}");
    assert!(
        !events
            .iter()
            .any(|kind| matches!(kind, EventKind::LoopIteration { .. })),
        "{events:?}"
    );
    // ...until it runs again.
    send_command(&mut socket, &Command::Resume {}).await;
    read_echo(&mut client, b"more").await;
    stop.cancel();
}

/// The tallies of the busy loop's `spins` reports among `events`:
/// (iterations, tries that would block), one per report.
fn spins(events: &[protocol::Event]) -> Vec<(u64, u64)> {
    events
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::Spins {
                iterations,
                would_block,
            } => Some((iterations, would_block)),
            _ => None,
        })
        .collect()
}

/// A lab running `model`, paused for sure at its gate (after one step),
/// and a client that connected then and sent "ping": nothing is echoed while
/// it stays paused. Gives the loop's events meanwhile.
async fn paused_with_a_client(
    model: ServerModel,
) -> (Socket, TcpStream, CancellationToken, Vec<EventKind>) {
    let (mut socket, echo_addr, stop) = lab_with(model).await;
    pause(&mut socket).await;
    // The loop may still finish the iteration it was in; after a step, it
    // waits at its gate for sure.
    step(&mut socket).await;

    let mut client = TcpStream::connect(echo_addr).await.unwrap();
    client.write_all(b"ping").await.unwrap();
    let (echoed, events) = while_paused(&mut socket, &mut client).await;
    assert!(echoed.is_empty(), "echoed while paused: {echoed:?}");
    (socket, client, stop, events)
}

#[tokio::test]
async fn a_paused_busy_poll_server_really_waits_and_a_step_runs_exactly_one_iteration() {
    let (mut socket, mut client, stop, events) = paused_with_a_client(ServerModel::BusyPoll).await;
    assert!(
        events.is_empty(),
        "the loop went on while paused (not even an accept()): {events:?}"
    );

    // Each step is one iteration: one try at accept() and one at each
    // client, told at once as one report; the message is read in one
    // step and echoed in a later one.
    let mut read_in = None;
    let mut echoed_in = None;
    for index in 0..5 {
        let events = step(&mut socket).await;
        let tallies = spins(&events);
        assert_eq!(tallies.len(), 1, "step {index}: {events:?}");
        let (iterations, would_block) = tallies[0];
        assert_eq!(iterations, 1, "step {index}: {events:?}");
        assert!(
            would_block <= 2,
            "one try at accept(), one at the client: {would_block}"
        );
        if index == 0 {
            assert_eq!(
                count(&events, |kind| matches!(kind, EventKind::Accepted { .. })),
                1
            );
        } else {
            assert!(
                would_block >= 1,
                "nobody else is connecting: accept() would block"
            );
        }
        if count(&events, |kind| {
            matches!(kind, EventKind::Received { bytes: 4, .. })
        }) == 1
        {
            read_in = Some(index);
        }
        if count(&events, |kind| {
            matches!(kind, EventKind::Sent { bytes: 4, .. })
        }) == 1
        {
            echoed_in = Some(index);
            break;
        }
    }
    let (read_in, echoed_in) = (read_in.expect("read"), echoed_in.expect("echoed"));
    assert!(
        read_in < echoed_in,
        "read in step {read_in}, echoed in {echoed_in}"
    );
    read_echo(&mut client, b"ping").await;

    // Paused again: nothing more is echoed...
    client.write_all(b"more").await.unwrap();
    let (echoed, events) = while_paused(&mut socket, &mut client).await;
    assert!(echoed.is_empty(), "echoed while paused: {echoed:?}");
    assert!(events.is_empty(), "{events:?}");
    // ...until it runs again.
    send_command(&mut socket, &Command::Resume {}).await;
    read_echo(&mut client, b"more").await;
    stop.cancel();
}

#[tokio::test]
async fn a_paused_selector_really_waits_and_a_step_runs_exactly_one_iteration() {
    let (mut socket, mut client, stop, events) = paused_with_a_client(ServerModel::Selector).await;
    assert!(
        events.is_empty(),
        "nothing from the paused loop: {events:?}"
    );

    // One step: one iteration (select → accept → register), then it waits.
    let first = step(&mut socket).await;
    assert_eq!(iterations(&first), 1, "{first:?}");
    assert_eq!(
        count(&first, |kind| matches!(kind, EventKind::Accepted { .. })),
        1
    );
    assert_eq!(
        count(&first, |kind| matches!(
            kind,
            EventKind::Registered {
                sock: Sock::Conn(_),
                op: IoOp::Read,
                modify: false,
            }
        )),
        1
    );
    assert_eq!(
        count(&first, |kind| matches!(kind, EventKind::Received { .. })),
        0,
        "not yet read"
    );

    // Two more, one iteration each: receive, then send; the echo arrives.
    let second = step(&mut socket).await;
    assert_eq!(iterations(&second), 1, "{second:?}");
    assert_eq!(
        count(&second, |kind| matches!(
            kind,
            EventKind::Received { bytes: 4, .. }
        )),
        1
    );
    assert_eq!(
        count(&second, |kind| matches!(kind, EventKind::Sent { .. })),
        0
    );
    let third = step(&mut socket).await;
    assert_eq!(iterations(&third), 1, "{third:?}");
    assert_eq!(
        count(&third, |kind| matches!(
            kind,
            EventKind::Sent { bytes: 4, .. }
        )),
        1
    );
    read_echo(&mut client, b"ping").await;
    send_command(&mut socket, &Command::Resume {}).await;
    assert_echoes(&mut client, b"running").await;
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
    tokio::time::timeout(PATIENCE, talker.read_exact(&mut echo))
        .await
        .expect("the echo came")
        .unwrap();
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
