//! The playground's root component: a shell around the [`Page`], which
//! knows and decides everything. The component keeps the page's cell, draws
//! the page (the views' [`layout`]) when it changed, tells it when it was
//! drawn, and starts what lives for the page's life: the lab's link, the
//! host's feed, the frames and the keys, all in [`effects`].
//!
//! [`Page`]: crate::page::Page
//! [`layout`]: crate::views::layout::layout

mod effects;

use yew::prelude::*;

use crate::views::layout::{Outlets, layout};
use effects::{Shell, bare_lab_url};

/// The app.
#[function_component]
pub fn App() -> Html {
    let force_update = use_force_update();
    let shell = use_memo((), move |_| Shell::new(force_update));
    {
        // After each drawing: the frame's measure ends, the page hears it.
        let shell = shell.clone();
        use_effect(move || shell.drawn());
    }
    {
        let shell = shell.clone();
        use_effect_with((), move |_| {
            let running = shell.start();
            move || drop(running)
        });
    }
    let frame = shell.frame.get() + 1;
    shell.frame.set(frame);
    let outlets = Outlets {
        dispatch: shell.dispatch.clone(),
        open_file: shell.open_file.clone(),
    };
    layout(&shell.page, frame, &outlets, &bare_lab_url())
}
