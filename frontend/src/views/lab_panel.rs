//! The live lab panel: where the echo server listens, which model it runs,
//! the loop's pause and step, the clients to start against it, and a
//! graceful shutdown.

use protocol::{ClientBehaviour, HandlerStyle, Hello, ServerModel, ShutdownPolicy};
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::model::narration::Life;
use crate::model::scenario::{BEHAVIOURS, describe_behaviour};
use crate::page::LabAction;
use crate::views::ShutdownControl;
use crate::views::number_field::use_number_field;
use crate::views::sim_controls::MODELS;

/// Props of [`LabPanel`].
#[derive(Properties, PartialEq)]
pub struct LabPanelProps {
    /// The lab's greeting, once it came.
    pub lab: Option<Hello>,
    /// The model the server runs now.
    pub model: Option<ServerModel>,
    /// Whether its loop is paused.
    pub paused: bool,
    /// What its handlers do with a client's error.
    pub errors: HandlerStyle,
    /// Where the server is in its life: what can be done to it.
    pub life: Life,
    /// Whether the relay is connected.
    pub enabled: bool,
    /// The shutdown policy chosen.
    #[prop_or_default]
    pub policy: ShutdownPolicy,
    /// Told a new choice of shutdown policy.
    #[prop_or_default]
    pub on_policy: Callback<ShutdownPolicy>,
    /// Told what the learner asks of the lab (the page does it to the
    /// compared lab too).
    pub on_action: Callback<LabAction>,
}

/// The live lab's controls.
#[function_component]
pub fn LabPanel(props: &LabPanelProps) -> Html {
    let behaviour = use_state(|| 0_usize);
    let max = props
        .lab
        .as_ref()
        .map_or(1, |lab| lab.limits.max_clients.max(1));
    let count = use_number_field(1, 1, max);
    let send = |action: LabAction| {
        let on_action = props.on_action.clone();
        Callback::from(move |_: MouseEvent| on_action.emit(action.clone()))
    };
    let on_shutdown =
        props.on_action.reform(
            |(grace_ms, policy): (u32, ShutdownPolicy)| LabAction::Shutdown { grace_ms, policy },
        );
    let on_behaviour = {
        let behaviour = behaviour.clone();
        Callback::from(move |event: Event| {
            let select: HtmlSelectElement = event.target_unchecked_into();
            behaviour.set(select.selected_index().max(0) as usize);
        })
    };
    let model = props.model.unwrap_or_default();
    let errors = props.errors;
    let on_model = props.on_action.reform(|event: Event| {
        let select: HtmlSelectElement = event.target_unchecked_into();
        LabAction::SetModel(ServerModel::named(&select.value()).unwrap_or_default())
    });
    let on_errors = props.on_action.reform(|event: Event| {
        let select: HtmlSelectElement = event.target_unchecked_into();
        LabAction::SetErrors(if select.value() == "unhandled" {
            HandlerStyle::Unhandled
        } else {
            HandlerStyle::Handled
        })
    });
    let restart = send(LabAction::Restart);
    let chosen = ClientBehaviour::preset(BEHAVIOURS[*behaviour].0).unwrap_or_default();
    let spawn = send(LabAction::Spawn {
        count: count.value,
        behaviour: chosen.clone(),
    });
    let description = describe_behaviour(&chosen);
    let pausable = props.enabled && model != ServerModel::AsyncTasks && !props.life.is_over();
    let why_not = props.life.why_not();
    let handled = errors == HandlerStyle::Handled;
    let echo_addr = props.lab.as_ref().map(|lab| lab.echo_addr.clone());
    html! {
        <section class="panel lab" aria-labelledby="lab-title">
            <h2 id="lab-title">{ "Your lab" }</h2>
            if let Some(addr) = echo_addr.clone() {
                <p>
                    { "A real echo server listens on " }
                    <code id="echo-addr">{ addr }</code>
                </p>
            } else {
                // Before the relay's hello, or after it closed the lab: no
                // port to name.
                <p id="no-lab">{ "This page has no echo server on the relay right now." }</p>
            }
            if let Some(addr) = echo_addr {
                <p class="hint">
                    { "Try it yourself: " }
                    <code>{ nc_command(&addr) }</code>
                    { " and type a line; your connection shows up below." }
                </p>
            }
            <div class="controls wrap">
                <label for="live-model">{ "Server" }</label>
                <select id="live-model" onchange={on_model} disabled={!props.enabled}>
                    { for MODELS.iter().map(|(option, label)| html! {
                        <option value={option.key()} selected={*option == model}>{ *label }</option>
                    }) }
                </select>
                <label for="live-style">{ "Errors" }</label>
                <select id="live-style" onchange={on_errors} disabled={!props.enabled}>
                    <option value="handled" selected={handled}>{ "handled (try/except)" }</option>
                    <option value="unhandled" selected={!handled}>{ "unhandled" }</option>
                </select>
                <button id="live-pause" class="secondary" disabled={!pausable || props.paused}
                        onclick={send(LabAction::Pause)}>{ "Pause" }</button>
                <button id="live-step" class="secondary" disabled={!pausable}
                        onclick={send(LabAction::Step)} title="Let the real server run one loop iteration">
                    { "Step" }
                </button>
                <button id="live-resume" class="secondary" disabled={!pausable || !props.paused}
                        onclick={send(LabAction::Resume)}>{ "Resume" }</button>
            </div>
            if model == ServerModel::AsyncTasks {
                <p class="hint">
                    { "The asyncio-style server runs on tokio's scheduler, which cannot be paused \
                       live; pause the simulation to step through tasks." }
                </p>
            }
            <div class="controls wrap">
                <label for="spawn-count">{ "Clients" }</label>
                <input id="spawn-count" type="number" min="1" max={max.to_string()}
                       value={count.text} oninput={count.oninput} />
                <select id="spawn-behaviour" aria-label="Behaviour" onchange={on_behaviour}>
                    { for BEHAVIOURS.iter().enumerate().map(|(index, (key, label))| html! {
                        <option value={*key} selected={index == *behaviour}>{ *label }</option>
                    }) }
                </select>
                <button id="spawn" onclick={spawn} disabled={!props.enabled || why_not.is_some()}
                        title={why_not.unwrap_or("Start the clients against your lab's server")}>{ "Spawn client" }</button>
            </div>
            <p class="hint" id="behaviour-hint">{ description }</p>
            <ShutdownControl prefix="live" enabled={props.enabled && props.life == Life::Running} {why_not} {on_shutdown}
                             policies={model.offers_shutdown_policies()}
                             policy={props.policy} on_policy={props.on_policy.clone()} />
            if let (true, Some(why)) = (props.life.is_over(), why_not) {
                <p id="server-over" class="server-over" role="status">
                    { why }{ " " }
                    <button id="live-restart" onclick={restart} disabled={!props.enabled}>{ "Restart server" }</button>
                    { " starts it again on the same port." }
                </p>
            }
        </section>
    }
}

/// `nc HOST PORT` for an address like `127.0.0.1:4000` or `[::1]:4000`.
fn nc_command(addr: &str) -> String {
    match addr.rsplit_once(':') {
        Some((host, port)) => format!("nc {} {port}", host.trim_matches(['[', ']'])),
        None => format!("nc {addr}"),
    }
}

#[cfg(test)]
mod tests {
    use super::nc_command;

    #[test]
    fn the_nc_hint_splits_host_and_port() {
        assert_eq!(nc_command("127.0.0.1:4000"), "nc 127.0.0.1 4000");
        assert_eq!(nc_command("[::1]:4000"), "nc ::1 4000");
    }
}
