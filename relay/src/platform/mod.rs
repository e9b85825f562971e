//! What the relay asks of the operating system that Linux and macOS answer
//! differently, one concern per module. Each module holds its Linux and its
//! macOS version side by side behind `cfg`, and the rest of the relay calls
//! them without ever naming a platform:
//!
//! * [`thread_clock`]: a thread's CPU time, read from another thread;
//! * [`listen_queue`]: how many connections wait in a listener's accept
//!   queue (the blocking server's backlog);
//! * [`send_queue`]: bytes written to a socket but not yet taken by the peer;
//! * [`idle_priority`]: running a thread only when nobody else wants the core
//!   (the busy-polling server);
//! * [`open_files`]: raising the open-file limit as far as the system allows.
//!
//! The tests run on Linux. The macOS versions are compiled and linted for
//! both Mac targets by the test command, but not run there, so each is a
//! few documented calls and nothing more.

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
compile_error!("the relay runs on Linux and macOS (on Windows, inside WSL 2)");

pub mod idle_priority;
pub mod listen_queue;
pub mod open_files;
pub mod send_queue;
pub mod thread_clock;
