//! The event loop's cycle: select → ready events → run → timers, drawn as a
//! ring with the current phase lit and the iteration count in the middle;
//! for the blocking server, the call its one thread is parked in instead.
//! The explanation sits beside it.

use protocol::{Call, LoopPhase, ServerModel, Sock};
use yew::prelude::*;

use crate::lesson::explain;

/// Props of [`LoopCycle`].
#[derive(Properties, PartialEq)]
pub struct LoopCycleProps {
    /// The server model.
    pub model: ServerModel,
    /// The loop's phase, if known.
    pub phase: Option<LoopPhase>,
    /// The blocking call the thread is parked in, if any.
    pub parked: Option<(Call, Sock)>,
    /// Loop iterations so far.
    pub iterations: u64,
}

const PHASES: [(LoopPhase, &str, &str); 4] = [
    (LoopPhase::Select, "select", "wait in select()"),
    (LoopPhase::ReadyEvents, "ready_events", "ready events"),
    (LoopPhase::Run, "run", "run callbacks / resume tasks"),
    (LoopPhase::Timers, "timers", "timers"),
];

/// The loop view.
#[function_component]
pub fn LoopCycle(props: &LoopCycleProps) -> Html {
    let explanation = explain(props.model, props.phase, props.parked);
    let picture = match props.model {
        ServerModel::Blocking => {
            let (text, key) = match props.parked {
                Some((call, sock)) => {
                    let call = match call {
                        Call::Accept => "accept()",
                        Call::Recv => "recv()",
                        Call::Send => "sendall()",
                    };
                    (format!("parked in {call} on {sock}"), "parked")
                }
                None => ("running".to_owned(), "running"),
            };
            html! { <p id="parked-call" class={classes!("parked", key)}>{ text }</p> }
        }
        ServerModel::BusyPoll => html! {
            <p id="parked-call" class="parked spinning">{ "spinning: no selector, no sleep" }</p>
        },
        ServerModel::Selector | ServerModel::AsyncTasks => ring(props.phase, props.iterations),
    };
    html! {
        <section class="panel loop" aria-labelledby="loop-title">
            <h2 id="loop-title">{ "The event loop" }</h2>
            <div class="loop-body">
                { picture }
                <p id="explanation" class="explanation" aria-live="polite">{ explanation }</p>
            </div>
        </section>
    }
}

fn ring(current: Option<LoopPhase>, iterations: u64) -> Html {
    // Four arcs around a circle, clockwise from the top.
    let (cx, cy, r) = (90.0_f64, 90.0_f64, 70.0_f64);
    let point = |angle: f64| (cx + r * angle.sin(), cy - r * angle.cos());
    html! {
        <svg id="loop-cycle" viewBox="0 0 180 180" width="180" height="180" role="img"
             aria-label={format!("event loop, iteration {iterations}, phase {}",
                 current.map_or("none", |phase| PHASES.iter().find(|p| p.0 == phase).map_or("", |p| p.2)))}>
            { for PHASES.iter().enumerate().map(|(index, (phase, key, label))| {
                let start = index as f64 * std::f64::consts::FRAC_PI_2 + 0.12;
                let end = (index + 1) as f64 * std::f64::consts::FRAC_PI_2 - 0.12;
                let (x1, y1) = point(start);
                let (x2, y2) = point(end);
                let lit = current == Some(*phase);
                let middle = point((start + end) / 2.0);
                let (lx, ly) = (cx + (middle.0 - cx) * 1.0, cy + (middle.1 - cy) * 1.0);
                html! {
                    <g class={classes!("phase", *key, lit.then_some("current"))} data-phase={*key}>
                        <path d={format!("M {x1:.1} {y1:.1} A {r} {r} 0 0 1 {x2:.1} {y2:.1}")} />
                        <title>{ *label }</title>
                        <circle cx={format!("{lx:.1}")} cy={format!("{ly:.1}")} r="5" />
                    </g>
                }
            }) }
            <text x="90" y="86" text-anchor="middle" class="iteration">{ iterations }</text>
            <text x="90" y="104" text-anchor="middle" class="caption">{ "iterations" }</text>
            <text x="90" y="128" text-anchor="middle" class="caption" id="loop-phase">
                { current.map_or("", |phase| PHASES.iter().find(|p| p.0 == phase).map_or("", |p| p.1)) }
            </text>
        </svg>
    }
}
