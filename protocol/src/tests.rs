//! Pins the wire format: these exact JSON shapes are what clients written
//! against `docs/protocol.md` rely on.

use super::*;
use proptest::prelude::*;
use serde_json::{Value, json};

fn to_value<T: Serialize>(message: &T) -> Value {
    serde_json::to_value(message).expect("protocol types always serialize")
}

#[test]
fn spawn_clients_with_only_a_count_means_polite_clients() {
    let command: Command = serde_json::from_str(r#"{"type":"spawn_clients","count":3}"#).unwrap();
    assert_eq!(
        command,
        Command::SpawnClients {
            count: 3,
            behaviour: ClientBehaviour::Polite {
                messages: 5,
                size: 32,
                interval_ms: 400
            }
        }
    );
}

#[test]
fn spawn_clients_wire_shape() {
    let command = Command::SpawnClients {
        count: 2,
        behaviour: ClientBehaviour::Polite {
            messages: 10,
            size: 4,
            interval_ms: 0,
        },
    };
    assert_eq!(
        to_value(&command),
        json!({"type":"spawn_clients","count":2,
               "behaviour":{"kind":"polite","messages":10,"size":4,"interval_ms":0}})
    );
}

#[test]
fn hello_wire_shape() {
    let hello = ServerMessage::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        lab: 7,
        echo_addr: "127.0.0.1:40123".into(),
        model: ServerModel::AsyncTasks,
        limits: Limits {
            max_clients: 10,
            ..Limits::default()
        },
    });
    let value = to_value(&hello);
    assert_eq!(value["type"], "hello");
    assert_eq!(value["echo_addr"], "127.0.0.1:40123");
    assert_eq!(value["limits"]["max_clients"], 10);
    assert_eq!(value["limits"]["max_command_bytes"], 65536);
    assert_eq!(value["limits"]["max_labs_per_address"], 8);
    assert_eq!(value["limits"]["idle_timeout_s"], 1800);
}

#[test]
fn a_hello_from_an_older_relay_takes_default_limits() {
    let text = r#"{"type":"hello","protocol":1,"lab":7,"echo_addr":"127.0.0.1:1",
        "model":"selector","limits":{"max_clients":5,"max_command_bytes":100,
        "max_messages_per_client":10,"max_message_size":20}}"#;
    let ServerMessage::Hello(hello) = serde_json::from_str(text).unwrap() else {
        panic!("a hello")
    };
    assert_eq!(hello.limits.max_clients, 5);
    assert_eq!(hello.limits.max_command_bytes, 100);
    assert_eq!(
        hello.limits.max_labs_per_address,
        Limits::default().max_labs_per_address
    );
}

#[test]
fn event_batch_wire_shape() {
    let batch = ServerMessage::Events {
        events: vec![
            Event {
                at: 15,
                kind: EventKind::Accepted {
                    conn: ConnId(1),
                    peer: "127.0.0.1:5555".into(),
                },
            },
            Event {
                at: 20,
                kind: EventKind::TaskWaiting {
                    task: TaskId(1),
                    sock: Sock::Conn(ConnId(1)),
                    op: IoOp::Read,
                },
            },
            Event {
                at: 31,
                kind: EventKind::TaskFinished {
                    task: TaskId(1),
                    conn: Some(ConnId(1)),
                    outcome: TaskOutcome::Failed {
                        error: "Connection reset by peer".into(),
                    },
                },
            },
            Event {
                at: 40,
                kind: EventKind::Dropped { count: 12 },
            },
        ],
    };
    assert_eq!(
        to_value(&batch),
        json!({"type":"events","events":[
            {"at":15,"type":"accepted","conn":1,"peer":"127.0.0.1:5555"},
            {"at":20,"type":"task_waiting","task":1,"sock":{"conn":1},"op":"read"},
            {"at":31,"type":"task_finished","task":1,"conn":1,
             "outcome":{"status":"failed","error":"Connection reset by peer"}},
            {"at":40,"type":"dropped","count":12}
        ]})
    );
}

#[test]
fn the_lessons_vocabulary_wire_shapes() {
    let events = [
        EventKind::TaskSpawned {
            task: TaskId(1),
            conn: None,
        },
        EventKind::WouldBlock {
            sock: Sock::Listener,
            op: IoOp::Read,
        },
        EventKind::CallBlocked {
            call: Call::Recv,
            sock: Sock::Conn(ConnId(2)),
        },
        EventKind::SelectCalled {
            timeout_us: Some(1000),
        },
        EventKind::SelectReturned {
            ready: vec![Ready {
                sock: Sock::Conn(ConnId(3)),
                op: IoOp::Write,
            }],
        },
        EventKind::Phase {
            phase: LoopPhase::ReadyEvents,
        },
        EventKind::Shutdown {
            phase: ShutdownPhase::Draining {
                deadline: 5_000_000,
            },
        },
        EventKind::Shutdown {
            phase: ShutdownPhase::Stopped,
        },
        EventKind::CodeLine { line: 12 },
    ];
    let shapes: Vec<Value> = events
        .into_iter()
        .map(|kind| to_value(&Event { at: 9, kind }))
        .collect();
    assert_eq!(
        shapes,
        vec![
            json!({"at":9,"type":"task_spawned","task":1}),
            json!({"at":9,"type":"would_block","sock":"listener","op":"read"}),
            json!({"at":9,"type":"call_blocked","call":"recv","sock":{"conn":2}}),
            json!({"at":9,"type":"select_called","timeout_us":1000}),
            json!({"at":9,"type":"select_returned","ready":[{"sock":{"conn":3},"op":"write"}]}),
            json!({"at":9,"type":"phase","phase":"ready_events"}),
            json!({"at":9,"type":"shutdown","phase":"draining","deadline":5000000}),
            json!({"at":9,"type":"shutdown","phase":"stopped"}),
            json!({"at":9,"type":"code_line","line":12}),
        ]
    );
    for shape in shapes {
        let event: Event = serde_json::from_value(shape.clone()).unwrap();
        assert_eq!(to_value(&event), shape, "round trip");
    }
}

#[test]
fn every_behaviour_has_defaults_for_all_its_parameters() {
    for (text, expected) in [
        (
            r#"{"kind":"slow"}"#,
            ClientBehaviour::Slow {
                messages: 2,
                size: 8,
                byte_interval_ms: 100,
            },
        ),
        (r#"{"kind":"silent"}"#, ClientBehaviour::Silent {}),
        (
            r#"{"kind":"crasher"}"#,
            ClientBehaviour::Crasher { size: 32 },
        ),
        (
            r#"{"kind":"flood"}"#,
            ClientBehaviour::Flood { bytes: 1 << 20 },
        ),
    ] {
        assert_eq!(
            serde_json::from_str::<ClientBehaviour>(text).unwrap(),
            expected
        );
    }
}

#[test]
fn client_finished_without_error_leaves_the_field_out() {
    let event = Event {
        at: 1,
        kind: EventKind::ClientFinished {
            client: ClientId(3),
            echoed: 160,
            error: None,
            told_goodbye: false,
        },
    };
    assert_eq!(
        to_value(&event),
        json!({"at":1,"type":"client_finished","client":3,"echoed":160})
    );
}

#[test]
fn a_client_told_goodbye_says_so_and_older_events_read_as_not_told() {
    let event = Event {
        at: 1,
        kind: EventKind::ClientFinished {
            client: ClientId(3),
            echoed: 20,
            error: None,
            told_goodbye: true,
        },
    };
    assert_eq!(
        to_value(&event),
        json!({"at":1,"type":"client_finished","client":3,"echoed":20,"told_goodbye":true})
    );
    let old: Event =
        serde_json::from_str(r#"{"at":1,"type":"client_finished","client":3,"echoed":20}"#)
            .unwrap();
    assert!(matches!(
        old.kind,
        EventKind::ClientFinished {
            told_goodbye: false,
            ..
        }
    ));
}

#[test]
fn unknown_command_type_is_an_error_that_names_it() {
    let error = serde_json::from_str::<Command>(r#"{"type":"launch_missiles"}"#).unwrap_err();
    assert!(error.to_string().contains("launch_missiles"), "{error}");
}

#[test]
fn misspelled_behaviour_parameter_is_an_error_not_a_silent_default() {
    let error = serde_json::from_str::<Command>(
        r#"{"type":"spawn_clients","count":1,"behaviour":{"kind":"polite","mesages":3}}"#,
    )
    .unwrap_err();
    assert!(error.to_string().contains("mesages"), "{error}");
}

#[test]
fn an_unknown_field_is_refused_by_every_command_and_behaviour_even_without_parameters() {
    for text in [
        r#"{"type":"pause","x":1}"#,
        r#"{"type":"step","x":1}"#,
        r#"{"type":"resume","x":1}"#,
        r#"{"type":"shutdown","grace":1}"#,
        r#"{"type":"shutdown_after","after_ms":1000,"x":1}"#,
        r#"{"type":"set_model","model":"selector","x":1}"#,
        r#"{"type":"panic_handler","conn":1,"x":1}"#,
        r#"{"type":"spawn_clients","count":1,"x":1}"#,
        r#"{"type":"spawn_clients","count":1,"behaviour":{"kind":"silent","x":1}}"#,
        r#"{"type":"spawn_clients","count":1,"behaviour":{"kind":"crasher","x":1}}"#,
        r#"{"type":"spawn_clients","count":1,"behaviour":{"kind":"flood","x":1}}"#,
        r#"{"type":"spawn_clients","count":1,"behaviour":{"kind":"slow","x":1}}"#,
    ] {
        let error =
            serde_json::from_str::<Command>(text).expect_err(&format!("{text} must be refused"));
        assert!(
            error.to_string().contains('x') || error.to_string().contains("grace"),
            "{error}"
        );
    }
    // The same commands without the stray field are fine.
    for text in [
        r#"{"type":"pause"}"#,
        r#"{"type":"step"}"#,
        r#"{"type":"resume"}"#,
        r#"{"type":"shutdown_after","after_ms":1000}"#,
        r#"{"type":"spawn_clients","count":1,"behaviour":{"kind":"silent"}}"#,
    ] {
        serde_json::from_str::<Command>(text).unwrap_or_else(|error| panic!("{text}: {error}"));
    }
    assert_eq!(
        serde_json::to_string(&Command::Pause {}).unwrap(),
        r#"{"type":"pause"}"#
    );
}

#[test]
fn ids_display_with_their_kind() {
    assert_eq!(ConnId(4).to_string(), "conn#4");
    assert_eq!(TaskId(2).to_string(), "task#2");
    assert_eq!(ClientId(9).to_string(), "client#9");
}

fn any_behaviour() -> impl Strategy<Value = ClientBehaviour> {
    (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(messages, size, interval_ms)| {
        ClientBehaviour::Polite {
            messages,
            size,
            interval_ms,
        }
    })
}

fn any_event_kind() -> impl Strategy<Value = EventKind> {
    let conn = any::<u64>().prop_map(ConnId);
    let task = any::<u64>().prop_map(TaskId);
    let text = ".{0,40}";
    prop_oneof![
        (text, conn.clone()).prop_map(|(peer, conn)| EventKind::Accepted { conn, peer }),
        (task.clone(), conn.clone(), any::<bool>()).prop_map(|(task, conn, read)| {
            EventKind::TaskWaiting {
                task,
                sock: Sock::Conn(conn),
                op: if read { IoOp::Read } else { IoOp::Write },
            }
        }),
        (conn.clone(), any::<u64>()).prop_map(|(conn, bytes)| EventKind::Received { conn, bytes }),
        (conn.clone(), any::<u64>()).prop_map(|(conn, bytes)| EventKind::Sent { conn, bytes }),
        (task, conn.clone(), proptest::option::of(text)).prop_map(|(task, conn, error)| {
            EventKind::TaskFinished {
                task,
                conn: Some(conn),
                outcome: error.map_or(TaskOutcome::Ok, |error| TaskOutcome::Failed { error }),
            }
        }),
        conn.prop_map(|conn| EventKind::Closed { conn }),
        (any::<u64>(), any_behaviour()).prop_map(|(client, behaviour)| {
            EventKind::ClientStarted {
                client: ClientId(client),
                behaviour,
            }
        }),
        (
            any::<u64>(),
            any::<u64>(),
            proptest::option::of(text),
            any::<bool>()
        )
            .prop_map(
                |(client, echoed, error, told_goodbye)| EventKind::ClientFinished {
                    client: ClientId(client),
                    echoed,
                    error,
                    told_goodbye,
                }
            ),
        any::<u64>().prop_map(|count| EventKind::Dropped { count }),
        text.prop_map(|message| EventKind::Error { message }),
    ]
}

proptest! {
    #[test]
    fn every_event_batch_survives_a_json_round_trip(
        events in proptest::collection::vec((any::<u64>(), any_event_kind()), 0..20)
    ) {
        let batch = ServerMessage::Events {
            events: events.into_iter().map(|(at, kind)| Event { at, kind }).collect(),
        };
        let text = serde_json::to_string(&batch).unwrap();
        prop_assert_eq!(serde_json::from_str::<ServerMessage>(&text).unwrap(), batch);
    }

    #[test]
    fn every_command_survives_a_json_round_trip(count in any::<u32>(), behaviour in any_behaviour()) {
        let command = Command::SpawnClients { count, behaviour };
        let text = serde_json::to_string(&command).unwrap();
        prop_assert_eq!(serde_json::from_str::<Command>(&text).unwrap(), command);
    }
}
