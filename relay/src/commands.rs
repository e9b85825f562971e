//! The lab's command task: carries out a page's commands one at a time, in
//! order, while the session goes on reading.
//!
//! * Model switches are serialised, and a switch that arrives while another
//!   is waiting replaces it: a page that clicks through the four models
//!   quickly (or a script that sends 200 switches) restarts the server a
//!   few times, not 200. The task keeps taking commands from the session
//!   while one runs, so the session's queue never fills behind a long one;
//!   its own queue holds at most [`MAX_WAITING`] (the session's rate limit
//!   keeps it far below that).
//! * A lab that gets no command for the idle timeout, or stays paused for
//!   the pause timeout, is closed, and says why: a tab left open (or
//!   paused) cannot hold a room's descriptors and clients forever.
//! * A shutdown asked for later ([`Command::ShutdownAfter`]) begins here
//!   when it is due, between commands.
//! * Closing (the page left) interrupts whatever command is running; a
//!   stopping relay lets the lab's server shut down gracefully first.

use std::collections::VecDeque;
use std::time::Duration;

use protocol::{Command, Event, EventKind};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::lab::Lab;
use crate::outgoing::Outgoing;
use crate::probe::Probe;

/// Commands waiting behind the one running; more are refused.
pub const MAX_WAITING: usize = 256;

/// How the lab's task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closing {
    /// The page left (or the session ended): closed at once.
    Closed,
    /// The relay stopped: shut down gracefully, then closed.
    RelayStopped,
    /// The lab ran out its idle or pause time; the reason is for the page.
    Expired(String),
}

/// Runs `lab`'s commands until `close_now` or `relay_stop` is cancelled or
/// a timeout expires; then closes the lab (after a graceful shutdown within
/// `grace` when the relay stops). Errors go to the page through `replies`.
pub async fn carry_out(
    mut lab: Lab,
    mut inbox: mpsc::UnboundedReceiver<Command>,
    replies: mpsc::Sender<Outgoing>,
    close_now: CancellationToken,
    relay_stop: CancellationToken,
    grace: Duration,
) -> Closing {
    let limits = lab.limits().clone();
    // Stamps replies while the lab is busy with a command (dropped, and
    // with it the last hold on the lab's event stream, when this returns).
    let probe = lab.probe().clone();
    let idle_timeout = Duration::from_secs(limits.idle_timeout_s.into());
    let pause_timeout = Duration::from_secs(limits.pause_timeout_s.into());
    let mut last_command = Instant::now();
    let mut paused_since: Option<Instant> = None;
    let mut queue = VecDeque::new();
    let closing = 'serving: loop {
        let idle_ends = last_command + idle_timeout;
        let deadline = paused_since.map_or(idle_ends, |since| idle_ends.min(since + pause_timeout));
        let shutdown_due = lab.shutdown_due();
        tokio::select! {
            biased;
            _ = close_now.cancelled() => break Closing::Closed,
            _ = relay_stop.cancelled() => break Closing::RelayStopped,
            _ = tokio::time::sleep_until(deadline) => {
                let reason = if paused_since.is_some_and(|since| since + pause_timeout <= Instant::now()) {
                    format!(
                        "the lab was paused for {} s, the most a lab may stay paused, so the relay closed it; reload the page for a new lab",
                        limits.pause_timeout_s
                    )
                } else {
                    format!(
                        "the lab had no command for {} s, so the relay closed it; reload the page for a new lab",
                        limits.idle_timeout_s
                    )
                };
                let event = Event { at: lab.probe().now(), kind: EventKind::Error { message: reason.clone() } };
                let _ = replies.try_send(Outgoing::Reply(event));
                break Closing::Expired(reason);
            }
            _ = tokio::time::sleep_until(shutdown_due.unwrap_or(deadline)), if shutdown_due.is_some() => {
                if let Err(refused) = lab.begin_due_shutdown() {
                    let _ = replies.try_send(Outgoing::Reply(error_event(&probe, refused.to_string())));
                }
            }
            order = inbox.recv() => {
                let Some(command) = order else { break Closing::Closed };
                if let Some(refusal) = enqueue(&mut queue, command) {
                    let _ = replies.try_send(Outgoing::Reply(error_event(&probe, refusal)));
                }
            }
        }
        while let Some(command) = queue.pop_front() {
            last_command = Instant::now();
            let outcome = {
                let handling = lab.handle(command);
                tokio::pin!(handling);
                loop {
                    tokio::select! {
                        biased;
                        _ = close_now.cancelled() => break 'serving Closing::Closed,
                        _ = relay_stop.cancelled() => break 'serving Closing::RelayStopped,
                        outcome = &mut handling => break outcome,
                        Some(command) = inbox.recv() => {
                            if let Some(refusal) = enqueue(&mut queue, command) {
                                let _ = replies.try_send(Outgoing::Reply(error_event(&probe, refusal)));
                            }
                        }
                    }
                }
            };
            if let Err(refused) = outcome {
                let event = error_event(&probe, refused.to_string());
                let sent = tokio::select! {
                    _ = close_now.cancelled() => false,
                    sent = replies.send(Outgoing::Reply(event)) => sent.is_ok(),
                };
                if !sent {
                    break 'serving Closing::Closed;
                }
            }
            paused_since = match (lab.paused(), paused_since) {
                (true, None) => Some(Instant::now()),
                (true, since) => since,
                (false, _) => None,
            };
        }
    };
    drop(queue);
    if closing == Closing::RelayStopped {
        lab.shut_down(grace).await;
    }
    lab.close().await;
    closing
}

/// Queues a command behind the others; a model switch replaces a switch
/// already waiting last. `Some` with the reason when the queue is full.
fn enqueue(queue: &mut VecDeque<Command>, command: Command) -> Option<String> {
    if matches!(command, Command::SetModel { .. })
        && let Some(last @ Command::SetModel { .. }) = queue.back_mut()
    {
        *last = command;
        return None;
    }
    if queue.len() >= MAX_WAITING {
        return Some(format!(
            "the lab has {MAX_WAITING} commands waiting already; this one was dropped"
        ));
    }
    queue.push_back(command);
    None
}

fn error_event(probe: &Probe, message: String) -> Event {
    Event {
        at: probe.now(),
        kind: EventKind::Error { message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ServerModel;

    fn switch(model: ServerModel) -> Command {
        Command::SetModel {
            model,
            errors: Default::default(),
        }
    }

    #[test]
    fn a_switch_replaces_the_switch_waiting_last_but_not_one_behind_other_commands() {
        let mut queue = VecDeque::new();
        for model in [
            ServerModel::Blocking,
            ServerModel::Selector,
            ServerModel::BusyPoll,
        ] {
            assert_eq!(enqueue(&mut queue, switch(model)), None);
        }
        assert_eq!(enqueue(&mut queue, Command::Pause {}), None);
        assert_eq!(enqueue(&mut queue, switch(ServerModel::Blocking)), None);
        assert_eq!(
            Vec::from(queue),
            vec![
                Command::SetModel {
                    model: ServerModel::BusyPoll,
                    errors: Default::default(),
                },
                Command::Pause {},
                Command::SetModel {
                    model: ServerModel::Blocking,
                    errors: Default::default(),
                },
            ]
        );
    }

    #[test]
    fn a_full_queue_refuses_in_words() {
        let mut queue = VecDeque::new();
        for _ in 0..MAX_WAITING {
            assert_eq!(enqueue(&mut queue, Command::Step {}), None);
        }
        let refusal = enqueue(&mut queue, Command::Step {}).unwrap();
        assert!(refusal.contains("256 commands waiting"), "{refusal}");
        assert_eq!(queue.len(), MAX_WAITING);
    }
}
