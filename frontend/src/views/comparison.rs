//! Side by side: the same scenario under two server models, their numbers
//! in one table and their lanes next to each other.

use yew::prelude::*;

use protocol::ServerModel;

use crate::model::numbers::{clients_text, cpu_text, latency_text};
use crate::model::world::World;
use crate::views::{RunView, TaskLanes};

/// Props of [`Comparison`].
#[derive(Properties, PartialEq)]
pub struct ComparisonProps {
    /// The page's own run and its model.
    pub first: (ServerModel, RunView),
    /// The run it is compared with.
    pub second: (ServerModel, RunView),
}

/// A model's name as the pickers show it.
fn model_name(model: ServerModel) -> &'static str {
    model.label()
}

/// One row of the metrics table: its name and how to read it off a world.
type Metric = (&'static str, &'static str, fn(&World) -> String);

const METRICS: [Metric; 7] = [
    ("served", "clients served", |world| {
        clients_text(&world.counters)
    }),
    ("latency-mean", "echo latency, mean", |world| {
        latency_text(world.latencies.mean())
    }),
    ("latency-p99", "echo latency, p99", |world| {
        latency_text(world.latencies.percentile(0.99))
    }),
    ("cpu", "server CPU busy", |world| cpu_text(&world.counters)),
    ("would-block", "would-block tries", |world| {
        world.counters.would_block.to_string()
    }),
    ("iterations", "loop iterations", |world| {
        world.counters.iterations.to_string()
    }),
    ("bytes", "bytes echoed", |world| {
        world.counters.bytes_echoed.to_string()
    }),
];

/// The metrics table and both runs' lanes.
#[function_component]
pub fn Comparison(props: &ComparisonProps) -> Html {
    let (first_model, first) = &props.first;
    let (second_model, second) = &props.second;
    let first_world = first.world();
    let second_world = second.world();
    html! {
        <section class="panel comparison" aria-labelledby="comparison-title">
            <h2 id="comparison-title">{ "Side by side" }</h2>
            <table id="comparison-metrics">
                <thead>
                    <tr>
                        <th scope="col">{ "" }</th>
                        <th scope="col">{ model_name(*first_model) }</th>
                        <th scope="col">{ model_name(*second_model) }</th>
                    </tr>
                </thead>
                <tbody>
                    { for METRICS.iter().map(|(key, label, read)| html! {
                        <tr data-metric={*key}>
                            <th scope="row">{ *label }</th>
                            <td class="num first">{ read(&first_world) }</td>
                            <td class="num second">{ read(&second_world) }</td>
                        </tr>
                    }) }
                </tbody>
            </table>
            <div class="side-by-side">
                <TaskLanes world={first.clone()} id="lanes" title={model_name(*first_model)} />
                <TaskLanes world={second.clone()} id="lanes-b" title={model_name(*second_model)} />
            </div>
        </section>
    }
}
