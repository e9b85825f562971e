//! Kernel memory is a resource too: flood clients that never read pin what
//! they sent in socket buffers, memory the relay's own RSS never shows. A
//! lab's floods are bounded by its in-flight budget and its sockets'
//! buffer sizes. (Alone in its test binary, so that no other test's sockets
//! move the host-wide count it reads.)

mod support;

use std::time::{Duration, Instant};

use loopscope_relay::Config;
use protocol::{ClientBehaviour, Command, EventKind, Limits};
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

/// Samples the TCP memory until it has not grown for a second (the floods
/// are stuck); returns the highest value seen.
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

#[tokio::test]
async fn floods_at_the_cap_leave_kernel_tcp_memory_bounded() {
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
    events_until(&mut socket, |seen| {
        count(seen, |kind| matches!(kind, EventKind::Accepted { .. })) >= 16
    })
    .await;
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
    let peak = settled_tcp_memory_pages().await;
    let grown = peak.saturating_sub(before) * 4096;
    eprintln!(
        "TCP memory grew by {} KiB with 16 floods stuck",
        grown / 1024
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
