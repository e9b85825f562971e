//! A lab: one browser's own echo server and the clients it started, on real
//! sockets, with the probe that reports on both.
//!
//! A lab lives exactly as long as its WebSocket session. Closing it (or
//! dropping it) cancels every task it started and closes every socket,
//! the echo port included.
//!
//! Everything a lab starts is paid for from the [`Room`]'s budgets before it
//! starts: the lab's own descriptors when it opens, each client's
//! descriptors and the kernel memory it can pin when it is spawned, a
//! busy-poll slot when it switches to that model. A request that would pass
//! a budget is refused whole, with the numbers.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use protocol::{
    ClientBehaviour, ClientId, Command, EventKind, HandlerStyle, Hello, Limits,
    MAX_SHUTDOWN_DELAY_MS, PROTOCOL_VERSION, ServerModel, ShutdownPolicy,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admission::{Admission, SharedAdmission};
use crate::clients::{self, ClientLeases};
use crate::directory::LabGauge;
use crate::probe::{self, EventStream, Probe};
use crate::room::{Budget, CLIENT_DESCRIPTORS, Exhausted, LAB_DESCRIPTORS, Lease, Room, kib};
use crate::server::{self, Server};

/// How many events a lab buffers for a browser that reads slowly before it
/// drops (and counts) the rest.
const EVENT_BUFFER: usize = 16384;

/// How long closing a lab waits for its tasks to notice cancellation.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A shutdown asked for later ([`Command::ShutdownAfter`]): the lab's
/// command task begins it when it is due.
#[derive(Debug, Clone, Copy)]
struct DueShutdown {
    /// When, on the relay's clock.
    at: Instant,
    /// Its grace period in milliseconds.
    grace_ms: u32,
    /// Its policy.
    policy: ShutdownPolicy,
}

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
    /// A second shutdown put off while one already is.
    #[error("a shutdown is already due in {due_in_ms} ms; send shutdown to shut down now")]
    ShutdownAlreadyDue {
        /// How long until the one already due.
        due_in_ms: u128,
    },
    /// A shutdown put off for longer than the protocol allows.
    #[error("shutdown_after asks for {after_ms} ms; a shutdown may be put off at most {max_ms} ms")]
    ShutdownTooLate {
        /// The delay asked for.
        after_ms: u32,
        /// The most allowed.
        max_ms: u32,
    },
    /// A shutdown policy other than grace then cancel, for a model whose
    /// program offers no choice.
    #[error(
        "only the asyncio program offers a choice of shutdown policy: the {model} server always gives a grace period, then closes the rest (asked for: {policy:?})"
    )]
    PolicyNotOffered {
        /// The model running.
        model: &'static str,
        /// The policy asked for, as the page labels it.
        policy: &'static str,
    },
    /// Pausing a model that cannot be paused live.
    #[error(
        "the async-tasks model runs on tokio's scheduler and cannot be paused live; pause the view instead"
    )]
    CannotPause,
    /// The server could not be restarted; the old one still runs.
    #[error("could not start the {model} server, so the {running} server goes on: {error}")]
    Restart {
        /// The model asked for.
        model: &'static str,
        /// The model still running.
        running: &'static str,
        /// What failed.
        error: String,
    },
    /// The room's descriptors would not cover the clients.
    #[error(
        "spawn_clients needs {asked} file descriptors for {count} clients, and the relay has {left} of {total} left for all labs; none were started"
    )]
    NoDescriptors {
        /// Clients asked for.
        count: u32,
        /// Descriptors they need.
        asked: u64,
        /// Descriptors free.
        left: u64,
        /// The room's budget.
        total: u64,
    },
    /// The clients could pin more kernel memory than a lab (or the room)
    /// may.
    #[error(
        "{count} {behaviour} clients could keep {asked_kib} KiB in kernel socket buffers, and {scope} has {left_kib} of {total_kib} KiB left; none were started"
    )]
    TooMuchInFlight {
        /// Clients asked for.
        count: u32,
        /// Their behaviour's name.
        behaviour: &'static str,
        /// "this lab" or "the relay".
        scope: &'static str,
        /// KiB they could pin.
        asked_kib: u64,
        /// KiB free.
        left_kib: u64,
        /// The budget.
        total_kib: u64,
    },
    /// Every busy-poll slot of the room is taken.
    #[error(
        "busy poll burns a whole core, so this relay runs at most {0} busy-poll labs at once and all are taken; try again later, or watch it in the simulation"
    )]
    NoBusyPollSlot(u64),
    /// A test command to a relay not started for tests.
    #[error("test commands are off (start the relay with --test-commands)")]
    TestCommandsOff,
}

/// Why a lab could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The room's descriptors are spent.
    #[error(
        "the relay has no file descriptors left for another lab ({0}); try again when a lab closes"
    )]
    NoDescriptors(Exhausted),
    /// The echo server could not be started.
    #[error("could not open an echo server: {0}")]
    Io(#[from] std::io::Error),
}

/// One browser's lab.
#[derive(Debug)]
pub struct Lab {
    id: u64,
    echo_addr: SocketAddr,
    /// The room's budgets, and the caps in force (`room.limits`).
    room: Room,
    admission: SharedAdmission,
    /// KiB of kernel memory this lab's clients may pin.
    in_flight_kib: Budget,
    /// The lab's own descriptors (its WebSocket, listener, selector...).
    _descriptors: Lease,
    /// Held while the lab runs the busy-poll model.
    busy_poll_slot: Option<Lease>,
    probe: Probe,
    stop: CancellationToken,
    model: ServerModel,
    /// What the server's handlers do with a client's error.
    errors: HandlerStyle,
    server: Server,
    client_tasks: TaskTracker,
    control_tasks: TaskTracker,
    /// What the host's dashboard reads.
    gauge: Arc<LabGauge>,
    shutting_down: bool,
    /// A shutdown asked for later ([`Command::ShutdownAfter`]), not begun.
    due_shutdown: Option<DueShutdown>,
    /// Whether that shutdown waits for every connection, with no deadline
    /// (it may never end by itself).
    waiting_for_everyone: bool,
    test_commands: bool,
    next_client: u64,
}

impl Lab {
    /// Opens lab number `id` for a page that came from `owner`: binds its
    /// echo server to an ephemeral port on `ip` and starts serving, paid for
    /// from `room`. Returns the lab and the stream of its events.
    /// `test_commands` lets the test-only commands in.
    pub async fn open(
        id: u64,
        ip: IpAddr,
        owner: IpAddr,
        room: &Room,
        test_commands: bool,
    ) -> Result<(Lab, EventStream), OpenError> {
        let limits = room.limits.clone();
        let descriptors = room
            .descriptors
            .take(LAB_DESCRIPTORS)
            .map_err(OpenError::NoDescriptors)?;
        let listener = server::bind(SocketAddr::new(ip, 0), limits.socket_buffer_bytes)?;
        let echo_addr = listener.local_addr()?;
        let (probe, events) = probe::channel(EVENT_BUFFER);
        let stop = CancellationToken::new();
        let model = ServerModel::AsyncTasks;
        let admission = Arc::new(Admission::new(
            owner,
            limits.max_own_connections,
            room.descriptors.clone(),
        ));
        let server = Server::start(
            model,
            HandlerStyle::Handled,
            listener,
            probe.clone(),
            &stop,
            Arc::clone(&admission),
        )
        .await?;
        tokio::spawn(
            probe
                .buffers()
                .clone()
                .sample_until(probe.clone(), stop.clone()),
        );
        tokio::spawn(crate::cpu::report_until(probe.clone(), stop.clone()));
        let client_tasks = TaskTracker::new();
        let gauge = Arc::new(LabGauge::new(
            model,
            client_tasks.clone(),
            Arc::clone(probe.gauge()),
        ));
        let lab = Lab {
            id,
            gauge,
            echo_addr,
            in_flight_kib: Budget::new(kib(limits.max_lab_in_flight_bytes)),
            room: room.clone(),
            admission,
            _descriptors: descriptors,
            busy_poll_slot: None,
            probe,
            stop,
            model,
            errors: HandlerStyle::Handled,
            server,
            client_tasks,
            control_tasks: TaskTracker::new(),
            shutting_down: false,
            due_shutdown: None,
            waiting_for_everyone: false,
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
            limits: self.room.limits.clone(),
        }
    }

    /// The caps this lab works within.
    pub fn limits(&self) -> &Limits {
        &self.room.limits
    }

    /// Where the echo server listens.
    pub fn echo_addr(&self) -> SocketAddr {
        self.echo_addr
    }

    /// What the host's dashboard reads of this lab.
    pub fn gauge(&self) -> Arc<LabGauge> {
        Arc::clone(&self.gauge)
    }

    /// The probe, for reporting from outside the lab's tasks (command errors).
    pub fn probe(&self) -> &Probe {
        &self.probe
    }

    /// Carries out a command from the browser, or refuses it whole.
    pub async fn handle(&mut self, command: Command) -> Result<(), Refused> {
        match command {
            Command::SpawnClients { count, behaviour } => self.spawn_clients(count, behaviour),
            Command::SetModel { model, errors } => self.set_model(model, errors).await,
            Command::Pause {} | Command::Resume {} => {
                let paused = command == Command::Pause {};
                self.server
                    .control()
                    .ok_or(Refused::CannotPause)?
                    .pause(paused);
                self.probe.emit(EventKind::Stepping { paused });
                Ok(())
            }
            Command::Step {} => {
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
            Command::Shutdown { grace_ms, policy } => {
                self.begin_shutdown(grace_ms, policy)?;
                // Now rather than later: one that was due is replaced.
                self.due_shutdown = None;
                Ok(())
            }
            Command::ShutdownAfter {
                after_ms,
                grace_ms,
                policy,
            } => {
                if after_ms > MAX_SHUTDOWN_DELAY_MS {
                    return Err(Refused::ShutdownTooLate {
                        after_ms,
                        max_ms: MAX_SHUTDOWN_DELAY_MS,
                    });
                }
                if self.shutting_down {
                    return Err(Refused::AlreadyShuttingDown);
                }
                if let Some(due) = &self.due_shutdown {
                    return Err(Refused::ShutdownAlreadyDue {
                        due_in_ms: due.at.saturating_duration_since(Instant::now()).as_millis(),
                    });
                }
                self.check_policy(policy)?;
                self.due_shutdown = Some(DueShutdown {
                    at: Instant::now() + Duration::from_millis(after_ms.into()),
                    grace_ms,
                    policy,
                });
                Ok(())
            }
        }
    }

    /// When the shutdown asked for later is due, if one is.
    pub fn shutdown_due(&self) -> Option<Instant> {
        self.due_shutdown.as_ref().map(|due| due.at)
    }

    /// Begins the shutdown that is due (see [`Lab::shutdown_due`]).
    pub fn begin_due_shutdown(&mut self) -> Result<(), Refused> {
        match self.due_shutdown.take() {
            Some(due) => self.begin_shutdown(due.grace_ms, due.policy),
            None => Ok(()),
        }
    }

    /// Refuses a policy the running model's program does not offer.
    fn check_policy(&self, policy: ShutdownPolicy) -> Result<(), Refused> {
        if self.model.shutdown_policy(policy) == policy {
            Ok(())
        } else {
            Err(Refused::PolicyNotOffered {
                model: self.model.key(),
                policy: policy.label(),
            })
        }
    }

    /// Begins a graceful shutdown of the echo server under `policy`.
    fn begin_shutdown(&mut self, grace_ms: u32, policy: ShutdownPolicy) -> Result<(), Refused> {
        if self.shutting_down {
            return Err(Refused::AlreadyShuttingDown);
        }
        self.check_policy(policy)?;
        self.shutting_down = true;
        self.waiting_for_everyone = policy == ShutdownPolicy::WaitForEveryone;
        let (server, probe) = (self.server.clone(), self.probe.clone());
        let grace = Duration::from_millis(grace_ms.min(self.room.limits.max_pause_ms).into());
        self.control_tasks
            .spawn(async move { server.shut_down(&probe, grace, policy).await });
        Ok(())
    }

    /// Whether the lab's server is paused (thread models).
    pub fn paused(&self) -> bool {
        self.server
            .control()
            .is_some_and(|control| control.gate.paused())
    }

    /// Restarts the echo server on the same port under `model`, its
    /// handlers doing `errors` with a client's error; its connections are
    /// closed. The new listener is bound before the old
    /// server stops, so a switch that cannot bind leaves the old server
    /// serving; a shutdown under way finishes first, unless it waits for
    /// everyone: that one could wait for ever, and is cut short.
    async fn set_model(&mut self, model: ServerModel, errors: HandlerStyle) -> Result<(), Refused> {
        // The slot held (if any) stays with the lab until a switch away
        // from busy poll has happened; a new one goes back unless used.
        let new_busy_poll_slot = if model == ServerModel::BusyPoll && self.busy_poll_slot.is_none()
        {
            Some(
                self.room
                    .busy_poll
                    .take(1)
                    .map_err(|exhausted| Refused::NoBusyPollSlot(exhausted.total))?,
            )
        } else {
            None
        };
        let refused = |error: std::io::Error, running: ServerModel| Refused::Restart {
            model: model.key(),
            running: running.key(),
            error: error.to_string(),
        };
        // A restart replaces a shutdown that was due later.
        self.due_shutdown = None;
        if self.waiting_for_everyone {
            self.server.stop_now().await;
        }
        self.control_tasks.close();
        self.control_tasks.wait().await;
        self.control_tasks.reopen();
        let socket_buffer = self.limits().socket_buffer_bytes;
        let listener = server::bind(self.echo_addr, socket_buffer)
            .map_err(|error| refused(error, self.model))?;
        // Waits until the old server's threads have let go of the port.
        self.server.stop_now().await;
        let started = Server::start(
            model,
            errors,
            listener,
            self.probe.clone(),
            &self.stop,
            Arc::clone(&self.admission),
        )
        .await;
        match started {
            Ok(server) => {
                self.server = server;
                self.model = model;
                self.errors = errors;
                self.gauge.set_model(model);
                if model != ServerModel::BusyPoll {
                    self.busy_poll_slot = None;
                } else if new_busy_poll_slot.is_some() {
                    self.busy_poll_slot = new_busy_poll_slot;
                }
                self.shutting_down = false;
                self.waiting_for_everyone = false;
                Ok(())
            }
            Err(error) => {
                // The old server has stopped: start it again rather than
                // leave the lab without one.
                let old = self.model;
                if let Ok(listener) = server::bind(self.echo_addr, socket_buffer)
                    && let Ok(server) = Server::start(
                        old,
                        self.errors,
                        listener,
                        self.probe.clone(),
                        &self.stop,
                        Arc::clone(&self.admission),
                    )
                    .await
                {
                    self.server = server;
                    self.shutting_down = false;
                    self.waiting_for_everyone = false;
                }
                Err(refused(error, old))
            }
        }
    }

    /// Shuts the echo server down gracefully (or waits for the shutdown
    /// already under way, at most `grace`: one that waits for everyone may
    /// never end by itself): what a relay stopping on Ctrl-C does to each
    /// lab.
    pub async fn shut_down(&mut self, grace: Duration) {
        // Now, not when it was due.
        self.due_shutdown = None;
        if self.shutting_down {
            self.control_tasks.close();
            if tokio::time::timeout(grace, self.control_tasks.wait())
                .await
                .is_err()
            {
                self.server.stop_now().await;
                self.control_tasks.wait().await;
            }
        } else {
            self.shutting_down = true;
            self.server
                .shut_down(&self.probe, grace, ShutdownPolicy::GraceThenCancel)
                .await;
        }
    }

    fn spawn_clients(&mut self, count: u32, behaviour: ClientBehaviour) -> Result<(), Refused> {
        if count == 0 {
            return Err(Refused::NoClients);
        }
        let running = self.client_tasks.len();
        if running + count as usize > self.room.limits.max_clients as usize {
            return Err(Refused::TooManyClients {
                requested: count,
                running,
                max: self.room.limits.max_clients,
            });
        }
        self.check_behaviour(&behaviour)?;
        let mut descriptors = self
            .room
            .descriptors
            .take(CLIENT_DESCRIPTORS * u64::from(count))
            .map_err(|exhausted| Refused::NoDescriptors {
                count,
                asked: exhausted.asked,
                left: exhausted.left,
                total: exhausted.total,
            })?;
        let per_client_kib = u64::from(kib(in_flight_bound(
            &behaviour,
            self.room.limits.socket_buffer_bytes,
        )));
        let too_much = |scope, exhausted: Exhausted| Refused::TooMuchInFlight {
            count,
            behaviour: behaviour_name(&behaviour),
            scope,
            asked_kib: exhausted.asked,
            left_kib: exhausted.left,
            total_kib: exhausted.total,
        };
        let mut lab_kib = self
            .in_flight_kib
            .take(per_client_kib * u64::from(count))
            .map_err(|exhausted| too_much("this lab", exhausted))?;
        let mut room_kib = self
            .room
            .in_flight_kib
            .take(per_client_kib * u64::from(count))
            .map_err(|exhausted| too_much("the relay", exhausted))?;
        // Connect over loopback even when the echo server listens on all
        // addresses.
        let mut target = self.echo_addr;
        if target.ip().is_unspecified() {
            target.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        let split = |lease: &mut Lease, units| lease.split(units).unwrap_or_else(Lease::none);
        for _ in 0..count {
            let client = ClientId(self.next_client);
            self.next_client += 1;
            let leases = ClientLeases {
                own_socket: split(&mut descriptors, 1),
                server_side: split(&mut descriptors, CLIENT_DESCRIPTORS - 1),
                lab_in_flight: split(&mut lab_kib, per_client_kib),
                room_in_flight: split(&mut room_kib, per_client_kib),
            };
            self.client_tasks.spawn(clients::run(
                clients::Client {
                    id: client,
                    behaviour: behaviour.clone(),
                    target,
                    socket_buffer: self.room.limits.socket_buffer_bytes,
                    admission: Arc::clone(&self.admission),
                    leases,
                },
                self.probe.clone(),
                self.stop.clone(),
            ));
        }
        Ok(())
    }

    fn check_behaviour(&self, behaviour: &ClientBehaviour) -> Result<(), Refused> {
        let limits = &self.room.limits;
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
            ClientBehaviour::Silent {} => (0, 1, 0),
            ClientBehaviour::Flood { bytes } => {
                if bytes > limits.max_flood_bytes {
                    return Err(Refused::BadBehaviour(format!(
                        "a flood sends at most {} bytes, not {bytes}",
                        limits.max_flood_bytes
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
        // An empty message is a message: its echo is complete at once, as
        // in the simulator.
        if size > limits.max_message_size {
            return Err(Refused::BadBehaviour(format!(
                "a message has at most {} bytes, not {size}",
                limits.max_message_size
            )));
        }
        // Polite and slow clients write a whole message before they read
        // its echo (as the lesson's clients do). The server echoes as it
        // reads: once its echo fills the client's receive buffer and its own
        // send buffer, it stops reading, and a client still writing waits
        // for ever. The simulator shows that stall (`sim/tests/lesson.rs`);
        // live, a message up to one socket buffer always fits, so the relay
        // runs no client that would hang until the lab closes.
        if size > limits.socket_buffer_bytes
            && !matches!(behaviour, ClientBehaviour::Crasher { .. })
        {
            return Err(Refused::BadBehaviour(format!(
                "a message of {size} bytes is larger than the sockets' buffers ({} bytes): the client \
                 writes it whole before reading the echo, so the server's echo would fill the buffers, \
                 the server would stop reading, and both would wait for ever",
                limits.socket_buffer_bytes
            )));
        }
        if pause_ms > limits.max_pause_ms {
            return Err(Refused::BadBehaviour(format!(
                "a client pauses at most {} ms, not {pause_ms}",
                limits.max_pause_ms
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

/// The most bytes a client of `behaviour` can leave in kernel socket
/// buffers (its own and the server's end), with every lab socket's buffers
/// at `socket_buffer` bytes (which the kernel doubles).
pub fn in_flight_bound(behaviour: &ClientBehaviour, socket_buffer: u32) -> u64 {
    // Send and receive buffers on both ends of the connection.
    let buffers = 4 * 2 * u64::from(socket_buffer);
    let sent_unread = match *behaviour {
        // A message and its echo at most: these read before they send more.
        ClientBehaviour::Polite { size, .. } | ClientBehaviour::Slow { size, .. } => {
            2 * u64::from(size)
        }
        ClientBehaviour::Crasher { size } => u64::from(size),
        ClientBehaviour::Silent {} => 0,
        // Never reads: everything it sends can stay in flight.
        ClientBehaviour::Flood { bytes } => u64::from(bytes),
    };
    sent_unread.min(buffers)
}

fn behaviour_name(behaviour: &ClientBehaviour) -> &'static str {
    match behaviour {
        ClientBehaviour::Polite { .. } => "polite",
        ClientBehaviour::Slow { .. } => "slow",
        ClientBehaviour::Silent {} => "silent",
        ClientBehaviour::Crasher { .. } => "crasher",
        ClientBehaviour::Flood { .. } => "flood",
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // A lab dropped without `close` (a failed upgrade, a panicking
        // session) still stops everything it started.
        self.stop.cancel();
    }
}
