//! The table of connections and the tasks that serve them.

use std::rc::Rc;

use protocol::{Call, IoOp, TaskOutcome};
use yew::prelude::*;

use crate::world::{Connection, TaskState};

/// Props of [`ConnectionsTable`].
#[derive(Properties, PartialEq)]
pub struct ConnectionsProps {
    /// The rows, oldest first.
    pub rows: Rc<Vec<Connection>>,
}

/// One row per connection: its peer, its task and what the task is doing.
#[function_component]
pub fn ConnectionsTable(props: &ConnectionsProps) -> Html {
    html! {
        <section class="panel connections" aria-labelledby="connections-title">
            <h2 id="connections-title">{ "Connections and tasks" }</h2>
            <table id="connections">
                <thead>
                    <tr>
                        <th scope="col">{ "conn" }</th>
                        <th scope="col">{ "peer" }</th>
                        <th scope="col">{ "task" }</th>
                        <th scope="col">{ "state" }</th>
                        <th scope="col" class="num">{ "in" }</th>
                        <th scope="col" class="num">{ "out" }</th>
                    </tr>
                </thead>
                <tbody>
                    { for props.rows.iter().map(row) }
                </tbody>
            </table>
            if props.rows.is_empty() {
                <p class="empty">{ "No connections yet: spawn a client, or connect with nc." }</p>
            }
        </section>
    }
}

fn row(connection: &Connection) -> Html {
    let (state_class, state_text) = state_words(&connection.state, connection.closed);
    html! {
        <tr key={connection.conn.0} class={state_class} data-conn={connection.conn.0.to_string()}>
            <td>{ connection.conn.to_string() }</td>
            <td>{ &connection.peer }</td>
            <td>{ connection.task.map(|task| task.to_string()).unwrap_or_default() }</td>
            <td class="state">{ state_text }</td>
            <td class="num">{ connection.bytes_in }</td>
            <td class="num">{ connection.bytes_out }</td>
        </tr>
    }
}

fn state_words(state: &TaskState, closed: bool) -> (&'static str, String) {
    let (class, text) = match state {
        TaskState::Accepted => ("accepted", "accepted".to_owned()),
        TaskState::Running => ("running", "running".to_owned()),
        TaskState::Waiting(IoOp::Read) => ("waiting", "suspended on recv".to_owned()),
        TaskState::Waiting(IoOp::Write) => ("waiting", "suspended on sendall".to_owned()),
        TaskState::Blocked(Call::Accept) => ("blocked", "thread blocked in accept".to_owned()),
        TaskState::Blocked(Call::Recv) => ("blocked", "thread blocked in recv".to_owned()),
        TaskState::Blocked(Call::Send) => ("blocked", "thread blocked in sendall".to_owned()),
        TaskState::Finished(TaskOutcome::Ok) => ("done", "done".to_owned()),
        TaskState::Finished(TaskOutcome::Failed { error }) => {
            ("failed", format!("failed: {error}"))
        }
        TaskState::Finished(TaskOutcome::Cancelled) => ("cancelled", "cancelled".to_owned()),
    };
    // A task's end says more than "closed"; without a task, closed is all.
    if closed && !matches!(state, TaskState::Finished(_)) {
        ("closed", "closed".to_owned())
    } else {
        (class, text)
    }
}
