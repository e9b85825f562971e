//! The timeline bar under the views: the scrubber over the whole recorded
//! run, Step back (←) and Live (End), the recording's limits, and Save run /
//! Open run (a file input; dropping a file on the page opens it too).

use protocol::Micros;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::model::numbers::thousands;
use crate::model::recording::{MAX_EVENTS, MAX_SPAN};
use crate::page::TimeAction;

/// Props of [`Timeline`].
#[derive(Properties, PartialEq)]
pub struct TimelineProps {
    /// The oldest position kept.
    pub first: u64,
    /// Now: the position after the newest event.
    pub end: u64,
    /// The position shown.
    pub position: u64,
    /// The time of the moment shown.
    pub at: Micros,
    /// The time of the newest event.
    pub end_at: Micros,
    /// Events let go to stay within the recording's caps.
    pub let_go: u64,
    /// Whether the run goes on (a live lab or the simulation) rather than
    /// being a saved one.
    pub goes_on: bool,
    /// Where the scrubber's moves go.
    pub on_action: Callback<TimeAction>,
    /// Save run was pressed.
    pub on_save: Callback<()>,
    /// A file was picked to open.
    pub on_open: Callback<web_sys::File>,
}

/// The timeline bar.
#[function_component]
pub fn Timeline(props: &TimelineProps) -> Html {
    let on_scrub = {
        let on_action = props.on_action.clone();
        Callback::from(move |event: InputEvent| {
            let input: web_sys::HtmlInputElement = event.target_unchecked_into();
            if let Ok(position) = input.value().parse::<u64>() {
                on_action.emit(TimeAction::Seek(position));
            }
        })
    };
    let action = |action: TimeAction| {
        let on_action = props.on_action.clone();
        Callback::from(move |_: MouseEvent| on_action.emit(action))
    };
    let on_save = {
        let on_save = props.on_save.clone();
        Callback::from(move |_: MouseEvent| on_save.emit(()))
    };
    let on_file = {
        let on_open = props.on_open.clone();
        Callback::from(move |event: Event| {
            let input: web_sys::HtmlInputElement = event.target_unchecked_into();
            if let Some(file) = input.files().and_then(|files| files.get(0)) {
                on_open.emit(file);
            }
            // The same file picked again opens again.
            input.set_value("");
        })
    };
    let now = props.position >= props.end;
    let empty = props.end == props.first;
    let shown = props.position - props.first;
    let total = props.end - props.first;
    let limit = format!(
        "A run keeps its newest {} events or {} minutes.",
        thousands(MAX_EVENTS),
        MAX_SPAN / 60_000_000
    );
    html! {
        <section class={classes!("timeline", (!now).then_some("looking-back"))} aria-label="Timeline">
            <button id="step-back" class="secondary" disabled={empty || props.position == props.first}
                    title="Show the run one server loop iteration earlier (←)"
                    onclick={action(TimeAction::StepBack)}>{ "◀ Step back" }</button>
            <input id="scrub" type="range" aria-label="Moment shown"
                   min={props.first.to_string()} max={props.end.to_string()}
                   value={props.position.to_string()} disabled={empty}
                   oninput={on_scrub} />
            <button id="scrub-now" class={classes!("secondary", now.then_some("at-now"))} disabled={now}
                    title="Back to now (End)" onclick={action(TimeAction::Now)}>
                { if props.goes_on { "Live" } else { "End" } }
            </button>
            <span id="scrub-position" class="hint" aria-live="off">
                { if now {
                    format!("now · {} events · {}", thousands(total), seconds(props.end_at))
                } else {
                    format!("looking back · event {} of {} · {}", thousands(shown), thousands(total), seconds(props.at))
                } }
            </span>
            <span id="recording-limit" class="hint" title={limit}>
                { if props.let_go > 0 {
                    format!("{} older let go (keeps {} M or {} min)",
                            thousands(props.let_go), MAX_EVENTS / 1_000_000, MAX_SPAN / 60_000_000)
                } else {
                    format!("keeps {} M events or {} min", MAX_EVENTS / 1_000_000, MAX_SPAN / 60_000_000)
                } }
            </span>
            <span class="run-files">
                <button id="save-run" class="secondary" disabled={empty} onclick={on_save}
                        title="Download this run as a file that this page opens again, with nothing else to run">
                    { "Save run" }
                </button>
                <label class="file-button secondary" title="Open a saved run (or drop the file on the page)">
                    { "Open run…" }
                    <input id="open-run" type="file" accept=".gz,application/gzip,application/json"
                           onchange={on_file} />
                </label>
            </span>
        </section>
    }
}

/// A run's time as a person reads it: `12.345 s`.
fn seconds(at: Micros) -> String {
    format!("{:.3} s", at as f64 / 1e6)
}

/// The file of a drop on the page, if one was dropped.
pub fn dropped_file(event: &DragEvent) -> Option<web_sys::File> {
    event
        .data_transfer()?
        .files()?
        .get(0)
        .filter(|file| file.dyn_ref::<web_sys::File>().is_some())
}
