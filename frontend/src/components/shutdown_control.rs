//! The graceful shutdown's controls, alike for the simulation and a live
//! lab: a slider for the grace period and the button that begins it.

use yew::prelude::*;

use crate::components::number_field::use_number_field;

/// The grace period a shutdown starts with, and the slider's most, in
/// milliseconds.
const DEFAULT_GRACE_MS: u32 = 2_000;
const MAX_GRACE_MS: u32 = 10_000;

/// A grace period as the button and the slider say it: `2.5 s`.
fn grace_text(grace_ms: u32) -> String {
    format!("{} s", f64::from(grace_ms) / 1000.0)
}

/// Props of [`ShutdownControl`].
#[derive(Properties, PartialEq)]
pub struct ShutdownControlProps {
    /// The prefix of its ids: `{prefix}-grace`, `{prefix}-shutdown`.
    pub prefix: AttrValue,
    /// Whether the button can be pressed.
    #[prop_or(true)]
    pub enabled: bool,
    /// Why it is disabled, when it is.
    #[prop_or_default]
    pub why_not: Option<&'static str>,
    /// Told the grace period, in milliseconds, when the button is pressed.
    pub on_shutdown: Callback<u32>,
}

/// The grace slider and the shutdown button.
#[function_component]
pub fn ShutdownControl(props: &ShutdownControlProps) -> Html {
    let grace_ms = use_number_field(DEFAULT_GRACE_MS, 0, MAX_GRACE_MS);
    let onclick = {
        let on_shutdown = props.on_shutdown.clone();
        let grace_ms = grace_ms.value;
        Callback::from(move |_: MouseEvent| on_shutdown.emit(grace_ms))
    };
    let prefix = &props.prefix;
    html! {
        <div class="controls wrap">
            <label for={format!("{prefix}-grace")}>{ "Grace" }</label>
            <input id={format!("{prefix}-grace")} type="range" min="0" max={MAX_GRACE_MS.to_string()} step="500"
                   value={grace_ms.text} oninput={grace_ms.oninput}
                   aria-valuetext={grace_text(grace_ms.value)} />
            <button id={format!("{prefix}-shutdown")} class="danger" disabled={!props.enabled} {onclick}
                    title={props.why_not.filter(|_| !props.enabled).unwrap_or("Stop accepting, let connections finish for the grace period, cancel the rest")}>
                { format!("Shut down ({} grace)", grace_text(grace_ms.value)) }
            </button>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grace_period_reads_in_seconds() {
        assert_eq!(grace_text(2_000), "2 s");
        assert_eq!(grace_text(500), "0.5 s");
        assert_eq!(grace_text(0), "0 s");
    }
}
