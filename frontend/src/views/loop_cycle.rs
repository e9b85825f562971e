//! The event loop's cycle, drawn as a ring with the current phase lit and
//! the iteration count in the middle: the phases of the listing's own loop
//! (`selector.py` has no timers; asyncio's loop has). For the blocking
//! server, the call its one thread is parked in instead. A crashed or shut
//! down server lights nothing and says so. The explanation sits beside it.

use protocol::{Call, LoopPhase, ServerModel};
use yew::prelude::*;

use crate::model::narration::{Life, Moment, explain, ring_phases};

/// Props of [`LoopCycle`].
#[derive(Properties, PartialEq)]
pub struct LoopCycleProps {
    /// What the server is doing.
    pub moment: Moment,
    /// Loop iterations so far.
    pub iterations: u64,
    /// The control that starts a stopped server again ("Reset").
    pub restart: AttrValue,
}

/// The loop view.
#[function_component]
pub fn LoopCycle(props: &LoopCycleProps) -> Html {
    let moment = &props.moment;
    let life = moment.life();
    let explanation = explain(moment, &props.restart);
    let over = match life {
        Life::Crashed => Some("crashed: the program ended"),
        Life::Stopped => Some("stopped: the program ended"),
        Life::Running | Life::ShuttingDown => None,
    };
    let picture = match moment.model {
        ServerModel::Blocking => {
            let (text, key) = match (over, moment.parked) {
                (Some(over), _) => (over.to_owned(), "over"),
                (None, Some((call, sock))) => {
                    let call = match call {
                        Call::Accept => "accept()",
                        Call::Recv => "recv()",
                        Call::Send => "sendall()",
                    };
                    (format!("parked in {call} on {sock}"), "parked")
                }
                (None, None) => ("running".to_owned(), "running"),
            };
            html! { <p id="parked-call" class={classes!("parked", key)}>{ text }</p> }
        }
        ServerModel::BusyPoll => match over {
            Some(over) => html! { <p id="parked-call" class="parked over">{ over }</p> },
            None => html! {
                <p id="parked-call" class="parked spinning">{ "spinning: no selector, no sleep" }</p>
            },
        },
        ServerModel::Selector | ServerModel::AsyncTasks => {
            ring(moment.model, moment.lit_phase(), props.iterations, life)
        }
    };
    let title = match moment.model {
        ServerModel::AsyncTasks => "The event loop (inside asyncio.run)",
        ServerModel::Selector => "The event loop (the while loop of selector.py)",
        ServerModel::Blocking | ServerModel::BusyPoll => "The server's one thread",
    };
    html! {
        <section class={classes!("panel", "loop", life.is_over().then_some("server-over"))}
                 aria-labelledby="loop-title" data-life={life_key(life)}>
            <h2 id="loop-title">{ title }</h2>
            <div class="loop-body">
                { picture }
                <p id="explanation" class="explanation" aria-live="polite">{ explanation }</p>
            </div>
        </section>
    }
}

/// The name of a life in the page's attributes.
pub fn life_key(life: Life) -> &'static str {
    match life {
        Life::Running => "running",
        Life::ShuttingDown => "shutting-down",
        Life::Stopped => "stopped",
        Life::Crashed => "crashed",
    }
}

fn ring(model: ServerModel, current: Option<LoopPhase>, iterations: u64, life: Life) -> Html {
    let phases = ring_phases(model);
    let arc = std::f64::consts::TAU / phases.len() as f64;
    // The arcs around a circle, clockwise from the top.
    let (cx, cy, r) = (90.0_f64, 90.0_f64, 70.0_f64);
    let point = |angle: f64| (cx + r * angle.sin(), cy - r * angle.cos());
    let current_key = current
        .and_then(|phase| phases.iter().find(|p| p.0 == phase))
        .map(|p| p.1);
    let caption = match life {
        Life::Crashed => "crashed",
        Life::Stopped => "stopped",
        Life::Running | Life::ShuttingDown => current_key.unwrap_or(""),
    };
    let label = current
        .and_then(|phase| phases.iter().find(|p| p.0 == phase))
        .map_or(caption, |p| p.2);
    html! {
        <svg id="loop-cycle" class={classes!(life.is_over().then_some("over"))}
             viewBox="0 0 180 180" width="180" height="180" role="img"
             aria-label={format!("event loop, iteration {iterations}, {label}")}>
            { for phases.iter().enumerate().map(|(index, (phase, key, label))| {
                let start = index as f64 * arc + 0.12;
                let end = (index + 1) as f64 * arc - 0.12;
                let (x1, y1) = point(start);
                let (x2, y2) = point(end);
                let lit = current == Some(*phase);
                let middle = point((start + end) / 2.0);
                let large = if end - start > std::f64::consts::PI { 1 } else { 0 };
                html! {
                    <g class={classes!("phase", *key, lit.then_some("current"))} data-phase={*key}>
                        <path d={format!("M {x1:.1} {y1:.1} A {r} {r} 0 {large} 1 {x2:.1} {y2:.1}")} />
                        <title>{ *label }</title>
                        <circle cx={format!("{:.1}", middle.0)} cy={format!("{:.1}", middle.1)} r="5" />
                    </g>
                }
            }) }
            <text x="90" y="86" text-anchor="middle" class="iteration">{ iterations }</text>
            <text x="90" y="104" text-anchor="middle" class="caption">{ "iterations" }</text>
            <text x="90" y="128" text-anchor="middle" class="caption" id="loop-phase">{ caption }</text>
        </svg>
    }
}
