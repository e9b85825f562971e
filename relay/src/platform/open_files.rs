//! The open-file limit: a relay holds a descriptor per socket, so it raises
//! its soft limit as far as the system lets it and sizes the labs' budget
//! from what it got.
//!
//! * Linux: up to the hard limit.
//! * macOS: up to the hard limit, but never past `OPEN_MAX` (10,240): the
//!   hard limit often reads as infinite, yet `setrlimit` refuses more.

/// The most a soft limit may be raised to, given the hard limit.
fn ceiling(hard: libc::rlim_t) -> libc::rlim_t {
    if cfg!(target_os = "macos") {
        hard.min(10_240)
    } else {
        hard
    }
}

/// Raises this process's soft open-file limit as far as allowed and returns
/// the limit now in force.
pub fn raise_open_file_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let ceiling = ceiling(limit.rlim_max);
    if limit.rlim_cur < ceiling {
        let raised = libc::rlimit {
            rlim_cur: ceiling,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const raised) } == 0 {
            limit.rlim_cur = ceiling;
        }
    }
    // `rlim_t` is not `u64` on every platform.
    #[allow(clippy::unnecessary_cast)]
    Ok(limit.rlim_cur as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_is_raised_as_far_as_allowed() {
        let now = raise_open_file_limit().unwrap();
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a valid, writable rlimit.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) },
            0
        );
        #[allow(clippy::unnecessary_cast)]
        let current = limit.rlim_cur as u64;
        assert_eq!(current, now);
        assert_eq!(limit.rlim_cur, ceiling(limit.rlim_max));
    }
}
