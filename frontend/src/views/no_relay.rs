//! What the page says when no relay answers: how to start one, and where the
//! simulation will be.

use yew::prelude::*;

/// Props of [`NoRelayNotice`].
#[derive(Properties, PartialEq)]
pub struct NoRelayNoticeProps {
    /// The WebSocket URL that did not answer.
    pub url: String,
    /// Seconds until the next try.
    pub retry_in_s: u32,
    /// Whether the page shows a saved run (rather than the simulation).
    #[prop_or_default]
    pub showing_saved_run: bool,
    /// One line, for the lesson's projector layout, which has no room to
    /// spare above the loop.
    #[prop_or_default]
    pub compact: bool,
}

/// The notice shown until a relay answers.
#[function_component]
pub fn NoRelayNotice(props: &NoRelayNoticeProps) -> Html {
    if props.compact {
        return html! {
            <p id="no-relay" class="notice compact" aria-label="No relay">
                <span id="simulation-note">{ "No relay answered: the lesson runs in the simulation." }</span>
                { " For real sockets, start one with " }<code>{ "scripts/run.sh" }</code>{ "." }
            </p>
        };
    }
    html! {
        <section id="no-relay" class="panel notice" aria-label="No relay">
            <h2>{ "No relay answered" }</h2>
            <p>
                { "Nothing answered at " }<code>{ &props.url }</code>
                { format!(" (trying again in {} s). To watch real sockets, start the relay with ", props.retry_in_s) }
                <code>{ "scripts/run.sh" }</code>{ " and open the address it prints." }
            </p>
            <p id="simulation-note">
                if props.showing_saved_run {
                    { "Meanwhile this page replays the saved run you opened; it needs no relay." }
                } else {
                    { "Meanwhile this page runs the simulation: the same four server models, \
                       simulated in your browser on a virtual clock." }
                }
            </p>
        </section>
    }
}
