//! The help overlay: the keyboard shortcuts, what the page is for, and the
//! words of the lesson.

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
                    <dt><kbd>{ "→" }</kbd></dt><dd>{ "step: one iteration of the server's loop (looking back: one iteration on, towards now)" }</dd>
                    <dt><kbd>{ "←" }</kbd></dt><dd>{ "step back: the run as it was one iteration earlier" }</dd>
                    <dt><kbd>{ "End" }</kbd></dt><dd>{ "back to now (the timeline's Live)" }</dd>
                    <dt><kbd>{ "n" }</kbd>{ " " }<kbd>{ "p" }</kbd></dt><dd>{ "the lesson's next and previous step (opens the lesson)" }</dd>
                    <dt><kbd>{ "?" }</kbd></dt><dd>{ "show or hide this help" }</dd>
                    <dt><kbd>{ "Esc" }</kbd></dt><dd>{ "close it" }</dd>
                </dl>
                <p class="hint">
                    { "The page's address keeps the simulated scenario (server, error handling, \
                       seed, speed, clients), the lesson's step and the text size: copy it to share \
                       a lesson." }
                </p>
                <p class="hint">
                    { "The timeline at the bottom holds the whole run: drag it to see any earlier moment \
                       (a simulation holds still meanwhile; a live lab goes on recording). Save run \
                       downloads the run as a file; Open run, or a file dropped on the page, replays it \
                       here, with nothing else to run." }
                </p>
                <h2 id="glossary-title">{ "Words of the lesson" }</h2>
                <dl id="glossary" class="glossary">
                    { for crate::model::glossary::TERMS.iter().map(|term| html! {
                        <>
                            <dt data-term={term.key}>{ term.term }</dt>
                            <dd>{ term.meaning }</dd>
                        </>
                    }) }
                </dl>
                <button id="help-close" onclick={close}>{ "Close" }</button>
            </div>
        </div>
    }
}
