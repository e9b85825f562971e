//! A lab: one browser's own echo server and the clients it started, on real
//! sockets, with the probe that reports on both.
//!
//! A lab lives exactly as long as its WebSocket session. Closing it (or
//! dropping it) cancels every task it started and closes every socket,
//! the echo port included.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use protocol::{ClientBehaviour, ClientId, Command, Hello, Limits, PROTOCOL_VERSION, ServerModel};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::probe::{self, EventStream, Probe};
use crate::{clients, echo::EchoServer};

/// How many events a lab buffers for a browser that reads slowly before it
/// drops (and counts) the rest.
const EVENT_BUFFER: usize = 8192;

/// How long closing a lab waits for its tasks to notice cancellation.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A command the lab will not carry out, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// `spawn_clients` with a count of zero.
    #[error("spawn_clients needs a count of at least 1")]
    NoClients,
    /// `spawn_clients` would pass the per-lab cap; nothing was started.
    #[error(
        "spawn_clients asks for {requested} clients while {running} run; a lab runs at most {max} at once, so none were started"
    )]
    TooManyClients {
        /// Clients asked for.
        requested: u32,
        /// Clients already running.
        running: usize,
        /// The cap.
        max: u32,
    },
    /// A behaviour parameter is out of range.
    #[error("{0}")]
    BadBehaviour(String),
}

/// One browser's lab.
#[derive(Debug)]
pub struct Lab {
    id: u64,
    echo_addr: SocketAddr,
    limits: Limits,
    probe: Probe,
    stop: CancellationToken,
    server_tasks: TaskTracker,
    client_tasks: TaskTracker,
    next_client: u64,
}

impl Lab {
    /// Opens lab number `id`: binds its echo server to an ephemeral port on
    /// `ip` and starts serving. Returns the lab and the stream of its events.
    pub async fn open(id: u64, ip: IpAddr, limits: Limits) -> std::io::Result<(Lab, EventStream)> {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
        let echo_addr = listener.local_addr()?;
        let (probe, events) = probe::channel(EVENT_BUFFER);
        let stop = CancellationToken::new();
        let server_tasks = TaskTracker::new();
        // Room for every lab client plus a few `nc` sessions of the user.
        let max_connections = limits.max_clients as usize + 64;
        EchoServer::start(
            listener,
            probe.clone(),
            stop.clone(),
            server_tasks.clone(),
            max_connections,
        );
        let lab = Lab {
            id,
            echo_addr,
            limits,
            probe,
            stop,
            server_tasks,
            client_tasks: TaskTracker::new(),
            next_client: 1,
        };
        Ok((lab, events))
    }

    /// The greeting that opens the session.
    pub fn hello(&self) -> Hello {
        Hello {
            protocol: PROTOCOL_VERSION,
            lab: self.id,
            echo_addr: self.echo_addr.to_string(),
            model: ServerModel::AsyncTasks,
            limits: self.limits.clone(),
        }
    }

    /// The caps this lab works within.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Where the echo server listens.
    pub fn echo_addr(&self) -> SocketAddr {
        self.echo_addr
    }

    /// The probe, for reporting from outside the lab's tasks (command errors).
    pub fn probe(&self) -> &Probe {
        &self.probe
    }

    /// Carries out a command from the browser, or refuses it whole.
    pub fn handle(&mut self, command: Command) -> Result<(), Refused> {
        match command {
            Command::SpawnClients { count, behaviour } => self.spawn_clients(count, behaviour),
        }
    }

    fn spawn_clients(&mut self, count: u32, behaviour: ClientBehaviour) -> Result<(), Refused> {
        if count == 0 {
            return Err(Refused::NoClients);
        }
        let running = self.client_tasks.len();
        if running + count as usize > self.limits.max_clients as usize {
            return Err(Refused::TooManyClients {
                requested: count,
                running,
                max: self.limits.max_clients,
            });
        }
        self.check_behaviour(&behaviour)?;
        // Connect over loopback even when the echo server listens on all
        // addresses.
        let mut target = self.echo_addr;
        if target.ip().is_unspecified() {
            target.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        for _ in 0..count {
            let client = ClientId(self.next_client);
            self.next_client += 1;
            self.client_tasks.spawn(clients::run(
                client,
                behaviour.clone(),
                target,
                self.probe.clone(),
                self.stop.clone(),
            ));
        }
        Ok(())
    }

    fn check_behaviour(&self, behaviour: &ClientBehaviour) -> Result<(), Refused> {
        let limits = &self.limits;
        match *behaviour {
            ClientBehaviour::Polite {
                messages,
                size,
                interval_ms,
            } => {
                if messages > limits.max_messages_per_client {
                    return Err(Refused::BadBehaviour(format!(
                        "a polite client sends at most {} messages, not {messages}",
                        limits.max_messages_per_client
                    )));
                }
                if size == 0 || size > limits.max_message_size {
                    return Err(Refused::BadBehaviour(format!(
                        "a message has 1 to {} bytes, not {size}",
                        limits.max_message_size
                    )));
                }
                if interval_ms > 60_000 {
                    return Err(Refused::BadBehaviour(format!(
                        "a polite client waits at most 60000 ms between messages, not {interval_ms}"
                    )));
                }
            }
            ClientBehaviour::Slow { .. }
            | ClientBehaviour::Silent
            | ClientBehaviour::Crasher { .. }
            | ClientBehaviour::Flood { .. } => {
                return Err(Refused::BadBehaviour(
                    "live labs run polite clients only for now; the simulation runs every behaviour".into(),
                ));
            }
        }
        Ok(())
    }

    /// Cancels everything the lab started and waits (briefly) until its
    /// sockets are closed, the echo port first.
    pub async fn close(self) {
        self.stop.cancel();
        self.server_tasks.close();
        self.client_tasks.close();
        let all_done = async {
            self.server_tasks.wait().await;
            self.client_tasks.wait().await;
        };
        if tokio::time::timeout(CLOSE_TIMEOUT, all_done).await.is_err() {
            tracing::warn!(lab = self.id, "lab tasks did not stop in time");
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // A lab dropped without `close` (a failed upgrade, a panicking
        // session) still stops everything it started.
        self.stop.cancel();
    }
}
