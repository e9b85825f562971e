//! The counters: connections, the backlog, bytes echoed, clients, the
//! server's CPU, loop iterations, would-blocks, errors, dropped events.

use yew::prelude::*;

use protocol::Micros;

use crate::latency::human;
use crate::world::Counters;

/// Props of [`CountersView`].
#[derive(Properties, PartialEq)]
pub struct CountersProps {
    /// The numbers.
    pub counters: Counters,
    /// Echo latency: median and 99th percentile, once measured.
    pub latency: Option<(Micros, Micros)>,
}

/// The server thread's busy share, `–` before the first measure.
pub fn cpu_text(counters: &Counters) -> String {
    counters
        .cpu_permille
        .map_or_else(|| "–".to_owned(), |permille| format!("{}%", permille / 10))
}

/// Clients done out of those started: `3 / 5`.
pub fn clients_text(counters: &Counters) -> String {
    format!(
        "{} / {}",
        counters.clients_finished, counters.clients_started
    )
}

/// A latency, `–` before the first round trip.
pub fn latency_text(latency: Option<Micros>) -> String {
    latency.map_or_else(|| "–".to_owned(), human)
}

/// One labelled number per counter.
#[function_component]
pub fn CountersView(props: &CountersProps) -> Html {
    let counters = props.counters;
    let items = [
        ("open", "open connections", counters.open.to_string()),
        ("backlog", "in the backlog", counters.backlog.to_string()),
        (
            "bytes-echoed",
            "bytes echoed",
            counters.bytes_echoed.to_string(),
        ),
        (
            "clients-finished",
            "clients done / started",
            clients_text(&counters),
        ),
        ("cpu", "server CPU", cpu_text(&counters)),
        (
            "iterations",
            "loop iterations",
            counters.iterations.to_string(),
        ),
        (
            "would-block",
            "would-block tries",
            counters.would_block.to_string(),
        ),
        (
            "errors",
            "errors handled / unhandled",
            format!(
                "{} / {}",
                counters.errors_handled, counters.errors_unhandled
            ),
        ),
        (
            "latency",
            "echo latency p50 / p99",
            props.latency.map_or_else(
                || "–".to_owned(),
                |(p50, p99)| format!("{} / {}", human(p50), human(p99)),
            ),
        ),
        ("accepted", "accepted", counters.accepted.to_string()),
        (
            "dropped",
            "events dropped",
            counters.dropped_events.to_string(),
        ),
    ];
    html! {
        <section class="panel counters" aria-label="Counters">
            <dl>
                { for items.into_iter().map(|(id, label, value)| html! {
                    <div class="counter">
                        <dt>{ label }</dt>
                        <dd id={format!("counter-{id}")}>{ value }</dd>
                    </div>
                }) }
            </dl>
        </section>
    }
}
