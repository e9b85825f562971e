//! The chapter, step by step: the lesson panel walks the seven steps of
//! the classic lesson on sockets and asyncio in their order. Each step has
//! a scenario (a page link's query), two or three sentences on what to
//! watch, the element of the page that shows it, and one question to answer
//! before the run. Its proof reads the [`World`] the views show and says
//! which answer the run proved, with the evidence in numbers, so that the
//! panel never claims what the page does not show.
//!
//! Pure: the panel (`views/lesson_panel.rs`) renders a [`Step`], and the
//! page keeps the learner's [`Progress`] in its local storage.

use std::collections::BTreeMap;

use protocol::{Micros, ShutdownPhase, ShutdownPolicy, TaskOutcome};
use serde::{Deserialize, Serialize};

use crate::model::numbers::thousands;
use crate::model::scenario::ScenarioLink;
use crate::model::world::{Connection, TaskState, World};

/// A page element a step points at: the first of `selectors` found in
/// the page, and the pane it lives in, if it is folded into one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LookAt {
    /// CSS selectors, most precise first (`#lanes .lane.backlog`, then
    /// the lanes' view when no lane is in the backlog at that moment).
    pub selectors: &'static [&'static str],
    /// The pane that shows it, when it is in one.
    pub pane: Option<Pane>,
    /// What it is, in the panel's words.
    pub what: &'static str,
}

/// The views a step can point at that the first screen may fold away
/// (beside the lesson they share one place, one at a time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Pane {
    /// The controls of the simulation or the live lab.
    #[default]
    Controls,
    /// The counters.
    Counters,
    /// The selector's table.
    Selector,
    /// The event log.
    Log,
}

impl Pane {
    /// Every pane, in order.
    pub const ALL: [Pane; 4] = [Pane::Controls, Pane::Counters, Pane::Selector, Pane::Log];
}

/// What a run proved: the answer, and the evidence for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    /// The index of the answer in [`Step::answers`].
    pub answer: usize,
    /// The numbers that prove it, in words.
    pub evidence: String,
}

/// One step of the chapter.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    /// Its title.
    pub title: &'static str,
    /// The scenario, as a page link's query.
    pub scenario: &'static str,
    /// What to watch, in two or three sentences.
    pub watch: &'static str,
    /// Where on the page.
    pub look_at: LookAt,
    /// The question asked before the run.
    pub question: &'static str,
    /// The answers offered.
    pub answers: &'static [&'static str],
    /// The answer the step teaches: the one its scenario proves.
    pub teaches: usize,
    /// When the run's server is shut down (with [`STEP_GRACE`], under the
    /// policy the shutdown control has chosen), counted from the start of
    /// the run.
    pub shutdown_after: Option<Micros>,
    /// Which answer the run has proved so far, if it has.
    pub proof: fn(&World) -> Option<Proof>,
}

impl Step {
    /// The scenario as the simulation reads it.
    pub fn link(&self) -> ScenarioLink {
        ScenarioLink::parse(self.scenario)
    }

    /// What the run the world shows has proved, if it runs the step's
    /// model and error handling: a run of anything else (a live lab whose
    /// switch was refused, say) proves nothing about this step.
    pub fn proof_of(&self, world: &World) -> Option<Proof> {
        let settings = self.link().settings;
        (world.model == Some(settings.model) && world.errors == settings.style)
            .then(|| (self.proof)(world))
            .flatten()
    }
}

/// The grace period a step's shutdown gives, in microseconds.
pub const STEP_GRACE: Micros = 2_000_000;

/// The seven steps, in the chapter's order.
pub const STEPS: [Step; 7] = [
    Step {
        title: "Blocking sockets",
        scenario: "model=blocking&clients=polite*3",
        watch: "The server has one thread, and accept(), recv() and sendall() each block it until \
                they can go on. While it talks with one client, the others have connected, but \
                nobody accepts them: they wait in the listen backlog.",
        look_at: LookAt {
            selectors: &["#lanes .lane.backlog", "#lanes-view"],
            pane: None,
            what: "the lanes in the backlog",
        },
        question: "Three clients connect at the same moment. While the server talks with the \
                   first, what happens to the other two?",
        answers: &[
            "They are served too, a message each in turn.",
            "They wait in the listen backlog until the first client leaves.",
            "They are refused: the server is busy.",
        ],
        teaches: 1,
        shutdown_after: None,
        proof: prove_one_at_a_time,
    },
    Step {
        title: "Non-blocking sockets",
        scenario: "model=busy_poll&clients=silent",
        watch: "With setblocking(False), a call that cannot go on at once raises BlockingIOError \
                (\"would block\") instead of waiting. The loop tries every socket over and over: \
                everyone is served, but the thread never rests.",
        look_at: LookAt {
            selectors: &["#counter-would-block"],
            pane: Some(Pane::Counters),
            what: "the would-block counter and the server's CPU",
        },
        question: "One client connects and never sends a byte. What does the server's CPU do \
                   while it waits?",
        answers: &[
            "Almost nothing: the server sleeps until bytes arrive.",
            "Nothing at all: recv() blocks the thread.",
            "It runs flat out: the loop keeps asking, and every try would block.",
        ],
        teaches: 2,
        shutdown_after: None,
        proof: prove_busy_waiting,
    },
    Step {
        title: "The selectors module",
        scenario: "model=selector&speed=0.25&clients=polite,slow",
        watch: "The server registers each socket with a selector, with what it waits for (read \
                or write). select() sleeps until some of them are ready, and returns just those.",
        look_at: LookAt {
            selectors: &["#selector-table tr.ready", "#selector-table"],
            pane: Some(Pane::Selector),
            what: "the ready column of the selector's table",
        },
        question: "Two clients are connected: one sends now and then, the other a byte at a \
                   time. What does select() return?",
        answers: &[
            "Only the sockets that are ready; the others stay registered.",
            "Every registered socket, each time.",
            "One socket at a time, in turn.",
        ],
        teaches: 0,
        shutdown_after: None,
        proof: prove_only_ready_returned,
    },
    Step {
        title: "select() in a loop is an event loop",
        scenario: "model=selector&clients=polite*3",
        watch: "Register, wait, run the callback: the loop calls select(), then the callback \
                registered with each ready socket (accept, receive or send), then select() again. \
                Each turn of the ring is one iteration.",
        look_at: LookAt {
            selectors: &["#loop-cycle"],
            pane: None,
            what: "the loop's ring",
        },
        question: "Between two select() calls, what does the loop do?",
        answers: &[
            "It runs the callback registered for each ready socket, and nothing else.",
            "It tries every socket in turn, to see which has data.",
            "It sleeps for a fixed time.",
        ],
        teaches: 0,
        shutdown_after: None,
        proof: prove_callbacks_only,
    },
    Step {
        title: "asyncio's sock_accept, sock_recv and sock_sendall",
        scenario: "model=async_tasks&speed=0.25&clients=slow,polite",
        watch: "Each await loop.sock_recv() suspends its coroutine until the selector says the \
                socket is readable; the loop runs whichever task is ready meanwhile. A suspended \
                task costs nothing while it waits.",
        look_at: LookAt {
            selectors: &["#lanes .lane.waiting", "#lanes-view"],
            pane: None,
            what: "the suspended task's lane",
        },
        question: "Client 2 connects while client 1 is typing, a byte at a time. When does \
                   client 2 get its first echo?",
        answers: &[
            "Only after client 1 has finished.",
            "Never: client 1's task holds the loop.",
            "As soon as it sends: while client 1's task waits at await, the loop runs client 2's.",
        ],
        teaches: 2,
        shutdown_after: None,
        proof: prove_served_meanwhile,
    },
    Step {
        title: "One task per client, and an error inside one",
        scenario: "model=async_tasks&errors=unhandled&clients=polite,polite,crasher",
        watch: "Every client gets its own task, so one client's trouble stays in its task. Here \
                handle() has no except: the crasher's reset ends its task with an error that \
                nobody awaits, and asyncio reports it late: \"Task exception was never retrieved\".",
        look_at: LookAt {
            selectors: &["#lanes .lane.failed", "#lanes-view"],
            pane: None,
            what: "the failed task's lane, and the late error in the log",
        },
        question: "handle() has no except. One client resets its connection mid-conversation. \
                   What happens?",
        answers: &[
            "Only that client's task fails; the others are served to the end.",
            "The whole server dies, with every client.",
            "Nothing: the error is ignored.",
        ],
        teaches: 0,
        shutdown_after: None,
        proof: prove_error_stays_in_its_task,
    },
    Step {
        title: "Graceful shutdown",
        scenario: "model=async_tasks&clients=silent,polite,slow",
        watch: "On Ctrl-C the server stops accepting, gives the running tasks a grace period to \
                finish, then cancels the rest. The same code could choose otherwise: cancel at \
                once, wait for everyone, or say goodbye first. Pick one under Policy (Controls), \
                then run the step again.",
        look_at: LookAt {
            selectors: &["#lanes-countdown", "#lanes-view"],
            pane: None,
            what: "the countdown over the lanes",
        },
        question: "Shut down with 2 s of grace: the silent client neither sends nor leaves. What \
                   happens to its task?",
        answers: &[
            "It is closed at once, with everyone else.",
            "It is served until it leaves by itself.",
            "It is cancelled when the grace period ends; the others finish first.",
        ],
        teaches: 2,
        shutdown_after: Some(1_000_000),
        proof: prove_grace_then_cancel,
    },
];

/// The step numbered `number` (from 1).
pub fn step(number: usize) -> Option<&'static Step> {
    number.checked_sub(1).and_then(|index| STEPS.get(index))
}

/// A lane's name in the panel's words: `conn 2`.
fn name(connection: &Connection) -> String {
    connection.conn.to_string()
}

/// When a lane reached its final state.
fn ended_at(connection: &Connection) -> Option<Micros> {
    connection.state.is_final().then_some(connection.since)
}

/// Seconds, as the panel says them: `1.2 s`.
fn seconds(us: Micros) -> String {
    format!("{:.1} s", us as f64 / 1e6)
}

/// Step 1: a lane left the backlog only once another had ended; or two
/// lanes were served at once.
fn prove_one_at_a_time(world: &World) -> Option<Proof> {
    let lanes: Vec<&Connection> = world.connections.values().collect();
    for waiting in &lanes {
        let Some(backlog) = waiting
            .history
            .iter()
            .find(|span| span.state == TaskState::Backlog && span.to > span.from)
        else {
            continue;
        };
        let freed_by = lanes.iter().find(|served| {
            served.conn != waiting.conn
                && ended_at(served).is_some_and(|end| end <= backlog.to && end > backlog.from)
        });
        if let Some(served) = freed_by {
            return Some(Proof {
                answer: 1,
                evidence: format!(
                    "{} waited {} in the backlog, and was accepted only once {} was closed.",
                    name(waiting),
                    seconds(backlog.to - backlog.from),
                    name(served)
                ),
            });
        }
    }
    let served_together: Vec<&&Connection> = lanes
        .iter()
        .filter(|lane| !lane.state.is_final() && lane.bytes_out > 0)
        .collect();
    (served_together.len() >= 2).then(|| Proof {
        answer: 0,
        evidence: format!(
            "{} and {} both had echoes while both were connected.",
            name(served_together[0]),
            name(served_together[1])
        ),
    })
}

/// The share of a CPU core a thread took, as the counter shows it: `97%`.
fn percent(permille: u32) -> String {
    format!("{}%", permille / 10)
}

/// Above this CPU share (‰) a server did not rest; at or below it, it did.
const RESTED: u32 = 100;
/// Below this share (‰) a loop that never sleeps got less than a core.
const WHOLE_CORE: u32 = 900;

/// Step 2: many tries would block while the thread never rested; or it
/// rested. The loop that never sleeps takes all the CPU it is given: a
/// whole core on an idle machine, less on a busy one (a live lab runs it at
/// idle priority), so the evidence gives the measured share and says when
/// it was less than a core, rather than waiting for a share the machine
/// may never give.
fn prove_busy_waiting(world: &World) -> Option<Proof> {
    let counters = &world.counters;
    let cpu = counters.cpu_permille?;
    if counters.open == 0 || world.now < 1_000_000 {
        return None;
    }
    if cpu > RESTED && counters.would_block >= 100 {
        let less = if cpu < WHOLE_CORE {
            ": all it was given, less than a core only because other work on the machine came \
             first"
        } else {
            ""
        };
        Some(Proof {
            answer: 2,
            evidence: format!(
                "{} tries would block in {}, and the server's thread ran {} of the time{less}.",
                thousands(counters.would_block),
                seconds(world.now),
                percent(cpu)
            ),
        })
    } else if cpu <= RESTED {
        Some(Proof {
            answer: 0,
            evidence: format!(
                "The server's thread ran {} of the time, with {} tries that would block.",
                percent(cpu),
                thousands(counters.would_block)
            ),
        })
    } else {
        None
    }
}

/// Step 3: select() returned some of the registered sockets, not all.
fn prove_only_ready_returned(world: &World) -> Option<Proof> {
    let registered: Vec<_> = world
        .sockets
        .values()
        .filter(|row| row.interest.is_some() && !row.closed)
        .collect();
    let ready: Vec<String> = registered
        .iter()
        .filter(|row| row.ready)
        .map(|row| row.sock.to_string())
        .collect();
    (registered.len() >= 3 && !ready.is_empty() && ready.len() < registered.len()).then(|| Proof {
        answer: 0,
        evidence: format!(
            "select() returned {} out of {} registered sockets: {}.",
            ready.len(),
            registered.len(),
            ready.join(", ")
        ),
    })
}

/// Step 4: the loop went round and served clients without one call that
/// would block; or it tried sockets that had nothing.
fn prove_callbacks_only(world: &World) -> Option<Proof> {
    let counters = &world.counters;
    if counters.iterations < 10 || counters.bytes_echoed == 0 {
        return None;
    }
    if counters.would_block == 0 {
        (counters.clients_finished >= 1).then(|| Proof {
            answer: 0,
            evidence: format!(
                "{} iterations, {} bytes echoed, and not one call that would block: each \
                 callback ran on a socket select() had said was ready.",
                counters.iterations, counters.bytes_echoed
            ),
        })
    } else {
        Some(Proof {
            answer: 1,
            evidence: format!(
                "{} iterations and {} tries that would block: it asked sockets that had nothing.",
                thousands(counters.iterations),
                thousands(counters.would_block)
            ),
        })
    }
}

/// Step 5: a later lane had its first echo while the first was still
/// connected; or only once it had ended. Read off the lanes' histories (when
/// each first echo came, when the first lane ended), so the verdict is the
/// same whenever it is read.
fn prove_served_meanwhile(world: &World) -> Option<Proof> {
    let mut lanes = world.connections.values();
    let first = lanes.next()?;
    let (later, echoed_at) = lanes
        .filter_map(|lane| Some((lane, lane.first_echo?)))
        .min_by_key(|(_, at)| *at)?;
    Some(match ended_at(first) {
        Some(end) if echoed_at >= end => Proof {
            answer: 0,
            evidence: format!(
                "{} had its first echo {} after {} had ended.",
                name(later),
                seconds(echoed_at - end),
                name(first)
            ),
        },
        end => Proof {
            answer: 2,
            evidence: format!(
                "{} had its first echo while {} was still connected{}, its task suspended at \
                 await.",
                name(later),
                name(first),
                end.map_or_else(String::new, |end| format!(
                    " ({} before it ended)",
                    seconds(end - echoed_at)
                ))
            ),
        },
    })
}

/// Step 6: an unhandled error, and the server served the others to the
/// end; or it crashed.
fn prove_error_stays_in_its_task(world: &World) -> Option<Proof> {
    if let Some(crash) = &world.crashed {
        return Some(Proof {
            answer: 1,
            evidence: format!("The server crashed: {crash}."),
        });
    }
    let counters = &world.counters;
    let served = world
        .connections
        .values()
        .filter(|lane| lane.state == TaskState::Finished(TaskOutcome::Ok) && lane.bytes_out > 0)
        .count();
    let failed = world
        .connections
        .values()
        .find(|lane| matches!(lane.state, TaskState::Finished(TaskOutcome::Failed { .. })))?;
    let all_done =
        counters.clients_started > 0 && counters.clients_finished == counters.clients_started;
    (counters.errors_unhandled >= 1 && all_done && served >= 1).then(|| Proof {
        answer: 0,
        evidence: format!(
            "{}'s task failed and nothing caught it, yet the server kept running and served \
             {served} other {} to the end.",
            name(failed),
            if served == 1 { "client" } else { "clients" }
        ),
    })
}

/// Step 7: once stopped, some tasks finished and the rest were cancelled;
/// or all were cancelled at once; or the server still waits for a client.
/// The evidence says how under the policy in force (a deadline only under
/// a grace period).
fn prove_grace_then_cancel(world: &World) -> Option<Proof> {
    let lanes = || world.connections.values();
    // Only what the shutdown found running counts.
    let began = world.shutdown_began?;
    let count = |outcome: TaskOutcome| {
        lanes()
            .filter(|lane| {
                lane.state == TaskState::Finished(outcome.clone()) && lane.since >= began
            })
            .count()
    };
    match world.shutdown? {
        ShutdownPhase::Stopped => {
            let (finished, cancelled) = (count(TaskOutcome::Ok), count(TaskOutcome::Cancelled));
            if cancelled == 0 {
                return None;
            }
            let was = if cancelled == 1 { "was" } else { "were" };
            let policy = world.shutdown_policy;
            Some(if finished > 0 {
                let how = match policy {
                    Some(ShutdownPolicy::GraceThenCancel) => " at the deadline",
                    _ => "",
                };
                Proof {
                    answer: 2,
                    evidence: format!(
                        "{finished} finished after the shutdown began, and {cancelled} {was} \
                         cancelled{how}."
                    ),
                }
            } else {
                let evidence = match policy {
                    Some(ShutdownPolicy::GraceThenCancel) => format!(
                        "None finished within the {}: all {cancelled} still running {was} \
                         cancelled at the deadline.",
                        world.grace().map_or_else(
                            || "grace period".to_owned(),
                            |grace| format!("{} of grace", seconds(grace))
                        )
                    ),
                    Some(ShutdownPolicy::NotifyFirst) => format!(
                        "All {cancelled} still connected {was} sent the goodbye line, then \
                         cancelled at once; none finished after the shutdown began."
                    ),
                    _ => format!(
                        "All {cancelled} still running {was} cancelled at once; none finished \
                         after the shutdown began."
                    ),
                };
                Proof {
                    answer: 0,
                    evidence,
                }
            })
        }
        ShutdownPhase::WaitingForEveryone => {
            // Everyone who talked has gone; the server still waits for the
            // ones who never will.
            let (talked, silent): (Vec<_>, Vec<_>) = lanes().partition(|lane| lane.bytes_in > 0);
            let waiting_for = silent.iter().filter(|lane| !lane.state.is_final()).count();
            (waiting_for > 0 && !talked.is_empty() && talked.iter().all(|lane| lane.state.is_final()))
                .then(|| Proof {
                    answer: 1,
                    evidence: format!(
                        "Every client that talked has left; the server still waits for {waiting_for} that never will."
                    ),
                })
        }
        _ => None,
    }
}

/// What the learner did in each step: the answer predicted, and the one
/// the run proved. Kept in the page's local storage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Progress {
    /// Per step number: the answer predicted.
    pub predicted: BTreeMap<usize, usize>,
    /// Per step number: the answer a run proved.
    pub proved: BTreeMap<usize, usize>,
}

impl Progress {
    /// The storage key.
    pub const KEY: &'static str = "loopscope.lesson";

    /// Progress read back from storage; empty if there is none or it is not
    /// understood.
    pub fn parse(text: Option<&str>) -> Progress {
        text.and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default()
    }

    /// As stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether a run of step `number` proved something.
    pub fn done(&self, number: usize) -> bool {
        self.proved.contains_key(&number)
    }

    /// The first step not done yet (the last when all are).
    pub fn next_step(&self) -> usize {
        (1..=STEPS.len())
            .find(|number| !self.done(*number))
            .unwrap_or(STEPS.len())
    }
}
