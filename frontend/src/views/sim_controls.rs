//! The simulation's controls: model, error handling, play/pause, step one
//! loop iteration, speed, reset with a seed, clients of each behaviour (so
//! many at a time), shutdown with a grace period.

use loopscope_sim::{ClientBehaviour, HandlerStyle, ServerModel};
use protocol::{Micros, ShutdownPolicy};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use crate::model::narration::Life;
use crate::model::scenario::{
    BEHAVIOURS, MAX_LINK_CLIENTS, SPEEDS, SimSettings, describe_behaviour,
};
use crate::page::SimAction;
use crate::views::ShutdownControl;
use crate::views::number_field::{parse_within, use_number_field};

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
    /// The speed it really runs at, when the page cannot keep up with the
    /// asked one.
    #[prop_or_default]
    pub behind: Option<f64>,
    /// Where the simulated server is in its life: what can be done to it.
    pub life: Life,
    /// Where actions go.
    pub on_action: Callback<SimAction>,
    /// The shutdown policy chosen.
    #[prop_or_default]
    pub policy: ShutdownPolicy,
    /// Told a new choice of shutdown policy.
    #[prop_or_default]
    pub on_policy: Callback<ShutdownPolicy>,
}

/// The models, with the names the pickers show.
pub const MODELS: [(ServerModel, &str); 4] = [
    (ServerModel::Blocking, ServerModel::Blocking.label()),
    (ServerModel::BusyPoll, ServerModel::BusyPoll.label()),
    (ServerModel::Selector, ServerModel::Selector.label()),
    (ServerModel::AsyncTasks, ServerModel::AsyncTasks.label()),
];

/// The control bar of the simulation.
#[function_component]
pub fn SimControls(props: &SimControlsProps) -> Html {
    let settings = props.settings;
    let count = use_number_field(1, 1, MAX_LINK_CLIENTS);
    let on_shutdown = {
        let on_action = props.on_action.clone();
        Callback::from(move |(grace_ms, policy): (u32, ShutdownPolicy)| {
            on_action.emit(SimAction::Shutdown(policy, Micros::from(grace_ms) * 1000));
        })
    };
    let seed = use_number_field(settings.seed, 0, u64::MAX);
    // A new seed takes effect once given (Enter, or leaving the field).
    let on_seed = {
        let on_action = props.on_action.clone();
        Callback::from(move |event: Event| {
            let input: HtmlInputElement = event.target_unchecked_into();
            if let Some(seed) = parse_within(&input.value(), 0, u64::MAX)
                && seed != settings.seed
            {
                on_action.emit(SimAction::Reset(SimSettings { seed, ..settings }));
            }
        })
    };
    let act = |action: SimAction| {
        let on_action = props.on_action.clone();
        Callback::from(move |_: MouseEvent| on_action.emit(action.clone()))
    };
    let on_model = {
        let on_action = props.on_action.clone();
        Callback::from(move |event: Event| {
            let select: HtmlSelectElement = event.target_unchecked_into();
            if let Some(model) = ServerModel::named(&select.value()) {
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
    let why_not = props.life.why_not();
    // The behaviour described under the buttons: the one pointed at last.
    let described = use_state(|| BEHAVIOURS[0].0);
    let describe = |key: &'static str| {
        let described = described.clone();
        Callback::from(move |_: web_sys::Event| described.set(key))
    };
    let description = ClientBehaviour::preset(*described)
        .map(|picked| describe_behaviour(&picked))
        .unwrap_or_default();
    html! {
        <section class="panel sim" aria-labelledby="sim-title">
            <h2 id="sim-title">{ "Simulation" }</h2>
            <div class="controls wrap">
                <label for="sim-model">{ "Server" }</label>
                <select id="sim-model" onchange={on_model}>
                    { for MODELS.iter().map(|(model, label)| html! {
                        <option value={model.key()} selected={*model == settings.model}>{ *label }</option>
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
                <button id="sim-step" onclick={act(SimAction::Step)} disabled={props.life.is_over()}
                        title={why_not.filter(|_| props.life.is_over()).unwrap_or("Run one iteration of the server's loop")}>
                    { "Step" }
                </button>
                <button id="sim-reset" class="secondary" onclick={act(SimAction::Reset(settings))}
                        title="Start again from the beginning with this seed">{ "Reset" }</button>
                <label for="sim-seed">{ "seed" }</label>
                <input id="sim-seed" type="number" min="0" value={seed.text}
                       oninput={seed.oninput} onchange={on_seed} />
                <label for="sim-speed">{ "Speed" }</label>
                <select id="sim-speed" onchange={on_speed}>
                    { for SPEEDS.iter().map(|speed| html! {
                        <option value={speed.to_string()} selected={*speed == props.speed}>{ format!("{speed}×") }</option>
                    }) }
                </select>
                <span id="sim-clock" class="clock">{ format!("t = {:.3} s", props.now as f64 / 1e6) }</span>
                if let Some(real) = props.behind {
                    <span id="sim-behind" class="hint warn" role="status"
                          title="The page gives the simulation a few milliseconds of each frame, so that it stays smooth; this many clients need more than that at this speed">
                        { format!("running at about {}×: the page cannot keep up", if real >= 1.0 { format!("{real:.0}") } else { format!("{real:.2}") }) }
                    </span>
                }
            </div>
            <div class="controls wrap">
                <label for="sim-count">{ "Add" }</label>
                <input id="sim-count" type="number" min="1" max={MAX_LINK_CLIENTS.to_string()}
                       value={count.text} oninput={count.oninput} />
                <span>{ if count.value == 1 { "client:" } else { "clients:" } }</span>
                { for BEHAVIOURS.iter().map(|(key, label)| html! {
                    <button id={format!("add-{key}")} class="secondary" onclick={act(SimAction::AddClients(key, count.value))}
                            disabled={why_not.is_some()}
                            title={why_not.map_or_else(|| ClientBehaviour::preset(key).map(|picked| describe_behaviour(&picked)).unwrap_or_default(), str::to_owned)}
                            onmouseenter={describe(key).reform(|event: MouseEvent| event.into())}
                            onfocus={describe(key).reform(|event: FocusEvent| event.into())}>
                        { *label }
                    </button>
                }) }
            </div>
            <p class="hint" id="behaviour-hint">{ description }</p>
            <ShutdownControl prefix="sim" enabled={props.life == Life::Running} why_not={why_not} {on_shutdown}
                             policies={settings.model.offers_shutdown_policies()}
                             policy={props.policy} on_policy={props.on_policy.clone()} />
            if let (true, Some(why)) = (props.life.is_over(), why_not) {
                <p id="server-over" class="server-over" role="status">
                    { why }{ " " }
                    <button id="sim-restart" onclick={act(SimAction::Reset(settings))}>{ "Reset" }</button>
                    { " starts it again." }
                </p>
            }
        </section>
    }
}
