//! The simulation's controls: model, error handling, play/pause, step one
//! loop iteration, speed, reset, clients of each behaviour, shutdown.

use loopscope_sim::{HandlerStyle, ServerModel};
use protocol::Micros;
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::simulated::{BEHAVIOURS, SPEEDS, SimSettings};
pub use crate::simulated::{model_key, model_named};

/// What a control asks the simulation to do.
#[derive(Clone, Debug, PartialEq)]
pub enum SimAction {
    /// Play if paused, pause if playing.
    TogglePlay,
    /// Run one loop iteration.
    Step,
    /// Start again from these settings.
    Reset(SimSettings),
    /// Change the speed.
    Speed(f64),
    /// Connect a client of this behaviour now.
    AddClient(&'static str),
    /// Begin a graceful shutdown with this grace period.
    Shutdown(Micros),
}

/// Props of [`SimControls`].
#[derive(Properties, PartialEq)]
pub struct SimControlsProps {
    /// The settings it runs with.
    pub settings: SimSettings,
    /// Whether it plays.
    pub playing: bool,
    /// Its speed.
    pub speed: f64,
    /// Its clock.
    pub now: Micros,
    /// Where actions go.
    pub on_action: Callback<SimAction>,
}

/// The models, with the names the pickers show.
pub const MODELS: [(ServerModel, &str); 4] = [
    (ServerModel::Blocking, "blocking sockets"),
    (ServerModel::BusyPoll, "non-blocking busy poll"),
    (ServerModel::Selector, "selector loop"),
    (ServerModel::AsyncTasks, "asyncio tasks"),
];

/// The control bar of the simulation.
#[function_component]
pub fn SimControls(props: &SimControlsProps) -> Html {
    let settings = props.settings;
    let act = |action: SimAction| {
        let on_action = props.on_action.clone();
        Callback::from(move |_: MouseEvent| on_action.emit(action.clone()))
    };
    let on_model = {
        let on_action = props.on_action.clone();
        Callback::from(move |event: Event| {
            let select: HtmlSelectElement = event.target_unchecked_into();
            if let Some(model) = model_named(&select.value()) {
                on_action.emit(SimAction::Reset(SimSettings { model, ..settings }));
            }
        })
    };
    let on_style = {
        let on_action = props.on_action.clone();
        Callback::from(move |event: Event| {
            let select: HtmlSelectElement = event.target_unchecked_into();
            let style = if select.value() == "unhandled" {
                HandlerStyle::Unhandled
            } else {
                HandlerStyle::Handled
            };
            on_action.emit(SimAction::Reset(SimSettings { style, ..settings }));
        })
    };
    let on_speed = {
        let on_action = props.on_action.clone();
        Callback::from(move |event: Event| {
            let select: HtmlSelectElement = event.target_unchecked_into();
            if let Ok(speed) = select.value().parse() {
                on_action.emit(SimAction::Speed(speed));
            }
        })
    };
    let handled = settings.style == HandlerStyle::Handled;
    html! {
        <section class="panel sim" aria-labelledby="sim-title">
            <h2 id="sim-title">{ "Simulation" }</h2>
            <div class="controls wrap">
                <label for="sim-model">{ "Server" }</label>
                <select id="sim-model" onchange={on_model}>
                    { for MODELS.iter().map(|(model, label)| html! {
                        <option value={model_key(*model)} selected={*model == settings.model}>{ *label }</option>
                    }) }
                </select>
                <label for="sim-style">{ "Errors" }</label>
                <select id="sim-style" onchange={on_style}>
                    <option value="handled" selected={handled}>{ "handled (try/except)" }</option>
                    <option value="unhandled" selected={!handled}>{ "unhandled" }</option>
                </select>
            </div>
            <div class="controls wrap">
                <button id="sim-play" onclick={act(SimAction::TogglePlay)}>
                    { if props.playing { "Pause" } else { "Play" } }
                </button>
                <button id="sim-step" onclick={act(SimAction::Step)} title="Run one iteration of the server's loop">
                    { "Step" }
                </button>
                <button id="sim-reset" class="secondary" onclick={act(SimAction::Reset(settings))}>{ "Reset" }</button>
                <label for="sim-speed">{ "Speed" }</label>
                <select id="sim-speed" onchange={on_speed}>
                    { for SPEEDS.iter().map(|speed| html! {
                        <option value={speed.to_string()} selected={*speed == props.speed}>{ format!("{speed}×") }</option>
                    }) }
                </select>
                <span id="sim-clock" class="clock">{ format!("t = {:.3} s", props.now as f64 / 1e6) }</span>
            </div>
            <div class="controls wrap">
                <span>{ "Add a client:" }</span>
                { for BEHAVIOURS.iter().map(|(key, label)| html! {
                    <button id={format!("add-{key}")} class="secondary" onclick={act(SimAction::AddClient(key))}>
                        { *label }
                    </button>
                }) }
                <button id="sim-shutdown" class="danger" onclick={act(SimAction::Shutdown(2_000_000))}
                        title="Stop accepting, give connections 2 s, cancel the rest">
                    { "Shut down (2 s grace)" }
                </button>
            </div>
        </section>
    }
}
