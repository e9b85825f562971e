//! The lesson's vocabulary, defined once: the help overlay lists every term,
//! and the page puts a term's definition where the term appears (a lane's
//! state, a counter, a column of the selector table) as its hover text.
//! Pure data and lookups.

/// A term of the lesson: its key (as the page's lane classes and counter
/// ids name it), the words shown, and what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Term {
    /// How the page refers to it.
    pub key: &'static str,
    /// The term.
    pub term: &'static str,
    /// What it means, in a sentence or two.
    pub meaning: &'static str,
}

/// Every term, in the order a learner meets them.
pub const TERMS: &[Term] = &[
    Term {
        key: "backlog",
        term: "listen backlog",
        meaning: "Connections the kernel has completed but the server has not accept()ed yet: \
                  the client is connected, and waits.",
    },
    Term {
        key: "blocked",
        term: "blocking call",
        meaning: "accept(), recv() or sendall() on a blocking socket parks the thread until it can \
                  return: while it waits, the thread can do nothing else.",
    },
    Term {
        key: "would-block",
        term: "would block",
        meaning: "A non-blocking call that cannot finish at once (nothing to read, no room to send, \
                  nobody connecting) raises BlockingIOError instead of waiting: a try wasted.",
    },
    Term {
        key: "polling",
        term: "polled",
        meaning: "The busy-poll loop tried this socket and found nothing to do; it will try again \
                  on its next pass, a few microseconds later.",
    },
    Term {
        key: "registered",
        term: "registered",
        meaning: "The socket is in the selector with an interest (read or write): select() will \
                  report it when it is ready for that.",
    },
    Term {
        key: "ready",
        term: "ready set",
        meaning: "What select() returns: the registered sockets that can be read or written now \
                  without blocking. A ready task is one woken for such a socket, waiting its turn \
                  to run.",
    },
    Term {
        key: "accepted",
        term: "accepted",
        meaning: "accept() returned this connection; its handler has not started yet.",
    },
    Term {
        key: "running",
        term: "running",
        meaning: "The server's one thread runs this connection's code (a callback, or a task \
                  resumed), so it runs nothing else meanwhile.",
    },
    Term {
        key: "waiting",
        term: "suspended",
        meaning: "The task stopped at an await (sock_recv, sock_sendall) whose socket was not \
                  ready; the loop resumes it once select() says the socket is.",
    },
    Term {
        key: "done",
        term: "done",
        meaning: "The handler returned: the client closed its side and the server closed the \
                  connection.",
    },
    Term {
        key: "failed",
        term: "failed",
        meaning: "An error ended the handler (a reset connection, say) and nothing caught it, or \
                  the whole server crashed under it.",
    },
    Term {
        key: "cancelled",
        term: "cancelled",
        meaning: "A shutdown's grace period ended while it still ran: asyncio raised \
                  CancelledError at its await (or the server closed its connection).",
    },
    Term {
        key: "closed",
        term: "closed",
        meaning: "The server closed the connection.",
    },
    Term {
        key: "iteration",
        term: "loop iteration",
        meaning: "One turn of the server's loop: one select() and the callbacks or tasks it made \
                  ready (busy poll: one pass over every socket).",
    },
    Term {
        key: "grace",
        term: "grace period",
        meaning: "In a graceful shutdown, how long the clients in flight may finish after the \
                  listener closes, before the rest are cancelled.",
    },
    Term {
        key: "unhandled",
        term: "unhandled error",
        meaning: "An exception no except catches. In a loop it ends the server for everyone; in \
                  an asyncio task it ends that task only, and asyncio reports it late: \"Task \
                  exception was never retrieved\".",
    },
];

/// What the term with `key` means ("" for an unknown key).
pub fn meaning(key: &str) -> &'static str {
    TERMS
        .iter()
        .find(|term| term.key == key)
        .map_or("", |term| term.meaning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lane_state_and_counter_term_is_defined_once() {
        // Every state the lanes draw, and their would-block ticks.
        for key in crate::model::world::lanes::CLASSES
            .into_iter()
            .chain(["would-block"])
        {
            assert!(!meaning(key).is_empty(), "{key}");
            assert_eq!(
                TERMS.iter().filter(|term| term.key == key).count(),
                1,
                "{key}"
            );
        }
        assert_eq!(meaning("no such term"), "");
    }
}
