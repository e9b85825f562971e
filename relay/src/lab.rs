//! A lab: one browser's own echo server and the clients it started, on real
//! sockets, with the probe that reports on both.
//!
//! A lab lives exactly as long as its WebSocket session. Closing it (or
//! dropping it) cancels every task it started and closes every socket,
//! the echo port included.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use protocol::{
    ClientBehaviour, ClientId, Command, EventKind, Hello, Limits, PROTOCOL_VERSION, ServerModel,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clients;
use crate::probe::{self, EventStream, Probe};
use crate::server::{self, Server};

/// How many events a lab buffers for a browser that reads slowly before it
/// drops (and counts) the rest.
const EVENT_BUFFER: usize = 16384;

/// Most bytes one flood client sends.
const MAX_FLOOD_BYTES: u32 = 64 << 20;

/// Longest pause a client may take between messages (or bytes).
const MAX_PAUSE_MS: u32 = 60_000;

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
    /// A shutdown was asked for twice.
    #[error("the server is already shutting down")]
    AlreadyShuttingDown,
    /// Pausing a model that cannot be paused live.
    #[error(
        "the async-tasks model runs on tokio's scheduler and cannot be paused live; pause the view instead"
    )]
    CannotPause,
    /// The server could not be restarted.
    #[error("could not restart the echo server: {0}")]
    Restart(String),
    /// A test command to a relay not started for tests.
    #[error("test commands are off (start the relay with --test-commands)")]
    TestCommandsOff,
}

/// Room for every lab client plus a few `nc` sessions of the user.
fn max_connections(limits: &Limits) -> usize {
    limits.max_clients as usize + 64
}

/// One browser's lab.
#[derive(Debug)]
pub struct Lab {
    id: u64,
    echo_addr: SocketAddr,
    limits: Limits,
    probe: Probe,
    stop: CancellationToken,
    model: ServerModel,
    server: Server,
    client_tasks: TaskTracker,
    control_tasks: TaskTracker,
    shutting_down: bool,
    test_commands: bool,
    next_client: u64,
}

impl Lab {
    /// Opens lab number `id`: binds its echo server to an ephemeral port on
    /// `ip` and starts serving. Returns the lab and the stream of its events.
    /// `test_commands` lets the test-only commands in.
    pub async fn open(
        id: u64,
        ip: IpAddr,
        limits: Limits,
        test_commands: bool,
    ) -> std::io::Result<(Lab, EventStream)> {
        let listener = server::bind(SocketAddr::new(ip, 0))?;
        let echo_addr = listener.local_addr()?;
        let (probe, events) = probe::channel(EVENT_BUFFER);
        let stop = CancellationToken::new();
        let model = ServerModel::AsyncTasks;
        let max_connections = max_connections(&limits);
        let server = Server::start(model, listener, probe.clone(), &stop, max_connections).await?;
        tokio::spawn(
            probe
                .buffers()
                .clone()
                .sample_until(probe.clone(), stop.clone()),
        );
        let lab = Lab {
            id,
            echo_addr,
            limits,
            probe,
            stop,
            model,
            server,
            client_tasks: TaskTracker::new(),
            control_tasks: TaskTracker::new(),
            shutting_down: false,
            test_commands,
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
            model: self.model,
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
    pub async fn handle(&mut self, command: Command) -> Result<(), Refused> {
        match command {
            Command::SpawnClients { count, behaviour } => self.spawn_clients(count, behaviour),
            Command::SetModel { model } => self.set_model(model).await,
            Command::Pause | Command::Resume => {
                let paused = command == Command::Pause;
                self.server
                    .control()
                    .ok_or(Refused::CannotPause)?
                    .pause(paused);
                self.probe.emit(EventKind::Stepping { paused });
                Ok(())
            }
            Command::Step => {
                let control = self.server.control().ok_or(Refused::CannotPause)?;
                if !control.gate.paused() {
                    control.pause(true);
                    self.probe.emit(EventKind::Stepping { paused: true });
                }
                control.gate.step();
                Ok(())
            }
            Command::PanicHandler { conn } => {
                if !self.test_commands || !self.server.doom(conn) {
                    return Err(Refused::TestCommandsOff);
                }
                Ok(())
            }
            Command::Shutdown { grace_ms } => {
                if self.shutting_down {
                    return Err(Refused::AlreadyShuttingDown);
                }
                self.shutting_down = true;
                let (server, probe) = (self.server.clone(), self.probe.clone());
                let grace = Duration::from_millis(grace_ms.min(MAX_PAUSE_MS).into());
                self.control_tasks
                    .spawn(async move { server.shut_down(&probe, grace).await });
                Ok(())
            }
        }
    }

    /// Restarts the echo server on the same port under `model`; its
    /// connections are closed.
    async fn set_model(&mut self, model: ServerModel) -> Result<(), Refused> {
        self.control_tasks.close();
        self.control_tasks.wait().await;
        self.control_tasks.reopen();
        self.server.stop_now().await;
        let listener =
            server::bind(self.echo_addr).map_err(|error| Refused::Restart(error.to_string()))?;
        let max_connections = max_connections(&self.limits);
        self.server = Server::start(
            model,
            listener,
            self.probe.clone(),
            &self.stop,
            max_connections,
        )
        .await
        .map_err(|error| Refused::Restart(error.to_string()))?;
        self.model = model;
        self.shutting_down = false;
        Ok(())
    }

    /// Shuts the echo server down gracefully (or waits for the shutdown
    /// already under way): what a relay stopping on Ctrl-C does to each lab.
    pub async fn shut_down(&mut self, grace: Duration) {
        if self.shutting_down {
            self.control_tasks.close();
            self.control_tasks.wait().await;
        } else {
            self.shutting_down = true;
            self.server.shut_down(&self.probe, grace).await;
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
        let (messages, size, pause_ms) = match *behaviour {
            ClientBehaviour::Polite {
                messages,
                size,
                interval_ms,
            } => (messages, size, interval_ms),
            ClientBehaviour::Slow {
                messages,
                size,
                byte_interval_ms,
            } => (messages, size, byte_interval_ms),
            ClientBehaviour::Crasher { size } => (1, size, 0),
            ClientBehaviour::Silent => (0, 1, 0),
            ClientBehaviour::Flood { bytes } => {
                if bytes > MAX_FLOOD_BYTES {
                    return Err(Refused::BadBehaviour(format!(
                        "a flood sends at most {MAX_FLOOD_BYTES} bytes, not {bytes}"
                    )));
                }
                (0, 1, 0)
            }
        };
        if messages > limits.max_messages_per_client {
            return Err(Refused::BadBehaviour(format!(
                "a client sends at most {} messages, not {messages}",
                limits.max_messages_per_client
            )));
        }
        if size == 0 || size > limits.max_message_size {
            return Err(Refused::BadBehaviour(format!(
                "a message has 1 to {} bytes, not {size}",
                limits.max_message_size
            )));
        }
        if pause_ms > MAX_PAUSE_MS {
            return Err(Refused::BadBehaviour(format!(
                "a client pauses at most {MAX_PAUSE_MS} ms, not {pause_ms}"
            )));
        }
        Ok(())
    }

    /// Cancels everything the lab started and waits (briefly) until its
    /// sockets are closed, the echo port first.
    pub async fn close(self) {
        self.stop.cancel();
        self.client_tasks.close();
        self.control_tasks.close();
        let all_done = async {
            self.server.stop_now().await;
            self.client_tasks.wait().await;
            self.control_tasks.wait().await;
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
