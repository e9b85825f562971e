//! The counters: connections, the backlog, bytes echoed, clients, the
//! server's CPU, loop iterations, would-blocks, errors, dropped events.

use yew::prelude::*;

use protocol::{Micros, ServerModel};

use crate::model::glossary::meaning;
use crate::model::latency::human;
use crate::model::numbers::{clients_text, cpu_text};
use crate::model::world::Counters;

/// Props of [`CountersView`].
#[derive(Properties, PartialEq)]
pub struct CountersProps {
    /// The numbers.
    pub counters: Counters,
    /// Echo latency: median and 99th percentile, once measured.
    pub latency: Option<(Micros, Micros)>,
    /// The server model, to explain a wide latency spread.
    pub model: ServerModel,
}

/// Why the slowest echoes took so much longer than the median, when they
/// did (p99 more than ten times p50): who waited for whom under `model`.
pub fn latency_note(model: ServerModel, p50: Micros, p99: Micros) -> Option<String> {
    if p99 <= p50.saturating_mul(10) {
        return None;
    }
    let why = match model {
        ServerModel::Blocking => {
            "the client being served never waits, but the others wait in the listen backlog for \
             whole conversations before their first echo"
        }
        ServerModel::BusyPoll => {
            "every echo waits for the loop's pass over all the other sockets, and a pass is long \
             when there are many"
        }
        ServerModel::Selector | ServerModel::AsyncTasks => {
            "most echoes come at once, but some waited for the loop to finish the callbacks or \
             tasks ahead of them (or for a full buffer to drain)"
        }
    };
    Some(format!("p99 is {}× p50: {why}.", p99 / p50.max(1)))
}

/// One labelled number per counter, each saying what it counts.
#[function_component]
pub fn CountersView(props: &CountersProps) -> Html {
    let counters = props.counters;
    let items = [
        ("open", "open connections", "Connections accepted and not closed yet.".to_owned(), counters.open.to_string()),
        ("backlog", "in the backlog", meaning("backlog").to_owned(), counters.backlog.to_string()),
        (
            "bytes-echoed",
            "bytes echoed",
            "Bytes the server wrote back to its clients.".to_owned(),
            counters.bytes_echoed.to_string(),
        ),
        (
            "clients-finished",
            "clients done / started",
            "Clients that ended (well or not) out of those started here.".to_owned(),
            clients_text(&counters),
        ),
        ("cpu", "server CPU", "How busy the server's one thread was over the last moment: time it ran, not time it slept in a blocking call or select().".to_owned(), cpu_text(&counters)),
        (
            "iterations",
            "loop iterations",
            meaning("iteration").to_owned(),
            counters.iterations.to_string(),
        ),
        (
            "would-block",
            "would-block tries",
            meaning("would-block").to_owned(),
            counters.would_block.to_string(),
        ),
        (
            "errors",
            "errors handled / unhandled",
            format!("Errors an except caught (the server went on) / errors nothing caught. {}", meaning("unhandled")),
            format!("{} / {}", counters.errors_handled, counters.errors_unhandled),
        ),
        (
            "latency",
            "echo latency p50 / p99",
            "How long a client waited for the echo of a message: the median (p50), and the slowest 1% (p99).".to_owned(),
            props.latency.map_or_else(
                || "–".to_owned(),
                |(p50, p99)| format!("{} / {}", human(p50), human(p99)),
            ),
        ),
        ("accepted", "accepted", "Connections accept() returned.".to_owned(), counters.accepted.to_string()),
        (
            "dropped",
            "events dropped",
            "Events the page never got because it read more slowly than the lab produced them (the lab never waits for the page).".to_owned(),
            counters.dropped_events.to_string(),
        ),
    ];
    let note = props
        .latency
        .and_then(|(p50, p99)| latency_note(props.model, p50, p99));
    html! {
        <section class="panel counters" aria-label="Counters">
            <dl>
                { for items.into_iter().map(|(id, label, meaning, value)| html! {
                    <div class="counter" title={meaning}>
                        <dt>{ label }</dt>
                        <dd id={format!("counter-{id}")}>{ value }</dd>
                    </div>
                }) }
            </dl>
            if let Some(note) = note {
                <p id="latency-note" class="hint latency-note">{ note }</p>
            }
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wide_latency_spread_is_explained_and_a_narrow_one_is_not() {
        assert_eq!(latency_note(ServerModel::Selector, 100, 900), None);
        let note = latency_note(ServerModel::Blocking, 5, 5_000_000).unwrap();
        assert!(note.starts_with("p99 is 1000000× p50"), "{note}");
        assert!(note.contains("backlog"), "{note}");
    }
}
