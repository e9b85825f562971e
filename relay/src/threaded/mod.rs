//! The thread-based server models: blocking sockets, a busy-polling loop and
//! a `mio` selector loop, each on a dedicated OS thread, as the lesson's
//! Python programs run.
//!
//! The async side controls a thread through a shared [`Control`]: a [`Gate`]
//! the loop passes before each iteration (so the browser can pause it and
//! step it one iteration at a time; the server really waits, and after each
//! step says it is paused again), and flags for a graceful shutdown. A flag
//! alone cannot wake a thread parked in `accept()` or `read()`, so the
//! control shuts the thread's sockets down, which makes the blocked call
//! return: the listener through a copy kept here, each connection through
//! the one copy the buffer sampler already holds (a second copy per
//! connection would cost a descriptor each).

mod blocking;
mod busy_poll;
mod selector;

use std::net::{Shutdown, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use protocol::{Call, ConnId, EventKind, HandlerStyle, Micros, ServerModel, ShutdownPhase};
use tokio::sync::watch;

use crate::admission::SharedAdmission;
use crate::buffers::OpenSockets;
use crate::probe::Probe;
use crate::throttle::Tally;

/// How long a server waits after a failed `accept()` (out of descriptors,
/// say) before it tries again: the connection is still queued, so trying at
/// once would spin.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Failed accepts, logged and reported at most once a second relay-wide.
static ACCEPT_FAILURES: Tally = Tally::new(Duration::from_secs(1));

/// Reports a failed `accept()`, at most once a second.
pub(crate) fn accept_failed(probe: &Probe, error: &std::io::Error) {
    if let Some(report) = ACCEPT_FAILURES.count(Instant::now()) {
        tracing::warn!(%error, since_last = report.since_last, "accept failed");
        probe.emit(EventKind::Error {
            message: format!(
                "accept failed: {error} ({} times since the last report)",
                report.since_last
            ),
        });
    }
}

/// Where a paused loop stands.
#[derive(Debug, Default)]
struct GateState {
    paused: bool,
    /// Iterations a paused loop may still run.
    steps: u64,
    /// Whether the loop's last pass used a step (so that, back at the
    /// gate, it says it is paused again).
    stepped: bool,
    open: bool,
}

/// The point a server loop passes before each iteration.
#[derive(Debug)]
pub struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

impl Gate {
    fn new() -> Self {
        Gate {
            state: Mutex::new(GateState {
                open: true,
                ..GateState::default()
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        // A panic while holding this lock leaves nothing half-done in it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits while paused (unless a step is owed); false once the server
    /// must stop.
    ///
    /// A loop that stops here first runs `before_waiting` (a busy loop
    /// reports the tally it keeps), then, if it ran a step, says it is
    /// paused again (`stepping`): the end of the step, which the page (and
    /// a test) can wait for. Both under the gate's lock, so that a resume
    /// said after them is never overtaken by them.
    pub fn pass(&self, probe: &Probe, before_waiting: impl FnOnce()) -> bool {
        let mut state = self.lock();
        if state.open && state.paused && state.steps == 0 {
            before_waiting();
            if std::mem::take(&mut state.stepped) {
                probe.emit(EventKind::Stepping { paused: true });
            }
            while state.open && state.paused && state.steps == 0 {
                state = self
                    .changed
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        }
        state.stepped = state.paused && state.steps > 0;
        if state.steps > 0 {
            state.steps -= 1;
        }
        state.open
    }

    /// Pauses (true) or resumes (false) the loop.
    pub fn set_paused(&self, paused: bool) {
        let mut state = self.lock();
        state.paused = paused;
        state.steps = 0;
        state.stepped = false;
        self.changed.notify_all();
    }

    /// Lets a paused loop run one more iteration.
    pub fn step(&self) {
        self.lock().steps += 1;
        self.changed.notify_all();
    }

    /// Whether the loop is paused.
    pub fn paused(&self) -> bool {
        self.lock().paused
    }

    fn close(&self) {
        self.lock().open = false;
        self.changed.notify_all();
    }
}

/// What the async side and a server thread share.
#[derive(Debug)]
pub struct Control {
    /// Pause and step.
    pub gate: Gate,
    /// Set when a shutdown begins: accept no more.
    pub stop_accepting: AtomicBool,
    /// Set when the grace period is over: close what is left and exit.
    pub cancel: AtomicBool,
    /// When a shutdown's grace period ends, on the probe's clock (0: no
    /// shutdown yet): a selector loop sleeps at most until then, as
    /// `selector.py` does.
    deadline_us: AtomicU64,
    /// A copy of the listener a blocked `accept()` may be parked on.
    listener: Mutex<Option<TcpListener>>,
    /// The server's connections (the sampler's copies of them).
    connections: OpenSockets,
    /// Who may connect.
    pub admission: SharedAdmission,
    /// Wakes a thread sleeping in a selector.
    waker: Mutex<Option<mio::Waker>>,
    /// What the handlers do with a client's error.
    errors: HandlerStyle,
}

impl Control {
    fn new(connections: OpenSockets, admission: SharedAdmission, errors: HandlerStyle) -> Self {
        Control {
            gate: Gate::new(),
            stop_accepting: AtomicBool::new(false),
            cancel: AtomicBool::new(false),
            deadline_us: AtomicU64::new(0),
            listener: Mutex::new(None),
            connections,
            admission,
            waker: Mutex::new(None),
            errors,
        }
    }

    fn listener(&self) -> MutexGuard<'_, Option<TcpListener>> {
        self.listener
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Remembers the listener, to unblock an `accept()` on shutdown.
    pub fn watch_listener(&self, listener: &TcpListener) {
        if let Ok(clone) = listener.try_clone() {
            *self.listener() = Some(clone);
        }
    }

    /// Sets the waker of a selector thread.
    pub fn set_waker(&self, waker: mio::Waker) {
        *self
            .waker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(waker);
    }

    fn wake(&self) {
        if let Some(waker) = self
            .waker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
        {
            let _ = waker.wake();
        }
    }

    /// Pauses (true) or resumes (false) the loop; a thread sleeping in its
    /// selector is woken so that it reaches the gate now, not at its
    /// timeout.
    pub fn pause(&self, paused: bool) {
        self.gate.set_paused(paused);
        self.wake();
    }

    /// Whether the thread must stop accepting.
    pub fn stopping(&self) -> bool {
        self.stop_accepting.load(Ordering::Relaxed)
    }

    /// Whether the thread must close everything and exit.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    fn shut_listener(&self) {
        if let Some(listener) = self.listener().as_ref() {
            let _ = socket2::SockRef::from(listener).shutdown(Shutdown::Both);
        }
    }

    fn begin_stop_accepting(&self) {
        self.stop_accepting.store(true, Ordering::Relaxed);
        self.shut_listener();
        self.wake();
    }

    /// The grace period's end, once a shutdown has begun.
    pub fn deadline(&self) -> Option<Micros> {
        Some(self.deadline_us.load(Ordering::Relaxed)).filter(|&deadline| deadline > 0)
    }

    fn begin_cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
        self.gate.close();
        self.shut_listener();
        self.connections.shut_down_all();
        self.wake();
    }
}

/// A server model running on its own thread.
#[derive(Debug, Clone)]
pub struct ThreadServer {
    control: Arc<Control>,
    finished: watch::Receiver<bool>,
}

/// Starts `model` (one of the thread-based ones) on `listener`, serving
/// what `admission` lets in.
pub fn start(
    model: ServerModel,
    errors: HandlerStyle,
    listener: TcpListener,
    probe: Probe,
    admission: SharedAdmission,
) -> std::io::Result<ThreadServer> {
    let control = Arc::new(Control::new(probe.buffers().clone(), admission, errors));
    let (done, finished) = watch::channel(false);
    let thread_control = Arc::clone(&control);
    let name = format!("{model:?} server");
    std::thread::Builder::new().name(name).spawn(move || {
        // However the thread ends (even by an error or a panic that skipped
        // a connection's close): lets go of every copy kept of its sockets,
        // so no connection outlives it, then tells the async side.
        struct Finished {
            done: watch::Sender<bool>,
            control: Arc<Control>,
            buffers: OpenSockets,
        }
        impl Drop for Finished {
            fn drop(&mut self) {
                self.control.listener().take();
                self.buffers.forget_all();
                let _ = self.done.send(true);
            }
        }
        let _finished = Finished {
            done,
            control: Arc::clone(&thread_control),
            buffers: probe.buffers().clone(),
        };
        probe.serving_on_this_thread();
        if let Ok(addr) = listener.local_addr() {
            probe.emit(EventKind::Listening {
                addr: addr.to_string(),
                model,
                errors,
            });
        }
        match model {
            ServerModel::Blocking => blocking::serve(listener, &probe, &thread_control),
            ServerModel::BusyPoll => busy_poll::serve(listener, &probe, &thread_control),
            ServerModel::Selector => selector::serve(listener, &probe, &thread_control),
            ServerModel::AsyncTasks => unreachable!("the tokio model runs on the runtime"),
        }
    })?;
    Ok(ThreadServer { control, finished })
}

impl ThreadServer {
    /// The thread's controls (pause, step).
    pub fn control(&self) -> &Control {
        &self.control
    }

    async fn finished(&self) {
        let mut finished = self.finished.clone();
        let _ = finished.wait_for(|finished| *finished).await;
    }

    /// Stops accepting, lets connections finish for `grace`, then closes
    /// the rest; reports each phase.
    pub async fn shut_down(&self, probe: &Probe, grace: Duration) {
        // Known before the loop wakes to stop accepting, so that its next
        // select() already waits at most until it.
        let deadline = probe.now() + grace.as_micros() as u64;
        self.control
            .deadline_us
            .store(deadline.max(1), Ordering::Relaxed);
        self.control.begin_stop_accepting();
        // A paused loop must run to notice.
        self.control.gate.set_paused(false);
        probe.emit(EventKind::Shutdown {
            phase: ShutdownPhase::StopAccepting,
        });
        probe.emit(EventKind::Shutdown {
            phase: ShutdownPhase::Draining { deadline },
        });
        if tokio::time::timeout(grace, self.finished()).await.is_err() {
            probe.emit(EventKind::Shutdown {
                phase: ShutdownPhase::Cancelling,
            });
            self.control.begin_cancel();
            self.finished().await;
        }
        probe.emit(EventKind::Shutdown {
            phase: ShutdownPhase::Stopped,
        });
    }

    /// Stops at once and waits until the thread has exited and the port is
    /// free (the control's clones of its sockets are let go too).
    pub async fn stop_now(&self) {
        self.control.begin_stop_accepting();
        self.control.begin_cancel();
        self.finished().await;
    }
}

/// A client's error in a handler's `call`, as the OS put it. Handled (`except
/// ConnectionError` in the listing): reported, and the caller closes that
/// connection. Unhandled: it escapes the loop and the server dies, as the
/// Python program would: every socket is closed and the thread ends.
pub(crate) fn caught(
    probe: &Probe,
    control: &Control,
    conn: ConnId,
    call: Call,
    error: &std::io::Error,
) {
    match control.errors {
        HandlerStyle::Handled => {
            probe.emit(EventKind::ErrorHandled {
                conn,
                error: error.to_string(),
            });
        }
        HandlerStyle::Unhandled => {
            probe.emit(EventKind::ServerCrashed {
                error: error.to_string(),
                call: Some(call),
            });
            control.begin_stop_accepting();
            control.begin_cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How long the test waits for the loop's thread before it fails.
    const PATIENCE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn a_paused_gate_lets_one_iteration_through_per_step_and_says_paused_after_each() {
        let (probe, mut events) = crate::probe::channel(64);
        let gate = Arc::new(Gate::new());
        gate.set_paused(true);
        let passes = Arc::new(AtomicU64::new(0));
        let (parked, stops) = std::sync::mpsc::channel();
        let looping = {
            let (gate, passes) = (Arc::clone(&gate), Arc::clone(&passes));
            std::thread::spawn(move || {
                while gate.pass(&probe, || parked.send(()).unwrap()) {
                    passes.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        stops
            .recv_timeout(PATIENCE)
            .expect("the loop stops at the gate");
        assert_eq!(passes.load(Ordering::SeqCst), 0, "paused: no iteration");
        for step in 1..=3 {
            gate.step();
            stops.recv_timeout(PATIENCE).expect("back at the gate");
            assert_eq!(passes.load(Ordering::SeqCst), step, "one per step");
        }
        gate.close();
        looping.join().unwrap();
        let batch = events.next_batch(Duration::ZERO, 100).await.unwrap();
        let kinds: Vec<EventKind> = batch.into_iter().map(|event| event.kind).collect();
        assert_eq!(
            kinds,
            vec![EventKind::Stepping { paused: true }; 3],
            "paused again after each step, not when first paused (the pause said so)"
        );
    }
}
