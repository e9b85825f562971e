//! The Loopscope relay: real echo servers on real sockets, watched from the
//! browser.
//!
//! Each browser that opens `/ws` gets a [`lab::Lab`]: its own echo server on
//! an ephemeral port and the clients it asks for. A [`probe::Probe`] reports
//! what the server's event loop does as [`protocol`] events, and the
//! [`session`] streams them to the browser in batches.
//!
//! Modules, from the edge inwards:
//!
//! * [`http`]: serves the app and upgrades `/ws`, behind the [`guard`],
//!   within the HTTP limits; [`ws_io`] meters the bytes under a WebSocket;
//! * [`workshop`]: the room's tokens ([`secret`]), the host's push, the
//!   dashboard's view of the labs ([`directory`], [`cpu`]);
//! * [`session`]: one WebSocket: hello, commands in, event batches out;
//! * [`commands`]: carries a page's commands out, one at a time;
//! * [`outgoing`]: what the session's writer is asked to send beside the
//!   event batches (a command's reply, a ping, the close);
//! * [`room`]: the budgets all labs share (descriptors, kernel memory,
//!   labs per address), and [`throttle`], the rate limits;
//! * [`lab`]: one browser's echo server and clients, torn down with the session;
//! * [`admission`]: who may connect to a lab's echo port;
//! * [`server`]: the lab's echo server under any of the four models:
//!   [`echo`] (one tokio task per connection) or [`threaded`] (blocking,
//!   busy poll, `mio` selector, each on its own thread);
//! * [`instrument`]: the wrapper future and waker that report a task's polls
//!   and wakes;
//! * [`clients`]: the client behaviours the browser can start;
//! * [`probe`]: the never-waiting event buffer between a lab and its session;
//! * [`buffers`] (the connections' kernel buffers) and [`event_loop`] (the
//!   tokio loop, as asyncio's): what a lab's probe carries, and reports
//!   through it by way of [`report`];
//! * [`coalesce`]: folds high-rate happenings into counters when a batch is
//!   large;
//! * [`platform`]: what Linux and macOS do differently, one module per
//!   concern.

pub mod admission;
pub mod buffers;
pub mod clients;
pub mod coalesce;
pub mod commands;
pub mod cpu;
pub mod directory;
pub mod echo;
pub mod event_loop;
pub mod guard;
pub mod http;
pub mod instrument;
pub mod lab;
pub mod outgoing;
pub mod platform;
pub mod probe;
pub mod report;
pub mod room;
pub mod secret;
pub mod server;
pub mod session;
pub mod threaded;
pub mod throttle;
pub mod workshop;
pub mod ws_io;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use anyhow::Context;
use protocol::Limits;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::secret::Secret;

/// How a relay runs: its caps and who may use it.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where labs bind their echo servers (the relay's own address, so that
    /// whoever reaches the page can also `nc` into their lab).
    pub echo_ip: IpAddr,
    /// Extra `Host` values to answer to (see [`guard`]).
    pub allowed_hosts: Vec<String>,
    /// Extra page origins allowed to open labs (see [`guard`]).
    pub allowed_origins: Vec<String>,
    /// Every cap: of each lab, each page, each address and the whole room.
    pub limits: Limits,
    /// How long each lab's connections get to finish when the relay stops.
    pub grace: Duration,
    /// Whether test-only commands (`panic_handler`) are carried out.
    pub test_commands: bool,
    /// The token a page needs to open a lab or follow the host (`None`:
    /// every page may, as on loopback).
    pub join_token: Option<Secret>,
    /// The token of the host's dashboard.
    pub host_token: Secret,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            echo_ip: Ipv4Addr::LOCALHOST.into(),
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            limits: Limits::default(),
            grace: Duration::from_secs(3),
            test_commands: false,
            join_token: None,
            host_token: Secret::generate(),
        }
    }
}

/// Serves the app and labs on `listener` until `stop` is cancelled, then
/// closes every session (each with a close frame) within the grace period.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let bound = listener.local_addr().context("reading the bound address")?;
    let grace = config.grace;
    let limits = config.limits.clone();
    let sessions = TaskTracker::new();
    let relay = http::Relay::new(config, bound, stop.clone(), sessions.clone());
    let sampler = tokio::spawn(relay.sample_room());
    http::serve_connections(listener, relay.router(), &limits, stop, grace).await;
    let _ = sampler.await;
    // Each session gives its lab `grace`, then says goodbye.
    sessions.close();
    let patience = grace + Duration::from_millis(800);
    if tokio::time::timeout(patience, sessions.wait())
        .await
        .is_err()
    {
        tracing::warn!("some sessions did not close within {patience:?}");
    }
    Ok(())
}
