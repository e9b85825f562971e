//! The server's Python program, with the line it is on lit: the variant in
//! force (a client's error handled or not), and scrolled so that the lit
//! line stays in view, unless the learner scrolled the listing themselves
//! (then a button brings the lit line back).

use loopscope_sim::{HandlerStyle, Listing, ServerModel};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::HtmlElement;
use yew::prelude::*;

/// Props of [`CodeListing`].
#[derive(Properties, PartialEq)]
pub struct CodeListingProps {
    /// The server model.
    pub model: ServerModel,
    /// What its handlers do with a client's error: which variant runs.
    pub errors: HandlerStyle,
    /// The lit line, if any.
    pub line: Option<u32>,
    /// Whether the server crashed: the lit line is where the error escaped.
    #[prop_or_default]
    pub crashed: bool,
}

/// Where `pre` must scroll to so that the line at `top` (`height` tall)
/// is in view, if it is not: the line a third of the way down.
pub fn scroll_to_show(top: f64, height: f64, scroll_top: f64, view_height: f64) -> Option<f64> {
    let in_view = top >= scroll_top && top + height <= scroll_top + view_height;
    (!in_view).then(|| (top - view_height / 3.0).max(0.0))
}

/// Scrolls `pre` so that its lit line is in view, if it is not.
fn follow_lit_line(pre: &HtmlElement) {
    let current = pre
        .query_selector(".line.current")
        .ok()
        .flatten()
        .and_then(|line| line.dyn_into::<HtmlElement>().ok());
    if let Some(line) = current
        && let Some(to) = scroll_to_show(
            f64::from(line.offset_top()),
            f64::from(line.offset_height()),
            f64::from(pre.scroll_top()),
            f64::from(pre.client_height()),
        )
    {
        pre.set_scroll_top(to as i32);
    }
}

/// The listing.
#[function_component]
pub fn CodeListing(props: &CodeListingProps) -> Html {
    let listing = Listing::of(props.model, props.errors);
    let pre = use_node_ref();
    let following = use_state(|| true);
    {
        let pre = pre.clone();
        let follow = *following;
        use_effect_with((props.line, listing.file, follow), move |_| {
            if follow {
                // Where the lit line lies is read at the start of the next
                // frame, before anything changes the page again: the
                // browser has laid it out by then, so asking costs nothing
                // (asking now, right after a render, would make it lay out
                // the whole page there and then).
                let scroll = Closure::once_into_js(move || {
                    if let Some(pre) = pre.cast::<HtmlElement>() {
                        follow_lit_line(&pre);
                    }
                });
                if let Some(window) = web_sys::window() {
                    let _ = window.request_animation_frame(scroll.unchecked_ref());
                }
            }
        });
    }
    // The learner's own scrolling (wheel, touch, the scrollbar) stops the
    // following.
    let stop_following = {
        let following = following.clone();
        Callback::from(move |_: web_sys::Event| {
            if *following {
                following.set(false);
            }
        })
    };
    let follow_again = {
        let following = following.clone();
        Callback::from(move |_: MouseEvent| following.set(true))
    };
    let variant = match props.errors {
        HandlerStyle::Handled => "client errors handled",
        HandlerStyle::Unhandled => "client errors unhandled",
    };
    html! {
        <section class="panel code" aria-labelledby="code-title">
            <div class="code-head">
                <h2 id="code-title">{ listing.file }</h2>
                <span class="hint" id="code-variant">{ variant }</span>
                if !*following && props.line.is_some() {
                    <button id="follow-line" class="secondary" onclick={follow_again}>
                        { "Follow the lit line" }
                    </button>
                }
            </div>
            <pre id="code-listing" ref={pre}
                 onwheel={stop_following.reform(|event: WheelEvent| event.into())}
                 ontouchmove={stop_following.reform(|event: TouchEvent| event.into())}
                 onpointerdown={stop_following.reform(|event: PointerEvent| event.into())}><code>
                { for listing.source.lines().enumerate().map(|(index, text)| {
                    let number = index as u32 + 1;
                    let current = props.line == Some(number);
                    let raised = current && props.crashed;
                    html! {
                        <span class={classes!("line", current.then_some("current"), raised.then_some("raised"))}
                              title={raised.then_some("the error escaped from here and ended the program")}
                              data-line={number.to_string()}
                              aria-current={current.then_some("step")}>
                            <span class="number">{ number }</span>{ text }{ "\n" }
                        </span>
                    }
                }) }
            </code></pre>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::scroll_to_show;

    #[test]
    fn a_line_in_view_stays_put_and_one_out_of_view_comes_a_third_down() {
        assert_eq!(scroll_to_show(100.0, 20.0, 50.0, 400.0), None);
        assert_eq!(scroll_to_show(900.0, 20.0, 0.0, 300.0), Some(800.0));
        assert_eq!(scroll_to_show(10.0, 20.0, 500.0, 300.0), Some(0.0));
    }
}
