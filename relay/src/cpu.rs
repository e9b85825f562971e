//! CPU time, as the kernel counts it: of one thread (a lab's echo server,
//! reported to its page as `cpu` events whatever the model) and of the
//! whole relay, for the host's dashboard.
//!
//! A thread's time is read as each system allows
//! ([`crate::platform::thread_clock`]).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use protocol::EventKind;
use tokio_util::sync::CancellationToken;

pub use crate::platform::thread_clock::{ThreadId, current_thread, thread_time};
use crate::probe::Probe;

/// How often a lab reports its server thread's CPU: ten clock ticks, so a
/// share reads to within 10%, twice a second.
pub const REPORT_PERIOD: Duration = Duration::from_millis(500);

/// Reports the CPU time of the lab's server thread, whichever model runs
/// it (a thread parked in `accept()` or `epoll_wait` uses none, a busy
/// poll all it gets), as a `cpu` event every [`REPORT_PERIOD`], until
/// `stop`. A restarted server is a new thread: its first window starts
/// with it.
pub async fn report_until(probe: Probe, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(REPORT_PERIOD);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last: Option<(i32, Duration, Instant)> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let tid = probe.gauge().server_thread.load(Ordering::Relaxed);
        let now = Instant::now();
        let Some(used) = thread_time(tid) else {
            last = None;
            continue;
        };
        if let Some((was_tid, was_used, was_at)) = last
            && was_tid == tid
        {
            let window = now.duration_since(was_at);
            probe.emit(EventKind::Cpu {
                busy_us: used.saturating_sub(was_used).min(window).as_micros() as u64,
                window_us: window.as_micros() as u64,
            });
        }
        last = Some((tid, used, now));
    }
}

/// CPU time (user + system) the whole relay has used.
pub fn process_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid, writable rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
        return Duration::ZERO;
    }
    // SAFETY: getrusage filled it (and zeroed is a valid rusage anyway).
    let usage = unsafe { usage.assume_init() };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// The cores this process may run on.
pub fn cores() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

/// `used` CPU time over `elapsed` wall time, in % of one core.
pub fn percent(used: Duration, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        return 0.0;
    }
    (used.as_secs_f64() / elapsed.as_secs_f64() * 100.0 * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_is_in_percent_of_one_core_to_a_tenth() {
        assert_eq!(
            percent(Duration::from_millis(500), Duration::from_secs(1)),
            50.0
        );
        assert_eq!(
            percent(Duration::from_millis(1_234), Duration::from_secs(1)),
            123.4
        );
        assert_eq!(percent(Duration::from_secs(1), Duration::ZERO), 0.0);
    }
}
