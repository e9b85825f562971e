//! The host's dashboard at `/host`: the room's labs and budget, refreshed
//! every second from the relay's `/host/room` stream, and what the host
//! does: close a lab, lead the room to a lesson, stop leading.
//!
//! The host token comes with the dashboard's link (printed in the host's
//! terminal) and, like the join token, moves out of the address into the
//! tab's storage. Requests carry it as a bearer token; the event stream,
//! which cannot set headers, in its query.

use std::rc::Rc;

use protocol::ServerModel;
use protocol::workshop::{HostPush, Lead, RoomView, Usage};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::model::lesson::STEPS;
use crate::sources::site;
use crate::sources::workshop::{
    Answer, EventFeed, HOST_TOKEN_KEY, listen, request, take_token_from_address, with_token,
};

/// The lesson link that opens step `number` of the lesson on every
/// following page: its number, then its scenario.
pub fn step_lesson(number: usize) -> String {
    let scenario = crate::model::lesson::step(number).map_or("", |step| step.scenario);
    format!("?lesson={number}&{scenario}")
}

/// Lessons one click away: a lesson link's query and what it shows.
pub const PRESETS: [(&str, &str); 4] = [
    (
        "?model=blocking&clients=slow,polite*3",
        "Blocking: one slow client holds everyone up",
    ),
    (
        "?model=busy_poll&clients=polite*3,silent",
        "Busy poll: everyone served, a core burned",
    ),
    (
        "?model=selector&clients=polite*5,slow",
        "Selector: one thread, the ready set",
    ),
    (
        "?model=async_tasks&clients=polite*5,crasher",
        "asyncio: one task per client, an error contained",
    ),
];

/// "3 of 64".
fn of(usage: Usage) -> String {
    format!("{} of {}", usage.used, usage.cap)
}

/// "4:05" for 245 s.
pub fn age_text(seconds: u64) -> String {
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

fn model_label(model: ServerModel) -> &'static str {
    model.label()
}

/// What a request's outcome says to the host, if anything went wrong.
fn problem_of(outcome: Result<Answer, String>) -> Option<String> {
    match outcome {
        Ok(answer) if answer.ok() => None,
        Ok(answer) => Some(format!("{}: {}", answer.status, answer.text.trim())),
        Err(error) => Some(error),
    }
}

/// The dashboard.
#[function_component]
pub fn HostDashboard() -> Html {
    let token: Rc<Option<String>> = use_memo((), |_| take_token_from_address(HOST_TOKEN_KEY));
    let view = use_state_eq(|| None::<RoomView>);
    let problem = use_state_eq(|| None::<String>);
    let link_text = use_state(String::new);
    let feed = use_mut_ref(|| None::<EventFeed>);
    {
        let (token, view, problem, feed) = (
            Rc::clone(&token),
            view.clone(),
            problem.clone(),
            Rc::clone(&feed),
        );
        use_effect_with((), move |_| {
            let kept = Rc::clone(&feed);
            wasm_bindgen_futures::spawn_local(async move {
                // A first read says in words what is wrong (an event
                // stream only learns that it failed).
                let url = with_token(&site::url("room"), token.as_deref());
                match request("GET", &url, None, None).await {
                    Ok(answer) if answer.ok() => {
                        if let Ok(first) = serde_json::from_str::<RoomView>(&answer.text) {
                            view.set(Some(first));
                        }
                        let on_view = Callback::from(move |next: RoomView| view.set(Some(next)));
                        *kept.borrow_mut() = listen(&url, on_view);
                    }
                    outcome => problem.set(problem_of(outcome)),
                }
            });
            move || drop(feed.borrow_mut().take())
        });
    }
    let act = {
        let (token, problem) = (Rc::clone(&token), problem.clone());
        move |method: &'static str, path: String, body: Option<String>| {
            let (token, problem) = (Rc::clone(&token), problem.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let outcome = request(method, &path, token.as_deref(), body.as_deref()).await;
                problem.set(problem_of(outcome));
            });
        }
    };
    let on_link_input = {
        let link_text = link_text.clone();
        Callback::from(move |event: InputEvent| {
            let input: HtmlInputElement = event.target_unchecked_into();
            link_text.set(input.value());
        })
    };
    let push = {
        let (act, link_text) = (act.clone(), link_text.clone());
        Callback::from(move |_: MouseEvent| {
            let lead = Lead {
                link: (*link_text).clone(),
            };
            let body = serde_json::to_string(&lead).expect("a lead always serializes");
            act("PUT", site::url("lesson"), Some(body));
        })
    };
    let stop_leading = {
        let act = act.clone();
        Callback::from(move |_: MouseEvent| act("DELETE", site::url("lesson"), None))
    };
    let preset = |query: String| {
        let link_text = link_text.clone();
        Callback::from(move |_: MouseEvent| link_text.set(query.clone()))
    };
    // The playground is the folder above the dashboard's own (`/` when
    // the dashboard is at `/host/`).
    let playground = site::parent_folder(&site::base()).to_owned();

    html! {
        <div class="app host">
            <header class="top">
                <h1>{ "Loopscope" }</h1>
                <p class="tagline">{ "host dashboard: the room at a glance" }</p>
            </header>
            if let Some(problem) = &*problem {
                <p id="host-problem" class="panel notice" role="alert">{ problem.clone() }</p>
            }
            if let Some(view) = &*view {
                <main class="host-grid">
                    <section class="panel" aria-labelledby="join-title">
                        <h2 id="join-title">{ "Join link" }</h2>
                        <p><code id="join-link">{ format!("{playground}{}",
                            view.join_token.as_ref().map(|t| format!("?token={t}")).unwrap_or_default()) }</code></p>
                        <p class="hint">{ "The relay's terminal shows it as a QR code too. Pages without it are refused." }</p>
                    </section>
                    <section class="panel" aria-labelledby="budget-title">
                        <h2 id="budget-title">{ "The relay's budget" }</h2>
                        <dl id="budget" class="counters">
                            <div class="counter"><dt>{ "labs" }</dt><dd id="budget-labs">{ of(view.budget.labs) }</dd></div>
                            <div class="counter"><dt>{ "file descriptors" }</dt><dd id="budget-descriptors">{ of(view.budget.descriptors) }</dd></div>
                            <div class="counter"><dt>{ "busy-poll labs" }</dt><dd>{ of(view.budget.busy_poll_labs) }</dd></div>
                            <div class="counter"><dt>{ "socket buffers, KiB" }</dt><dd>{ of(view.budget.in_flight_kib) }</dd></div>
                            <div class="counter"><dt>{ "relay CPU" }</dt>
                                <dd id="budget-cpu">{ format!("{:.0}% of {}%", view.budget.cpu_percent, view.budget.cores * 100) }</dd></div>
                            <div class="counter"><dt>{ "clients running" }</dt><dd id="room-clients">{ view.clients }</dd></div>
                            <div class="counter"><dt>{ "events / s" }</dt><dd>{ view.events_per_s }</dd></div>
                            <div class="counter"><dt>{ "pages listening" }</dt><dd id="room-listening">{ view.followers }</dd></div>
                        </dl>
                    </section>
                    <section class="panel lesson-lead" aria-labelledby="lead-title">
                        <h2 id="lead-title">{ "Lead the room" }</h2>
                        <p id="lesson-now">{ match &view.lesson {
                            Some(HostPush { query, serial }) => html! {<>{ "Pages that follow you show " }<code>{ query.clone() }</code>{ format!(" (push #{serial}).") }</>},
                            None => html! { "You lead no lesson: every page shows what its person chose." },
                        } }</p>
                        <div class="controls">
                            <input id="lesson-link" type="text" value={(*link_text).clone()} oninput={on_link_input}
                                   placeholder="a lesson link: copy it from your own page's address" aria-label="Lesson link" />
                            <button id="push-lesson" onclick={push} disabled={link_text.trim().is_empty()}>{ "Push to the room" }</button>
                            <button id="stop-leading" class="secondary" onclick={stop_leading} disabled={view.lesson.is_none()}>{ "Stop leading" }</button>
                        </div>
                        <p class="presets">{ "Or start from one of these: " }
                            { for PRESETS.iter().map(|(query, label)| html! {
                                <button class="secondary preset" data-query={*query} onclick={preset((*query).to_owned())}>{ *label }</button>
                            }) }
                        </p>
                        <p class="presets" id="step-presets">{ "Or a step of the lesson (each page opens it and asks for a prediction): " }
                            { for (1..=STEPS.len()).map(|number| {
                                let query = step_lesson(number);
                                let title = crate::model::lesson::step(number).map_or("", |step| step.title);
                                html! {
                                    <button class="secondary preset" data-query={query.clone()} title={title}
                                            onclick={preset(query)}>{ format!("Step {number}") }</button>
                                }
                            }) }
                        </p>
                    </section>
                    <section class="panel labs-panel" aria-labelledby="labs-title">
                        <h2 id="labs-title">{ format!("Labs ({})", view.labs.len()) }</h2>
                        if view.labs.is_empty() {
                            <p class="placeholder">{ "No lab is open: attendees' pages open one each when they load." }</p>
                        } else {
                            <table id="labs">
                                <thead><tr>
                                    <th>{ "lab" }</th><th>{ "address" }</th><th>{ "model" }</th><th>{ "clients" }</th>
                                    <th>{ "events / s" }</th><th>{ "CPU" }</th><th>{ "dropped" }</th><th>{ "age" }</th><th></th>
                                </tr></thead>
                                <tbody>
                                    { for view.labs.iter().map(|lab| {
                                        let close = {
                                            let act = act.clone();
                                            let id = lab.lab;
                                            Callback::from(move |_: MouseEvent| act("POST", site::url(&format!("labs/{id}/close")), None))
                                        };
                                        html! {
                                            <tr data-lab={lab.lab.to_string()}>
                                                <td>{ format!("#{}", lab.lab) }</td>
                                                <td class="address">{ &lab.address }</td>
                                                <td class="model">{ model_label(lab.model) }</td>
                                                <td class="clients">{ lab.clients }</td>
                                                <td>{ lab.events_per_s }</td>
                                                <td class="cpu">{ format!("{:.0}%", lab.cpu_percent) }</td>
                                                <td class={classes!((lab.dropped > 0).then_some("bad"))}>{ lab.dropped }</td>
                                                <td>{ age_text(lab.age_s) }</td>
                                                <td><button class="secondary close-lab" onclick={close}
                                                            aria-label={format!("Close lab {}", lab.lab)}>{ "Close" }</button></td>
                                            </tr>
                                        }
                                    }) }
                                </tbody>
                            </table>
                        }
                    </section>
                </main>
            } else if problem.is_none() {
                <p class="placeholder">{ "Reading the room…" }</p>
            }
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_minutes_and_seconds() {
        assert_eq!(age_text(5), "0:05");
        assert_eq!(age_text(245), "4:05");
    }

    #[test]
    fn every_preset_is_a_lesson_the_relay_passes_on_and_the_page_understands() {
        for (query, _) in PRESETS {
            assert_eq!(
                protocol::workshop::lesson_query(query).as_deref(),
                Ok(query)
            );
            let link = crate::model::scenario::ScenarioLink::parse(query);
            assert!(query.contains(link.settings.model.key()));
            assert!(!link.clients.is_empty());
        }
    }

    #[test]
    fn every_step_is_a_lesson_the_relay_passes_on_and_the_page_opens() {
        for number in 1..=STEPS.len() {
            let query = step_lesson(number);
            assert_eq!(
                protocol::workshop::lesson_query(&query).as_deref(),
                Ok(query.as_str())
            );
            assert_eq!(
                crate::model::address::lesson_step(&query, STEPS.len()),
                Some(number)
            );
            let link = crate::model::scenario::ScenarioLink::parse(&query);
            assert_eq!(
                link.settings.model,
                crate::model::lesson::step(number)
                    .unwrap()
                    .link()
                    .settings
                    .model
            );
        }
    }
}
