//! Simulated clients: each [`ClientBehaviour`] as a small state machine
//! that acts on the virtual network and says what it waits for next.
//!
//! Clients are other programs on other machines: they cost the server no CPU.
//! Every client checks each echoed byte against what it sent; the one other
//! thing it accepts is the server's goodbye line, read as the live clients
//! read it ([`protocol::goodbye`]).

use protocol::goodbye::{ReadBack, goodbye_continues, read_back};
use protocol::{ClientBehaviour, ClientId, Event, EventKind, GOODBYE, Micros};

use crate::net::{ConnIndex, IoError, Net};
use crate::rng::Rng;

/// Largest chunk a client reads or a flood writes at once.
const CHUNK: usize = 4096;

/// What a client waits for after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientNext {
    /// Run again at this time.
    At(Micros),
    /// Run again when its socket has something to read (or EOF, or a reset).
    Readable,
    /// Run again when its socket has room to write.
    Writable,
    /// Finished.
    Done,
}

#[derive(Clone, Debug)]
enum State {
    Connecting,
    /// Writing message `index`, `offset` bytes written so far.
    Sending {
        index: u32,
        offset: u32,
    },
    /// Reading the echo of message `index`, `got` bytes back so far.
    Awaiting {
        index: u32,
        got: u32,
    },
    /// Connected, reading until the server closes.
    Listening,
    /// Reading the server's goodbye line, `heard` bytes of it so far,
    /// where the echo of message `index` was expected.
    HearingGoodbye {
        index: u32,
        heard: u32,
    },
    Flooding {
        sent: u32,
    },
    Done,
}

/// One client.
#[derive(Clone, Debug)]
pub struct Client {
    id: ClientId,
    behaviour: ClientBehaviour,
    state: State,
    conn: Option<ConnIndex>,
    echoed: u64,
    /// Whether it read the server's whole goodbye line.
    told_goodbye: bool,
    /// When the message being sent began to be sent.
    message_started: Micros,
    rng: Rng,
}

/// The byte at `position` of message `index` of `client`: every message
/// differs, so a mixed-up echo is caught.
pub fn message_byte(client: ClientId, index: u32, position: u32) -> u8 {
    let mixed = client
        .0
        .wrapping_mul(31)
        .wrapping_add(u64::from(index) * 7 + u64::from(position));
    b'a' + (mixed % 26) as u8
}

impl Client {
    /// A client that has not started yet.
    pub fn new(id: ClientId, behaviour: ClientBehaviour, seed: u64) -> Self {
        Client {
            id,
            behaviour,
            state: State::Connecting,
            conn: None,
            echoed: 0,
            told_goodbye: false,
            message_started: 0,
            rng: Rng::new(seed ^ id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        }
    }

    /// Its id.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// Its connection, once connected.
    pub fn conn(&self) -> Option<ConnIndex> {
        self.conn
    }

    /// Bytes echoed back intact so far.
    pub fn echoed(&self) -> u64 {
        self.echoed
    }

    /// Acts until it must wait, and says for what.
    pub fn step(&mut self, now: Micros, net: &mut Net, events: &mut Vec<Event>) -> ClientNext {
        match self.advance(now, net, events) {
            Ok(next) => next,
            Err(error) => self.finish(now, events, Some(error.message().to_owned())),
        }
    }

    fn finish(
        &mut self,
        now: Micros,
        events: &mut Vec<Event>,
        error: Option<String>,
    ) -> ClientNext {
        self.state = State::Done;
        events.push(Event {
            at: now,
            kind: EventKind::ClientFinished {
                client: self.id,
                echoed: self.echoed,
                error,
                told_goodbye: self.told_goodbye,
            },
        });
        ClientNext::Done
    }

    fn advance(
        &mut self,
        now: Micros,
        net: &mut Net,
        events: &mut Vec<Event>,
    ) -> Result<ClientNext, IoError> {
        loop {
            match self.state.clone() {
                State::Connecting => {
                    events.push(Event {
                        at: now,
                        kind: EventKind::ClientStarted {
                            client: self.id,
                            behaviour: self.behaviour.clone(),
                        },
                    });
                    let conn = net.connect(self.id.0 as usize)?;
                    self.conn = Some(conn);
                    self.state = match self.behaviour {
                        ClientBehaviour::Silent {} => State::Listening,
                        ClientBehaviour::Flood { .. } => State::Flooding { sent: 0 },
                        // Nothing to say: it connects and leaves.
                        ClientBehaviour::Polite { messages: 0, .. }
                        | ClientBehaviour::Slow { messages: 0, .. } => {
                            net.client_shutdown(conn);
                            return Ok(self.finish(now, events, None));
                        }
                        _ => State::Sending {
                            index: 0,
                            offset: 0,
                        },
                    };
                }
                State::Sending { index, offset } => {
                    return self.send_message(now, net, events, index, offset);
                }
                State::Awaiting { index, got } => {
                    return self.await_echo(now, net, events, index, got);
                }
                State::Listening => {
                    let conn = self.conn.expect("connected");
                    return match net.client_recv(conn, CHUNK) {
                        Ok(bytes) if bytes.is_empty() => Ok(self.finish(now, events, None)),
                        // It expects nothing: a goodbye is heard, anything
                        // else ignored.
                        Ok(bytes) => match read_back(&[], 0, &bytes) {
                            ReadBack::Goodbye { heard, .. } => {
                                Ok(self.hearing_goodbye(now, events, 0, heard))
                            }
                            _ => continue,
                        },
                        Err(IoError::WouldBlock) => Ok(ClientNext::Readable),
                        Err(error) => Err(error),
                    };
                }
                State::HearingGoodbye { index, heard } => {
                    let conn = self.conn.expect("connected");
                    let rest = GOODBYE.len() - heard as usize;
                    return match net.client_recv(conn, rest) {
                        Ok(bytes) if bytes.is_empty() => Ok(self.finish(
                            now,
                            events,
                            Some("the server closed the connection".into()),
                        )),
                        Ok(bytes) => match goodbye_continues(heard as usize, &bytes) {
                            Some(heard) => Ok(self.hearing_goodbye(now, events, index, heard)),
                            None => Ok(self.wrong_echo(now, events, index)),
                        },
                        Err(IoError::WouldBlock) => Ok(ClientNext::Readable),
                        Err(error) => Err(error),
                    };
                }
                State::Flooding { sent } => {
                    let ClientBehaviour::Flood { bytes } = self.behaviour else {
                        unreachable!("only floods flood")
                    };
                    let conn = self.conn.expect("connected");
                    if sent >= bytes {
                        net.client_shutdown(conn);
                        return Ok(self.finish(now, events, None));
                    }
                    let chunk = vec![b'f'; CHUNK.min((bytes - sent) as usize)];
                    match net.client_send(conn, &chunk) {
                        Ok(written) => {
                            self.state = State::Flooding {
                                sent: sent + written as u32,
                            }
                        }
                        Err(IoError::WouldBlock) => return Ok(ClientNext::Writable),
                        Err(error) => return Err(error),
                    }
                }
                State::Done => return Ok(ClientNext::Done),
            }
        }
    }

    fn message_size(&self) -> u32 {
        match self.behaviour {
            ClientBehaviour::Polite { size, .. }
            | ClientBehaviour::Slow { size, .. }
            | ClientBehaviour::Crasher { size } => size,
            ClientBehaviour::Silent {} | ClientBehaviour::Flood { .. } => 0,
        }
    }

    fn send_message(
        &mut self,
        now: Micros,
        net: &mut Net,
        events: &mut Vec<Event>,
        index: u32,
        offset: u32,
    ) -> Result<ClientNext, IoError> {
        let conn = self.conn.expect("connected");
        let size = self.message_size();
        if offset == 0 {
            self.message_started = now;
        }
        let (end, pause) = match self.behaviour {
            ClientBehaviour::Slow {
                byte_interval_ms, ..
            } => (offset + 1, ms(byte_interval_ms)),
            ClientBehaviour::Crasher { size } => (size / 2, 0),
            _ => (size, 0),
        };
        let bytes: Vec<u8> = (offset..end.min(size))
            .map(|at| message_byte(self.id, index, at))
            .collect();
        let written = match net.client_send(conn, &bytes) {
            Ok(written) => written as u32,
            Err(IoError::WouldBlock) => return Ok(ClientNext::Writable),
            Err(error) => return Err(error),
        };
        let offset = offset + written;
        if let ClientBehaviour::Crasher { size } = self.behaviour {
            if offset < size / 2 {
                self.state = State::Sending { index, offset };
                return Ok(ClientNext::Writable);
            }
            net.client_reset(conn);
            return Ok(self.finish(now, events, None));
        }
        if offset < size {
            self.state = State::Sending { index, offset };
            return Ok(if pause > 0 {
                ClientNext::At(now + pause)
            } else {
                ClientNext::Writable
            });
        }
        self.state = State::Awaiting { index, got: 0 };
        self.await_echo(now, net, events, index, 0)
    }

    fn await_echo(
        &mut self,
        now: Micros,
        net: &mut Net,
        events: &mut Vec<Event>,
        index: u32,
        got: u32,
    ) -> Result<ClientNext, IoError> {
        let conn = self.conn.expect("connected");
        let size = self.message_size();
        // An empty message's echo is complete before it is read.
        if got >= size {
            return self.echo_complete(now, net, events, index);
        }
        let bytes = match net.client_recv(conn, (size - got) as usize) {
            Ok(bytes) if bytes.is_empty() => {
                return Ok(self.finish(
                    now,
                    events,
                    Some("the server closed the connection".into()),
                ));
            }
            Ok(bytes) => bytes,
            Err(IoError::WouldBlock) => {
                self.state = State::Awaiting { index, got };
                return Ok(ClientNext::Readable);
            }
            Err(error) => return Err(error),
        };
        let intact = (got..)
            .zip(&bytes)
            .all(|(at, &byte)| byte == message_byte(self.id, index, at));
        if !intact {
            let expected: Vec<u8> = (0..size)
                .map(|at| message_byte(self.id, index, at))
                .collect();
            return Ok(match read_back(&expected, got as usize, &bytes) {
                ReadBack::Goodbye { echo, heard } => {
                    // Bytes counted as echo may have been the goodbye's.
                    self.echoed = self.echoed - u64::from(got) + echo as u64;
                    self.hearing_goodbye(now, events, index, heard)
                }
                ReadBack::Echo | ReadBack::Wrong => self.wrong_echo(now, events, index),
            });
        }
        self.echoed += bytes.len() as u64;
        let got = got + bytes.len() as u32;
        if got < size {
            self.state = State::Awaiting { index, got };
            return Ok(ClientNext::Readable);
        }
        self.echo_complete(now, net, events, index)
    }

    /// `heard` bytes of the goodbye line came instead of the echo of message
    /// `index`: the client stops once it has the whole line.
    fn hearing_goodbye(
        &mut self,
        now: Micros,
        events: &mut Vec<Event>,
        index: u32,
        heard: usize,
    ) -> ClientNext {
        if heard < GOODBYE.len() {
            self.state = State::HearingGoodbye {
                index,
                heard: heard as u32,
            };
            return ClientNext::Readable;
        }
        self.told_goodbye = true;
        self.finish(now, events, None)
    }

    fn wrong_echo(&mut self, now: Micros, events: &mut Vec<Event>, index: u32) -> ClientNext {
        let error = format!("message {index}: the echo differs from what was sent");
        self.finish(now, events, Some(error))
    }

    /// The whole echo of message `index` is back: the next message after
    /// the interval, or the end.
    fn echo_complete(
        &mut self,
        now: Micros,
        net: &mut Net,
        events: &mut Vec<Event>,
        index: u32,
    ) -> Result<ClientNext, IoError> {
        let conn = self.conn.expect("connected");
        events.push(Event {
            at: now,
            kind: EventKind::RoundTrip {
                client: self.id,
                latency_us: now - self.message_started,
            },
        });
        let (messages, interval) = match self.behaviour {
            ClientBehaviour::Polite {
                messages,
                interval_ms,
                ..
            } => (messages, ms(interval_ms)),
            ClientBehaviour::Slow { messages, .. } => (messages, 0),
            _ => unreachable!("only polite and slow clients await echoes"),
        };
        if index + 1 >= messages {
            net.client_shutdown(conn);
            return Ok(self.finish(now, events, None));
        }
        self.state = State::Sending {
            index: index + 1,
            offset: 0,
        };
        Ok(ClientNext::At(now + self.rng.jitter(interval)))
    }
}

fn ms(milliseconds: u32) -> Micros {
    Micros::from(milliseconds) * 1000
}
