//! The lesson's words: one or two plain sentences for what the server is
//! doing right now, shown where the eye already is (beside the loop). Pure:
//! a function of the model, the loop's phase and the parked call.

use protocol::{Call, LoopPhase, ServerModel, Sock};

/// What the server is doing, in a sentence or two.
pub fn explain(
    model: ServerModel,
    phase: Option<LoopPhase>,
    parked: Option<(Call, Sock)>,
) -> String {
    match model {
        ServerModel::Blocking => match parked {
            Some((Call::Accept, _)) => {
                "The only thread is parked in accept(): it waits for a client and can do \
                 nothing else. CPU 0%."
                    .into()
            }
            Some((Call::Recv, sock)) => format!(
                "The only thread is parked in recv() on {sock}: until that client sends or leaves, \
                 every other client waits in the listen backlog."
            ),
            Some((Call::Send, sock)) => format!(
                "The only thread is parked in sendall() on {sock}: its send buffer is full, so it \
                 waits for that client to read."
            ),
            None => "The thread runs: it has just returned from a blocking call and handles its \
                 result before blocking again."
                .into(),
        },
        ServerModel::BusyPoll => {
            "Every socket is non-blocking and the loop tries them all, again and again: \
             every client is served, but each try with nothing to do is a wasted would-block, and \
             the CPU stays at 100% even when nobody sends."
                .into()
        }
        ServerModel::Selector => match phase {
            Some(LoopPhase::Select) | None => {
                "select() sleeps until one of the registered sockets is ready: no CPU \
                 while nobody sends."
                    .into()
            }
            Some(LoopPhase::ReadyEvents) | Some(LoopPhase::Run) => {
                "select() returned the ready set; the loop runs \
                 the callback registered for each ready socket. A callback must not block: a slow \
                 one delays everyone."
                    .into()
            }
            Some(LoopPhase::Timers) => "The iteration is over; back to select().".into(),
        },
        ServerModel::AsyncTasks => match phase {
            Some(LoopPhase::Select) | None => {
                "No task can run: the loop sleeps in select() until a socket some \
                 task awaits is ready."
                    .into()
            }
            Some(LoopPhase::ReadyEvents) => {
                "select() returned: each task waiting on a ready socket is woken, \
                 moved to the ready queue."
                    .into()
            }
            Some(LoopPhase::Run) => {
                "The loop resumes each ready task in turn; a task runs until an await \
                 finds its socket not ready, and suspends there."
                    .into()
            }
            Some(LoopPhase::Timers) => {
                "Timers and callbacks that are due run (here: late reports of failed \
                 tasks nobody awaited); then the next iteration."
                    .into()
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ConnId;

    #[test]
    fn the_blocking_server_names_the_call_and_socket_it_is_parked_on() {
        let text = explain(
            ServerModel::Blocking,
            None,
            Some((Call::Recv, Sock::Conn(ConnId(3)))),
        );
        assert!(
            text.contains("recv() on conn#3") && text.contains("backlog"),
            "{text}"
        );
    }

    #[test]
    fn every_phase_of_the_async_loop_has_its_own_words() {
        let phases = [
            LoopPhase::Select,
            LoopPhase::ReadyEvents,
            LoopPhase::Run,
            LoopPhase::Timers,
        ];
        let texts: std::collections::HashSet<String> = phases
            .iter()
            .map(|phase| explain(ServerModel::AsyncTasks, Some(*phase), None))
            .collect();
        assert_eq!(texts.len(), 4);
    }
}
