//! A lab's echo server under any of the four models: the tokio tasks model
//! ([`echo`]) on the runtime, the three thread-based ones ([`threaded`]) on
//! their own threads. One type, so that the lab can shut any of them down
//! the same way and swap one for another on the same port.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use protocol::{ConnId, HandlerStyle, ServerModel, ShutdownPolicy};
use tokio_util::sync::CancellationToken;

use crate::admission::SharedAdmission;
use crate::echo::{self, ServerHandle};
use crate::probe::Probe;
use crate::threaded::{self, Control, ThreadServer};

/// A running echo server.
#[derive(Debug, Clone)]
pub enum Server {
    /// One tokio task per connection.
    Tasks(ServerHandle),
    /// Blocking, busy-poll or selector, on its own thread.
    Thread(ThreadServer),
}

/// The listen backlog of an echo server: connections the kernel completes
/// while the server is busy (the blocking model's queue).
const BACKLOG: i32 = 128;

/// Binds a listening socket for a lab's echo server.
///
/// * `SO_REUSEADDR`, so that a server restarted under another model gets
///   the port back while the connections it just closed linger in
///   `TIME_WAIT`;
/// * `SO_REUSEPORT`, so that the next model's listener is bound *before*
///   the old server stops: a switch that cannot bind leaves the old server
///   running (only this user's processes may share the port);
/// * send and receive buffers of `socket_buffer` bytes, which every accepted
///   connection inherits: a flood that is never read pins at most that much
///   kernel memory per socket, not the megabytes autotuning would grow to.
pub fn bind(addr: SocketAddr, socket_buffer: u32) -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    set_buffers(&socket, socket_buffer)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Caps a socket's send and receive buffers (and turns autotuning off).
pub fn set_buffers(socket: &socket2::Socket, bytes: u32) -> std::io::Result<()> {
    socket.set_send_buffer_size(bytes as usize)?;
    socket.set_recv_buffer_size(bytes as usize)
}

impl Server {
    /// Starts `model` on `listener`, reporting to `probe`; `admission`
    /// decides which accepted connections it serves. Cancelling `lab_stop`
    /// ends a tokio server at once.
    ///
    /// The tokio model gets a current-thread runtime on a thread of its own:
    /// the relay's multi-threaded runtime would poll two tasks of one lab at
    /// the same time on two workers, which asyncio's single loop never does,
    /// and would mix the lab's polls with the relay's own work.
    pub async fn start(
        model: ServerModel,
        errors: HandlerStyle,
        listener: TcpListener,
        probe: Probe,
        lab_stop: &CancellationToken,
        admission: SharedAdmission,
    ) -> std::io::Result<Server> {
        if model != ServerModel::AsyncTasks {
            return Ok(Server::Thread(threaded::start(
                model, errors, listener, probe, admission,
            )?));
        }
        listener.set_nonblocking(true)?;
        let (started, handle) = tokio::sync::oneshot::channel();
        let lab_stop = lab_stop.clone();
        std::thread::Builder::new()
            .name("async tasks server".into())
            .spawn(move || {
                probe.serving_on_this_thread();
                // The loop's sleeps in epoll and its wakes, as asyncio's
                // select() (see `event_loop`).
                let (parking, unparking) = (probe.clone(), probe.clone());
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .on_thread_park(move || parking.event_loop().parked(&parking))
                    .on_thread_unpark(move || unparking.event_loop().unparked(&unparking))
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = started.send(Err(error));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(error) => {
                            let _ = started.send(Err(error));
                            return;
                        }
                    };
                    let server = echo::start(listener, probe, &lab_stop, admission, errors);
                    let _ = started.send(Ok(server.clone()));
                    // The loop runs until the server has stopped, one way
                    // or another (and said so).
                    server.loop_may_end().await;
                });
            })?;
        let server = handle
            .await
            .map_err(|_| std::io::Error::other("the server's thread died at start"))??;
        Ok(Server::Tasks(server))
    }

    /// Stops accepting, then treats the connections in flight as `policy`
    /// says, reporting each phase. Only the tokio model (asyncio's program)
    /// offers a choice; the thread models always let connections finish
    /// for `grace` and close the rest, and the lab asks them nothing else.
    pub async fn shut_down(&self, probe: &Probe, grace: Duration, policy: ShutdownPolicy) {
        match self {
            Server::Tasks(server) => server.shut_down(probe, grace, policy).await,
            Server::Thread(server) => {
                debug_assert_eq!(policy, ShutdownPolicy::GraceThenCancel);
                server.shut_down(probe, grace).await
            }
        }
    }

    /// Stops at once, closing every connection, and waits until the port is
    /// free.
    pub async fn stop_now(&self) {
        match self {
            Server::Tasks(server) => server.stop_now().await,
            Server::Thread(server) => server.stop_now().await,
        }
    }

    /// The controls of a thread-based server (pause, step); the tokio
    /// model has none.
    pub fn control(&self) -> Option<&Control> {
        match self {
            Server::Tasks(_) => None,
            Server::Thread(server) => Some(server.control()),
        }
    }

    /// Makes the handler of `conn` panic (tokio model only; test command).
    pub fn doom(&self, conn: ConnId) -> bool {
        match self {
            Server::Tasks(server) => {
                server.doom(conn);
                true
            }
            Server::Thread(_) => false,
        }
    }
}
