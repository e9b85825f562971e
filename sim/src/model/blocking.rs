//! The blocking server (`blocking.py`): one thread, a blocking `accept()`
//! then a blocking `recv()`/`sendall()` loop for that one client. While it
//! serves one, the others wait in the listen backlog; while it waits, the
//! thread is parked and uses no CPU.

use protocol::{Call, ConnId, EventKind, HandlerStyle, IoOp, ServerModel, Sock};

use super::{Cx, Lines, Model, Next};
use crate::net::IoError;

const READ_SIZE: usize = 4096;

#[derive(Debug)]
enum State {
    Accept,
    Recv(ConnId),
    Send {
        conn: ConnId,
        data: Vec<u8>,
        offset: usize,
    },
    Stopped,
}

struct LineNumbers {
    accept: u32,
    recv: u32,
    not_data: u32,
    sendall: u32,
    except: u32,
}

/// The blocking server.
pub struct Blocking {
    state: State,
    /// The call the thread is parked in, if it is.
    parked: Option<(Call, Sock)>,
    iteration: u64,
    lines: Lines,
    line: LineNumbers,
}

impl Blocking {
    /// A server about to call `accept()` for the first time.
    pub fn new(cx: &mut Cx) -> Self {
        let lines = Lines::new(ServerModel::Blocking, cx.style);
        let line = LineNumbers {
            accept: lines.find("server.accept()"),
            recv: lines.find("client.recv(4096)"),
            not_data: lines.find("if not data:"),
            sendall: lines.find("client.sendall(data)"),
            // Only the handled variant has it, and only it goes there.
            except: lines.find_if_any("except ConnectionError").unwrap_or(0),
        };
        let mut server = Blocking {
            state: State::Accept,
            parked: None,
            iteration: 0,
            lines,
            line,
        };
        server.begin_iteration(cx);
        server
    }

    fn begin_iteration(&mut self, cx: &mut Cx) {
        self.iteration += 1;
        cx.emit(EventKind::LoopIteration {
            iteration: self.iteration,
        });
    }

    /// Parks the thread in `call` on `sock` until it is ready for `op`.
    fn park(&mut self, cx: &mut Cx, call: Call, sock: Sock, op: IoOp) -> Next {
        if self.parked != Some((call, sock)) {
            self.parked = Some((call, sock));
            cx.emit(EventKind::CallBlocked { call, sock });
            cx.net.unregister_all();
            cx.net.register(sock, op);
        }
        Next::Block { timeout: None }
    }

    fn unpark(&mut self, cx: &mut Cx) {
        if let Some((call, sock)) = self.parked.take() {
            cx.net.unregister_all();
            cx.emit(EventKind::CallReturned { call, sock });
        }
    }

    fn failed(&mut self, cx: &mut Cx, conn: ConnId, error: IoError) -> Next {
        self.unpark(cx);
        match cx.style {
            HandlerStyle::Handled => {
                self.lines.at(cx, self.line.except);
                cx.emit(EventKind::ErrorHandled {
                    conn,
                    error: error.message().to_owned(),
                });
                cx.close(conn);
                self.state = State::Accept;
                self.begin_iteration(cx);
                Next::Busy(cx.costs.syscall)
            }
            HandlerStyle::Unhandled => {
                self.state = State::Stopped;
                cx.crash(error.message())
            }
        }
    }
}

impl Model for Blocking {
    fn lines(&mut self) -> &mut Lines {
        &mut self.lines
    }

    fn step(&mut self, cx: &mut Cx) -> Next {
        match std::mem::replace(&mut self.state, State::Stopped) {
            State::Stopped => Next::Stopped,
            State::Accept => {
                self.lines.at(cx, self.line.accept);
                if !cx.net.listener_open() {
                    // The listener was closed by a shutdown: accept() raises
                    // and the program ends.
                    self.unpark(cx);
                    return Next::Stopped;
                }
                match cx.net.accept() {
                    Ok((conn, client)) => {
                        self.unpark(cx);
                        cx.accepted(conn, client);
                        self.state = State::Recv(conn);
                        self.begin_iteration(cx);
                        Next::Busy(cx.costs.syscall)
                    }
                    Err(_) => {
                        self.state = State::Accept;
                        self.park(cx, Call::Accept, Sock::Listener, IoOp::Read)
                    }
                }
            }
            State::Recv(conn) => {
                self.lines.at(cx, self.line.recv);
                match cx.net.recv(conn, READ_SIZE) {
                    Ok(data) if data.is_empty() => {
                        self.unpark(cx);
                        self.lines.at(cx, self.line.not_data);
                        cx.close(conn);
                        self.state = State::Accept;
                        self.begin_iteration(cx);
                        Next::Busy(cx.costs.syscall)
                    }
                    Ok(data) => {
                        self.unpark(cx);
                        cx.emit(EventKind::Received {
                            conn,
                            bytes: data.len() as u64,
                        });
                        self.state = State::Send {
                            conn,
                            data,
                            offset: 0,
                        };
                        Next::Busy(cx.costs.syscall)
                    }
                    Err(IoError::WouldBlock) => {
                        self.state = State::Recv(conn);
                        self.park(cx, Call::Recv, Sock::Conn(conn), IoOp::Read)
                    }
                    Err(error) => self.failed(cx, conn, error),
                }
            }
            State::Send { conn, data, offset } => {
                self.lines.at(cx, self.line.sendall);
                match cx.net.send(conn, &data[offset..]) {
                    Ok(written) if offset + written == data.len() => {
                        self.unpark(cx);
                        cx.emit(EventKind::Sent {
                            conn,
                            bytes: data.len() as u64,
                        });
                        self.state = State::Recv(conn);
                        self.begin_iteration(cx);
                        Next::Busy(cx.costs.syscall)
                    }
                    Ok(written) => {
                        self.state = State::Send {
                            conn,
                            data,
                            offset: offset + written,
                        };
                        Next::Busy(cx.costs.syscall)
                    }
                    Err(IoError::WouldBlock) => {
                        self.state = State::Send { conn, data, offset };
                        self.park(cx, Call::Send, Sock::Conn(conn), IoOp::Write)
                    }
                    Err(error) => self.failed(cx, conn, error),
                }
            }
        }
    }

    fn stop_accepting(&mut self, _cx: &mut Cx) {
        // The listener is closed; a thread parked in accept() wakes to an
        // error and exits (see `step`), one serving a client goes on.
    }

    fn cancel_the_rest(&mut self, cx: &mut Cx) {
        let conn = match &self.state {
            State::Recv(conn) | State::Send { conn, .. } => Some(*conn),
            State::Accept | State::Stopped => None,
        };
        self.unpark(cx);
        if let Some(conn) = conn {
            cx.close(conn);
        }
        self.state = State::Stopped;
    }
}
