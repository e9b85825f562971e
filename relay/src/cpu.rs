//! CPU time, as the kernel counts it: of one thread (a lab's echo server,
//! reported to its page as `cpu` events whatever the model) and of the
//! whole relay, for the host's dashboard.
//!
//! A thread's time comes from `/proc/self/task/<tid>/stat`, which another
//! thread may read at any time, and which is simply gone once the thread
//! has ended (no handle to a dead thread is ever used). Its unit is the
//! clock tick (10 ms on Linux), plenty for a once-a-second percentage.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use protocol::EventKind;
use tokio_util::sync::CancellationToken;

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

/// The kernel's id of the calling thread.
pub fn current_thread() -> i32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() }
}

/// CPU time (user + system) thread `tid` of this process has used, or
/// `None` if there is no such thread (any more).
pub fn thread_time(tid: i32) -> Option<Duration> {
    if tid <= 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    parse_stat_time(&stat, ticks_per_second())
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

fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// User + system time from a `/proc/…/stat` line: fields 14 and 15,
/// counted after the command name, which is in parentheses and may itself
/// hold spaces and parentheses (a thread named "Selector server").
pub fn parse_stat_time(stat: &str, ticks_per_second: u64) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name: utime is field 14.
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    let ticks = user + system;
    Some(Duration::from_micros(
        ticks * 1_000_000 / ticks_per_second.max(1),
    ))
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
    fn the_time_is_read_after_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (Selector (x) server) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(
            parse_stat_time(stat, 100),
            Some(Duration::from_millis(3000))
        );
        assert_eq!(parse_stat_time("garbage", 100), None);
    }

    #[test]
    fn a_spinning_thread_is_seen_using_its_core_and_a_parked_one_is_not() {
        let (tid_sender, tids) = std::sync::mpsc::channel();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spinning = {
            let stop = std::sync::Arc::clone(&stop);
            let tid_sender = tid_sender.clone();
            std::thread::spawn(move || {
                tid_sender.send(("spinning", current_thread())).unwrap();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        };
        let (wake, parked_until) = std::sync::mpsc::channel::<()>();
        let parked = std::thread::spawn(move || {
            tid_sender.send(("parked", current_thread())).unwrap();
            let _ = parked_until.recv();
        });
        // The two threads start in either order.
        let (first, second) = (tids.recv().unwrap(), tids.recv().unwrap());
        let (spinner, sleeper) = if first.0 == "spinning" {
            (first.1, second.1)
        } else {
            (second.1, first.1)
        };
        let before = thread_time(spinner).unwrap();
        // CPU time is what is measured, so the wait is in CPU time too:
        // until the spinner has used 200 ms of its own.
        while thread_time(spinner).unwrap() < before + Duration::from_millis(200) {
            std::thread::yield_now();
        }
        assert!(thread_time(sleeper).unwrap() < Duration::from_millis(50));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        wake.send(()).unwrap();
        spinning.join().unwrap();
        parked.join().unwrap();
        // The kernel lets go of a joined thread's entry a moment later.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while thread_time(spinner).is_some() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(thread_time(spinner), None, "an ended thread has no time");
        assert_eq!(
            percent(Duration::from_millis(500), Duration::from_secs(1)),
            50.0
        );
    }
}
