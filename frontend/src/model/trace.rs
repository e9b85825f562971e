//! A run as a trace in the Trace Event Format (the JSON that Perfetto and
//! `chrome://tracing` open): one thread per connection, a complete event per
//! state it was in, instants for would-block tries and final states, and the
//! shutdown deadline across all lanes; and the server loop's own thread with
//! the raw events (each loop iteration, `select()` called and returned, each
//! blocking call, the shutdown's phases) as instants, beside counters for
//! open connections, the backlog, the would-block tries and the CPU.
//!
//! The trace holds what the page keeps: each lane's newest spans (see
//! [`crate::model::world::SPANS_KEPT`]), the connections still listed, and the
//! newest [`RAW_EVENTS_KEPT`] recorded events up to the moment shown.

use std::collections::BTreeMap;

use protocol::ServerModel;
use serde::Serialize;

use crate::model::recording::Recording;
use crate::model::world::World;
use crate::model::world::lanes::{lane_name, state_class, state_text};
use crate::model::world::wording::{describe, kind_name};
use protocol::{Event, EventKind};

/// The trace's only process: the echo server.
const PID: u64 = 1;
/// The server loop's thread in the trace (connections are 1, 2, …).
const LOOP_TID: u64 = 0;
/// Raw events a trace holds at most: the newest up to the moment shown.
pub const RAW_EVENTS_KEPT: usize = 200_000;

/// A trace file: its events and what it is of.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    /// The events.
    pub trace_events: Vec<TraceEvent>,
    /// How the viewer shows times.
    pub display_time_unit: &'static str,
    /// What made it, and the model.
    pub other_data: BTreeMap<&'static str, &'static str>,
}

/// One event of the Trace Event Format: a metadata record (`M`), a span
/// (`X`), an instant (`i`) or a counter (`C`).
#[derive(Serialize, Debug)]
pub struct TraceEvent {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cat: Option<&'static str>,
    ph: &'static str,
    /// An instant's scope: its thread (`t`) or the whole trace (`g`).
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ts: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<u64>,
    pid: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    tid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<Args>,
}

/// A trace event's arguments.
#[derive(Serialize, Debug)]
#[serde(untagged)]
enum Args {
    Name {
        name: String,
    },
    SortIndex {
        sort_index: i64,
    },
    Iteration {
        iteration: u64,
    },
    /// A counter's value, under its own name.
    Counter(BTreeMap<String, u64>),
}

impl TraceEvent {
    fn metadata(name: &str, tid: Option<u64>, args: Args) -> TraceEvent {
        TraceEvent {
            name: name.to_owned(),
            cat: None,
            ph: "M",
            s: None,
            ts: None,
            dur: None,
            pid: PID,
            tid,
            args: Some(args),
        }
    }

    fn span(name: String, cat: &'static str, ts: u64, dur: u64, tid: u64) -> TraceEvent {
        TraceEvent {
            name,
            cat: Some(cat),
            ph: "X",
            s: None,
            ts: Some(ts),
            dur: Some(dur),
            pid: PID,
            tid: Some(tid),
            args: None,
        }
    }

    fn instant(name: String, cat: &'static str, global: bool, ts: u64, tid: u64) -> TraceEvent {
        TraceEvent {
            name,
            cat: Some(cat),
            ph: "i",
            s: Some(if global { "g" } else { "t" }),
            ts: Some(ts),
            dur: None,
            pid: PID,
            tid: Some(tid),
            args: None,
        }
    }
}

/// The trace of `world`'s lanes and `recording`'s events up to the moment
/// shown, to save as a `.json` file.
pub fn run_trace(world: &World, recording: &Recording) -> Trace {
    let mut trace = chrome_trace(world);
    let shown = recording.position();
    let from = shown
        .saturating_sub(RAW_EVENTS_KEPT as u64)
        .max(recording.first());
    trace.trace_events.extend(raw_events(
        recording.world_at(from),
        recording.events_between(from, shown),
    ));
    trace
}

/// The server loop's thread and its instants, and the counters as the page
/// shows them: `world` (the world before the first of `events`) takes each
/// event as the page's did.
pub fn raw_events<'a>(
    mut world: World,
    events: impl Iterator<Item = &'a Event>,
) -> Vec<TraceEvent> {
    let mut out = vec![
        TraceEvent::metadata(
            "thread_name",
            Some(LOOP_TID),
            Args::Name {
                name: "server loop".to_owned(),
            },
        ),
        TraceEvent::metadata(
            "thread_sort_index",
            Some(LOOP_TID),
            Args::SortIndex { sort_index: -1 },
        ),
    ];
    for event in events {
        let before = world.counters;
        world.apply(event);
        let now = world.counters;
        let at = event.at;
        let mut counter = |name: &str, old: u64, new: u64| {
            if old != new {
                out.push(TraceEvent {
                    name: name.to_owned(),
                    cat: None,
                    ph: "C",
                    s: None,
                    ts: Some(at),
                    dur: None,
                    pid: PID,
                    tid: None,
                    args: Some(Args::Counter(BTreeMap::from([(name.to_owned(), new)]))),
                });
            }
        };
        counter("open connections", before.open, now.open);
        counter("backlog", u64::from(before.backlog), u64::from(now.backlog));
        counter("would-block tries", before.would_block, now.would_block);
        let percent = |cpu: Option<u32>| cpu.map_or(0, |permille| u64::from(permille) / 10);
        counter(
            "server CPU %",
            percent(before.cpu_permille),
            percent(now.cpu_permille),
        );
        match &event.kind {
            EventKind::LoopIteration { iteration } => out.push(TraceEvent {
                args: Some(Args::Iteration {
                    iteration: *iteration,
                }),
                ..TraceEvent::instant(
                    "loop iteration".to_owned(),
                    "loop_iteration",
                    false,
                    at,
                    LOOP_TID,
                )
            }),
            EventKind::SelectCalled { .. }
            | EventKind::SelectReturned { .. }
            | EventKind::CallBlocked { .. }
            | EventKind::CallReturned { .. }
            | EventKind::Shutdown { .. }
            | EventKind::ServerCrashed { .. }
            | EventKind::Listening { .. } => out.push(TraceEvent::instant(
                describe(&event.kind, world.model),
                kind_name(&event.kind),
                matches!(
                    event.kind,
                    EventKind::Shutdown { .. } | EventKind::ServerCrashed { .. }
                ),
                at,
                LOOP_TID,
            )),
            _ => {}
        }
    }
    out
}

/// The trace of `world`'s lanes.
pub fn chrome_trace(world: &World) -> Trace {
    let model = world.model.map_or("unknown", ServerModel::key);
    let mut events = vec![TraceEvent::metadata(
        "process_name",
        None,
        Args::Name {
            name: format!("echo server ({model})"),
        },
    )];
    for (index, connection) in world.connections.values().enumerate() {
        let tid = connection.conn.0;
        events.push(TraceEvent::metadata(
            "thread_name",
            Some(tid),
            Args::Name {
                name: lane_name(connection, world.model),
            },
        ));
        events.push(TraceEvent::metadata(
            "thread_sort_index",
            Some(tid),
            Args::SortIndex {
                sort_index: index as i64,
            },
        ));
        // A state left as soon as entered draws nothing; it is left out.
        for span in connection.history.iter().filter(|span| span.to > span.from) {
            events.push(TraceEvent::span(
                state_text(&span.state),
                state_class(&span.state),
                span.from,
                span.to - span.from,
                tid,
            ));
        }
        let state = &connection.state;
        if state.is_final() {
            events.push(TraceEvent::instant(
                state_text(state),
                state_class(state),
                false,
                connection.since,
                tid,
            ));
        } else {
            events.push(TraceEvent::span(
                state_text(state),
                state_class(state),
                connection.since,
                world.now.saturating_sub(connection.since),
                tid,
            ));
        }
        for at in connection.would_blocks.iter() {
            events.push(TraceEvent::instant(
                "would block".to_owned(),
                "would_block",
                false,
                *at,
                tid,
            ));
        }
    }
    if let Some(deadline) = world.deadline {
        events.push(TraceEvent::instant(
            "shutdown deadline".to_owned(),
            "shutdown",
            true,
            deadline,
            0,
        ));
    }
    Trace {
        trace_events: events,
        display_time_unit: "ms",
        other_data: BTreeMap::from([("generator", "Loopscope"), ("model", model)]),
    }
}

/// The name to save the trace under: `loopscope-selector.trace.json`.
pub fn file_name(model: Option<ServerModel>) -> String {
    format!(
        "loopscope-{}.trace.json",
        model.map_or("run", ServerModel::key)
    )
}

#[cfg(test)]
mod tests {
    use protocol::{
        ConnId, Event, EventKind, IoOp, ServerMessage, ShutdownPhase, TaskId, TaskOutcome,
    };

    use serde_json::{Value, json};

    use super::*;

    fn world_of(events: Vec<(u64, EventKind)>) -> World {
        let mut world = World::default();
        world.apply_message(ServerMessage::Events {
            events: events
                .into_iter()
                .map(|(at, kind)| Event { at, kind })
                .collect(),
        });
        world
    }

    fn of_phase<'a>(trace: &'a Value, phase: &str) -> Vec<&'a Value> {
        trace["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|event| event["ph"] == phase)
            .collect()
    }

    #[test]
    fn each_lane_is_a_thread_and_each_state_a_span_of_it() {
        let (conn, task) = (ConnId(1), TaskId(2));
        let world = world_of(vec![
            (
                0,
                EventKind::Listening {
                    addr: "127.0.0.1:4000".into(),
                    model: ServerModel::AsyncTasks,
                    errors: Default::default(),
                },
            ),
            (
                100,
                EventKind::Accepted {
                    conn,
                    peer: "127.0.0.1:5000".into(),
                },
            ),
            (
                100,
                EventKind::TaskSpawned {
                    task,
                    conn: Some(conn),
                },
            ),
            (
                300,
                EventKind::TaskWaiting {
                    task,
                    sock: protocol::Sock::Conn(conn),
                    op: IoOp::Read,
                },
            ),
            (
                1_300,
                EventKind::TaskFinished {
                    task,
                    conn: Some(conn),
                    outcome: TaskOutcome::Ok,
                },
            ),
            (
                2_000,
                EventKind::Shutdown {
                    phase: ShutdownPhase::Draining { deadline: 5_000 },
                },
            ),
        ]);
        let trace = serde_json::to_value(chrome_trace(&world)).unwrap();

        let names: Vec<(&Value, &Value)> = of_phase(&trace, "M")
            .into_iter()
            .map(|event| (&event["name"], &event["args"]["name"]))
            .filter(|(name, _)| *name != "thread_sort_index")
            .collect();
        assert_eq!(
            names,
            [
                (&json!("process_name"), &json!("echo server (async_tasks)")),
                (&json!("thread_name"), &json!("conn#1 · task#2")),
            ]
        );
        let spans: Vec<(&str, u64, u64, u64)> = of_phase(&trace, "X")
            .into_iter()
            .map(|event| {
                (
                    event["name"].as_str().unwrap(),
                    event["ts"].as_u64().unwrap(),
                    event["dur"].as_u64().unwrap(),
                    event["tid"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            spans,
            [
                ("ready to run", 100, 200, 1),
                ("suspended on recv", 300, 1_000, 1)
            ]
        );
        let instants: Vec<(&str, u64, &str)> = of_phase(&trace, "i")
            .into_iter()
            .map(|event| {
                (
                    event["name"].as_str().unwrap(),
                    event["ts"].as_u64().unwrap(),
                    event["s"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            instants,
            [("done", 1_300, "t"), ("shutdown deadline", 5_000, "g")]
        );
        assert_eq!(trace["otherData"]["model"], "async_tasks");
    }

    #[test]
    fn a_lane_still_open_lasts_until_now_and_keeps_its_would_blocks() {
        let conn = ConnId(3);
        let world = world_of(vec![
            (
                10,
                EventKind::Accepted {
                    conn,
                    peer: "p".into(),
                },
            ),
            (
                20,
                EventKind::WouldBlock {
                    sock: protocol::Sock::Conn(conn),
                    op: IoOp::Read,
                },
            ),
            (900, EventKind::Backlog { waiting: 0 }),
        ]);
        let trace = serde_json::to_value(chrome_trace(&world)).unwrap();
        let open: Vec<(u64, u64)> = of_phase(&trace, "X")
            .into_iter()
            .filter(|event| event["ts"].as_u64() >= Some(20))
            .map(|event| {
                (
                    event["ts"].as_u64().unwrap(),
                    event["dur"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(open.last().map(|(from, dur)| from + dur), Some(900));
        let ticks: Vec<u64> = of_phase(&trace, "i")
            .into_iter()
            .filter(|event| event["cat"] == "would_block")
            .map(|event| event["ts"].as_u64().unwrap())
            .collect();
        assert_eq!(ticks, [20]);
        assert_eq!(file_name(None), "loopscope-run.trace.json");
        assert_eq!(
            file_name(Some(ServerModel::Selector)),
            "loopscope-selector.trace.json"
        );
    }

    #[test]
    fn the_raw_events_up_to_the_moment_shown_are_instants_and_counters() {
        use protocol::Sock;
        let mut recording = Recording::default();
        let mut world = World::default();
        let kinds = vec![
            (0, EventKind::LoopIteration { iteration: 1 }),
            (1, EventKind::SelectCalled { timeout_us: None }),
            (
                5,
                EventKind::Accepted {
                    conn: ConnId(1),
                    peer: "p".into(),
                },
            ),
            (
                6,
                EventKind::WouldBlock {
                    sock: Sock::Conn(ConnId(1)),
                    op: IoOp::Read,
                },
            ),
            (7, EventKind::LoopIteration { iteration: 2 }),
            (9, EventKind::Closed { conn: ConnId(1) }),
        ];
        recording.record(
            &mut world,
            ServerMessage::Events {
                events: kinds
                    .into_iter()
                    .map(|(at, kind)| Event { at, kind })
                    .collect(),
            },
        );
        // Looking back to just before the second iteration.
        recording.seek(&mut world, 4);
        let trace = serde_json::to_value(run_trace(&world, &recording)).unwrap();
        let loop_instants: Vec<(String, u64)> = of_phase(&trace, "i")
            .into_iter()
            .filter(|event| event["tid"] == LOOP_TID)
            .map(|event| {
                (
                    event["name"].as_str().unwrap().to_owned(),
                    event["ts"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            loop_instants,
            [
                ("loop iteration".to_owned(), 0),
                ("select(): sleeping until a socket is ready".to_owned(), 1)
            ]
        );
        let counters: Vec<(String, u64)> = of_phase(&trace, "C")
            .into_iter()
            .map(|event| {
                let name = event["name"].as_str().unwrap().to_owned();
                let value = event["args"][&name].as_u64().unwrap();
                (name, value)
            })
            .collect();
        assert_eq!(
            counters,
            [
                ("open connections".to_owned(), 1),
                ("would-block tries".to_owned(), 1)
            ]
        );
        assert!(
            of_phase(&trace, "M")
                .iter()
                .any(|event| event["args"]["name"] == "server loop")
        );
    }
}
