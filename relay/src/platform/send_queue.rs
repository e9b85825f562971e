//! Bytes written to a connected socket but not yet taken by the peer (what
//! `ss` shows as Send-Q), for the buffers view.
//!
//! * Linux: `ioctl(TIOCOUTQ)` (`SIOCOUTQ` on a socket).
//! * macOS: `getsockopt(SOL_SOCKET, SO_NWRITE)`.

use std::os::fd::RawFd;

/// Unsent bytes of socket `fd`, or `None` if the system would not say.
#[cfg(target_os = "linux")]
pub fn unsent(fd: RawFd) -> Option<u64> {
    let mut unsent: libc::c_int = 0;
    // SAFETY: `fd` is an open socket for the call, and TIOCOUTQ writes one
    // c_int to the pointer it is given.
    if unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &raw mut unsent) } != 0 {
        return None;
    }
    u64::try_from(unsent).ok()
}

/// Unsent bytes of socket `fd`, or `None` if the system would not say.
#[cfg(target_os = "macos")]
pub fn unsent(fd: RawFd) -> Option<u64> {
    let mut unsent: libc::c_int = 0;
    let mut size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` is an open socket for the call; SO_NWRITE writes one
    // c_int, whose size we pass.
    let status = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_NWRITE,
            (&raw mut unsent).cast(),
            &raw mut size,
        )
    };
    if status != 0 {
        return None;
    }
    u64::try_from(unsent).ok()
}
