//! The root component: connects the live source to the [`World`] and lays
//! out the views.
//!
//! Events arrive in batches and are applied to the world in place; the page
//! re-renders at most once per animation frame however many batches came.

use std::cell::RefCell;
use std::rc::Rc;

use protocol::ServerMessage;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use yew::prelude::*;

use crate::components::{
    ConnectionsTable, CountersView, EventLog, LabPanel, NoRelayNotice, StatusBadge,
};
use crate::live::{Link, LinkStatus, connect, lab_url};
use crate::world::World;

/// The app.
#[function_component]
pub fn App() -> Html {
    let world = use_mut_ref(World::default);
    let status = use_state_eq(|| LinkStatus::Connecting);
    let link = use_state(Link::default);
    let redraw = use_frame_redraw();
    {
        let world = Rc::clone(&world);
        let status = status.clone();
        let link = link.clone();
        use_effect_with((), move |_| {
            let on_message = Callback::from(move |message: Result<ServerMessage, String>| {
                match message {
                    Ok(message) => world.borrow_mut().apply_message(message),
                    Err(problem) => world.borrow_mut().note(problem),
                }
                redraw.emit(());
            });
            let on_status = Callback::from(move |new_status| status.set(new_status));
            link.set(connect(page_lab_url(), on_message, on_status));
        });
    }

    let world = world.borrow();
    let rows = Rc::new(world.connections.values().cloned().collect::<Vec<_>>());
    let lines = Rc::new(world.log.iter().rev().cloned().collect::<Vec<_>>());
    let live = *status == LinkStatus::Live;
    html! {
        <div class="app">
            <header class="top">
                <h1>{ "Loopscope" }</h1>
                <p class="tagline">{ "watch an event loop juggle sockets" }</p>
                <StatusBadge status={(*status).clone()} lab={world.lab.as_ref().map(|lab| lab.lab)} />
            </header>
            if let LinkStatus::NoRelay { retry_in_s } = *status {
                <NoRelayNotice url={page_lab_url()} {retry_in_s} />
            }
            <main class="grid">
                <LabPanel lab={world.lab.clone()} link={(*link).clone()} enabled={live} />
                <CountersView counters={world.counters} />
                <ConnectionsTable {rows} />
                <EventLog {lines} />
            </main>
        </div>
    }
}

/// `ws://<this page's host>/ws`.
fn page_lab_url() -> String {
    let location = web_sys::window().map(|window| window.location());
    let protocol = location
        .as_ref()
        .and_then(|l| l.protocol().ok())
        .unwrap_or_default();
    let host = location
        .as_ref()
        .and_then(|l| l.host().ok())
        .unwrap_or_default();
    lab_url(&protocol, &host)
}

/// A callback that asks for one re-render on the next animation frame, however
/// often it is called before then.
#[hook]
fn use_frame_redraw() -> Callback<()> {
    let force_update = use_force_update();
    let pending: Rc<RefCell<bool>> = use_mut_ref(|| false);
    Callback::from(move |()| {
        if pending.replace(true) {
            return;
        }
        let pending = Rc::clone(&pending);
        let force_update = force_update.clone();
        let on_frame = Closure::once_into_js(move || {
            pending.replace(false);
            force_update.force_update();
        });
        if let Some(window) = web_sys::window() {
            let _ = window.request_animation_frame(on_frame.unchecked_ref());
        }
    })
}
