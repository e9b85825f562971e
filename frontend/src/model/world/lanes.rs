//! A lane's words and colours: its name, its state in words and the CSS
//! class that colours it, shared by the lanes, the exported trace and the
//! glossary.

use protocol::{Call, IoOp, ServerModel, TaskOutcome};

use super::{Connection, TaskState};

/// The state classes, each drawn in the colour of its CSS variable
/// `--lane-<class>`.
pub const CLASSES: [&str; 12] = [
    "backlog",
    "accepted",
    "ready",
    "running",
    "waiting",
    "registered",
    "polling",
    "blocked",
    "done",
    "failed",
    "cancelled",
    "closed",
];

/// A state's CSS class, which gives its colour.
pub fn state_class(state: &TaskState) -> &'static str {
    match state {
        TaskState::Backlog => "backlog",
        TaskState::Accepted => "accepted",
        TaskState::Ready => "ready",
        TaskState::Running => "running",
        TaskState::Waiting(_) => "waiting",
        TaskState::Registered(_) => "registered",
        TaskState::Polling => "polling",
        TaskState::Blocked(_) => "blocked",
        TaskState::Finished(TaskOutcome::Ok) => "done",
        TaskState::Finished(TaskOutcome::Failed { .. }) => "failed",
        TaskState::Finished(TaskOutcome::Cancelled) => "cancelled",
        TaskState::Closed => "closed",
    }
}

/// A state in words.
pub fn state_text(state: &TaskState) -> String {
    let call = |call: &Call| match call {
        Call::Accept => "accept",
        Call::Recv => "recv",
        Call::Send => "sendall",
    };
    match state {
        TaskState::Backlog => "waiting in the backlog".to_owned(),
        TaskState::Accepted => "accepted".to_owned(),
        TaskState::Ready => "ready to run".to_owned(),
        TaskState::Running => "running".to_owned(),
        TaskState::Waiting(IoOp::Read) => "suspended on recv".to_owned(),
        TaskState::Waiting(IoOp::Write) => "suspended on sendall".to_owned(),
        TaskState::Registered(IoOp::Read) => "registered for read".to_owned(),
        TaskState::Registered(IoOp::Write) => "registered for write".to_owned(),
        TaskState::Polling => "polled, nothing there".to_owned(),
        TaskState::Blocked(blocked) => format!("thread blocked in {}", call(blocked)),
        TaskState::Finished(TaskOutcome::Ok) => "done".to_owned(),
        TaskState::Finished(TaskOutcome::Failed { error }) => {
            format!("failed: {error}")
        }
        TaskState::Finished(TaskOutcome::Cancelled) => "cancelled".to_owned(),
        TaskState::Closed => "closed".to_owned(),
    }
}

/// A lane's name: its connection, and the task serving it.
/// Only asyncio's server has tasks: a thread server's lane is its
/// connection alone.
pub fn lane_name(connection: &Connection, model: Option<ServerModel>) -> String {
    match connection.task {
        Some(task) if model == Some(ServerModel::AsyncTasks) => {
            format!("{} · {task}", connection.conn)
        }
        _ => connection.conn.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use protocol::{ConnId, TaskId};

    use super::*;

    #[test]
    fn only_asyncio_s_lanes_are_named_after_their_task() {
        let mut world = crate::model::world::World::default();
        world.apply(&protocol::Event {
            at: 1,
            kind: protocol::EventKind::Accepted {
                conn: ConnId(1),
                peer: "127.0.0.1:5000".into(),
            },
        });
        let mut lane = world.connections[&ConnId(1)].clone();
        lane.task = Some(TaskId(1));
        assert_eq!(
            lane_name(&lane, Some(ServerModel::AsyncTasks)),
            "conn#1 · task#1"
        );
        for model in [
            ServerModel::Blocking,
            ServerModel::BusyPoll,
            ServerModel::Selector,
        ] {
            assert_eq!(lane_name(&lane, Some(model)), "conn#1", "{model:?}");
        }
    }
}
