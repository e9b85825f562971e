//! A run's lanes as a trace in the Trace Event Format (the JSON that
//! Perfetto and `chrome://tracing` open): one thread per connection, a
//! complete event per state it was in, instants for would-block tries and
//! final states, and the shutdown deadline across all lanes.
//!
//! The trace holds what the page keeps: each lane's newest spans (see
//! [`crate::world::SPANS_KEPT`]) and the connections still listed.

use gloo_timers::callback::Timeout;
use protocol::ServerModel;
use serde_json::{Value, json};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Blob, BlobPropertyBag, HtmlAnchorElement, Url};

use crate::components::{lane_name, state_class, state_text};
use crate::simulated::model_key;
use crate::world::World;

/// The trace's only process: the echo server.
const PID: u64 = 1;

/// The trace of `world`'s lanes, to save as a `.json` file.
pub fn chrome_trace(world: &World) -> Value {
    let model = world.model.map_or("unknown", model_key);
    let mut events = vec![json!({
        "name": "process_name", "ph": "M", "pid": PID,
        "args": { "name": format!("echo server ({model})") },
    })];
    for (index, connection) in world.connections.values().enumerate() {
        let tid = connection.conn.0;
        events.push(json!({
            "name": "thread_name", "ph": "M", "pid": PID, "tid": tid,
            "args": { "name": lane_name(connection) },
        }));
        events.push(json!({
            "name": "thread_sort_index", "ph": "M", "pid": PID, "tid": tid,
            "args": { "sort_index": index },
        }));
        // A state left as soon as entered draws nothing; it is left out.
        for span in connection.history.iter().filter(|span| span.to > span.from) {
            events.push(json!({
                "name": state_text(&span.state), "cat": state_class(&span.state),
                "ph": "X", "ts": span.from, "dur": span.to - span.from,
                "pid": PID, "tid": tid,
            }));
        }
        let state = &connection.state;
        if state.is_final() {
            events.push(json!({
                "name": state_text(state), "cat": state_class(state),
                "ph": "i", "s": "t", "ts": connection.since, "pid": PID, "tid": tid,
            }));
        } else {
            events.push(json!({
                "name": state_text(state), "cat": state_class(state),
                "ph": "X", "ts": connection.since,
                "dur": world.now.saturating_sub(connection.since),
                "pid": PID, "tid": tid,
            }));
        }
        for at in &connection.would_blocks {
            events.push(json!({
                "name": "would block", "cat": "would_block",
                "ph": "i", "s": "t", "ts": at, "pid": PID, "tid": tid,
            }));
        }
    }
    if let Some(deadline) = world.deadline {
        events.push(json!({
            "name": "shutdown deadline", "cat": "shutdown",
            "ph": "i", "s": "g", "ts": deadline, "pid": PID, "tid": 0,
        }));
    }
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": { "generator": "Loopscope", "model": model },
    })
}

/// The name to save the trace under: `loopscope-selector.trace.json`.
pub fn file_name(model: Option<ServerModel>) -> String {
    format!("loopscope-{}.trace.json", model.map_or("run", model_key))
}

/// Offers `world`'s trace to the person as a file to save.
pub fn save(world: &World) -> Result<(), String> {
    let text = serde_json::to_string(&chrome_trace(world)).map_err(|error| error.to_string())?;
    let js = |error: JsValue| format!("{error:?}");
    let options = BlobPropertyBag::new();
    options.set_type("application/json");
    let parts = js_sys::Array::of1(&JsValue::from_str(&text));
    let blob = Blob::new_with_str_sequence_and_options(&parts, &options).map_err(js)?;
    let url = Url::create_object_url_with_blob(&blob).map_err(js)?;
    let anchor: HtmlAnchorElement = web_sys::window()
        .and_then(|window| window.document())
        .ok_or("no document")?
        .create_element("a")
        .map_err(js)?
        .unchecked_into();
    anchor.set_href(&url);
    anchor.set_download(&file_name(world.model));
    anchor.click();
    // The download has started reading the file by then.
    Timeout::new(60_000, move || {
        let _ = Url::revoke_object_url(&url);
    })
    .forget();
    Ok(())
}

#[cfg(test)]
mod tests {
    use protocol::{
        ConnId, Event, EventKind, IoOp, ServerMessage, ShutdownPhase, TaskId, TaskOutcome,
    };

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
        let trace = chrome_trace(&world);

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
        let trace = chrome_trace(&world);
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
}
