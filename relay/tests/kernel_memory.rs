//! Kernel memory is a resource too: flood clients that never read pin what
//! they sent in socket buffers, memory the relay's own RSS never shows. A
//! lab's floods are bounded by its in-flight budget and its sockets'
//! buffer sizes: they do pin memory (the relay's samples of the server's
//! ends show their buffers full, and the host's TCP memory grows), up to
//! the budget and not past it. (Alone in its test binary, so that no other
//! test's sockets move the host-wide count it reads.)

mod support;

use std::time::{Duration, Instant};

use loopscope_relay::Config;
use std::collections::BTreeMap;

use protocol::{ClientBehaviour, Command, ConnId, Event, EventKind, Limits};
use support::*;

/// Pages of memory all TCP sockets of the host hold (`/proc/net/sockstat`).
fn tcp_memory_pages() -> u64 {
    let sockstat = std::fs::read_to_string("/proc/net/sockstat").unwrap();
    let line = sockstat
        .lines()
        .find(|line| line.starts_with("TCP:"))
        .unwrap();
    let mut words = line.split_whitespace();
    while let Some(word) = words.next() {
        if word == "mem" {
            return words.next().unwrap().parse().unwrap();
        }
    }
    panic!("no mem in {line}")
}

/// Samples the TCP memory until it has not grown for a second (the floods'
/// last bytes settled into their buffers); returns the highest value seen.
/// Called once the floods are stuck, so it looks for the peak, not for
/// the moment to measure.
async fn settled_tcp_memory_pages() -> u64 {
    let mut highest = tcp_memory_pages();
    let mut grew_at = Instant::now();
    let deadline = Instant::now() + PATIENCE;
    while grew_at.elapsed() < Duration::from_secs(1) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = tcp_memory_pages();
        if now > highest {
            highest = now;
            grew_at = Instant::now();
        }
    }
    highest
}

/// Bytes of echo a stuck flood's server end holds at least, waiting for the
/// flood to read them (it never does): half of its send buffer (64 KiB,
/// doubled by the kernel, which keeps some for its bookkeeping).
const STUCK_ECHO: u64 = 64 * 1024;

/// The latest buffer levels the relay sampled of each connection's server
/// end: (not yet read, not yet taken by the peer).
fn levels(events: &[Event]) -> BTreeMap<ConnId, (u64, u64)> {
    let mut levels = BTreeMap::new();
    for event in events {
        if let EventKind::Buffered {
            conn,
            recv_queue,
            send_queue,
        } = event.kind
        {
            levels.insert(conn, (recv_queue, send_queue));
        }
    }
    levels
}

/// Connections whose server end is stuck: it cannot send its echo (at
/// least [`STUCK_ECHO`] of it waits), so it reads no more of the flood,
/// which waits in its receive queue. A flood never reads: once stuck,
/// stuck for good.
fn stuck(events: &[Event]) -> usize {
    levels(events)
        .values()
        .filter(|&&(unread, untaken)| unread > 0 && untaken >= STUCK_ECHO)
        .count()
}

#[tokio::test]
async fn floods_at_the_cap_pin_kernel_memory_up_to_the_budget_and_no_further() {
    let lab_budget: u64 = 8 << 20;
    let relay = start_relay(Config {
        limits: Limits {
            max_lab_in_flight_bytes: lab_budget,
            ..Limits::default()
        },
        ..Config::default()
    })
    .await;
    let (mut socket, _) = open_lab(&relay).await;
    let before = tcp_memory_pages();
    // A flood of 64 MiB can fill four buffers (send and receive, at both
    // ends) of 64 KiB, which the kernel doubles: 512 KiB. The lab's 8 MiB
    // hold sixteen of them and not a seventeenth.
    let flood = ClientBehaviour::Flood { bytes: 64 << 20 };
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 16,
            behaviour: flood.clone(),
        },
    )
    .await;
    // The floods pin memory: every one of the sixteen is stuck, its
    // server end full both ways, as the relay samples it (a lasting
    // state: a flood never reads).
    let events = events_until(&mut socket, |seen| stuck(seen) == 16).await;
    let held: u64 = levels(&events)
        .values()
        .map(|(unread, untaken)| unread + untaken)
        .sum();
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 1,
            behaviour: flood,
        },
    )
    .await;
    let refusal = next_error(&mut socket).await;
    assert!(refusal.contains("kernel socket buffers"), "{refusal}");
    assert!(
        refusal.contains("this lab has 0 of 8192 KiB left"),
        "the sixteen took the whole budget: {refusal}"
    );
    let peak = settled_tcp_memory_pages().await;
    let grown = peak.saturating_sub(before) * 4096;
    eprintln!(
        "TCP memory grew by {} KiB with 16 floods stuck; their server ends hold {} KiB",
        grown / 1024,
        held / 1024
    );
    // Pinned: at least what the server ends hold, in the host's count too
    // (which the kernel's bookkeeping only adds to; half of it, for the
    // rest of the machine's sockets coming and going).
    assert!(
        grown >= held / 2,
        "TCP memory grew by {} KiB only, the servers' ends hold {} KiB",
        grown / 1024,
        held / 1024
    );
    // Unbounded, sixteen stuck floods pin several MB each under Linux's
    // default autotuning (over 100 MB); bounded, at most the lab's budget
    // (with room for the kernel's own bookkeeping and the rest of the
    // machine).
    assert!(
        grown < 2 * lab_budget,
        "TCP memory grew by {} KiB",
        grown / 1024
    );
    relay.stop.cancel();
}
