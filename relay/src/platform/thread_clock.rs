//! A thread's CPU time (user + system), read from another thread: a lab's
//! server thread says who it is ([`current_thread`]) and the lab's reporter
//! reads its time ([`thread_time`]) while it is parked in `accept()` or
//! spinning, whichever model runs it.
//!
//! * Linux: the kernel's thread id (`gettid`) and
//!   `/proc/self/task/<tid>/stat`, which is simply gone once the thread has
//!   ended, so no handle to a dead thread is ever used. Its unit is the
//!   clock tick (10 ms), plenty for a once-a-second percentage.
//! * macOS: the thread's Mach port (`pthread_mach_thread_np`) and
//!   `thread_info(THREAD_BASIC_INFO)`, which fails once the thread has
//!   ended. Its unit is the microsecond.

use std::time::Duration;

/// Which thread: a Linux thread id or a macOS Mach port name; 0 is none.
pub type ThreadId = i32;

/// The calling thread.
pub fn current_thread() -> ThreadId {
    imp::current_thread()
}

/// CPU time thread `thread` of this process has used, or `None` if there is
/// no such thread (any more).
pub fn thread_time(thread: ThreadId) -> Option<Duration> {
    if thread == 0 {
        return None;
    }
    imp::thread_time(thread)
}

#[cfg(target_os = "linux")]
mod imp {
    use std::time::Duration;

    use super::ThreadId;

    pub fn current_thread() -> ThreadId {
        // SAFETY: gettid has no preconditions and cannot fail.
        unsafe { libc::gettid() }
    }

    pub fn thread_time(tid: ThreadId) -> Option<Duration> {
        if tid < 0 {
            return None;
        }
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
        parse_stat_time(&stat, ticks_per_second())
    }

    fn ticks_per_second() -> u64 {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
    }

    /// User + system time from a `/proc/…/stat` line: fields 14 and 15,
    /// counted after the command name, which is in parentheses and may
    /// itself hold spaces and parentheses (a thread named "Selector server").
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
}

#[cfg(target_os = "macos")]
mod imp {
    use std::mem::MaybeUninit;
    use std::time::Duration;

    use super::ThreadId;

    pub fn current_thread() -> ThreadId {
        // SAFETY: pthread_self is the calling thread, alive for the call.
        let port = unsafe { libc::pthread_mach_thread_np(libc::pthread_self()) };
        // A port name is a 32-bit number: kept bit for bit.
        port as ThreadId
    }

    pub fn thread_time(thread: ThreadId) -> Option<Duration> {
        let mut info = MaybeUninit::<libc::thread_basic_info>::zeroed();
        let mut count = libc::THREAD_BASIC_INFO_COUNT;
        // SAFETY: `info` is a writable thread_basic_info and `count` its
        // size in integers; a port that names no live thread is refused.
        let status = unsafe {
            libc::thread_info(
                thread as libc::mach_port_t,
                libc::THREAD_BASIC_INFO as libc::thread_flavor_t,
                info.as_mut_ptr().cast(),
                &raw mut count,
            )
        };
        if status != libc::KERN_SUCCESS {
            return None;
        }
        // SAFETY: thread_info filled it (and zeroed is a valid one anyway).
        let info = unsafe { info.assume_init() };
        let time = |t: libc::time_value_t| {
            Duration::from_secs(t.seconds.max(0) as u64)
                + Duration::from_micros(t.microseconds.max(0) as u64)
        };
        Some(time(info.user_time) + time(info.system_time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn the_time_is_read_after_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (Selector (x) server) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(
            imp::parse_stat_time(stat, 100),
            Some(Duration::from_millis(3000))
        );
        assert_eq!(imp::parse_stat_time("garbage", 100), None);
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
        assert_ne!(spinner, sleeper);
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
        assert_eq!(thread_time(0), None, "0 is no thread");
    }
}
