//! The graceful shutdown's controls, alike for the simulation and a live
//! lab: the policy (asyncio's server offers four), a slider for the grace
//! period and the button that begins it.

use protocol::ShutdownPolicy;
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::views::number_field::use_number_field;

/// The grace period a shutdown starts with, and the slider's most, in
/// milliseconds.
const DEFAULT_GRACE_MS: u32 = 2_000;
const MAX_GRACE_MS: u32 = 10_000;

/// A grace period as the button and the slider say it: `2.5 s`.
fn grace_text(grace_ms: u32) -> String {
    format!("{} s", f64::from(grace_ms) / 1000.0)
}

/// What the button says it will do.
fn button_text(policy: ShutdownPolicy, grace_ms: u32) -> String {
    match policy {
        ShutdownPolicy::GraceThenCancel => format!("Shut down ({} grace)", grace_text(grace_ms)),
        ShutdownPolicy::CancelAtOnce => "Shut down (cancel at once)".to_owned(),
        ShutdownPolicy::WaitForEveryone => "Shut down (wait for everyone)".to_owned(),
        ShutdownPolicy::NotifyFirst => "Shut down (goodbye, then close)".to_owned(),
    }
}

/// What the button's tooltip says the policy does.
fn policy_hint(policy: ShutdownPolicy) -> &'static str {
    match policy {
        ShutdownPolicy::GraceThenCancel => {
            "Stop accepting, let connections finish for the grace period, cancel the rest"
        }
        ShutdownPolicy::CancelAtOnce => "Stop accepting and cancel every connection now",
        ShutdownPolicy::WaitForEveryone => {
            "Stop accepting and wait, with no deadline, until every client has left"
        }
        ShutdownPolicy::NotifyFirst => {
            "Stop accepting, send each client a goodbye line, then close its connection"
        }
    }
}

/// Props of [`ShutdownControl`].
#[derive(Properties, PartialEq)]
pub struct ShutdownControlProps {
    /// The prefix of its ids: `{prefix}-policy`, `{prefix}-grace`,
    /// `{prefix}-shutdown`.
    pub prefix: AttrValue,
    /// Whether the button can be pressed.
    #[prop_or(true)]
    pub enabled: bool,
    /// Why it is disabled, when it is.
    #[prop_or_default]
    pub why_not: Option<&'static str>,
    /// Whether the server's program offers a choice of policy (asyncio's
    /// does; the others always give a grace period, then close the rest).
    #[prop_or(false)]
    pub policies: bool,
    /// The policy chosen (the page keeps it: the lesson's step 7 shuts
    /// down with it too).
    #[prop_or_default]
    pub policy: ShutdownPolicy,
    /// Told the policy chosen.
    #[prop_or_default]
    pub on_policy: Callback<ShutdownPolicy>,
    /// Told the grace period, in milliseconds, and the policy when the
    /// button is pressed.
    pub on_shutdown: Callback<(u32, ShutdownPolicy)>,
}

/// The policy, the grace slider and the shutdown button.
#[function_component]
pub fn ShutdownControl(props: &ShutdownControlProps) -> Html {
    let grace_ms = use_number_field(DEFAULT_GRACE_MS, 0, MAX_GRACE_MS);
    let policy = if props.policies {
        props.policy
    } else {
        ShutdownPolicy::GraceThenCancel
    };
    let onclick = {
        let on_shutdown = props.on_shutdown.clone();
        let grace_ms = grace_ms.value;
        Callback::from(move |_: MouseEvent| on_shutdown.emit((grace_ms, policy)))
    };
    let on_policy = {
        let on_policy = props.on_policy.clone();
        Callback::from(move |event: Event| {
            let select: HtmlSelectElement = event.target_unchecked_into();
            if let Some(policy) = ShutdownPolicy::from_name(&select.value()) {
                on_policy.emit(policy);
            }
        })
    };
    let prefix = &props.prefix;
    html! {
        <div class="controls wrap">
            if props.policies {
                <label for={format!("{prefix}-policy")}>{ "Policy" }</label>
                <select id={format!("{prefix}-policy")} onchange={on_policy}>
                    { for ShutdownPolicy::ALL.iter().map(|each| html! {
                        <option value={each.as_str()} selected={*each == policy}>{ each.label() }</option>
                    }) }
                </select>
            }
            if policy.uses_grace() {
                <label for={format!("{prefix}-grace")}>{ "Grace" }</label>
                <input id={format!("{prefix}-grace")} type="range" min="0" max={MAX_GRACE_MS.to_string()} step="500"
                       value={grace_ms.text} oninput={grace_ms.oninput}
                       aria-valuetext={grace_text(grace_ms.value)} />
            }
            <button id={format!("{prefix}-shutdown")} class="danger" disabled={!props.enabled} {onclick}
                    title={props.why_not.filter(|_| !props.enabled).unwrap_or(policy_hint(policy))}>
                { button_text(policy, grace_ms.value) }
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

    #[test]
    fn the_button_names_the_policy_it_will_apply() {
        assert_eq!(
            button_text(ShutdownPolicy::GraceThenCancel, 1_500),
            "Shut down (1.5 s grace)"
        );
        let texts: std::collections::HashSet<_> = ShutdownPolicy::ALL
            .iter()
            .map(|policy| button_text(*policy, 1_500))
            .collect();
        assert_eq!(texts.len(), ShutdownPolicy::ALL.len());
    }
}
