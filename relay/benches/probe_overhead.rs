//! What watching costs: echo throughput of the tokio model with probes on
//! (events gathered, batched and serialised as a session does, buffers
//! sampled as a lab does) against probes off, under the same load.
//!
//! `cargo bench -p loopscope-relay --bench probe_overhead`: five rounds of
//! off then on, 4 s each (`LOOPSCOPE_BENCH_SECONDS` changes it), medians
//! reported, because on a small machine one run against one run is mostly
//! noise. docs/numbers.md has the numbers measured on the project's
//! machine.

use std::time::{Duration, Instant};

use std::sync::Arc;

use loopscope_relay::admission::Admission;
use loopscope_relay::probe;
use loopscope_relay::room::Budget;
use loopscope_relay::server::{self, Server};
use loopscope_relay::session::{BATCH_WINDOW, MAX_BATCH};
use protocol::{Limits, ServerMessage, ServerModel};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const CONNECTIONS: usize = 100;
const MESSAGE: usize = 1024;
const ROUNDS: usize = 5;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Bytes echoed per second with 100 connections sending 1 KiB messages and
/// waiting for each echo.
async fn throughput(probes: bool, run_for: Duration) -> f64 {
    let stop = CancellationToken::new();
    let probe = if probes {
        let (probe, mut events) = probe::channel(16384);
        // Forward as a session would, minus the socket.
        tokio::spawn(async move {
            while let Some(events) = events.next_batch(BATCH_WINDOW, MAX_BATCH).await {
                let frame = serde_json::to_string(&ServerMessage::Events { events }).unwrap();
                std::hint::black_box(frame);
            }
        });
        probe
    } else {
        probe::Probe::disabled()
    };
    // The server runs as in a lab: on its own current-thread runtime.
    let limits = Limits::default();
    let listener =
        server::bind("127.0.0.1:0".parse().unwrap(), limits.socket_buffer_bytes).unwrap();
    let addr = listener.local_addr().unwrap();
    // The clients connect from the page's own address (loopback).
    let admission = Admission::new(
        addr.ip(),
        CONNECTIONS as u32 + 8,
        Budget::new(limits.max_descriptors),
    );
    let _server = Server::start(
        ServerModel::AsyncTasks,
        protocol::HandlerStyle::Handled,
        listener,
        probe.clone(),
        &stop,
        Arc::new(admission),
    )
    .await
    .unwrap();
    if probes {
        // As in a lab: the connections' buffers sampled every 100 ms.
        tokio::spawn(
            probe
                .buffers()
                .clone()
                .sample_until(probe.clone(), stop.clone()),
        );
    }

    let deadline = Instant::now() + run_for;
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        clients.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let message = vec![b'x'; MESSAGE];
            let mut echo = vec![0; MESSAGE];
            let mut bytes = 0u64;
            while Instant::now() < deadline {
                stream.write_all(&message).await.unwrap();
                stream.read_exact(&mut echo).await.unwrap();
                bytes += MESSAGE as u64;
            }
            bytes
        }));
    }
    let mut total = 0;
    for client in clients {
        total += client.await.unwrap();
    }
    stop.cancel();
    total as f64 / run_for.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let seconds = std::env::var("LOOPSCOPE_BENCH_SECONDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(4);
    let run_for = Duration::from_secs(seconds);
    // Warm up the runtime and the loopback path.
    throughput(false, Duration::from_secs(1)).await;
    let (mut offs, mut ons) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        offs.push(throughput(false, run_for).await);
        ons.push(throughput(true, run_for).await);
    }
    let (off, on) = (median(offs), median(ons));
    let mib = |bytes: f64| bytes / f64::from(1 << 20);
    println!(
        "| probes | echo throughput, median of {ROUNDS} runs of {seconds} s \
         ({CONNECTIONS} connections, {MESSAGE} B messages) |"
    );
    println!("| --- | --- |");
    println!("| off | {:.1} MiB/s |", mib(off));
    println!(
        "| on | {:.1} MiB/s ({:.0}% of off) |",
        mib(on),
        100.0 * on / off
    );
}
