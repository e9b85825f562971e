//! Hand-written event sequences and the exact world they must produce.

use super::*;
use crate::model::recording::{LogFilter, LogSubject, Recording};
use crate::model::world::wording::KIND_NAMES;
use protocol::{
    Call, ClientBehaviour, ClientId, Limits, PROTOCOL_VERSION, Ready, ServerModel, Sock,
};

fn hello(lab: u64) -> ServerMessage {
    ServerMessage::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        lab,
        echo_addr: "127.0.0.1:4000".into(),
        model: ServerModel::AsyncTasks,
        limits: Limits {
            max_clients: 10,
            max_command_bytes: 1024,
            max_messages_per_client: 10,
            max_message_size: 10,
            ..Limits::default()
        },
    })
}

/// A world fed as the page feeds it, through a recording, which keeps the
/// log.
#[derive(Default)]
struct Fed {
    recording: Recording,
    world: World,
}

/// A log line with what the filter reads.
struct Line {
    entry: LogSubject,
    text: String,
    kind: &'static str,
}

impl Fed {
    fn apply_message(&mut self, message: ServerMessage) {
        self.recording.record(&mut self.world, message);
    }

    fn begin_fresh_run(&mut self) {
        self.recording.begin_fresh_run(&mut self.world);
    }

    fn log(&self) -> Vec<Line> {
        (0..self.recording.log_len())
            .map(|index| {
                let line = self.recording.log_line(index).unwrap();
                Line {
                    entry: self.recording.log_subject(index).unwrap(),
                    text: line.text,
                    kind: line.kind,
                }
            })
            .collect()
    }
}

impl std::ops::Deref for Fed {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

fn batch(kinds: Vec<EventKind>) -> ServerMessage {
    batch_from(0, kinds)
}

/// Events 10 µs apart from `start`.
fn batch_from(start: Micros, kinds: Vec<EventKind>) -> ServerMessage {
    ServerMessage::Events {
        events: kinds
            .into_iter()
            .enumerate()
            .map(|(at, kind)| Event {
                at: start + at as Micros * 10,
                kind,
            })
            .collect(),
    }
}

/// One client served start to end: accept, spawn, wait, echo twice, finish.
fn one_served_client() -> Vec<EventKind> {
    let conn = ConnId(1);
    let task = TaskId(1);
    vec![
        EventKind::ClientStarted {
            client: ClientId(1),
            behaviour: ClientBehaviour::default(),
        },
        EventKind::Accepted {
            conn,
            peer: "127.0.0.1:5000".into(),
        },
        EventKind::TaskSpawned {
            task,
            conn: Some(conn),
        },
        EventKind::TaskWaiting {
            task,
            sock: Sock::Conn(conn),
            op: IoOp::Read,
        },
        EventKind::Received { conn, bytes: 3 },
        EventKind::Sent { conn, bytes: 3 },
        EventKind::Received { conn, bytes: 4 },
        EventKind::Sent { conn, bytes: 4 },
        EventKind::TaskFinished {
            task,
            conn: Some(conn),
            outcome: TaskOutcome::Ok,
        },
        EventKind::Closed { conn },
        EventKind::ClientFinished {
            client: ClientId(1),
            echoed: 7,
            error: None,
            told_goodbye: false,
        },
    ]
}

#[test]
fn a_served_client_leaves_one_closed_row_and_exact_counters() {
    let mut world = Fed::default();
    world.apply_message(hello(1));
    world.apply_message(batch(one_served_client()));

    assert_eq!(
        world.counters,
        Counters {
            accepted: 1,
            open: 0,
            bytes_echoed: 7,
            clients_started: 1,
            clients_finished: 1,
            errors_unhandled: 0,
            dropped_events: 0,
            ..Counters::default()
        }
    );
    let rows: Vec<_> = world.connections.values().cloned().collect();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(
        (
            row.conn,
            row.peer.as_str(),
            row.task,
            &row.state,
            row.bytes_in,
            row.bytes_out
        ),
        (
            ConnId(1),
            "127.0.0.1:5000",
            Some(TaskId(1)),
            &TaskState::Finished(TaskOutcome::Ok),
            7,
            7
        )
    );
    // Its lane: accepted, ready, suspended, running, then done at 80 µs
    // (the close after it says nothing new).
    let lane: Vec<(Micros, Micros, TaskState)> = row
        .history
        .iter()
        .map(|span| (span.from, span.to, span.state.clone()))
        .collect();
    assert_eq!(
        lane,
        vec![
            (10, 20, TaskState::Accepted),
            (20, 30, TaskState::Ready),
            (30, 40, TaskState::Waiting(IoOp::Read)),
            (40, 80, TaskState::Running),
        ]
    );
    assert_eq!(row.since, 80);
    assert_eq!(world.now, 100);
    // The hello line, then one per event.
    assert_eq!(world.log().len(), 12);
    assert_eq!(
        world.log()[4].text,
        "task#1 suspends: await sock_recv(conn#1)"
    );
}

#[test]
fn a_task_waiting_for_data_shows_as_waiting_on_read() {
    let mut world = World::default();
    world.apply_message(batch(one_served_client()[..4].to_vec()));
    let row = &world.connections[&ConnId(1)];
    assert_eq!(row.state, TaskState::Waiting(IoOp::Read));
    assert_eq!(world.counters.open, 1);
}

#[test]
fn a_failed_task_is_counted_and_keeps_its_error() {
    let conn = ConnId(2);
    let task = TaskId(5);
    let mut world = Fed::default();
    world.apply_message(batch(vec![
        EventKind::Accepted {
            conn,
            peer: "p".into(),
        },
        EventKind::TaskSpawned {
            task,
            conn: Some(conn),
        },
        EventKind::TaskFinished {
            task,
            conn: Some(conn),
            outcome: TaskOutcome::Failed {
                error: "Connection reset by peer (os error 104)".into(),
            },
        },
    ]));
    assert_eq!(world.counters.errors_unhandled, 1);
    assert_eq!(
        world.connections[&conn].state,
        TaskState::Finished(TaskOutcome::Failed {
            error: "Connection reset by peer (os error 104)".into()
        })
    );
    assert_eq!(
        world.log().last().unwrap().text,
        "task#5 failed: ConnectionResetError: [Errno 104] Connection reset by peer",
        "the log speaks Python: the exception a Python server would see"
    );
}

#[test]
fn dropped_counts_add_up() {
    let mut world = World::default();
    world.apply_message(batch(vec![
        EventKind::Dropped { count: 3 },
        EventKind::Dropped { count: 4 },
    ]));
    assert_eq!(world.counters.dropped_events, 7);
}

#[test]
fn a_new_hello_forgets_the_previous_lab() {
    let mut world = Fed::default();
    world.apply_message(hello(1));
    world.apply_message(batch(one_served_client()));
    world.apply_message(hello(2));
    assert_eq!(world.counters, Counters::default());
    assert!(world.connections.is_empty());
    assert_eq!(world.lab.as_ref().map(|lab| lab.lab), Some(2));
    assert_eq!(world.log().len(), 1);
}

#[test]
fn the_closed_rows_stay_bounded() {
    let mut world = World::default();
    let mut kinds = Vec::new();
    for id in 1..=(CLOSED_CONNECTIONS_KEPT as u64 + 50) {
        kinds.push(EventKind::Accepted {
            conn: ConnId(id),
            peer: "p".into(),
        });
        kinds.push(EventKind::Closed { conn: ConnId(id) });
    }
    world.apply_message(batch(kinds));
    assert_eq!(world.connections.len(), CLOSED_CONNECTIONS_KEPT);
    // The oldest went first.
    assert_eq!(world.connections.keys().next(), Some(&ConnId(51)));
    assert_eq!(world.counters.accepted, CLOSED_CONNECTIONS_KEPT as u64 + 50);
    assert_eq!(world.counters.open, 0);
}

#[test]
fn the_selector_table_follows_registrations_and_the_last_ready_set() {
    let conn = ConnId(1);
    let mut world = World::default();
    world.apply_message(batch(vec![
        EventKind::Listening {
            addr: "a".into(),
            model: ServerModel::Selector,
            errors: Default::default(),
        },
        EventKind::Registered {
            sock: Sock::Listener,
            op: IoOp::Read,
            modify: false,
        },
        EventKind::SelectReturned {
            ready: vec![Ready {
                sock: Sock::Listener,
                op: IoOp::Read,
            }],
        },
        EventKind::Accepted {
            conn,
            peer: "p".into(),
        },
        EventKind::Registered {
            sock: Sock::Conn(conn),
            op: IoOp::Write,
            modify: false,
        },
        EventKind::SelectReturned {
            ready: vec![Ready {
                sock: Sock::Conn(conn),
                op: IoOp::Write,
            }],
        },
        EventKind::Buffered {
            conn,
            recv_queue: 5,
            send_queue: 2_000,
        },
    ]));
    let rows: Vec<SocketRow> = world.sockets.values().cloned().collect();
    assert_eq!(
        rows,
        vec![
            SocketRow {
                sock: Sock::Listener,
                interest: Some(IoOp::Read),
                ready: false,
                closed: false,
                recv_queue: 0,
                send_queue: 0,
            },
            SocketRow {
                sock: Sock::Conn(conn),
                interest: Some(IoOp::Write),
                ready: true,
                closed: false,
                recv_queue: 5,
                send_queue: 2_000,
            },
        ]
    );
    world.apply_message(batch(vec![
        EventKind::Closed { conn },
        EventKind::Buffered {
            conn,
            recv_queue: 1,
            send_queue: 1,
        },
    ]));
    let row = &world.sockets[&Sock::Conn(conn)];
    assert!(row.closed && row.interest.is_none() && !row.ready);
    assert_eq!(
        (row.recv_queue, row.send_queue),
        (0, 0),
        "a closed socket holds nothing"
    );
}

#[test]
fn a_blocking_call_parks_the_thread_until_it_returns() {
    let sock = Sock::Conn(ConnId(2));
    let mut world = World::default();
    world.apply_message(batch(vec![EventKind::CallBlocked {
        call: Call::Recv,
        sock,
    }]));
    assert_eq!(world.parked, Some((Call::Recv, sock)));
    world.apply_message(batch(vec![EventKind::CallReturned {
        call: Call::Recv,
        sock,
    }]));
    assert_eq!(world.parked, None);
}

#[test]
fn an_awaited_socket_counts_as_registered_until_its_task_is_woken() {
    let task = TaskId(2);
    let sock = Sock::Conn(ConnId(1));
    let mut world = World::default();
    world.apply_message(batch(vec![EventKind::TaskWaiting {
        task,
        sock,
        op: IoOp::Read,
    }]));
    assert_eq!(world.sockets[&sock].interest, Some(IoOp::Read));
    world.apply_message(batch(vec![EventKind::TaskWoken { task }]));
    assert_eq!(world.sockets[&sock].interest, None);
}

#[test]
fn round_trips_give_the_median_and_the_tail() {
    let mut world = World::default();
    world.apply_message(hello(1));
    let mut kinds: Vec<EventKind> = (1..=99)
        .map(|_| EventKind::RoundTrip {
            client: ClientId(1),
            latency_us: 200,
        })
        .collect();
    kinds.push(EventKind::RoundTrip {
        client: ClientId(2),
        latency_us: 900_000,
    });
    world.apply_message(batch(kinds));
    assert_eq!(world.latencies.percentile(0.5), Some(200));
    assert!(world.latencies.percentile(1.0).unwrap() >= 891_000);
    world.apply_message(hello(2));
    assert_eq!(
        world.latencies.percentile(0.5),
        None,
        "a new lab starts afresh"
    );
}

fn listening(model: ServerModel) -> EventKind {
    EventKind::Listening {
        addr: "127.0.0.1:4000".into(),
        model,
        errors: Default::default(),
    }
}

fn states(world: &World) -> Vec<(u64, TaskState)> {
    world
        .connections
        .values()
        .map(|connection| (connection.conn.0, connection.state.clone()))
        .collect()
}

#[test]
fn the_blocking_servers_backlog_shows_as_lanes_of_the_next_connections() {
    let mut world = World::default();
    world.apply_message(batch(vec![
        listening(ServerModel::Blocking),
        EventKind::Accepted {
            conn: ConnId(1),
            peer: "a".into(),
        },
        EventKind::CallBlocked {
            call: Call::Recv,
            sock: Sock::Conn(ConnId(1)),
        },
        EventKind::Backlog { waiting: 2 },
    ]));
    assert_eq!(
        states(&world),
        vec![
            (1, TaskState::Blocked(Call::Recv)),
            (2, TaskState::Backlog),
            (3, TaskState::Backlog),
        ]
    );
    // The first leaves; the second is accepted and keeps its wait as history.
    world.apply_message(batch_from(
        40,
        vec![
            EventKind::Closed { conn: ConnId(1) },
            EventKind::Accepted {
                conn: ConnId(2),
                peer: "b".into(),
            },
            EventKind::Backlog { waiting: 1 },
        ],
    ));
    let second = &world.connections[&ConnId(2)];
    assert_eq!(second.state, TaskState::Accepted);
    assert_eq!(second.history[0].state, TaskState::Backlog);
    assert_eq!(
        (second.history[0].from, second.history[0].to),
        (30, 50),
        "in the backlog from the report to the accept"
    );
    // A shutdown resets the queue: the third was never accepted and goes.
    world.apply_message(batch(vec![EventKind::Backlog { waiting: 0 }]));
    assert_eq!(
        states(&world),
        vec![(1, TaskState::Closed), (2, TaskState::Accepted)]
    );
}

#[test]
fn a_selector_lane_waits_registered_is_ready_runs_its_callback_and_waits_again() {
    let conn = ConnId(1);
    let mut world = World::default();
    world.apply_message(batch(vec![
        listening(ServerModel::Selector),
        EventKind::Accepted {
            conn,
            peer: "a".into(),
        },
        EventKind::Registered {
            sock: Sock::Conn(conn),
            op: IoOp::Read,
            modify: false,
        },
    ]));
    assert_eq!(states(&world), vec![(1, TaskState::Registered(IoOp::Read))]);
    world.apply_message(batch(vec![EventKind::SelectReturned {
        ready: vec![Ready {
            sock: Sock::Conn(conn),
            op: IoOp::Read,
        }],
    }]));
    assert_eq!(states(&world), vec![(1, TaskState::Ready)]);
    world.apply_message(batch(vec![EventKind::Received { conn, bytes: 5 }]));
    assert_eq!(states(&world), vec![(1, TaskState::Running)]);
    world.apply_message(batch(vec![EventKind::SelectCalled { timeout_us: None }]));
    assert_eq!(states(&world), vec![(1, TaskState::Registered(IoOp::Read))]);
}

#[test]
fn busy_poll_lanes_mark_each_would_block_and_show_the_echo_between() {
    let conn = ConnId(1);
    let mut world = World::default();
    let try_read = || EventKind::WouldBlock {
        sock: Sock::Conn(conn),
        op: IoOp::Read,
    };
    world.apply_message(batch(vec![
        listening(ServerModel::BusyPoll),
        EventKind::Accepted {
            conn,
            peer: "a".into(),
        },
        try_read(),
        try_read(),
        EventKind::Received { conn, bytes: 5 },
        try_read(),
    ]));
    let lane = &world.connections[&conn];
    assert_eq!(lane.state, TaskState::Polling);
    assert_eq!(
        lane.would_blocks.iter().copied().collect::<Vec<_>>(),
        vec![20, 30, 50]
    );
    assert_eq!(
        lane.history.back().map(|span| &span.state),
        Some(&TaskState::Running)
    );
}

#[test]
fn a_shutdown_keeps_its_deadline_and_cancelled_tasks_say_so() {
    let conn = ConnId(1);
    let task = TaskId(1);
    let mut world = World::default();
    world.apply_message(batch(vec![
        listening(ServerModel::AsyncTasks),
        EventKind::Accepted {
            conn,
            peer: "a".into(),
        },
        EventKind::TaskSpawned {
            task,
            conn: Some(conn),
        },
        EventKind::TaskWaiting {
            task,
            sock: Sock::Conn(conn),
            op: IoOp::Read,
        },
        EventKind::Shutdown {
            phase: ShutdownPhase::Draining { deadline: 2_000 },
        },
        EventKind::Shutdown {
            phase: ShutdownPhase::Cancelling,
        },
        EventKind::TaskFinished {
            task,
            conn: Some(conn),
            outcome: TaskOutcome::Cancelled,
        },
        EventKind::Closed { conn },
    ]));
    assert_eq!(world.deadline, Some(2_000));
    assert_eq!(world.shutdown, Some(ShutdownPhase::Cancelling));
    assert_eq!(
        states(&world),
        vec![(1, TaskState::Finished(TaskOutcome::Cancelled))]
    );
}

#[test]
fn a_lane_keeps_only_its_newest_history() {
    let conn = ConnId(1);
    let mut world = World::default();
    let mut kinds = vec![EventKind::Accepted {
        conn,
        peer: "a".into(),
    }];
    for _ in 0..SPANS_KEPT {
        kinds.push(EventKind::Registered {
            sock: Sock::Conn(conn),
            op: IoOp::Read,
            modify: false,
        });
        kinds.push(EventKind::Received { conn, bytes: 1 });
    }
    world.apply_message(batch(kinds));
    let lane = &world.connections[&conn];
    assert_eq!(lane.history.len(), SPANS_KEPT);
    assert_eq!(lane.history.back().map(|span| span.to), Some(lane.since));
    assert!(lane.history.iter().all(|span| span.from < span.to));
}

#[test]
fn the_log_filter_reads_sockets_and_tasks_as_people_type_them() {
    let conn = |id| Some((Some(Sock::Conn(ConnId(id))), None));
    assert_eq!(LogFilter::subject("conn#3"), conn(3));
    assert_eq!(LogFilter::subject(" Conn 12 "), conn(12));
    assert_eq!(LogFilter::subject("task#2"), Some((None, Some(TaskId(2)))));
    assert_eq!(
        LogFilter::subject("listener"),
        Some((Some(Sock::Listener), None))
    );
    assert_eq!(LogFilter::subject("conn#x"), None);
    assert_eq!(LogFilter::subject("teapot"), None);
}

#[test]
fn filtering_by_a_socket_finds_its_tasks_events_too() {
    let mut world = Fed::default();
    world.apply_message(hello(1));
    world.apply_message(batch(one_served_client()));
    let lines = |filter: LogFilter| -> Vec<&'static str> {
        world
            .log()
            .into_iter()
            .filter(|line| filter.matches(&line.entry))
            .map(|line| line.kind)
            .collect()
    };
    let (sock, task) = LogFilter::subject("conn#1").unwrap();
    assert_eq!(
        lines(LogFilter {
            sock,
            task,
            ..LogFilter::default()
        }),
        [
            "accepted",
            "task_spawned",
            "task_waiting",
            "received",
            "sent",
            "received",
            "sent",
            "task_finished",
            "closed"
        ]
    );
    assert_eq!(
        lines(LogFilter {
            kind: Some("received"),
            ..LogFilter::default()
        }),
        ["received", "received"]
    );
    let (sock, task) = LogFilter::subject("conn#2").unwrap();
    assert!(
        lines(LogFilter {
            sock,
            task,
            ..LogFilter::default()
        })
        .is_empty()
    );
    assert!(LogFilter::default().is_open());
}

#[test]
fn a_fresh_run_begins_when_the_server_restarts_and_leaves_the_old_clients_out() {
    let listening = |model| EventKind::Listening {
        addr: "127.0.0.1:4000".into(),
        model,
        errors: Default::default(),
    };
    let started = |client| EventKind::ClientStarted {
        client: ClientId(client),
        behaviour: ClientBehaviour::default(),
    };
    let mut world = Fed::default();
    world.apply_message(hello(1));
    world.apply_message(batch(vec![
        listening(ServerModel::AsyncTasks),
        started(1),
        EventKind::Accepted {
            conn: ConnId(1),
            peer: "127.0.0.1:5000".into(),
        },
        EventKind::RoundTrip {
            client: ClientId(1),
            latency_us: 300,
        },
    ]));
    world.begin_fresh_run();
    // Until the server starts again, the old run goes on.
    world.apply_message(batch_from(100, vec![EventKind::Closed { conn: ConnId(1) }]));
    assert_eq!(world.connections.len(), 1);
    assert_eq!(world.counters.accepted, 1);

    world.apply_message(batch_from(
        200,
        vec![
            listening(ServerModel::Blocking),
            // The old client learns late that its server went.
            EventKind::ClientFinished {
                client: ClientId(1),
                echoed: 32,
                error: Some("connection reset by peer".into()),
                told_goodbye: false,
            },
            EventKind::RoundTrip {
                client: ClientId(1),
                latency_us: 900_000,
            },
            started(2),
            EventKind::RoundTrip {
                client: ClientId(2),
                latency_us: 100,
            },
        ],
    ));
    assert!(world.connections.is_empty());
    assert_eq!(world.counters.accepted, 0);
    assert_eq!(
        (
            world.counters.clients_started,
            world.counters.clients_finished
        ),
        (1, 0)
    );
    assert_eq!(world.latencies.percentile(1.0), Some(100));
    assert_eq!(world.lab.as_ref().map(|lab| lab.lab), Some(1));
    assert_eq!(world.model, Some(ServerModel::Blocking));
    assert!(
        world
            .log()
            .iter()
            .any(|line| line.text == "client#1 started"),
        "the log keeps the old run"
    );

    // A run that was not restarted counts every client.
    world.apply_message(batch_from(
        300,
        vec![
            listening(ServerModel::Selector),
            EventKind::ClientFinished {
                client: ClientId(2),
                echoed: 32,
                error: None,
                told_goodbye: false,
            },
        ],
    ));
    assert_eq!(world.counters.clients_finished, 1);
}

#[test]
fn an_error_reported_after_its_task_ended_is_filed_under_the_connection() {
    let (conn, task) = (ConnId(1), TaskId(2));
    let mut world = Fed::default();
    world.apply_message(batch(vec![
        EventKind::Accepted {
            conn,
            peer: "127.0.0.1:5000".into(),
        },
        EventKind::TaskSpawned {
            task,
            conn: Some(conn),
        },
        EventKind::TaskFinished {
            task,
            conn: Some(conn),
            outcome: TaskOutcome::Failed {
                error: "connection reset by peer".into(),
            },
        },
        EventKind::Closed { conn },
        EventKind::ExceptionNeverRetrieved {
            task,
            error: "connection reset by peer".into(),
        },
    ]));
    let filter = LogFilter {
        sock: Some(Sock::Conn(conn)),
        ..LogFilter::default()
    };
    let shown: Vec<&str> = world
        .log()
        .into_iter()
        .filter(|line| filter.matches(&line.entry))
        .map(|line| line.kind)
        .collect();
    assert_eq!(
        shown,
        [
            "accepted",
            "task_spawned",
            "task_finished",
            "closed",
            "exception_never_retrieved"
        ]
    );
}

#[test]
fn the_type_filter_offers_every_type_the_log_keeps() {
    use loopscope_sim::{HandlerStyle, Scenario, Simulation};
    let second: Micros = 1_000_000;
    let behaviours = [
        ClientBehaviour::default(),
        ClientBehaviour::Slow {
            messages: 1,
            size: 4,
            byte_interval_ms: 10,
        },
        ClientBehaviour::Silent {},
        ClientBehaviour::Crasher { size: 32 },
        ClientBehaviour::Flood { bytes: 1 << 16 },
    ];
    let mut kinds = std::collections::BTreeSet::new();
    for model in [
        ServerModel::Blocking,
        ServerModel::BusyPoll,
        ServerModel::Selector,
        ServerModel::AsyncTasks,
    ] {
        for style in [HandlerStyle::Handled, HandlerStyle::Unhandled] {
            let scenario = behaviours
                .iter()
                .fold(Scenario::new(model).style(style), |scenario, behaviour| {
                    scenario.client(behaviour.clone(), 0)
                });
            let mut simulation = Simulation::new(scenario);
            simulation.run_until(second);
            simulation.shutdown(second / 2);
            simulation.run_until(3 * second);
            let mut world = Fed::default();
            world.apply_message(hello(1));
            world.apply_message(ServerMessage::Events {
                events: simulation.drain_events(),
            });
            kinds.extend(world.log().iter().map(|line| line.kind));
        }
    }
    let missing: Vec<_> = kinds
        .iter()
        .filter(|kind| !KIND_NAMES.contains(kind))
        .collect();
    assert!(missing.is_empty(), "not offered: {missing:?}");
    // The run was broad enough to mean something.
    assert!(kinds.len() >= 20, "{kinds:?}");
}

#[test]
fn absurd_numbers_from_a_file_stay_bounded() {
    let mut world = World::default();
    world.apply_message(batch(vec![
        EventKind::Backlog { waiting: u32::MAX },
        EventKind::Cpu {
            busy_us: u64::MAX,
            window_us: 1,
        },
        EventKind::Accepted {
            conn: ConnId(u64::MAX),
            peer: "p".into(),
        },
    ]));
    assert_eq!(world.counters.backlog, u32::MAX, "the counter says it");
    assert!(
        world.connections.len() as u64 <= BACKLOG_LANES + 1,
        "the lanes do not"
    );
    assert_eq!(world.counters.cpu_permille, Some(u32::MAX));
}

#[test]
fn live_asyncio_is_told_in_asyncio_words_and_the_machinery_is_kept_for_the_details() {
    use crate::model::world::wording::{describe, details, python_error};
    let polled = EventKind::TaskPolled {
        task: TaskId(2),
        duration_us: 45,
        ready: false,
    };
    let words = describe(&polled, Some(ServerModel::AsyncTasks));
    assert_eq!(words, "task#2 ran 45 µs, then suspended at an await");
    assert!(
        !words.contains("Pending") && !words.contains("poll"),
        "{words}"
    );
    assert_eq!(
        details(&polled),
        "[task_polled: tokio polled the task's future for 45 µs → Poll::Pending]"
    );
    // The OS's words become the exception Python raises; the simulator's
    // are Python's already and stay as they are.
    let reset = "Connection reset by peer (os error 104)";
    assert_eq!(
        python_error(reset),
        "ConnectionResetError: [Errno 104] Connection reset by peer"
    );
    assert_eq!(
        python_error("Broken pipe (os error 32)"),
        "BrokenPipeError: [Errno 32] Broken pipe"
    );
    let simulated = "ConnectionResetError: [Errno 104] Connection reset by peer";
    assert_eq!(python_error(simulated), simulated);
    let handled = EventKind::ErrorHandled {
        conn: ConnId(3),
        error: reset.into(),
    };
    let words = describe(&handled, Some(ServerModel::AsyncTasks));
    assert!(
        words.starts_with("except ConnectionError on conn#3: ConnectionResetError"),
        "{words}"
    );
    assert!(details(&handled).contains(reset));
    // The calls are the listing's.
    let sent = EventKind::Sent {
        conn: ConnId(3),
        bytes: 5,
    };
    assert!(describe(&sent, Some(ServerModel::AsyncTasks)).starts_with("await loop.sock_sendall("));
    assert!(describe(&sent, Some(ServerModel::Selector)).starts_with("send(conn#3)"));
    assert!(describe(&sent, Some(ServerModel::Blocking)).starts_with("sendall(conn#3"));
}

#[test]
fn a_live_run_lights_the_line_each_happening_stands_at() {
    use loopscope_sim::Listing;
    let listing = Listing::of(ServerModel::AsyncTasks, protocol::HandlerStyle::Handled);
    let text = |line: Option<u32>| {
        line.and_then(|line| listing.source.lines().nth(line as usize - 1))
            .unwrap_or_default()
            .to_owned()
    };
    let (conn, task) = (ConnId(1), TaskId(2));
    let mut world = World::default();
    let lit = |world: &mut World, kind: EventKind| {
        world.apply(&Event { at: 0, kind });
        text(world.lit_line())
    };
    // No line reported, none lit, until a happening stands at one.
    assert_eq!(
        lit(
            &mut world,
            EventKind::Listening {
                addr: "127.0.0.1:9".into(),
                model: ServerModel::AsyncTasks,
                errors: Default::default(),
            }
        ),
        ""
    );
    assert!(
        lit(
            &mut world,
            EventKind::Accepted {
                conn,
                peer: "p".into()
            }
        )
        .contains("loop.sock_accept(server)")
    );
    let suspended = lit(
        &mut world,
        EventKind::TaskWaiting {
            task,
            sock: Sock::Conn(conn),
            op: IoOp::Read,
        },
    );
    assert!(
        suspended.contains("await loop.sock_recv(client, 4096)"),
        "{suspended}"
    );
    // A happening with no line of its own keeps the line.
    assert_eq!(lit(&mut world, EventKind::Closed { conn }), suspended);
    // A server that reports its lines (the simulator) is believed instead.
    assert_eq!(
        lit(&mut world, EventKind::CodeLine { line: 1 }),
        text(Some(1))
    );
}

#[test]
fn the_log_says_a_client_was_told_goodbye_rather_than_done() {
    use crate::model::world::wording::describe;
    let finished = |told_goodbye| EventKind::ClientFinished {
        client: ClientId(2),
        echoed: 30,
        error: None,
        told_goodbye,
    };
    assert_eq!(
        describe(&finished(true), Some(ServerModel::AsyncTasks)),
        "client#2 was told goodbye after 30 bytes echoed intact"
    );
    assert_eq!(
        describe(&finished(false), Some(ServerModel::AsyncTasks)),
        "client#2 done: 30 bytes echoed intact"
    );
}

#[test]
fn a_goodbye_shutdown_counts_the_clients_that_read_it_and_only_them() {
    use loopscope_sim::{Scenario, Simulation};
    use protocol::ShutdownPolicy;
    let quick = ClientBehaviour::Polite {
        messages: 1,
        size: 10,
        interval_ms: 10,
    };
    let scenario = Scenario::new(ServerModel::AsyncTasks)
        .client(quick, 0)
        .client(ClientBehaviour::Silent {}, 1_000);
    let mut simulation = Simulation::new(scenario);
    let mut world = World::default();
    simulation.run_until(500_000);
    for event in simulation.drain_events() {
        world.apply(&event);
    }
    assert_eq!(world.counters.clients_finished, 1);
    simulation.shutdown_with(ShutdownPolicy::NotifyFirst, 0);
    simulation.run_until(1_000_000);
    for event in simulation.drain_events() {
        world.apply(&event);
    }
    assert_eq!(world.shutdown_began, Some(500_000));
    let lanes: Vec<_> = world.connections.values().collect();
    // The polite client had left before the shutdown: nothing to tell it;
    // the silent one read the goodbye, then its task was cancelled.
    assert_eq!(lanes[0].state, TaskState::Finished(TaskOutcome::Ok));
    assert_eq!(lanes[1].state, TaskState::Finished(TaskOutcome::Cancelled));
    assert_eq!(world.counters.clients_finished, 2);
    assert_eq!(world.counters.told_goodbye, 1);
}

/// The events name no policy: the world reads it off the phases, the same
/// way for the simulator's run and for a live server's (which says the
/// same phases), and forgets it when the server starts again.
#[test]
fn a_shutdown_s_policy_is_told_by_its_phases_and_forgotten_at_a_restart() {
    use loopscope_sim::{Scenario, Simulation};
    use protocol::ShutdownPolicy;
    for model in [
        ServerModel::Blocking,
        ServerModel::BusyPoll,
        ServerModel::Selector,
        ServerModel::AsyncTasks,
    ] {
        for policy in ShutdownPolicy::ALL {
            let scenario = Scenario::new(model).client(ClientBehaviour::Silent {}, 0);
            let mut simulation = Simulation::new(scenario);
            let mut world = World::default();
            simulation.run_until(100_000);
            simulation.shutdown_with(policy, 300_000);
            // Each phase as it comes: the policy is known from the phase
            // after `stop accepting` on, and kept to the end.
            let mut told = Vec::new();
            simulation.run_until(1_000_000);
            for event in simulation.drain_events() {
                world.apply(&event);
                if let EventKind::Shutdown { phase } = event.kind {
                    told.push((phase.name(), world.shutdown_policy));
                }
            }
            let runs = model.shutdown_policy(policy);
            assert_eq!(told[0], ("stop accepting", None), "{model:?} {policy:?}");
            assert!(
                told[1..].iter().all(|(_, known)| *known == Some(runs)),
                "{model:?} {policy:?}: {told:?}"
            );
            // Only a grace period has a length.
            assert_eq!(
                world.grace(),
                (runs == ShutdownPolicy::GraceThenCancel).then_some(300_000),
                "{model:?} {policy:?}"
            );
        }
    }
    // A live server's phases, as the relay says them, tell the same.
    let mut world = World::default();
    world.apply_message(batch(vec![
        listening(ServerModel::AsyncTasks),
        EventKind::Shutdown {
            phase: ShutdownPhase::StopAccepting,
        },
        EventKind::Shutdown {
            phase: ShutdownPhase::Cancelling,
        },
    ]));
    assert_eq!(world.shutdown_policy, Some(ShutdownPolicy::CancelAtOnce));
    world.apply_message(batch(vec![listening(ServerModel::AsyncTasks)]));
    assert_eq!(world.shutdown_policy, None);
    assert_eq!(world.grace(), None);
}
