//! How many connections wait in a listener's accept queue: handshakes the
//! kernel has completed that the server has not yet `accept()`ed. The
//! blocking server shows them as its backlog while its one thread is busy
//! with another client.
//!
//! * Linux: `getsockopt(TCP_INFO)`, which reports a listener's queue
//!   length in `tcpi_unacked`.
//! * macOS: a kqueue watching the listener for reading; for a listening
//!   socket the event's `data` is the length of its accept queue (see
//!   `kqueue(2)`: "data contains the size of the listen backlog"), and no
//!   event at all means an empty queue.

use std::io;
use std::net::TcpListener;

/// Reads one listener's accept queue, for as long as it is borrowed.
pub struct ListenQueue<'a> {
    listener: &'a TcpListener,
    #[cfg(target_os = "macos")]
    kqueue: std::os::fd::OwnedFd,
}

impl<'a> ListenQueue<'a> {
    /// Gets ready to read `listener`'s queue.
    #[cfg(target_os = "linux")]
    pub fn watch(listener: &'a TcpListener) -> io::Result<Self> {
        Ok(ListenQueue { listener })
    }

    /// Connections waiting to be accepted now, or `None` if the system
    /// would not say (the listener is closed).
    #[cfg(target_os = "linux")]
    pub fn waiting(&self) -> Option<u32> {
        use std::os::fd::AsRawFd;
        // SAFETY: tcp_info is plain integers, for which zero is valid.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut length = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: `info` is a valid, writable tcp_info and `length` its size;
        // the fd is a live socket owned by the borrowed listener.
        let status = unsafe {
            libc::getsockopt(
                self.listener.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&raw mut info).cast(),
                &raw mut length,
            )
        };
        (status == 0).then_some(info.tcpi_unacked)
    }

    /// Gets ready to read `listener`'s queue: a kqueue of its own that
    /// watches the listener for reading (level-triggered, so every look
    /// sees the queue as it is).
    #[cfg(target_os = "macos")]
    pub fn watch(listener: &'a TcpListener) -> io::Result<Self> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        // SAFETY: kqueue takes no arguments.
        let queue = unsafe { libc::kqueue() };
        if queue < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `queue` is a new descriptor that nothing else owns.
        let kqueue = unsafe { OwnedFd::from_raw_fd(queue) };
        // SAFETY: kevent is plain integers and a pointer, for which zero is valid.
        let mut interest: libc::kevent = unsafe { std::mem::zeroed() };
        interest.ident = listener.as_raw_fd() as libc::uintptr_t;
        interest.filter = libc::EVFILT_READ;
        interest.flags = libc::EV_ADD;
        // SAFETY: one valid change, no event list, a live kqueue.
        let status = unsafe {
            libc::kevent(
                kqueue.as_raw_fd(),
                &raw const interest,
                1,
                std::ptr::null_mut(),
                0,
                std::ptr::null(),
            )
        };
        if status < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ListenQueue { listener, kqueue })
    }

    /// Connections waiting to be accepted now, or `None` if the system
    /// would not say.
    #[cfg(target_os = "macos")]
    pub fn waiting(&self) -> Option<u32> {
        use std::os::fd::AsRawFd;
        let _ = self.listener;
        // SAFETY: as in `watch`.
        let mut ready: libc::kevent = unsafe { std::mem::zeroed() };
        let now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: room for one event, a zero timeout, a live kqueue.
        let found = unsafe {
            libc::kevent(
                self.kqueue.as_raw_fd(),
                std::ptr::null(),
                0,
                &raw mut ready,
                1,
                &raw const now,
            )
        };
        match found {
            0 => Some(0),
            1 if ready.flags & libc::EV_ERROR == 0 => u32::try_from(ready.data).ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;

    use super::*;

    /// Waits until `queue` reads `expected`, a state that lasts once
    /// reached (nothing else connects or accepts), for up to a minute.
    fn wait_until_waiting(queue: &ListenQueue<'_>, expected: u32) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while queue.waiting() != Some(expected) && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(queue.waiting(), Some(expected));
    }

    #[test]
    fn connections_not_yet_accepted_are_counted_and_leave_when_accepted() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let queue = ListenQueue::watch(&listener).unwrap();
        assert_eq!(queue.waiting(), Some(0));
        let clients: Vec<TcpStream> = (0..3)
            .map(|_| TcpStream::connect(address).unwrap())
            .collect();
        // The server's side of a handshake completes a moment after the
        // client's connect returns.
        wait_until_waiting(&queue, 3);
        let accepted = listener.accept().unwrap();
        wait_until_waiting(&queue, 2);
        drop((clients, accepted));
    }
}
