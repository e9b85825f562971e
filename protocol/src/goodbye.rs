//! How a client tells the server's goodbye line ([`GOODBYE`]) from an echo:
//! the one reading rule the simulated clients and the live ones share, so
//! that both count the same bytes as echoed and say the same "told
//! goodbye". Pure byte comparison, no I/O.
//!
//! A client checks every byte it reads back against what it sent. Under
//! [`ShutdownPolicy::NotifyFirst`](crate::ShutdownPolicy::NotifyFirst) the
//! server writes the goodbye line wherever the connection stands: before an
//! echo, between two, or after part of one. So the first byte that is not
//! the echo may be the goodbye's first, or the goodbye may have begun a few
//! bytes earlier with bytes that happened to match the echo too. Anything
//! else is a wrong echo, as before.

use crate::GOODBYE;

/// What bytes a client read back turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadBack {
    /// All of them are the echo expected.
    Echo,
    /// The first `echo` bytes of the expected echo came back; from there on
    /// the bytes are the goodbye line, `heard` bytes of it so far (the
    /// whole line when `heard` is `GOODBYE.len()`).
    Goodbye {
        /// Bytes of the echo that came back before the goodbye.
        echo: usize,
        /// Bytes of the goodbye read so far.
        heard: usize,
    },
    /// They differ from the echo and are no goodbye.
    Wrong,
}

/// Checks `read`, the bytes just read, against `expected`, the echo a
/// client waits for, of which the first `checked` bytes already came back.
/// A silent client expects nothing: `expected` is empty.
pub fn read_back(expected: &[u8], checked: usize, read: &[u8]) -> ReadBack {
    let rest = &expected[checked.min(expected.len())..];
    let matching = read
        .iter()
        .zip(rest)
        .take_while(|(got, want)| got == want)
        .count();
    if matching == read.len() {
        return ReadBack::Echo;
    }
    // The goodbye covers the first byte that differs and all that follows;
    // it may have begun up to a line's length before it.
    let differs = checked + matching;
    let tail = &read[matching..];
    (differs.saturating_sub(GOODBYE.len() - 1)..=differs)
        .find(|&start| {
            let before = &expected[start..differs];
            GOODBYE.starts_with(before) && GOODBYE[before.len()..].starts_with(tail)
        })
        .map_or(ReadBack::Wrong, |start| ReadBack::Goodbye {
            echo: start,
            heard: differs - start + tail.len(),
        })
}

/// Goes on reading a goodbye line of which `heard` bytes came: the bytes
/// heard once `read` is added, or `None` if `read` does not continue it.
pub fn goodbye_continues(heard: usize, read: &[u8]) -> Option<usize> {
    GOODBYE
        .get(heard..)
        .filter(|rest| rest.starts_with(read))
        .map(|_| heard + read.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_echo_expected_is_echo() {
        assert_eq!(read_back(b"hello", 0, b"hel"), ReadBack::Echo);
        assert_eq!(read_back(b"hello", 3, b"lo"), ReadBack::Echo);
    }

    #[test]
    fn a_goodbye_instead_of_an_echo_is_heard_whole_or_in_part() {
        assert_eq!(
            read_back(b"hello", 0, GOODBYE),
            ReadBack::Goodbye {
                echo: 0,
                heard: GOODBYE.len()
            }
        );
        assert_eq!(
            read_back(b"hello", 2, b"serv"),
            ReadBack::Goodbye { echo: 2, heard: 4 }
        );
        assert_eq!(goodbye_continues(4, &GOODBYE[4..10]), Some(10));
        assert_eq!(goodbye_continues(4, b"xyz"), None);
        assert_eq!(goodbye_continues(GOODBYE.len(), b"x"), None);
    }

    #[test]
    fn a_goodbye_that_began_with_bytes_matching_the_echo_starts_where_it_began() {
        // "as" expected: the goodbye's "s" matched the echo's second byte.
        assert_eq!(
            read_back(b"ask", 0, b"aserver"),
            ReadBack::Goodbye { echo: 1, heard: 6 }
        );
        // Already counted as echo in an earlier read.
        assert_eq!(
            read_back(b"ask", 2, b"erver"),
            ReadBack::Goodbye { echo: 1, heard: 6 }
        );
    }

    #[test]
    fn anything_else_is_a_wrong_echo() {
        assert_eq!(read_back(b"hello", 0, b"help"), ReadBack::Wrong);
        assert_eq!(read_back(b"", 0, b"hello"), ReadBack::Wrong);
        let mut too_long = GOODBYE.to_vec();
        too_long.push(b'!');
        assert_eq!(read_back(b"hello", 0, &too_long), ReadBack::Wrong);
    }
}
