//! The busy-polling server (`busy_poll.py`): every socket non-blocking, a
//! loop that tries `accept()` and then each client in turn. Everyone is
//! served, and every try that finds nothing is a would-block: the loop never
//! sleeps, so the CPU stays at 100% even when nobody sends.

use protocol::{ConnId, EventKind, HandlerStyle, IoOp, ServerModel, Sock};

use super::{Cx, Lines, Model, Next};
use crate::net::IoError;

const READ_SIZE: usize = 4096;

struct Served {
    conn: ConnId,
    /// Bytes received, not yet echoed.
    pending: Vec<u8>,
    /// Size of the message `pending` started as.
    received: usize,
}

struct LineNumbers {
    accept: u32,
    accept_would_block: u32,
    send: u32,
    recv: u32,
    closed: u32,
    would_block: u32,
    except: u32,
}

/// The busy-polling server.
pub struct BusyPoll {
    served: Vec<Served>,
    /// The next client to try; `served.len()` means the accept at the top.
    next: usize,
    iteration: u64,
    lines: Lines,
    line: LineNumbers,
}

impl BusyPoll {
    /// A server about to enter its loop.
    pub fn new(cx: &mut Cx) -> Self {
        let lines = Lines::new(ServerModel::BusyPoll, cx.style);
        let line = LineNumbers {
            accept: lines.find("server.accept()"),
            accept_would_block: lines.find("nobody is connecting"),
            send: lines.find("client.send(pending[client])"),
            recv: lines.find("client.recv(4096)"),
            closed: lines.find("the client closed its side"),
            would_block: lines.find("no bytes yet"),
            // Only the handled variant has it, and only it goes there.
            except: lines.find_if_any("except ConnectionError").unwrap_or(0),
        };
        BusyPoll {
            served: Vec::new(),
            next: usize::MAX,
            iteration: 0,
            lines,
            line,
        }
    }

    fn would_block(&mut self, cx: &mut Cx, sock: Sock, op: IoOp, line: u32) {
        self.lines.at(cx, line);
        cx.emit(EventKind::WouldBlock { sock, op });
    }

    fn try_accept(&mut self, cx: &mut Cx) -> Next {
        self.iteration += 1;
        cx.emit(EventKind::LoopIteration {
            iteration: self.iteration,
        });
        self.next = 0;
        if !cx.net.listener_open() {
            // Shut down: the loop only drains the clients it has.
            return self.try_client(cx);
        }
        self.lines.at(cx, self.line.accept);
        match cx.net.accept() {
            Ok((conn, client)) => {
                cx.accepted(conn, client);
                self.served.push(Served {
                    conn,
                    pending: Vec::new(),
                    received: 0,
                });
            }
            Err(_) => {
                self.would_block(cx, Sock::Listener, IoOp::Read, self.line.accept_would_block)
            }
        }
        Next::Busy(cx.costs.syscall)
    }

    fn try_client(&mut self, cx: &mut Cx) -> Next {
        if self.next >= self.served.len() {
            if cx.stopping && self.served.is_empty() {
                return Next::Stopped;
            }
            return self.try_accept(cx);
        }
        let index = self.next;
        let conn = self.served[index].conn;
        self.next += 1;
        let result = if self.served[index].pending.is_empty() {
            self.lines.at(cx, self.line.recv);
            match cx.net.recv(conn, READ_SIZE) {
                Ok(data) if data.is_empty() => {
                    self.lines.at(cx, self.line.closed);
                    cx.close(conn);
                    self.served.remove(index);
                    self.next = index;
                    Ok(())
                }
                Ok(data) => {
                    cx.emit(EventKind::Received {
                        conn,
                        bytes: data.len() as u64,
                    });
                    self.served[index].received = data.len();
                    self.served[index].pending = data;
                    Ok(())
                }
                Err(IoError::WouldBlock) => {
                    self.would_block(cx, Sock::Conn(conn), IoOp::Read, self.line.would_block);
                    Ok(())
                }
                Err(error) => Err(error),
            }
        } else {
            self.lines.at(cx, self.line.send);
            let served = &mut self.served[index];
            match cx.net.send(conn, &served.pending) {
                Ok(written) => {
                    served.pending.drain(..written);
                    if served.pending.is_empty() {
                        let bytes = served.received as u64;
                        cx.emit(EventKind::Sent { conn, bytes });
                    }
                    Ok(())
                }
                Err(IoError::WouldBlock) => {
                    self.would_block(cx, Sock::Conn(conn), IoOp::Write, self.line.would_block);
                    Ok(())
                }
                Err(error) => Err(error),
            }
        };
        match result {
            Ok(()) => Next::Busy(cx.costs.syscall),
            Err(error) => match cx.style {
                HandlerStyle::Handled => {
                    self.lines.at(cx, self.line.except);
                    cx.emit(EventKind::ErrorHandled {
                        conn,
                        error: error.message().to_owned(),
                    });
                    cx.close(conn);
                    self.served.remove(index);
                    self.next = index;
                    Next::Busy(cx.costs.syscall)
                }
                HandlerStyle::Unhandled => {
                    self.served.clear();
                    cx.crash(error.message())
                }
            },
        }
    }
}

impl Model for BusyPoll {
    fn lines(&mut self) -> &mut Lines {
        &mut self.lines
    }

    fn step(&mut self, cx: &mut Cx) -> Next {
        if self.next == usize::MAX {
            return self.try_accept(cx);
        }
        self.try_client(cx)
    }

    fn stop_accepting(&mut self, _cx: &mut Cx) {
        // The listener is closed; the loop stops trying to accept.
    }

    fn cancel_the_rest(&mut self, cx: &mut Cx) {
        for served in self.served.drain(..) {
            cx.close(served.conn);
        }
    }
}
