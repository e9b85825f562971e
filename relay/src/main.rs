//! `relay`: serves the Loopscope app and gives each browser a lab of real
//! sockets. `relay --help` lists the flags; the README's workshop guide
//! explains when to use them.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use loopscope_relay::{Config, serve};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Loopscope's relay: real echo servers, watched from the browser.
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
    /// Most labs (browser tabs) at once.
    #[arg(long, default_value_t = 64)]
    max_labs: usize,
    /// Most clients one lab runs at once.
    #[arg(long, default_value_t = 1000)]
    max_clients: u32,
    /// Seconds the labs get to close on Ctrl-C.
    #[arg(long, default_value_t = 3.0)]
    grace: f64,
    /// Carry out test-only commands (for the relay's own tests).
    #[arg(long, hide = true)]
    test_commands: bool,
}

impl Args {
    fn config(&self) -> anyhow::Result<Config> {
        let mut config = Config {
            echo_ip: self.bind.ip(),
            allowed_hosts: self.allowed_hosts.clone(),
            allowed_origins: self.allowed_origins.clone(),
            max_labs: self.max_labs,
            test_commands: self.test_commands,
            grace: Duration::try_from_secs_f64(self.grace)
                .context("--grace must be a number of seconds")?,
            ..Config::default()
        };
        config.limits.max_clients = self.max_clients;
        Ok(config)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Diagnostics on stderr; stdout carries only the banner with the address.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "loopscope_relay=info,relay=info".into()),
        )
        .init();
    let args = Args::parse();
    let config = args.config()?;
    let listener = TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("binding {} (is another relay running?)", args.bind))?;
    let stop = CancellationToken::new();
    tokio::spawn(stop_on_signals(stop.clone()));
    println!(
        "Loopscope is running: open http://{}/ (Ctrl-C stops it)",
        listener.local_addr()?
    );
    serve(listener, config, stop).await
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
