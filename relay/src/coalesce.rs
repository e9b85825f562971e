//! Folding high-rate happenings into counters, so that a busy lab costs the
//! relay and the browser little: the per-message events of a connection
//! (reads, writes) and of a task (polls, wakes, waits) become one
//! `traffic` and one `task_activity` event per batch.
//!
//! Only batches larger than [`FOLD_ABOVE`] are folded: at the rates a person
//! can follow (and when stepping), every event goes out as it happened.
//! A folded event stands where the first event it replaces stood, so what
//! follows it (a `closed`, a `task_finished`) still comes after it; a task's
//! last `task_waiting` of the batch is kept as it is, since it says what the
//! task waits on now.

use std::collections::HashMap;

use protocol::{ConnId, Event, EventKind, TaskId};

/// Batches up to this many events are sent as they are.
pub const FOLD_ABOVE: usize = 1000;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Conn(ConnId),
    Task(TaskId),
}

/// Folds `events` if there are more than [`FOLD_ABOVE`] of them.
pub fn coalesce(events: Vec<Event>) -> Vec<Event> {
    if events.len() <= FOLD_ABOVE {
        return events;
    }
    // A task's last wait in the batch says what it waits on now: it stays.
    let mut last_wait: HashMap<TaskId, usize> = HashMap::new();
    for (index, event) in events.iter().enumerate() {
        if let EventKind::TaskWaiting { task, .. } = event.kind {
            last_wait.insert(task, index);
        }
    }
    let mut folded: Vec<Event> = Vec::with_capacity(events.len() / 4);
    let mut slot_of: HashMap<Key, usize> = HashMap::new();
    for (index, event) in events.into_iter().enumerate() {
        let key = match &event.kind {
            EventKind::Received { conn, .. } | EventKind::Sent { conn, .. } => Key::Conn(*conn),
            EventKind::TaskWaiting { task, .. } if last_wait.get(task) == Some(&index) => {
                folded.push(event);
                continue;
            }
            EventKind::TaskPolled { task, .. }
            | EventKind::TaskWoken { task }
            | EventKind::TaskWaiting { task, .. } => Key::Task(*task),
            _ => {
                folded.push(event);
                continue;
            }
        };
        let slot = *slot_of.entry(key).or_insert_with(|| {
            folded.push(Event {
                at: event.at,
                kind: empty_tally(key),
            });
            folded.len() - 1
        });
        add(&mut folded[slot].kind, &event.kind);
    }
    folded
}

fn empty_tally(key: Key) -> EventKind {
    match key {
        Key::Conn(conn) => EventKind::Traffic {
            conn,
            received: 0,
            sent: 0,
            reads: 0,
            writes: 0,
        },
        Key::Task(task) => EventKind::TaskActivity {
            task,
            polls: 0,
            wakes: 0,
            waits: 0,
            busy_us: 0,
        },
    }
}

fn add(tally: &mut EventKind, event: &EventKind) {
    match (tally, event) {
        (
            EventKind::Traffic {
                received, reads, ..
            },
            EventKind::Received { bytes, .. },
        ) => {
            *received += bytes;
            *reads += 1;
        }
        (EventKind::Traffic { sent, writes, .. }, EventKind::Sent { bytes, .. }) => {
            *sent += bytes;
            *writes += 1;
        }
        (
            EventKind::TaskActivity { polls, busy_us, .. },
            EventKind::TaskPolled { duration_us, .. },
        ) => {
            *polls += 1;
            *busy_us += duration_us;
        }
        (EventKind::TaskActivity { wakes, .. }, EventKind::TaskWoken { .. }) => *wakes += 1,
        (EventKind::TaskActivity { waits, .. }, EventKind::TaskWaiting { .. }) => *waits += 1,
        _ => unreachable!("events are tallied under their own key"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{IoOp, Sock};

    fn at(at: u64, kind: EventKind) -> Event {
        Event { at, kind }
    }

    #[test]
    fn a_small_batch_goes_out_as_it_is() {
        let events = vec![at(
            1,
            EventKind::Received {
                conn: ConnId(1),
                bytes: 3,
            },
        )];
        assert_eq!(coalesce(events.clone()), events);
    }

    #[test]
    fn a_large_batch_is_folded_per_connection_and_task_keeping_the_order_of_the_rest() {
        let conn = ConnId(1);
        let task = TaskId(1);
        let mut events = vec![at(
            0,
            EventKind::Accepted {
                conn,
                peer: "p".into(),
            },
        )];
        for index in 0..300 {
            let t = 1 + index * 4;
            events.push(at(t, EventKind::TaskWoken { task }));
            events.push(at(t + 1, EventKind::Received { conn, bytes: 10 }));
            events.push(at(t + 2, EventKind::Sent { conn, bytes: 10 }));
            events.push(at(
                t + 3,
                EventKind::TaskPolled {
                    task,
                    duration_us: 2,
                    ready: false,
                },
            ));
        }
        let waiting = |op| EventKind::TaskWaiting {
            task,
            sock: Sock::Conn(conn),
            op,
        };
        events.push(at(4999, waiting(IoOp::Read)));
        events.push(at(5000, waiting(IoOp::Write)));
        events.push(at(5001, EventKind::Closed { conn }));
        let folded = coalesce(events);
        assert_eq!(
            folded,
            vec![
                at(
                    0,
                    EventKind::Accepted {
                        conn,
                        peer: "p".into()
                    }
                ),
                at(
                    1,
                    EventKind::TaskActivity {
                        task,
                        polls: 300,
                        wakes: 300,
                        waits: 1,
                        busy_us: 600
                    }
                ),
                at(
                    2,
                    EventKind::Traffic {
                        conn,
                        received: 3000,
                        sent: 3000,
                        reads: 300,
                        writes: 300
                    }
                ),
                at(5000, waiting(IoOp::Write)),
                at(5001, EventKind::Closed { conn }),
            ]
        );
    }
}
