//! The task probe of the tokio model: a wrapper future and a wrapper waker
//! that report what the runtime does with a task, without changing it.
//!
//! [`Instrumented`] reports each poll (`task_polled`, with how long it ran and
//! whether it returned `Ready`); [`TaskWaker`] stands between the task and
//! the runtime's waker and reports each wake (`task_woken`): a socket became
//! ready and the reactor woke the task, which the loop will poll next. What
//! the task waits on when it returns `Pending` is reported by the handler
//! itself, where it knows (see `echo`).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use protocol::{EventKind, TaskId};

use crate::probe::Probe;

/// A future whose polls and wakes are reported.
pub struct Instrumented<F> {
    inner: Pin<Box<F>>,
    waker: Arc<TaskWaker>,
}

/// The waker handed to the task: reports the wake, then wakes the task for
/// real.
pub struct TaskWaker {
    task: TaskId,
    probe: Probe,
    runtime_waker: Mutex<Option<Waker>>,
}

impl<F: Future> Instrumented<F> {
    /// Wraps `inner`, the body of `task`.
    pub fn new(task: TaskId, probe: Probe, inner: F) -> Self {
        Instrumented {
            inner: Box::pin(inner),
            waker: Arc::new(TaskWaker {
                task,
                probe,
                runtime_waker: Mutex::new(None),
            }),
        }
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        {
            let mut slot = this
                .waker
                .runtime_waker
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if !slot
                .as_ref()
                .is_some_and(|waker| waker.will_wake(cx.waker()))
            {
                *slot = Some(cx.waker().clone());
            }
        }
        let waker = Waker::from(Arc::clone(&this.waker));
        let started = Instant::now();
        let result = this.inner.as_mut().poll(&mut Context::from_waker(&waker));
        this.waker.probe.emit(EventKind::TaskPolled {
            task: this.waker.task,
            duration_us: started.elapsed().as_micros() as u64,
            ready: result.is_ready(),
        });
        result
    }
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.probe.emit(EventKind::TaskWoken { task: self.task });
        let slot = self
            .runtime_waker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(waker) = slot.as_ref() {
            waker.wake_by_ref();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_task_that_waits_once_is_polled_twice_and_woken_once() {
        let (probe, mut events) = crate::probe::channel(64);
        let (send, receive) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(Instrumented::new(TaskId(7), probe, async move {
            receive.await.unwrap();
        }));
        // First poll: the task waits on the channel.
        let first = events.next_batch(Duration::ZERO, 10).await.unwrap();
        assert!(matches!(
            first[0].kind,
            EventKind::TaskPolled {
                task: TaskId(7),
                ready: false,
                ..
            }
        ));
        send.send(()).unwrap();
        task.await.unwrap();
        let mut kinds = Vec::new();
        while kinds.len() < 2 {
            kinds.extend(
                events
                    .next_batch(Duration::ZERO, 10)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|event| event.kind),
            );
        }
        assert_eq!(kinds[0], EventKind::TaskWoken { task: TaskId(7) });
        assert!(matches!(
            kinds[1],
            EventKind::TaskPolled {
                task: TaskId(7),
                ready: true,
                ..
            }
        ));
    }
}
