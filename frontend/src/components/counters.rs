//! The counters: connections, bytes echoed, clients, errors, dropped events.

use yew::prelude::*;

use crate::world::Counters;

/// Props of [`CountersView`].
#[derive(Properties, PartialEq)]
pub struct CountersProps {
    /// The numbers.
    pub counters: Counters,
}

/// One labelled number per counter.
#[function_component]
pub fn CountersView(props: &CountersProps) -> Html {
    let counters = props.counters;
    let items = [
        ("open", "open connections", counters.open),
        ("accepted", "accepted", counters.accepted),
        ("bytes-echoed", "bytes echoed", counters.bytes_echoed),
        (
            "clients-started",
            "clients started",
            counters.clients_started,
        ),
        (
            "clients-finished",
            "clients done",
            counters.clients_finished,
        ),
        ("task-errors", "task errors", counters.task_errors),
        ("dropped", "events dropped", counters.dropped_events),
    ];
    html! {
        <section class="panel counters" aria-label="Counters">
            <dl>
                { for items.iter().map(|(id, label, value)| html! {
                    <div class="counter">
                        <dt>{ *label }</dt>
                        <dd id={format!("counter-{id}")}>{ value }</dd>
                    </div>
                }) }
            </dl>
        </section>
    }
}
