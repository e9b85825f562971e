//! The help overlay: the keyboard shortcuts, and what the page is for.

use yew::prelude::*;

/// Props of [`HelpOverlay`].
#[derive(Properties, PartialEq)]
pub struct HelpOverlayProps {
    /// Closes it.
    pub on_close: Callback<()>,
}

/// A dialog over the page; Esc or the button closes it.
#[function_component]
pub fn HelpOverlay(props: &HelpOverlayProps) -> Html {
    let close = {
        let on_close = props.on_close.clone();
        Callback::from(move |_: MouseEvent| on_close.emit(()))
    };
    html! {
        <div class="overlay" role="dialog" aria-modal="true" aria-labelledby="help-title" id="help">
            <div class="panel dialog">
                <h2 id="help-title">{ "Keyboard shortcuts" }</h2>
                <dl class="shortcuts">
                    <dt><kbd>{ "Space" }</kbd></dt><dd>{ "play or pause the simulation" }</dd>
                    <dt><kbd>{ "→" }</kbd></dt><dd>{ "step: one iteration of the server's loop" }</dd>
                    <dt><kbd>{ "?" }</kbd></dt><dd>{ "show or hide this help" }</dd>
                    <dt><kbd>{ "Esc" }</kbd></dt><dd>{ "close it" }</dd>
                </dl>
                <p class="hint">
                    { "The page's address keeps the simulated scenario (server, error handling, \
                       seed, speed, clients): copy it to share a lesson." }
                </p>
                <button id="help-close" onclick={close}>{ "Close" }</button>
            </div>
        </div>
    }
}
