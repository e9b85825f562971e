//! Running the calling thread only when no other thread of the machine
//! wants the core: the busy-polling server still burns every cycle nobody
//! else wants (the lesson), but a room's other labs and the relay itself
//! always come first.
//!
//! * Linux: the `SCHED_IDLE` scheduling policy.
//! * macOS: the thread's background priority band
//!   (`setpriority(PRIO_DARWIN_THREAD, 0, PRIO_DARWIN_BG)`, which also
//!   throttles its disk and network I/O).
//!
//! `relay/tests/room.rs` checks, on Linux, that a busy-poll lab's thread
//! runs under `SCHED_IDLE`.

/// Puts the calling thread at the lowest priority the system has.
#[cfg(target_os = "linux")]
pub fn run_at_idle_priority() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param; pid 0 is the calling thread.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &raw const param) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Puts the calling thread at the lowest priority the system has.
#[cfg(target_os = "macos")]
pub fn run_at_idle_priority() -> std::io::Result<()> {
    // SAFETY: plain call; with PRIO_DARWIN_THREAD, `who` 0 is the calling
    // thread.
    if unsafe { libc::setpriority(libc::PRIO_DARWIN_THREAD, 0, libc::PRIO_DARWIN_BG) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
