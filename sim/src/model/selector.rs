//! The hand-made event loop (`selector.py`): sockets registered with a
//! selector with their interest, `select()` sleeping until some are ready,
//! then the callback registered for each ready socket: `accept` registers
//! the new client for reading, `receive` switches it to writing, `send`
//! back to reading once everything is echoed.

use std::collections::BTreeMap;

use protocol::{
    ConnId, EventKind, HandlerStyle, IoOp, LoopPhase, Micros, Ready, ServerModel, Sock,
};

use super::{Cx, Lines, Model, Next};
use crate::net::IoError;

const READ_SIZE: usize = 4096;
/// `selector.select(timeout=timeout)` before a shutdown: one second (during
/// one, the time left to the deadline).
const SELECT_TIMEOUT: Micros = 1_000_000;

enum Phase {
    /// About to call `select()`.
    Select,
    /// Sleeping in `select()`.
    Sleeping,
    /// Running the callbacks of the ready set, `next` is the next one.
    Callbacks { ready: Vec<Ready>, next: usize },
}

struct Echo {
    pending: Vec<u8>,
    received: usize,
}

struct LineNumbers {
    select: u32,
    accept: u32,
    receive: u32,
    send: u32,
    closed: u32,
    except_receive: u32,
    except_send: u32,
    register: u32,
    modify_write: u32,
    modify_read: u32,
}

/// The selector loop.
pub struct Selector {
    phase: Phase,
    echoes: BTreeMap<ConnId, Echo>,
    iteration: u64,
    lines: Lines,
    line: LineNumbers,
}

impl Selector {
    /// A server whose listener is registered for reading.
    pub fn new(cx: &mut Cx) -> Self {
        let lines = Lines::new(ServerModel::Selector, cx.style);
        let mut except = lines.find_all("except ConnectionError").into_iter();
        let line = LineNumbers {
            select: lines.find("selector.select(timeout=timeout)"),
            accept: lines.find("server.accept()"),
            receive: lines.find("client.recv(4096)"),
            send: lines.find("client.send(pending[client])"),
            closed: lines.find("selector.unregister(client)"),
            // Only the handled variant has them, and only it goes there.
            except_receive: except.next().unwrap_or(0),
            except_send: except.next().unwrap_or(0),
            register: lines.find("selector.register(client, selectors.EVENT_READ, receive)"),
            modify_write: lines.find("selector.modify(client, selectors.EVENT_WRITE, send)"),
            modify_read: lines.find("selector.modify(client, selectors.EVENT_READ, receive)"),
        };
        cx.net.register(Sock::Listener, IoOp::Read);
        cx.emit(EventKind::Registered {
            sock: Sock::Listener,
            op: IoOp::Read,
            modify: false,
        });
        Selector {
            phase: Phase::Select,
            echoes: BTreeMap::new(),
            iteration: 0,
            lines,
            line,
        }
    }

    fn select_returned(&mut self, cx: &mut Cx) -> Next {
        let ready = cx.net.ready_set();
        cx.emit(EventKind::SelectReturned {
            ready: ready.clone(),
        });
        cx.emit(EventKind::Phase {
            phase: LoopPhase::Run,
        });
        let cost = cx.costs.select + cx.costs.per_ready * ready.len() as Micros;
        self.phase = Phase::Callbacks { ready, next: 0 };
        Next::Busy(cost)
    }

    /// Registers `conn` for `op`: `selector.register()` right after accept,
    /// `selector.modify()` after that.
    fn register(&mut self, cx: &mut Cx, conn: ConnId, op: IoOp, just_accepted: bool) {
        let line = match (just_accepted, op) {
            (true, _) => self.line.register,
            (false, IoOp::Write) => self.line.modify_write,
            (false, IoOp::Read) => self.line.modify_read,
        };
        self.lines.at(cx, line);
        cx.net.register(Sock::Conn(conn), op);
        cx.emit(EventKind::Registered {
            sock: Sock::Conn(conn),
            op,
            // `selector.modify()`: the client is registered since accept().
            modify: !just_accepted,
        });
    }

    fn drop_client(&mut self, cx: &mut Cx, conn: ConnId) {
        cx.net.unregister(Sock::Conn(conn));
        cx.emit(EventKind::Unregistered {
            sock: Sock::Conn(conn),
        });
        self.echoes.remove(&conn);
        cx.close(conn);
    }

    fn callback(&mut self, cx: &mut Cx, ready: Ready) -> Result<(), (ConnId, IoError, u32)> {
        match (ready.sock, ready.op) {
            (Sock::Listener, _) => {
                self.lines.at(cx, self.line.accept);
                if let Ok((conn, client)) = cx.net.accept() {
                    cx.accepted(conn, client);
                    self.register(cx, conn, IoOp::Read, true);
                }
            }
            (Sock::Conn(conn), IoOp::Read) => {
                self.lines.at(cx, self.line.receive);
                match cx.net.recv(conn, READ_SIZE) {
                    Ok(data) if data.is_empty() => {
                        self.lines.at(cx, self.line.closed);
                        self.drop_client(cx, conn);
                    }
                    Ok(data) => {
                        cx.emit(EventKind::Received {
                            conn,
                            bytes: data.len() as u64,
                        });
                        let received = data.len();
                        self.echoes.insert(
                            conn,
                            Echo {
                                pending: data,
                                received,
                            },
                        );
                        self.register(cx, conn, IoOp::Write, false);
                    }
                    Err(IoError::WouldBlock) => {}
                    Err(error) => return Err((conn, error, self.line.except_receive)),
                }
            }
            (Sock::Conn(conn), IoOp::Write) => {
                self.lines.at(cx, self.line.send);
                let Some(echo) = self.echoes.get_mut(&conn) else {
                    return Ok(());
                };
                match cx.net.send(conn, &echo.pending) {
                    Ok(written) => {
                        echo.pending.drain(..written);
                        if echo.pending.is_empty() {
                            let bytes = echo.received as u64;
                            cx.emit(EventKind::Sent { conn, bytes });
                            self.echoes.remove(&conn);
                            self.register(cx, conn, IoOp::Read, false);
                        }
                    }
                    Err(IoError::WouldBlock) => {}
                    Err(error) => return Err((conn, error, self.line.except_send)),
                }
            }
        }
        Ok(())
    }
}

impl Model for Selector {
    fn lines(&mut self) -> &mut Lines {
        &mut self.lines
    }

    fn step(&mut self, cx: &mut Cx) -> Next {
        match std::mem::replace(&mut self.phase, Phase::Select) {
            Phase::Select => {
                if cx.stopping && cx.net.registered() == 0 {
                    return Next::Stopped;
                }
                self.iteration += 1;
                cx.emit(EventKind::LoopIteration {
                    iteration: self.iteration,
                });
                cx.emit(EventKind::Phase {
                    phase: LoopPhase::Select,
                });
                self.lines.at(cx, self.line.select);
                let timeout = cx
                    .deadline
                    .map_or(SELECT_TIMEOUT, |deadline| deadline.saturating_sub(cx.now));
                cx.emit(EventKind::SelectCalled {
                    timeout_us: Some(timeout),
                });
                if cx.net.any_ready() {
                    return self.select_returned(cx);
                }
                self.phase = Phase::Sleeping;
                Next::Block {
                    timeout: Some(timeout),
                }
            }
            Phase::Sleeping => self.select_returned(cx),
            Phase::Callbacks { ready, next } => {
                // `selector.py` has no timers: after the last callback,
                // the next iteration.
                let Some(&entry) = ready.get(next) else {
                    return Next::Busy(0);
                };
                // An earlier callback of this round may have closed it.
                let still_registered = match entry.sock {
                    Sock::Listener => cx.net.listener_open(),
                    Sock::Conn(conn) => cx.net.is_open(conn),
                };
                self.phase = Phase::Callbacks {
                    ready,
                    next: next + 1,
                };
                if !still_registered {
                    return Next::Busy(0);
                }
                match self.callback(cx, entry) {
                    Ok(()) => Next::Busy(cx.costs.syscall),
                    Err((conn, error, line)) => match cx.style {
                        HandlerStyle::Handled => {
                            self.lines.at(cx, line);
                            cx.emit(EventKind::ErrorHandled {
                                conn,
                                error: error.message().to_owned(),
                            });
                            self.drop_client(cx, conn);
                            Next::Busy(cx.costs.syscall)
                        }
                        HandlerStyle::Unhandled => cx.crash(error.message()),
                    },
                }
            }
        }
    }

    fn stop_accepting(&mut self, cx: &mut Cx) {
        cx.emit(EventKind::Unregistered {
            sock: Sock::Listener,
        });
    }

    fn cancel_the_rest(&mut self, cx: &mut Cx) {
        for conn in cx.net.open_connections() {
            self.drop_client(cx, conn);
        }
        self.phase = Phase::Select;
    }
}
