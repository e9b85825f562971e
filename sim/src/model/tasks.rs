//! The asyncio server (`async_tasks.py`): an event loop with a ready queue
//! and a selector, one task per client. A task runs until an `await` finds
//! its socket not ready; then it registers the socket, suspends, and the
//! loop runs other tasks. When `select()` reports the socket ready, the task
//! is woken (moved to the ready queue) and resumed where it stopped.
//!
//! One iteration: `select()` (sleeping only when no task is ready), wake
//! the tasks of the ready sockets, resume each ready task once, then timers
//! (here: late reports of exceptions nobody retrieved).

use std::collections::{BTreeMap, VecDeque};

use protocol::{
    ConnId, EventKind, GOODBYE, HandlerStyle, IoOp, LoopPhase, Micros, ServerModel, Sock, TaskId,
    TaskOutcome,
};

use super::{Cx, Lines, Model, Next};
use crate::net::IoError;

const READ_SIZE: usize = 4096;

enum Work {
    /// `accept_forever`: the main task.
    Accept,
    /// `handle`: echoes one client.
    Recv { conn: ConnId },
    Send {
        conn: ConnId,
        data: Vec<u8>,
        offset: usize,
    },
}

struct Task {
    id: TaskId,
    work: Work,
    done: bool,
}

enum Phase {
    Select,
    Sleeping,
    ReadyEvents,
    /// Resuming the tasks that were ready when the phase began.
    Run {
        left: usize,
    },
    Timers,
}

struct LineNumbers {
    sock_accept: u32,
    create_task: u32,
    sock_recv: u32,
    not_data: u32,
    sock_sendall: u32,
    except: u32,
}

/// The asyncio event loop and its tasks.
pub struct Tasks {
    tasks: Vec<Task>,
    ready: VecDeque<usize>,
    /// Which task waits on which socket.
    waiting: BTreeMap<Sock, usize>,
    /// Tasks that failed and are not yet reported as never retrieved.
    unretrieved: Vec<(TaskId, String)>,
    phase: Phase,
    iteration: u64,
    live_handlers: usize,
    lines: Lines,
    line: LineNumbers,
}

impl Tasks {
    /// A loop with the accepting task ready to run.
    pub fn new(cx: &mut Cx) -> Self {
        let lines = Lines::new(ServerModel::AsyncTasks, cx.style);
        let line = LineNumbers {
            sock_accept: lines.find("loop.sock_accept(server)"),
            create_task: lines.find("loop.create_task(handle(loop, client))"),
            sock_recv: lines.find("loop.sock_recv(client, 4096)"),
            not_data: lines.find("the client closed its side"),
            sock_sendall: lines.find("loop.sock_sendall(client, data)"),
            // Only the handled variant has it, and only it goes there.
            except: lines.find_if_any("except ConnectionError").unwrap_or(0),
        };
        let mut tasks = Tasks {
            tasks: Vec::new(),
            ready: VecDeque::new(),
            waiting: BTreeMap::new(),
            unretrieved: Vec::new(),
            phase: Phase::Select,
            iteration: 0,
            live_handlers: 0,
            lines,
            line,
        };
        tasks.spawn(cx, Work::Accept, None);
        tasks
    }

    fn spawn(&mut self, cx: &mut Cx, work: Work, conn: Option<ConnId>) {
        let id = TaskId(self.tasks.len() as u64 + 1);
        cx.emit(EventKind::TaskSpawned { task: id, conn });
        self.ready.push_back(self.tasks.len());
        self.tasks.push(Task {
            id,
            work,
            done: false,
        });
    }

    fn suspend(&mut self, cx: &mut Cx, task: usize, sock: Sock, op: IoOp) {
        cx.net.register(sock, op);
        self.waiting.insert(sock, task);
        cx.emit(EventKind::TaskWaiting {
            task: self.tasks[task].id,
            sock,
            op,
        });
    }

    fn finish(&mut self, cx: &mut Cx, task: usize, conn: Option<ConnId>, outcome: TaskOutcome) {
        self.tasks[task].done = true;
        if conn.is_some() {
            self.live_handlers -= 1;
        }
        cx.emit(EventKind::TaskFinished {
            task: self.tasks[task].id,
            conn,
            outcome,
        });
    }

    /// Runs one task until it suspends or ends; returns the CPU it used.
    fn run_task(&mut self, cx: &mut Cx, task: usize) -> Micros {
        let costs = cx.costs;
        let mut used = costs.resume;
        cx.emit(EventKind::TaskResumed {
            task: self.tasks[task].id,
        });
        loop {
            used += costs.syscall;
            match std::mem::replace(&mut self.tasks[task].work, Work::Accept) {
                Work::Accept => {
                    self.lines.at(cx, self.line.sock_accept);
                    match cx.net.accept() {
                        Ok((conn, client)) => {
                            cx.accepted(conn, client);
                            self.lines.at(cx, self.line.create_task);
                            self.live_handlers += 1;
                            self.spawn(cx, Work::Recv { conn }, Some(conn));
                        }
                        Err(_) => {
                            self.suspend(cx, task, Sock::Listener, IoOp::Read);
                            return used;
                        }
                    }
                }
                Work::Recv { conn } => {
                    self.lines.at(cx, self.line.sock_recv);
                    match cx.net.recv(conn, READ_SIZE) {
                        Ok(data) if data.is_empty() => {
                            self.lines.at(cx, self.line.not_data);
                            cx.close(conn);
                            self.finish(cx, task, Some(conn), TaskOutcome::Ok);
                            return used;
                        }
                        Ok(data) => {
                            cx.emit(EventKind::Received {
                                conn,
                                bytes: data.len() as u64,
                            });
                            self.tasks[task].work = Work::Send {
                                conn,
                                data,
                                offset: 0,
                            };
                        }
                        Err(IoError::WouldBlock) => {
                            self.tasks[task].work = Work::Recv { conn };
                            self.suspend(cx, task, Sock::Conn(conn), IoOp::Read);
                            return used;
                        }
                        Err(error) => {
                            self.fail(cx, task, conn, error);
                            return used;
                        }
                    }
                }
                Work::Send { conn, data, offset } => {
                    self.lines.at(cx, self.line.sock_sendall);
                    match cx.net.send(conn, &data[offset..]) {
                        Ok(written) if offset + written == data.len() => {
                            cx.emit(EventKind::Sent {
                                conn,
                                bytes: data.len() as u64,
                            });
                            self.tasks[task].work = Work::Recv { conn };
                        }
                        Ok(written) => {
                            // A partial send: sock_sendall waits for room.
                            let offset = offset + written;
                            self.tasks[task].work = Work::Send { conn, data, offset };
                            self.suspend(cx, task, Sock::Conn(conn), IoOp::Write);
                            return used;
                        }
                        Err(IoError::WouldBlock) => {
                            self.tasks[task].work = Work::Send { conn, data, offset };
                            self.suspend(cx, task, Sock::Conn(conn), IoOp::Write);
                            return used;
                        }
                        Err(error) => {
                            self.fail(cx, task, conn, error);
                            return used;
                        }
                    }
                }
            }
        }
    }

    /// An error in a handler: caught there, or the end of that task only.
    fn fail(&mut self, cx: &mut Cx, task: usize, conn: ConnId, error: IoError) {
        let error = error.message().to_owned();
        // `with client:` closes the socket either way.
        match cx.style {
            HandlerStyle::Handled => {
                self.lines.at(cx, self.line.except);
                cx.emit(EventKind::ErrorHandled {
                    conn,
                    error: error.clone(),
                });
                cx.close(conn);
                self.finish(cx, task, Some(conn), TaskOutcome::Ok);
            }
            HandlerStyle::Unhandled => {
                cx.close(conn);
                self.finish(
                    cx,
                    task,
                    Some(conn),
                    TaskOutcome::Failed {
                        error: error.clone(),
                    },
                );
                self.unretrieved.push((self.tasks[task].id, error));
            }
        }
    }

    fn cancel(&mut self, cx: &mut Cx, task: usize) {
        let conn = match self.tasks[task].work {
            Work::Accept => None,
            Work::Recv { conn } | Work::Send { conn, .. } => Some(conn),
        };
        if let Some((&sock, _)) = self.waiting.iter().find(|(_, waiter)| **waiter == task) {
            self.waiting.remove(&sock);
            cx.net.unregister(sock);
        }
        self.ready.retain(|&ready| ready != task);
        if let Some(conn) = conn {
            cx.close(conn);
        }
        self.finish(cx, task, conn, TaskOutcome::Cancelled);
    }
}

impl Model for Tasks {
    fn lines(&mut self) -> &mut Lines {
        &mut self.lines
    }

    fn step(&mut self, cx: &mut Cx) -> Next {
        match std::mem::replace(&mut self.phase, Phase::Select) {
            Phase::Select => {
                if cx.stopping && self.live_handlers == 0 {
                    return Next::Stopped;
                }
                self.iteration += 1;
                cx.emit(EventKind::LoopIteration {
                    iteration: self.iteration,
                });
                cx.emit(EventKind::Phase {
                    phase: LoopPhase::Select,
                });
                // With tasks ready, select() only polls; otherwise it
                // waits at most until the loop's next timer (the grace
                // period's end, during a shutdown).
                let timeout = if self.ready.is_empty() {
                    cx.deadline.map(|deadline| deadline.saturating_sub(cx.now))
                } else {
                    Some(0)
                };
                cx.emit(EventKind::SelectCalled {
                    timeout_us: timeout,
                });
                if !self.ready.is_empty() || cx.net.any_ready() {
                    self.phase = Phase::ReadyEvents;
                    return Next::Busy(cx.costs.select);
                }
                self.phase = Phase::Sleeping;
                Next::Block { timeout: None }
            }
            Phase::Sleeping => {
                self.phase = Phase::ReadyEvents;
                Next::Busy(cx.costs.select)
            }
            Phase::ReadyEvents => {
                let ready = cx.net.ready_set();
                cx.emit(EventKind::SelectReturned {
                    ready: ready.clone(),
                });
                cx.emit(EventKind::Phase {
                    phase: LoopPhase::ReadyEvents,
                });
                for entry in &ready {
                    if let Some(task) = self.waiting.remove(&entry.sock) {
                        cx.net.unregister(entry.sock);
                        cx.emit(EventKind::TaskWoken {
                            task: self.tasks[task].id,
                        });
                        self.ready.push_back(task);
                    }
                }
                cx.emit(EventKind::Phase {
                    phase: LoopPhase::Run,
                });
                self.phase = Phase::Run {
                    left: self.ready.len(),
                };
                Next::Busy(cx.costs.per_ready * ready.len() as Micros)
            }
            Phase::Run { left } => {
                // Tasks made ready during this phase wait for the next
                // iteration, as in asyncio.
                let Some(task) = (left > 0).then(|| self.ready.pop_front()).flatten() else {
                    self.phase = Phase::Timers;
                    return Next::Busy(0);
                };
                self.phase = Phase::Run { left: left - 1 };
                Next::Busy(self.run_task(cx, task))
            }
            Phase::Timers => {
                cx.emit(EventKind::Phase {
                    phase: LoopPhase::Timers,
                });
                for (task, error) in std::mem::take(&mut self.unretrieved) {
                    cx.emit(EventKind::ExceptionNeverRetrieved { task, error });
                }
                Next::Busy(0)
            }
        }
    }

    fn stop_accepting(&mut self, cx: &mut Cx) {
        // acceptor.cancel(); server.close()
        if let Some(acceptor) = self
            .tasks
            .iter()
            .position(|task| matches!(task.work, Work::Accept) && !task.done)
        {
            self.cancel(cx, acceptor);
        }
    }

    fn say_goodbye(&mut self, cx: &mut Cx) {
        // `client.send(GOODBYE)` to each client still served, in the order
        // they were accepted: what fits in the send buffer now goes, the
        // rest never does (no task waits for room).
        for task in &self.tasks {
            if let (false, Work::Recv { conn } | Work::Send { conn, .. }) = (task.done, &task.work)
            {
                let _ = cx.net.send(*conn, GOODBYE);
            }
        }
    }

    fn cancel_the_rest(&mut self, cx: &mut Cx) {
        for task in 0..self.tasks.len() {
            if !self.tasks[task].done {
                self.cancel(cx, task);
            }
        }
    }
}
