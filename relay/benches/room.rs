//! A scripted workshop room against the real relay binary: 40 honest pages,
//! each from an address of its own, each opening a lab in a model of its
//! own and running rounds of 25 polite clients; and one hostile attendee
//! doing everything the relay must survive, all at once, for the whole run.
//! Every 20 s the host pushes a scenario, and each page's feed of the
//! host's push (one per page, from its address) times its arrival.
//!
//! `cargo bench -p loopscope-relay --bench room` (5 minutes;
//! `LOOPSCOPE_ROOM_SECONDS` changes it, `LOOPSCOPE_ROOM_PAGES` the number
//! of honest pages). It prints a table per model (clients echoed in full,
//! echo p99), the time from the host's push to its arrival at the last
//! page, and the relay's peaks (RSS, descriptors, CPU, host TCP memory,
//! events dropped). docs/numbers.md keeps the numbers measured on the project's
//! machine.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use protocol::{ClientBehaviour, Command, EventKind, ServerMessage, ServerModel};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const MODELS: [ServerModel; 4] = [
    ServerModel::Blocking,
    ServerModel::BusyPoll,
    ServerModel::Selector,
    ServerModel::AsyncTasks,
];

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// A lab's WebSocket from `from`; `None` when refused.
async fn open_lab(relay: SocketAddr, from: IpAddr) -> Option<(Socket, String)> {
    let stream = connect_from(from, relay).await.ok()?;
    let mut request = format!("ws://{relay}/ws").into_client_request().ok()?;
    let origin = HeaderValue::from_str(&format!("http://{relay}")).ok()?;
    request.headers_mut().insert("Origin", origin);
    let (mut socket, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
        .await
        .ok()?;
    loop {
        match socket.next().await? {
            Ok(Message::Text(text)) => match serde_json::from_str(&text).ok()? {
                ServerMessage::Hello(hello) => return Some((socket, hello.echo_addr)),
                ServerMessage::Events { .. } => {}
            },
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// The host token the benchmark starts the relay with.
const HOST_TOKEN: &str = "room-bench-host";

/// When each page's feed received each of the host's pushes, by serial.
type Arrivals = Arc<Mutex<HashMap<u64, Vec<Instant>>>>;

/// A page's feed of the host's push (`/lesson`, server-sent events) from
/// `from`: notes when each push arrives.
async fn listen_for_pushes(relay: SocketAddr, from: IpAddr, arrivals: Arrivals) {
    let Ok(mut stream) = connect_from(from, relay).await else {
        return;
    };
    let request =
        format!("GET /lesson HTTP/1.1\r\nHost: {relay}\r\nAccept: text/event-stream\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return;
    }
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let Ok(feed) = serde_json::from_str::<protocol::workshop::PushFeed>(data.trim()) else {
            continue;
        };
        if let Some(push) = feed.lesson {
            let now = Instant::now();
            arrivals
                .lock()
                .unwrap()
                .entry(push.serial)
                .or_default()
                .push(now);
        }
    }
}

/// The host pushes a scenario every 20 s (from 10 s in) until `until`;
/// for each, the microseconds until the last of `pages` feeds had it.
async fn push_scenarios(
    relay: SocketAddr,
    pages: usize,
    until: Instant,
    arrivals: Arrivals,
) -> Vec<u64> {
    let mut times = Vec::new();
    let mut next = Instant::now() + Duration::from_secs(10);
    let scenarios = [
        "?model=blocking&clients=slow,polite*3",
        "?model=selector&clients=polite*5",
    ];
    let mut serial = 0;
    while next + Duration::from_secs(5) < until {
        tokio::time::sleep_until(next.into()).await;
        next += Duration::from_secs(20);
        let body = format!(r#"{{"link": "{}"}}"#, scenarios[serial % 2]);
        let request = format!(
            "PUT /host/lesson HTTP/1.1\r\nHost: {relay}\r\nAuthorization: Bearer {HOST_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let pushed = Instant::now();
        let Ok(mut stream) = TcpStream::connect(relay).await else {
            continue;
        };
        if stream.write_all(request.as_bytes()).await.is_err() {
            continue;
        }
        serial += 1;
        let deadline = pushed + Duration::from_secs(10);
        while Instant::now() < deadline {
            let last = {
                let arrivals = arrivals.lock().unwrap();
                arrivals
                    .get(&(serial as u64))
                    .filter(|seen| seen.len() >= pages)
                    .and_then(|seen| seen.iter().max().copied())
            };
            if let Some(last) = last {
                times.push(last.duration_since(pushed).as_micros() as u64);
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    times
}

async fn send(socket: &mut Socket, command: &Command) -> bool {
    let text = serde_json::to_string(command).unwrap();
    socket.send(Message::text(text)).await.is_ok()
}

/// What one honest page saw.
#[derive(Default)]
struct PageResult {
    model: Option<ServerModel>,
    clients: u64,
    in_full: u64,
    latencies_us: Vec<u64>,
    dropped: u64,
}

/// An honest attendee's lab: rounds of 25 polite clients until `until`.
async fn honest_page(mut socket: Socket, model: ServerModel, until: Instant) -> PageResult {
    let mut result = PageResult::default();
    if model != ServerModel::AsyncTasks {
        send(
            &mut socket,
            &Command::SetModel {
                model,
                errors: Default::default(),
            },
        )
        .await;
    }
    // Until a switch is confirmed, the lab runs the model it opened with.
    result.model = Some(ServerModel::AsyncTasks);
    let (messages, size) = (20, 32);
    while Instant::now() < until {
        if !send(
            &mut socket,
            &Command::SpawnClients {
                count: 25,
                behaviour: ClientBehaviour::Polite {
                    messages,
                    size,
                    interval_ms: 100,
                },
            },
        )
        .await
        {
            break;
        }
        result.clients += 25;
        let mut finished = 0;
        while finished < 25 {
            let frame = match tokio::time::timeout(Duration::from_secs(60), socket.next()).await {
                Ok(Some(Ok(frame))) => frame,
                _ => return result,
            };
            let Message::Text(text) = frame else { continue };
            let Ok(ServerMessage::Events { events }) = serde_json::from_str(&text) else {
                continue;
            };
            for event in events {
                match event.kind {
                    EventKind::RoundTrip { latency_us, .. } => result.latencies_us.push(latency_us),
                    EventKind::ClientFinished { echoed, error, .. } => {
                        finished += 1;
                        if error.is_none() && echoed == u64::from(messages * size) {
                            result.in_full += 1;
                        }
                    }
                    EventKind::Dropped { count } => result.dropped += count,
                    // The model that really runs (a switch may be refused).
                    EventKind::Listening { model, .. } => result.model = Some(model),
                    _ => {}
                }
            }
        }
    }
    result
}

/// The hostile attendee: every attack at once, over and over, until
/// `until`. Counts what it tried.
async fn hostile(
    relay: SocketAddr,
    echo_ports: Vec<SocketAddr>,
    until: Instant,
    tries: Arc<AtomicU64>,
) {
    // The attendee's own machine; strangers' connections come from others.
    let attendee = IpAddr::from([127, 0, 200, 1]);
    let stranger = |n: u32| IpAddr::from([127, 0, 201, (n % 250) as u8 + 1]);
    let mut attacks = Vec::new();
    // WebSockets that never read: as many as it is let open.
    {
        let tries = Arc::clone(&tries);
        attacks.push(tokio::spawn(async move {
            let mut held = Vec::new();
            while Instant::now() < until {
                if let Some(lab) = open_lab(relay, attendee).await {
                    held.push(lab);
                } else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                tries.fetch_add(1, Ordering::Relaxed);
                if held.len() >= 64 {
                    held.clear();
                }
            }
        }));
    }
    // Strangers at the honest labs' echo ports.
    {
        let tries = Arc::clone(&tries);
        attacks.push(tokio::spawn(async move {
            let mut held = Vec::new();
            while Instant::now() < until {
                for (n, port) in echo_ports.iter().enumerate() {
                    if let Ok(mut stream) = connect_from(stranger(n as u32), *port).await {
                        let _ = stream.write_all(b"let me in").await;
                        held.push(stream);
                    }
                    tries.fetch_add(1, Ordering::Relaxed);
                }
                if held.len() > 1000 {
                    held.clear();
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    // Slowloris: header bytes every ten seconds.
    {
        let tries = Arc::clone(&tries);
        attacks.push(tokio::spawn(async move {
            let mut slow = Vec::new();
            while Instant::now() < until {
                for n in 0..200 {
                    let _ = n;
                    if let Ok(mut stream) = connect_from(attendee, relay).await {
                        let _ = stream.write_all(b"GET / HTTP/1.1\r\nH").await;
                        slow.push(stream);
                    }
                    tries.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_secs(10)).await;
                for stream in &mut slow {
                    let _ = stream.write_all(b"o").await;
                }
                slow.retain(|_| false);
            }
        }));
    }
    // Labs that ask for the most: busy poll, 1,000 silent clients, floods,
    // bursts of switches, floods of commands, oversized frames.
    for _ in 0..4 {
        let tries = Arc::clone(&tries);
        attacks.push(tokio::spawn(async move {
            while Instant::now() < until {
                let Some((socket, _)) = open_lab(relay, attendee).await else {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                };
                let (mut sink, mut stream) = socket.split();
                // Reads (and answers pings), so this lab is not closed for
                // silence.
                let reader = tokio::spawn(async move { while stream.next().await.is_some() {} });
                let mut commands = vec![
                    Command::SetModel {
                        model: ServerModel::BusyPoll,
                        errors: Default::default(),
                    },
                    Command::SpawnClients {
                        count: 1000,
                        behaviour: ClientBehaviour::Silent {},
                    },
                    Command::SpawnClients {
                        count: 100,
                        behaviour: ClientBehaviour::Flood { bytes: 64 << 20 },
                    },
                ];
                for round in 0..200 {
                    commands.push(Command::SetModel {
                        model: MODELS[round % 4],
                        errors: Default::default(),
                    });
                }
                for command in &commands {
                    let text = serde_json::to_string(command).unwrap();
                    let _ = sink.send(Message::text(text)).await;
                    tries.fetch_add(1, Ordering::Relaxed);
                }
                let flood_until = Instant::now() + Duration::from_secs(20);
                while Instant::now() < flood_until.min(until) {
                    let sent = tokio::time::timeout(
                        Duration::from_millis(100),
                        sink.send(Message::text(r#"{"type":"x"}"#)),
                    )
                    .await;
                    if matches!(sent, Ok(Err(_))) {
                        break;
                    }
                    tries.fetch_add(1, Ordering::Relaxed);
                }
                let _ = sink.send(Message::text("x".repeat(65 * 1024))).await;
                reader.abort();
            }
        }));
    }
    for attack in attacks {
        let _ = attack.await;
    }
}

/// Reads `/proc/PID/...` numbers of the relay.
struct Watch {
    pid: u32,
}

impl Watch {
    fn descriptors(&self) -> u64 {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .map(|dir| dir.count() as u64)
            .unwrap_or(0)
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find(|line| line.starts_with(field))
            .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    }

    /// CPU seconds used (user + system).
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        let after_name = stat.rsplit(')').next().unwrap_or("");
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks: u64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0)
            + fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0);
        ticks as f64 / 100.0
    }
}

fn tcp_memory_kib() -> u64 {
    let sockstat = std::fs::read_to_string("/proc/net/sockstat").unwrap_or_default();
    sockstat
        .lines()
        .find(|line| line.starts_with("TCP:"))
        .and_then(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|word| *word == "mem")?;
            words.get(at + 1)?.parse::<u64>().ok()
        })
        .map_or(0, |pages| pages * 4)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

#[tokio::main]
async fn main() {
    let seconds = env_number("LOOPSCOPE_ROOM_SECONDS", 300);
    let pages = env_number("LOOPSCOPE_ROOM_PAGES", 40) as u32;
    let mut relay = tokio::process::Command::new(env!("CARGO_BIN_EXE_relay"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--host-token",
            HOST_TOKEN,
            "--no-qr",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the relay binary");
    let watch = Watch {
        pid: relay.id().unwrap(),
    };
    let mut banner = BufReader::new(relay.stdout.take().unwrap()).lines();
    let line = banner.next_line().await.unwrap().unwrap();
    let address: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .parse()
        .unwrap();
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let cpu_at_start = watch.cpu_seconds();
    let tcp_before = tcp_memory_kib();

    // The honest room first (their echo ports are the stranger's targets).
    let mut honest = Vec::new();
    let mut echo_ports = Vec::new();
    for page in 0..pages {
        let from = IpAddr::from([127, 0, 100, page as u8 + 1]);
        let (socket, echo) = open_lab(address, from).await.expect("an honest lab");
        echo_ports.push(echo.parse().unwrap());
        honest.push(tokio::spawn(honest_page(
            socket,
            MODELS[page as usize % 4],
            until,
        )));
    }
    let arrivals: Arrivals = Arc::default();
    for page in 0..pages {
        let from = IpAddr::from([127, 0, 100, page as u8 + 1]);
        tokio::spawn(listen_for_pushes(address, from, Arc::clone(&arrivals)));
    }
    let pushes = tokio::spawn(push_scenarios(
        address,
        pages as usize,
        until,
        Arc::clone(&arrivals),
    ));
    let tries = Arc::new(AtomicU64::new(0));
    let attacker = tokio::spawn(hostile(address, echo_ports, until, Arc::clone(&tries)));

    let (mut peak_fds, mut peak_tcp) = (0, 0);
    while Instant::now() < until {
        peak_fds = peak_fds.max(watch.descriptors());
        peak_tcp = peak_tcp.max(tcp_memory_kib());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut results = Vec::new();
    for page in honest {
        results.push(page.await.unwrap());
    }
    let cpu = watch.cpu_seconds() - cpu_at_start;
    let peak_rss = watch.status_kib("VmHWM:");
    attacker.abort();

    println!("room of {pages} honest pages and one hostile attendee, {seconds} s");
    println!();
    println!("| model | pages | clients | echoed in full | echo p50 | echo p99 |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for model in MODELS {
        let of_model: Vec<&PageResult> =
            results.iter().filter(|r| r.model == Some(model)).collect();
        let clients: u64 = of_model.iter().map(|r| r.clients).sum();
        let in_full: u64 = of_model.iter().map(|r| r.in_full).sum();
        let mut latencies: Vec<u64> = of_model
            .iter()
            .flat_map(|r| r.latencies_us.clone())
            .collect();
        latencies.sort_unstable();
        println!(
            "| {model:?} | {} | {clients} | {in_full} | {:.1} ms | {:.1} ms |",
            of_model.len(),
            percentile(&latencies, 0.5) as f64 / 1000.0,
            percentile(&latencies, 0.99) as f64 / 1000.0,
        );
    }
    let dropped: u64 = results.iter().map(|r| r.dropped).sum();
    let mut push_times = pushes.await.unwrap();
    push_times.sort_unstable();
    println!();
    println!(
        "the host's push sent to {pages} pages, {} times: last page reached after {:.1} ms median, {:.1} ms at worst",
        push_times.len(),
        percentile(&push_times, 0.5) as f64 / 1000.0,
        push_times.last().copied().unwrap_or_default() as f64 / 1000.0,
    );
    println!();
    println!("| relay | value |");
    println!("| --- | --- |");
    println!("| peak RSS | {} MB |", peak_rss / 1024);
    println!("| peak descriptors | {peak_fds} |");
    println!(
        "| CPU | {:.0}% of one core on average |",
        100.0 * cpu / seconds as f64
    );
    println!(
        "| host TCP memory | {} KiB before, {} KiB at the peak |",
        tcp_before, peak_tcp
    );
    println!("| events dropped (honest pages) | {dropped} |");
    println!("| hostile attempts | {} |", tries.load(Ordering::Relaxed));
    let _ = relay.kill().await;
}
