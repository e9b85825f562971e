//! The virtual network: one listening socket with a backlog, and connections
//! made of two byte pipes with finite buffers, so flow control is real.
//!
//! Each direction of a connection is one [`Pipe`] of `buffer` bytes (the
//! sender's send buffer and the receiver's receive buffer, folded into one).
//! A write takes what fits and says how much; a read takes what is there.
//! Delivery is instantaneous: the model is about who waits for whom, not
//! about wire latency.
//!
//! The net also keeps the server's selector registrations and, for speed,
//! the set of registered sockets that are ready right now (the kernel's ready
//! list): a mutation updates it in O(log n), and `select()` reads it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use protocol::{ConnId, IoOp, Ready, Sock};

/// Index of a connection in the net (clients know their connection by it).
pub type ConnIndex = usize;

/// Why a socket call did not do what was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoError {
    /// Nothing to read, or no room to write: `BlockingIOError`.
    WouldBlock,
    /// The peer reset the connection: `ConnectionResetError`.
    Reset,
    /// Connecting to a closed listener or a full backlog.
    Refused,
}

impl IoError {
    /// The error as Python words it.
    pub fn message(self) -> &'static str {
        match self {
            IoError::WouldBlock => "BlockingIOError: [Errno 11] Resource temporarily unavailable",
            IoError::Reset => "ConnectionResetError: [Errno 104] Connection reset by peer",
            IoError::Refused => "ConnectionRefusedError: [Errno 111] Connection refused",
        }
    }
}

/// One direction of a connection.
#[derive(Debug)]
struct Pipe {
    data: VecDeque<u8>,
    capacity: usize,
    /// The writer shut its side down: after the data, the reader sees EOF.
    finished: bool,
}

impl Pipe {
    fn new(capacity: usize) -> Self {
        Pipe {
            data: VecDeque::new(),
            capacity,
            finished: false,
        }
    }

    fn room(&self) -> usize {
        self.capacity - self.data.len()
    }

    fn write(&mut self, bytes: &[u8]) -> usize {
        let taken = bytes.len().min(self.room());
        self.data.extend(&bytes[..taken]);
        taken
    }

    fn read(&mut self, max: usize) -> Vec<u8> {
        let taken = max.min(self.data.len());
        self.data.drain(..taken).collect()
    }
}

#[derive(Debug)]
struct Connection {
    client: usize,
    /// The server's name for it, once accepted.
    server_id: Option<ConnId>,
    /// Client → server.
    up: Pipe,
    /// Server → client.
    down: Pipe,
    reset: bool,
    server_closed: bool,
    /// Buffered bytes (up, down) as last reported.
    reported_levels: (u64, u64),
}

/// The network between the clients and the server.
#[derive(Debug)]
pub struct Net {
    buffer: usize,
    connections: Vec<Connection>,
    /// Server ids in accept order: `ConnId(n)` is `accepted[n - 1]`.
    accepted: Vec<ConnIndex>,
    listener_open: bool,
    backlog: VecDeque<ConnIndex>,
    backlog_capacity: usize,
    interests: BTreeMap<Sock, IoOp>,
    ready: BTreeSet<Sock>,
    touched: Vec<ConnIndex>,
}

impl Net {
    /// A network whose pipes hold `buffer` bytes each and whose listener
    /// queues at most `backlog` unaccepted connections.
    pub fn new(buffer: usize, backlog: usize) -> Self {
        Net {
            buffer,
            connections: Vec::new(),
            accepted: Vec::new(),
            listener_open: true,
            backlog: VecDeque::new(),
            backlog_capacity: backlog,
            interests: BTreeMap::new(),
            ready: BTreeSet::new(),
            touched: Vec::new(),
        }
    }

    fn by_id(&self, conn: ConnId) -> ConnIndex {
        self.accepted[conn.0 as usize - 1]
    }

    // ---- the client side ----

    /// A client connects; the connection waits in the backlog until accepted.
    pub fn connect(&mut self, client: usize) -> Result<ConnIndex, IoError> {
        if !self.listener_open || self.backlog.len() >= self.backlog_capacity {
            return Err(IoError::Refused);
        }
        let index = self.connections.len();
        self.connections.push(Connection {
            client,
            server_id: None,
            up: Pipe::new(self.buffer),
            down: Pipe::new(self.buffer),
            reset: false,
            server_closed: false,
            reported_levels: (0, 0),
        });
        self.backlog.push_back(index);
        self.refresh(Sock::Listener);
        Ok(index)
    }

    /// The client writes what fits.
    pub fn client_send(&mut self, index: ConnIndex, bytes: &[u8]) -> Result<usize, IoError> {
        let connection = &mut self.connections[index];
        if connection.reset {
            return Err(IoError::Reset);
        }
        if connection.server_closed {
            // The server will never read it; a real stack would answer with
            // a reset. The client only notices at its next read.
            return Ok(bytes.len());
        }
        match connection.up.write(bytes) {
            0 if !bytes.is_empty() => Err(IoError::WouldBlock),
            written => {
                self.touch(index);
                Ok(written)
            }
        }
    }

    /// The client reads what is there; an empty read is EOF.
    pub fn client_recv(&mut self, index: ConnIndex, max: usize) -> Result<Vec<u8>, IoError> {
        let connection = &mut self.connections[index];
        if connection.reset {
            return Err(IoError::Reset);
        }
        if connection.down.data.is_empty() {
            return if connection.down.finished {
                Ok(Vec::new())
            } else {
                Err(IoError::WouldBlock)
            };
        }
        let bytes = connection.down.read(max);
        self.touch(index);
        Ok(bytes)
    }

    /// Whether a client read would not block.
    pub fn client_readable(&self, index: ConnIndex) -> bool {
        let connection = &self.connections[index];
        connection.reset || !connection.down.data.is_empty() || connection.down.finished
    }

    /// Whether a client write would not block.
    pub fn client_writable(&self, index: ConnIndex) -> bool {
        let connection = &self.connections[index];
        connection.reset || connection.server_closed || connection.up.room() > 0
    }

    /// The client shuts down its sending side: the server reads EOF.
    pub fn client_shutdown(&mut self, index: ConnIndex) {
        self.connections[index].up.finished = true;
        self.touch(index);
    }

    /// The client resets the connection (`SO_LINGER` 0, then close).
    pub fn client_reset(&mut self, index: ConnIndex) {
        let connection = &mut self.connections[index];
        connection.reset = true;
        connection.up.data.clear();
        connection.down.data.clear();
        self.touch(index);
    }

    // ---- the server side ----

    /// Takes the oldest connection from the backlog.
    pub fn accept(&mut self) -> Result<(ConnId, usize), IoError> {
        let index = self.backlog.pop_front().ok_or(IoError::WouldBlock)?;
        self.accepted.push(index);
        let conn = ConnId(self.accepted.len() as u64);
        self.connections[index].server_id = Some(conn);
        // What the client sent while it waited in the backlog is in the
        // connection's buffer now: it is reported with the next changes.
        self.touched.push(index);
        self.refresh(Sock::Listener);
        Ok((conn, self.connections[index].client))
    }

    /// Connections waiting in the backlog.
    pub fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    /// The number of the client behind a connection, as it gave it to
    /// [`Net::connect`].
    pub fn client_of_index(&self, index: ConnIndex) -> usize {
        self.connections[index].client
    }

    /// Reads up to `max` bytes; an empty read is EOF.
    pub fn recv(&mut self, conn: ConnId, max: usize) -> Result<Vec<u8>, IoError> {
        let index = self.by_id(conn);
        let connection = &mut self.connections[index];
        if connection.reset {
            return Err(IoError::Reset);
        }
        if connection.up.data.is_empty() {
            return if connection.up.finished {
                Ok(Vec::new())
            } else {
                Err(IoError::WouldBlock)
            };
        }
        let bytes = connection.up.read(max);
        self.touch(index);
        Ok(bytes)
    }

    /// Writes what fits, like `send()`.
    pub fn send(&mut self, conn: ConnId, bytes: &[u8]) -> Result<usize, IoError> {
        let index = self.by_id(conn);
        let connection = &mut self.connections[index];
        if connection.reset {
            return Err(IoError::Reset);
        }
        match connection.down.write(bytes) {
            0 if !bytes.is_empty() => Err(IoError::WouldBlock),
            written => {
                self.touch(index);
                Ok(written)
            }
        }
    }

    /// Closes a connection from the server's side.
    pub fn close(&mut self, conn: ConnId) {
        let index = self.by_id(conn);
        let connection = &mut self.connections[index];
        connection.server_closed = true;
        connection.down.finished = true;
        connection.up.data.clear();
        self.interests.remove(&Sock::Conn(conn));
        self.ready.remove(&Sock::Conn(conn));
        self.touch(index);
    }

    /// Closes the listening socket; connections still in the backlog are
    /// reset, as the kernel does.
    pub fn close_listener(&mut self) {
        self.listener_open = false;
        while let Some(index) = self.backlog.pop_front() {
            self.connections[index].reset = true;
            self.touch(index);
        }
        self.interests.remove(&Sock::Listener);
        self.ready.remove(&Sock::Listener);
    }

    /// Whether the listening socket is open.
    pub fn listener_open(&self) -> bool {
        self.listener_open
    }

    /// The server process died: every socket it had is reset.
    pub fn crash(&mut self) {
        self.close_listener();
        for index in self.accepted.clone() {
            if !self.connections[index].server_closed {
                self.connections[index].reset = true;
                self.connections[index].server_closed = true;
                self.touch(index);
            }
        }
        self.interests.clear();
        self.ready.clear();
    }

    /// Whether the server accepted `conn` and has not closed it.
    pub fn is_open(&self, conn: ConnId) -> bool {
        !self.connections[self.by_id(conn)].server_closed
    }

    /// Connections the server accepted and has not closed.
    pub fn open_connections(&self) -> Vec<ConnId> {
        self.accepted
            .iter()
            .filter_map(|&index| {
                let connection = &self.connections[index];
                (!connection.server_closed).then_some(connection.server_id?)
            })
            .collect()
    }

    /// Whether the server could read `sock` (or accept on the listener)
    /// without blocking.
    pub fn readable(&self, sock: Sock) -> bool {
        match sock {
            Sock::Listener => self.listener_open && !self.backlog.is_empty(),
            Sock::Conn(conn) => {
                let connection = &self.connections[self.by_id(conn)];
                connection.reset || !connection.up.data.is_empty() || connection.up.finished
            }
        }
    }

    /// Whether the server could write to `sock` without blocking.
    pub fn writable(&self, sock: Sock) -> bool {
        match sock {
            Sock::Listener => false,
            Sock::Conn(conn) => {
                let connection = &self.connections[self.by_id(conn)];
                connection.reset || connection.down.room() > 0
            }
        }
    }

    // ---- the selector ----

    /// Registers `sock` for `op` (or changes its interest).
    pub fn register(&mut self, sock: Sock, op: IoOp) {
        self.interests.insert(sock, op);
        self.refresh(sock);
    }

    /// Removes `sock` from the selector.
    pub fn unregister(&mut self, sock: Sock) {
        self.interests.remove(&sock);
        self.ready.remove(&sock);
    }

    /// Removes every registration (a blocking call watches one socket).
    pub fn unregister_all(&mut self) {
        self.interests.clear();
        self.ready.clear();
    }

    /// How many sockets are registered.
    pub fn registered(&self) -> usize {
        self.interests.len()
    }

    /// Whether any registered socket is ready.
    pub fn any_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The registered sockets that are ready, in socket order: what
    /// `select()` returns.
    pub fn ready_set(&self) -> Vec<Ready> {
        self.ready
            .iter()
            .map(|&sock| Ready {
                sock,
                op: self.interests[&sock],
            })
            .collect()
    }

    /// The accepted connections among `touched` whose buffered bytes
    /// changed since this was last asked: (connection, bytes the server has
    /// not read, bytes the client has not read).
    pub fn changed_buffers(&mut self, touched: &[ConnIndex]) -> Vec<(ConnId, u64, u64)> {
        let mut changed = Vec::new();
        for &index in touched {
            let connection = &mut self.connections[index];
            let Some(conn) = connection.server_id else {
                continue;
            };
            let levels = (
                connection.up.data.len() as u64,
                connection.down.data.len() as u64,
            );
            if connection.reported_levels != levels {
                connection.reported_levels = levels;
                changed.push((conn, levels.0, levels.1));
            }
        }
        changed
    }

    /// Connections whose client side may have changed since the last call.
    pub fn take_touched(&mut self) -> Vec<ConnIndex> {
        std::mem::take(&mut self.touched)
    }

    fn touch(&mut self, index: ConnIndex) {
        self.touched.push(index);
        if let Some(conn) = self.connections[index].server_id {
            self.refresh(Sock::Conn(conn));
        }
    }

    fn refresh(&mut self, sock: Sock) {
        let Some(&op) = self.interests.get(&sock) else {
            return;
        };
        let ready = match op {
            IoOp::Read => self.readable(sock),
            IoOp::Write => self.writable(sock),
        };
        if ready {
            self.ready.insert(sock);
        } else {
            self.ready.remove(&sock);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_pipe_takes_only_what_fits_and_then_would_block() {
        let mut net = Net::new(10, 8);
        let index = net.connect(0).unwrap();
        assert_eq!(net.client_send(index, &[1; 25]), Ok(10));
        assert_eq!(net.client_send(index, &[1; 5]), Err(IoError::WouldBlock));
        let (conn, _) = net.accept().unwrap();
        assert_eq!(net.recv(conn, 4).unwrap(), vec![1; 4]);
        assert_eq!(net.client_send(index, &[2; 5]), Ok(4));
    }

    #[test]
    fn eof_comes_after_the_data() {
        let mut net = Net::new(10, 8);
        let index = net.connect(0).unwrap();
        net.client_send(index, b"hi").unwrap();
        net.client_shutdown(index);
        let (conn, _) = net.accept().unwrap();
        assert_eq!(net.recv(conn, 10).unwrap(), b"hi");
        assert_eq!(net.recv(conn, 10).unwrap(), b"");
    }

    #[test]
    fn a_reset_fails_the_servers_next_call_even_with_data_pending() {
        let mut net = Net::new(10, 8);
        let index = net.connect(0).unwrap();
        let (conn, _) = net.accept().unwrap();
        net.client_send(index, b"half").unwrap();
        net.client_reset(index);
        assert_eq!(net.recv(conn, 10), Err(IoError::Reset));
        assert_eq!(net.send(conn, b"x"), Err(IoError::Reset));
    }

    #[test]
    fn the_ready_set_follows_registrations_and_readiness() {
        let mut net = Net::new(4, 8);
        net.register(Sock::Listener, IoOp::Read);
        assert!(net.ready_set().is_empty());
        let index = net.connect(0).unwrap();
        assert_eq!(
            net.ready_set(),
            vec![Ready {
                sock: Sock::Listener,
                op: IoOp::Read
            }]
        );
        let (conn, _) = net.accept().unwrap();
        assert!(net.ready_set().is_empty(), "the backlog is empty again");
        net.register(Sock::Conn(conn), IoOp::Write);
        assert_eq!(net.ready_set().len(), 1, "an empty send buffer is writable");
        net.send(conn, &[0; 4]).unwrap();
        assert!(net.ready_set().is_empty(), "a full one is not");
        net.client_recv(index, 1).unwrap();
        assert_eq!(net.ready_set().len(), 1, "reading makes room");
    }

    #[test]
    fn closing_the_listener_refuses_new_clients_and_resets_the_backlog() {
        let mut net = Net::new(4, 8);
        let waiting = net.connect(0).unwrap();
        net.close_listener();
        assert_eq!(net.connect(1), Err(IoError::Refused));
        assert_eq!(net.client_recv(waiting, 1), Err(IoError::Reset));
        assert_eq!(net.accept().map(|_| ()), Err(IoError::WouldBlock));
    }

    #[test]
    fn a_full_backlog_refuses() {
        let mut net = Net::new(4, 2);
        net.connect(0).unwrap();
        net.connect(1).unwrap();
        assert_eq!(net.connect(2), Err(IoError::Refused));
    }
}
