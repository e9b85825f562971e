//! The server's Python program, with the line it is on lit.

use loopscope_sim::{Listing, ServerModel};
use yew::prelude::*;

/// Props of [`CodeListing`].
#[derive(Properties, PartialEq)]
pub struct CodeListingProps {
    /// Whose program.
    pub model: ServerModel,
    /// The line to light (1-based), if known.
    pub line: Option<u32>,
}

/// The listing, one numbered line per row.
#[function_component]
pub fn CodeListing(props: &CodeListingProps) -> Html {
    let listing = Listing::of(props.model);
    html! {
        <section class="panel code" aria-labelledby="code-title">
            <h2 id="code-title">{ listing.file }</h2>
            <pre id="code-listing"><code>
                { for listing.source.lines().enumerate().map(|(index, text)| {
                    let number = index as u32 + 1;
                    let current = props.line == Some(number);
                    html! {
                        <span class={classes!("line", current.then_some("current"))}
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
