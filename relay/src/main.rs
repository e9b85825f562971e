//! `relay`: serves the Loopscope app and gives each browser a lab of real
//! sockets. `relay --help` lists the flags, every limit among them; the
//! README's workshop guide explains when to use them.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use loopscope_relay::platform::open_files::raise_open_file_limit;
use loopscope_relay::room::descriptor_budget;
use loopscope_relay::secret::Secret;
use loopscope_relay::{Config, serve};
use protocol::Limits;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Loopscope's relay: real echo servers, watched from the browser.
///
/// Every limit below is per room unless it says otherwise; a request that
/// would pass one is refused, and the page says which and why.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to serve on. Loopback by default; for a workshop, bind the
    /// laptop's LAN address (e.g. 192.168.1.20:8080), not 0.0.0.0.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Another Host name to answer to (e.g. workshop.lan:8080); repeatable.
    #[arg(long = "allow-host", value_name = "HOST:PORT")]
    allowed_hosts: Vec<String>,
    /// Another page origin allowed to open labs (e.g. http://127.0.0.1:8081
    /// for `trunk serve`); repeatable.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
    /// The join token attendees' pages need (in the join link the relay
    /// prints). Made up at random when the relay binds a non-loopback
    /// address; loopback needs none unless this is given.
    #[arg(long, value_name = "TOKEN")]
    token: Option<Secret>,
    /// The token of the host's dashboard (/host); made up at random unless
    /// given. Printed only here, in the host's terminal.
    #[arg(long, value_name = "TOKEN")]
    host_token: Option<Secret>,
    /// Seconds the labs get to close on Ctrl-C.
    #[arg(long, default_value_t = 3.0)]
    grace: f64,
    /// Most labs (browser tabs) at once.
    #[arg(long, default_value_t = Limits::default().max_labs)]
    max_labs: u32,
    /// Most labs open at once from one address (a page comparing two
    /// models live holds two).
    #[arg(long, default_value_t = Limits::default().max_labs_per_address)]
    max_labs_per_address: u32,
    /// Most clients one lab runs at once.
    #[arg(long, default_value_t = Limits::default().max_clients)]
    max_clients: u32,
    /// Most connections to a lab's echo port from its page's own address
    /// (nc, telnet), besides the lab's clients. Other addresses are refused.
    #[arg(long, default_value_t = Limits::default().max_own_connections)]
    max_own_connections: u32,
    /// Most file descriptors all labs may hold together; never more than
    /// the open-file limit (raised to its hard limit at start) leaves.
    #[arg(long, default_value_t = Limits::default().max_descriptors)]
    max_descriptors: u32,
    /// Most bytes one lab's clients may keep in kernel socket buffers.
    #[arg(long, default_value_t = Limits::default().max_lab_in_flight_bytes)]
    max_lab_in_flight_bytes: u64,
    /// Most bytes all labs' clients may keep in kernel socket buffers.
    #[arg(long, default_value_t = Limits::default().max_in_flight_bytes)]
    max_in_flight_bytes: u64,
    /// Send and receive buffer size of every lab socket, in bytes.
    #[arg(long, default_value_t = Limits::default().socket_buffer_bytes)]
    socket_buffer_bytes: u32,
    /// Most bytes one flood client sends.
    #[arg(long, default_value_t = Limits::default().max_flood_bytes)]
    max_flood_bytes: u32,
    /// Labs that may run the busy-poll model at once (each spins a core,
    /// at idle priority).
    #[arg(long, default_value_t = Limits::default().max_busy_poll_labs)]
    max_busy_poll_labs: u32,
    /// Commands one page may send per second (twice that in a burst).
    #[arg(long, default_value_t = Limits::default().max_commands_per_second)]
    max_commands_per_second: u32,
    /// Most bytes in one command (a larger message closes with 1009).
    #[arg(long, default_value_t = Limits::default().max_command_bytes)]
    max_command_bytes: u32,
    /// Seconds a page may leave pings unanswered before its lab closes.
    #[arg(long, default_value_t = Limits::default().ping_timeout_s)]
    ping_timeout: u32,
    /// Seconds a lab may go without a command before it closes.
    #[arg(long, default_value_t = Limits::default().idle_timeout_s)]
    idle_timeout: u32,
    /// Seconds a lab may stay paused before it closes.
    #[arg(long, default_value_t = Limits::default().pause_timeout_s)]
    pause_timeout: u32,
    /// Most HTTP connections open at once.
    #[arg(long, default_value_t = Limits::default().max_http_connections)]
    max_http_connections: u32,
    /// Most HTTP connections open at once from one address.
    #[arg(long, default_value_t = Limits::default().max_http_connections_per_address)]
    max_http_connections_per_address: u32,
    /// Seconds a request's headers may take to arrive.
    #[arg(long, default_value_t = Limits::default().header_timeout_s)]
    header_timeout: u32,
    /// Print the join link without its QR code.
    #[arg(long)]
    no_qr: bool,
    /// Carry out test-only commands (for the relay's own tests).
    #[arg(long, hide = true)]
    test_commands: bool,
}

impl Args {
    /// The relay's configuration, with the descriptor budget fitted to
    /// `open_files`.
    fn config(&self, open_files: u64) -> anyhow::Result<Config> {
        let mut limits = Limits {
            max_clients: self.max_clients,
            max_command_bytes: self.max_command_bytes,
            max_flood_bytes: self.max_flood_bytes,
            max_labs: self.max_labs,
            max_labs_per_address: self.max_labs_per_address,
            max_own_connections: self.max_own_connections,
            max_descriptors: self.max_descriptors,
            max_lab_in_flight_bytes: self.max_lab_in_flight_bytes,
            max_in_flight_bytes: self.max_in_flight_bytes,
            socket_buffer_bytes: self.socket_buffer_bytes,
            max_busy_poll_labs: self.max_busy_poll_labs,
            max_commands_per_second: self.max_commands_per_second,
            ping_timeout_s: self.ping_timeout,
            idle_timeout_s: self.idle_timeout,
            pause_timeout_s: self.pause_timeout,
            max_http_connections: self.max_http_connections,
            max_http_connections_per_address: self.max_http_connections_per_address,
            header_timeout_s: self.header_timeout,
            ..Limits::default()
        };
        limits.max_descriptors = descriptor_budget(self.max_descriptors, open_files, &limits);
        let join_token = self
            .token
            .clone()
            .or_else(|| (!self.bind.ip().is_loopback()).then(Secret::generate));
        let mut allowed_hosts = self.allowed_hosts.clone();
        // Bound to every address: the page may be reached by any of them.
        allowed_hosts.extend(lan_addresses(self.bind).iter().map(ToString::to_string));
        Ok(Config {
            echo_ip: self.bind.ip(),
            join_token,
            host_token: self.host_token.clone().unwrap_or_else(Secret::generate),
            allowed_hosts,
            allowed_origins: self.allowed_origins.clone(),
            limits,
            test_commands: self.test_commands,
            grace: Duration::try_from_secs_f64(self.grace)
                .context("--grace must be a number of seconds")?,
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Diagnostics on stderr, written by a thread of their own and dropped
    // rather than waited for when stderr is slow; a closed stderr loses the
    // lines and nothing else (no panic on a failed write).
    let (log, _flush_on_exit) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .finish(std::io::stderr());
    tracing_subscriber::fmt()
        .with_writer(log)
        .log_internal_errors(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "loopscope_relay=info,relay=info".into()),
        )
        .init();
    let args = Args::parse();
    let open_files = raise_open_file_limit().context("reading the open-file limit")?;
    let config = args.config(open_files)?;
    let listener = TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("binding {} (is another relay running?)", args.bind))?;
    let stop = CancellationToken::new();
    tokio::spawn(stop_on_signals(stop.clone()));
    let limits = &config.limits;
    tracing::info!(
        open_files,
        descriptors_for_labs = limits.max_descriptors,
        clients_in_all = limits.max_descriptors / 3,
        "open-file limit raised; each lab client takes 3 descriptors"
    );
    // stdout carries only the banner with the links; a closed stdout must
    // not stop the relay.
    let bound = listener.local_addr()?;
    let _ = std::io::stdout().write_all(banner(bound, &config, !args.no_qr).as_bytes());
    if !cfg!(debug_assertions) {
        // The first attendee need not wait for the app's compression.
        tokio::spawn(loopscope_relay::http::assets::warm());
    }
    serve(listener, config, stop).await
}

/// The addresses a page may reach a relay bound to `bind` by: `bind`
/// itself, or every non-loopback address of the machine when `bind` is
/// unspecified (`0.0.0.0`).
fn lan_addresses(bind: SocketAddr) -> Vec<SocketAddr> {
    if !bind.ip().is_unspecified() {
        return Vec::new();
    }
    let interfaces = if_addrs::get_if_addrs().unwrap_or_default();
    interfaces
        .iter()
        .map(if_addrs::Interface::ip)
        .filter(|ip| !ip.is_loopback() && ip.is_ipv4() == bind.is_ipv4())
        .map(|ip| SocketAddr::new(ip, bind.port()))
        .collect()
}

/// What the relay prints at start: the first line names the address (and
/// the join token), then the join link as a QR code for the projector,
/// then the host's dashboard.
fn banner(bound: SocketAddr, config: &Config, qr: bool) -> String {
    let token = config
        .join_token
        .as_ref()
        .map(|token| format!("?token={}", token.reveal()))
        .unwrap_or_default();
    let mut addresses = lan_addresses(bound);
    if addresses.is_empty() {
        addresses.push(bound);
    }
    let join = |addr: &SocketAddr| format!("http://{addr}/{token}");
    let mut text = format!(
        "Loopscope is running: open {} (Ctrl-C stops it)\n",
        join(&addresses[0])
    );
    for other in &addresses[1..] {
        text += &format!("  or, on another network: {}\n", join(other));
    }
    if config.join_token.is_some() {
        text += "Attendees open the join link above; it carries the room's token.\n";
        if addresses[0].ip().is_loopback() {
            text += &format!(
                "Only this machine can open it: {} is loopback, which phones and other laptops \
                 cannot reach. For a room, bind the LAN address: --bind ADDRESS:{} (on a Mac \
                 `ipconfig getifaddr en0` tells it, on Linux `hostname -I`).\n",
                addresses[0].ip(),
                addresses[0].port()
            );
        }
        if qr {
            text += &qr_code(&join(&addresses[0]));
        }
    }
    text += &format!(
        "Host dashboard (keep this link to yourself): http://{}/host?token={}\n",
        addresses[0],
        config.host_token.reveal()
    );
    text
}

/// `link` as a QR code drawn with half-block characters, dark on light
/// (with its quiet zone, so a phone reads it off a dark terminal too).
fn qr_code(link: &str) -> String {
    match qrcode::QrCode::new(link.as_bytes()) {
        Ok(code) => {
            code.render::<qrcode::render::unicode::Dense1x2>()
                .dark_color(qrcode::render::unicode::Dense1x2::Light)
                .light_color(qrcode::render::unicode::Dense1x2::Dark)
                .build()
                + "\n"
        }
        Err(_) => String::new(),
    }
}

/// The first Ctrl-C (or SIGTERM) shuts down gracefully; a second one exits
/// at once.
async fn stop_on_signals(stop: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::error!("cannot listen for signals; Ctrl-C will kill the relay outright");
        return;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down; Ctrl-C again to exit at once");
    stop.cancel();
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    std::process::exit(130);
}
