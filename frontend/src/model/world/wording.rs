//! The log's wording: each event in the lesson's words, its type name, and
//! the socket and task it is about. Pure functions of one event, apart from
//! the world's state, so the log is written only for the lines in view.

use protocol::{
    Call, EventKind, Hello, IoOp, ServerModel, ShutdownPhase, Sock, TaskId, TaskOutcome,
};

/// The log's first line for a lab.
pub fn greeting(hello: &Hello) -> String {
    format!("lab #{} echoes on {}", hello.lab, hello.echo_addr)
}

/// The socket and the task an event is about, when it names them.
pub fn subjects(kind: &EventKind) -> (Option<Sock>, Option<TaskId>) {
    match kind {
        EventKind::Accepted { conn, .. }
        | EventKind::Received { conn, .. }
        | EventKind::Sent { conn, .. }
        | EventKind::Traffic { conn, .. }
        | EventKind::ErrorHandled { conn, .. }
        | EventKind::Closed { conn } => (Some(Sock::Conn(*conn)), None),
        EventKind::TaskSpawned { task, conn } | EventKind::TaskFinished { task, conn, .. } => {
            (conn.map(Sock::Conn), Some(*task))
        }
        EventKind::TaskWaiting { task, sock, .. } => (Some(*sock), Some(*task)),
        EventKind::TaskWoken { task }
        | EventKind::TaskResumed { task }
        | EventKind::TaskPolled { task, .. }
        | EventKind::TaskActivity { task, .. }
        | EventKind::ExceptionNeverRetrieved { task, .. } => (None, Some(*task)),
        EventKind::CallBlocked { sock, .. }
        | EventKind::CallReturned { sock, .. }
        | EventKind::WouldBlock { sock, .. }
        | EventKind::Registered { sock, .. }
        | EventKind::Unregistered { sock } => (Some(*sock), None),
        _ => (None, None),
    }
}

/// The event type names the log keeps (not the frequent ones), as its
/// filter offers them.
pub const KIND_NAMES: [&str; 30] = [
    "hello",
    "listening",
    "accepted",
    "task_spawned",
    "task_waiting",
    "task_woken",
    "task_resumed",
    "task_polled",
    "received",
    "sent",
    "task_finished",
    "exception_never_retrieved",
    "error_handled",
    "server_crashed",
    "closed",
    "call_blocked",
    "call_returned",
    "backlog",
    "traffic",
    "task_activity",
    "stepping",
    "registered",
    "unregistered",
    "select_called",
    "select_returned",
    "shutdown",
    "client_started",
    "client_finished",
    "dropped",
    "error",
];

/// Events that come too often to log one by one; they show as counters
/// and highlights instead.
pub fn is_frequent(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::WouldBlock { .. }
            | EventKind::CodeLine { .. }
            | EventKind::Cpu { .. }
            | EventKind::Spins { .. }
            | EventKind::RoundTrip { .. }
            | EventKind::Buffered { .. }
            | EventKind::Phase { .. }
            | EventKind::LoopIteration { .. }
    )
}

/// The event's `type` name on the wire.
pub fn kind_name(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::Listening { .. } => "listening",
        EventKind::Accepted { .. } => "accepted",
        EventKind::TaskSpawned { .. } => "task_spawned",
        EventKind::TaskWaiting { .. } => "task_waiting",
        EventKind::TaskWoken { .. } => "task_woken",
        EventKind::TaskResumed { .. } => "task_resumed",
        EventKind::TaskPolled { .. } => "task_polled",
        EventKind::Received { .. } => "received",
        EventKind::Sent { .. } => "sent",
        EventKind::TaskFinished { .. } => "task_finished",
        EventKind::ExceptionNeverRetrieved { .. } => "exception_never_retrieved",
        EventKind::ErrorHandled { .. } => "error_handled",
        EventKind::ServerCrashed { .. } => "server_crashed",
        EventKind::Closed { .. } => "closed",
        EventKind::CallBlocked { .. } => "call_blocked",
        EventKind::CallReturned { .. } => "call_returned",
        EventKind::Backlog { .. } => "backlog",
        EventKind::WouldBlock { .. } => "would_block",
        EventKind::Spins { .. } => "spins",
        EventKind::Traffic { .. } => "traffic",
        EventKind::TaskActivity { .. } => "task_activity",
        EventKind::Stepping { .. } => "stepping",
        EventKind::Registered { .. } => "registered",
        EventKind::Unregistered { .. } => "unregistered",
        EventKind::SelectCalled { .. } => "select_called",
        EventKind::SelectReturned { .. } => "select_returned",
        EventKind::LoopIteration { .. } => "loop_iteration",
        EventKind::Phase { .. } => "phase",
        EventKind::Shutdown { .. } => "shutdown",
        EventKind::CodeLine { .. } => "code_line",
        EventKind::Cpu { .. } => "cpu",
        EventKind::ClientStarted { .. } => "client_started",
        EventKind::ClientFinished { .. } => "client_finished",
        EventKind::RoundTrip { .. } => "round_trip",
        EventKind::Buffered { .. } => "buffered",
        EventKind::Dropped { .. } => "dropped",
        EventKind::Error { .. } => "error",
    }
}

fn call_name(call: Call) -> &'static str {
    match call {
        Call::Accept => "accept",
        Call::Recv => "recv",
        Call::Send => "sendall",
    }
}

fn op_name(op: IoOp) -> &'static str {
    match op {
        IoOp::Read => "read",
        IoOp::Write => "write",
    }
}

/// An error as Python raises it: the relay's Rust words ("Connection reset
/// by peer (os error 104)") become the exception a Python server sees
/// (`ConnectionResetError: [Errno 104] Connection reset by peer`); the
/// simulator's are Python's already.
pub fn python_error(error: &str) -> String {
    let Some((message, rest)) = error.rsplit_once(" (os error ") else {
        return error.to_owned();
    };
    let Some(Ok(errno)) = rest.strip_suffix(')').map(str::parse::<u32>) else {
        return error.to_owned();
    };
    let class = match errno {
        104 => "ConnectionResetError",
        32 => "BrokenPipeError",
        111 => "ConnectionRefusedError",
        103 => "ConnectionAbortedError",
        110 => "TimeoutError",
        11 => "BlockingIOError",
        _ => "OSError",
    };
    format!("{class}: [Errno {errno}] {message}")
}

/// An event in the machinery's own terms, for the log's details: the
/// protocol's name for it and, where the lesson's words translate, what
/// was translated (tokio's polls, the OS's error as the relay got it).
pub fn details(kind: &EventKind) -> String {
    let name = kind_name(kind);
    let machinery = match kind {
        EventKind::TaskPolled {
            duration_us, ready, ..
        } => format!(
            "tokio polled the task's future for {duration_us} µs → Poll::{}",
            if *ready { "Ready" } else { "Pending" }
        ),
        EventKind::TaskActivity {
            polls,
            wakes,
            waits,
            ..
        } => format!("tokio: {polls} polls, {wakes} wakes by the reactor, {waits} Pending"),
        EventKind::TaskWoken { .. } => "the reactor (epoll) woke the task's waker".to_owned(),
        EventKind::TaskFinished {
            outcome: TaskOutcome::Failed { error },
            ..
        }
        | EventKind::ExceptionNeverRetrieved { error, .. }
        | EventKind::ErrorHandled { error, .. }
        | EventKind::ServerCrashed { error, .. } => format!("the error as it came: {error}"),
        _ => String::new(),
    };
    if machinery.is_empty() {
        format!("[{name}]")
    } else {
        format!("[{name}: {machinery}]")
    }
}

/// An event in the lesson's words: the calls of the listing `model` runs
/// (`send()` and `selector.modify()` in `selector.py`, `await
/// loop.sock_recv()` in `async_tasks.py`), and Python's names for errors.
pub fn describe(kind: &EventKind, model: Option<ServerModel>) -> String {
    let asyncio = model == Some(ServerModel::AsyncTasks);
    let selector = model == Some(ServerModel::Selector);
    match kind {
        EventKind::Listening { addr, .. } => format!("server listens on {addr}"),
        EventKind::Accepted { conn, peer } => format!("accept() → {conn} from {peer}"),
        EventKind::TaskSpawned { task, conn } => match conn {
            Some(conn) => format!("{task} spawned to serve {conn}"),
            None => format!("{task} spawned (the accept loop)"),
        },
        EventKind::TaskWaiting { task, sock, op } => {
            let call = match (sock, op) {
                (Sock::Listener, _) => "sock_accept",
                (_, IoOp::Read) => "sock_recv",
                (_, IoOp::Write) => "sock_sendall",
            };
            format!("{task} suspends: await {call}({sock})")
        }
        EventKind::TaskWoken { task } => format!("{task} woken: its socket is ready"),
        EventKind::TaskResumed { task } => format!("{task} resumed"),
        // One step of a coroutine: it runs until an await suspends it, or
        // until it returns.
        EventKind::TaskPolled {
            task,
            duration_us,
            ready,
        } => format!(
            "{task} ran {duration_us} µs, then {}",
            if *ready {
                "returned"
            } else {
                "suspended at an await"
            }
        ),
        EventKind::Received { conn, bytes } if asyncio => {
            format!("await loop.sock_recv({conn}) → {bytes} bytes")
        }
        EventKind::Received { conn, bytes } => format!("recv({conn}) → {bytes} bytes"),
        EventKind::Sent { conn, bytes } => match model {
            Some(ServerModel::AsyncTasks) => {
                format!("await loop.sock_sendall({conn}, {bytes} bytes) done")
            }
            Some(ServerModel::BusyPoll | ServerModel::Selector) => {
                format!("send({conn}): all {bytes} bytes echoed")
            }
            _ => format!("sendall({conn}, {bytes} bytes)"),
        },
        EventKind::TaskFinished { task, outcome, .. } => match outcome {
            TaskOutcome::Ok => format!("{task} finished"),
            TaskOutcome::Failed { error } => {
                format!("{task} failed: {}", python_error(error))
            }
            TaskOutcome::Cancelled => format!("{task} cancelled (CancelledError at its await)"),
        },
        EventKind::ExceptionNeverRetrieved { task, error } => {
            format!(
                "Task exception was never retrieved: {task}: {}",
                python_error(error)
            )
        }
        EventKind::ErrorHandled { conn, error } => format!(
            "except ConnectionError on {conn}: {}; closed it",
            python_error(error)
        ),
        EventKind::ServerCrashed { error, .. } => format!(
            "the server crashed: {} escaped, no except caught it",
            python_error(error)
        ),
        EventKind::Closed { conn } => format!("{conn} closed"),
        EventKind::CallBlocked { call, sock } => {
            format!("{}({sock}) blocks: the thread is parked", call_name(*call))
        }
        EventKind::CallReturned { call, sock } => format!("{}({sock}) returned", call_name(*call)),
        EventKind::Backlog { waiting } => format!("{waiting} waiting in the listen backlog"),
        EventKind::WouldBlock { sock, op } => match (sock, op) {
            (Sock::Listener, _) => {
                "accept() would block (BlockingIOError): nobody is connecting".to_owned()
            }
            (_, IoOp::Read) => format!("recv({sock}) would block (BlockingIOError): no bytes yet"),
            (_, IoOp::Write) => {
                format!("send({sock}) would block (BlockingIOError): no room to send")
            }
        },
        EventKind::Spins {
            iterations,
            would_block,
        } => format!("{iterations} loop iterations, {would_block} would-block tries"),
        EventKind::Traffic {
            conn,
            received,
            sent,
            reads,
            writes,
        } => format!("{conn}: {reads} reads ({received} bytes), {writes} writes ({sent} bytes)"),
        EventKind::TaskActivity {
            task,
            polls,
            wakes,
            waits,
            busy_us,
        } => format!(
            "{task}: ran {polls} times ({busy_us} µs), woken {wakes} times, suspended {waits} times"
        ),
        EventKind::Stepping { paused: true } => "paused before the next loop iteration".to_owned(),
        EventKind::Stepping { paused: false } => "running freely".to_owned(),
        EventKind::Registered { sock, op, modify } if selector => {
            let (mask, callback) = match (sock, op) {
                (Sock::Listener, _) => ("EVENT_READ", "accept"),
                (_, IoOp::Read) => ("EVENT_READ", "receive"),
                (_, IoOp::Write) => ("EVENT_WRITE", "send"),
            };
            let call = if *modify { "modify" } else { "register" };
            format!("selector.{call}({sock}, {mask}, {callback})")
        }
        EventKind::Registered { sock, op, .. } => format!("register {sock} for {}", op_name(*op)),
        EventKind::Unregistered { sock } if selector => format!("selector.unregister({sock})"),
        EventKind::Unregistered { sock } => format!("unregister {sock}"),
        EventKind::SelectCalled { timeout_us } => match timeout_us {
            Some(timeout) if selector => {
                // Python's way of writing the seconds: `1`, `0.5`.
                format!("selector.select(timeout={})", *timeout as f64 / 1e6)
            }
            Some(timeout) => format!("select(timeout={:.3} s)", *timeout as f64 / 1e6),
            None => "select(): sleeping until a socket is ready".to_owned(),
        },
        EventKind::SelectReturned { ready } => {
            let ready: Vec<String> = ready
                .iter()
                .map(|ready| format!("{} {}", ready.sock, op_name(ready.op)))
                .collect();
            let call = if selector {
                "selector.select()"
            } else {
                "select()"
            };
            format!("{call} → [{}]", ready.join(", "))
        }
        EventKind::LoopIteration { iteration } => format!("loop iteration {iteration}"),
        EventKind::Phase { phase } => format!("phase {phase:?}"),
        EventKind::Shutdown { phase } => match phase {
            ShutdownPhase::StopAccepting => {
                "shutdown: listener closed, no new connections".to_owned()
            }
            ShutdownPhase::Draining { deadline } => {
                format!(
                    "shutdown: in-flight connections may finish until {:.3} s",
                    *deadline as f64 / 1e6
                )
            }
            ShutdownPhase::WaitingForEveryone => {
                "shutdown: waiting for every connection to end, no deadline".to_owned()
            }
            ShutdownPhase::Notifying => {
                "shutdown: sending each connection a goodbye line".to_owned()
            }
            ShutdownPhase::Cancelling if asyncio => {
                "shutdown: task.cancel() for what still runs".to_owned()
            }
            ShutdownPhase::Cancelling => "shutdown: closing what still runs".to_owned(),
            ShutdownPhase::Stopped => "shutdown: stopped".to_owned(),
        },
        EventKind::CodeLine { line } => format!("line {line}"),
        EventKind::Cpu { busy_us, window_us } => format!("cpu {busy_us}/{window_us} µs"),
        EventKind::ClientStarted { client, .. } => format!("{client} started"),
        EventKind::Buffered {
            conn,
            recv_queue,
            send_queue,
        } => format!("{conn}: {recv_queue} B unread, {send_queue} B on the way back"),
        EventKind::RoundTrip { client, latency_us } => {
            format!(
                "{client} got its echo after {}",
                crate::model::latency::human(*latency_us)
            )
        }
        EventKind::ClientFinished {
            client,
            echoed,
            error,
            told_goodbye,
        } => match (error, told_goodbye) {
            (None, false) => format!("{client} done: {echoed} bytes echoed intact"),
            (None, true) => {
                format!("{client} was told goodbye after {echoed} bytes echoed intact")
            }
            (Some(error), _) => format!("{client} stopped after {echoed} bytes: {error}"),
        },
        EventKind::Dropped { count } => {
            format!("{count} events dropped: the page read more slowly than the lab ran")
        }
        EventKind::Error { message } => format!("error: {message}"),
    }
}
