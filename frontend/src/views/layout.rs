//! The page laid out from the [`Page`]: the header (sources, comparison,
//! lesson, text size, help, following the host, the link's status), the
//! notices, then the views, in a grid or (with the lesson open) beside the
//! lesson with the panes folded into tabs, and the timeline under them.
//! The views are the same for every source.

use std::cell::RefCell;
use std::rc::Rc;

use protocol::ServerModel;
use yew::prelude::*;

use super::saved_run::saved_run_panel;
use super::sim_controls::MODELS;
use super::timeline::dropped_file;
use super::{
    CodeListing, Comparison, CountersView, EventLog, HelpOverlay, LabPanel, LessonPanel, LoopCycle,
    NoRelayNotice, RunView, SelectorTable, SimControls, StatusBadge, TaskLanes, Timeline,
};
use crate::model::address;
use crate::model::lesson::Pane;
use crate::model::narration::Moment;
use crate::page::{Page, PageAction, Source, Which};
use crate::sources::live::LinkStatus;

/// What the layout sends out of the page: its actions, and the files the
/// learner opens (which the shell reads).
#[derive(Clone)]
pub struct Outlets {
    /// Acts on the page.
    pub dispatch: Callback<PageAction>,
    /// A run file picked or dropped.
    pub open_file: Callback<web_sys::File>,
}

/// A click that sends the action `make` makes.
fn on_click(
    dispatch: &Callback<PageAction>,
    make: impl Fn() -> PageAction + 'static,
) -> Callback<MouseEvent> {
    let dispatch = dispatch.clone();
    Callback::from(move |_: MouseEvent| dispatch.emit(make()))
}

/// A pane's name in its tab's id (`tab-counters`).
fn pane_key(pane: Pane) -> &'static str {
    match pane {
        Pane::Controls => "controls",
        Pane::Counters => "counters",
        Pane::Selector => "selector",
        Pane::Log => "log",
    }
}

/// A pane's label on its tab.
fn pane_label(pane: Pane) -> &'static str {
    match pane {
        Pane::Controls => "Controls",
        Pane::Counters => "Counters",
        Pane::Selector => "Selector",
        Pane::Log => "Log",
    }
}

/// The page, at drawing `frame`; `relay_url` is the relay's address, shown
/// when none answers.
pub fn layout(shared: &Rc<RefCell<Page>>, frame: u64, outlets: &Outlets, relay_url: &str) -> Html {
    let page = shared.borrow();
    let dispatch = &outlets.dispatch;
    let act = |make: fn() -> PageAction| on_click(dispatch, make);
    let source = page.source();
    let status = &page.status;
    let world = &page.runs.main.world;
    let recording = &page.runs.main.recording;
    let now_world = page.now_world();
    let live = page.live();
    let sim = page.sim();
    let model = page.model();
    let compare = page.compare();
    let main_view = RunView::new(shared, Which::Main, frame, dispatch);
    // What the ring, the card and the controls say of the server: the
    // moment shown, and (for the controls, which act on now) the present.
    let moment = Moment::of(model, world);
    let now_life = page.life_now();
    let on_policy = dispatch.reform(PageAction::Policy);
    let controls = html! {
        if source == Source::Sim {
            <SimControls settings={sim.settings()} playing={sim.playing} speed={sim.speed}
                         now={sim.now()} behind={sim.behind().or_else(|| page.runs.compared.sim.as_ref().and_then(|second| second.behind()))}
                         life={now_life} on_action={dispatch.reform(PageAction::Sim)}
                         policy={page.policy} on_policy={on_policy.clone()} />
        } else if let (Source::Saved, Some(saved)) = (source, page.saved.as_ref()) {
            { saved_run_panel(saved, recording, page.replaying.is_some(), dispatch.reform(|()| PageAction::Replay), act(|| PageAction::Choose(Source::Sim))) }
        } else {
            <LabPanel lab={now_world.lab.clone().filter(|_| !matches!(status, LinkStatus::Closed { .. }))} model={now_world.model} paused={now_world.paused}
                      errors={now_world.errors} life={now_life} enabled={live}
                      policy={page.policy} {on_policy} on_action={dispatch.reform(PageAction::Lab)} />
        }
    };
    let counters = html! {
        <CountersView counters={world.counters} {model}
                      latency={world.latencies.percentile(0.5).zip(world.latencies.percentile(0.99))} />
    };
    let ring = html! {
        <LoopCycle moment={moment.clone()} iterations={world.counters.iterations}
                   restart={if source == Source::Live { "Restart server" } else { "Reset" }} />
    };
    let selector = html! {
        <SelectorTable world={main_view.clone()}
                       uses_selector={matches!(model, ServerModel::Selector | ServerModel::AsyncTasks)} />
    };
    // A new run starts with the lanes at now, at their first zoom (keyed by
    // the run: a view of another run is another view).
    let run_key = format!("run-{}", page.runs.main.serial);
    let lanes = html! {
        if let Some(second_model) = compare {
            <Comparison key={run_key} first={(model, main_view.clone())} second={(second_model, RunView::new(shared, Which::Compared, frame, dispatch))} />
        } else {
            <TaskLanes key={run_key} world={main_view.clone()} />
        }
    };
    let listing = html! {
        if source == Source::Sim {
            <CodeListing model={sim.settings().model} errors={sim.settings().style} line={world.lit_line()}
                         crashed={world.crashed.is_some()} />
        } else if let Some(model) = world.model {
            // A live lab reports no listing lines: each happening lights
            // the line it stands at.
            <CodeListing {model} errors={world.errors} line={world.lit_line()}
                         crashed={world.crashed.is_some()} />
        }
    };
    let log = html! { <EventLog world={main_view.clone()} /> };
    let lesson = &page.lesson;
    let on_drop = {
        let open_file = outlets.open_file.clone();
        Callback::from(move |event: DragEvent| {
            event.prevent_default();
            if let Some(file) = dropped_file(&event) {
                open_file.emit(file);
            }
        })
    };
    let on_compare = dispatch.reform(|event: Event| {
        let select: web_sys::HtmlSelectElement = event.target_unchecked_into();
        PageAction::Compare(ServerModel::named(&select.value()))
    });
    let on_text_size = dispatch.reform(|event: Event| {
        let select: web_sys::HtmlSelectElement = event.target_unchecked_into();
        PageAction::TextSize(select.value().parse().unwrap_or(address::TEXT_SIZES[0]))
    });
    let on_follow = dispatch.reform(|event: Event| {
        let input: web_sys::HtmlInputElement = event.target_unchecked_into();
        PageAction::Follow(input.checked())
    });
    let source_tab = |id: &'static str, tab: Source, label: &'static str| {
        html! {
            <button {id} class={classes!("tab", (source == tab).then_some("active"))}
                    aria-pressed={(source == tab).to_string()} onclick={on_click(dispatch, move || PageAction::Choose(tab))}>
                { label }
            </button>
        }
    };
    html! {
        <div class={classes!("app", lesson.open.is_some().then_some("lesson-mode"))}
             style={(page.text_size != address::TEXT_SIZES[0]).then(|| format!("zoom:{}%", page.text_size))}
             ondragover={Callback::from(|event: DragEvent| event.prevent_default())}
             ondrop={on_drop}>
            <header class="top">
                <h1>{ "Loopscope" }</h1>
                <p class="tagline">{ "watch an event loop juggle sockets" }</p>
                <div class="source" role="group" aria-label="Source">
                    { source_tab("source-sim", Source::Sim, "Simulation") }
                    if *status == LinkStatus::Static {
                        <p id="live-elsewhere" class="hint">
                            { "Real sockets, live: run " }<code>{ "scripts/run.sh" }</code>
                            { " from Loopscope's source on your own machine." }
                        </p>
                    } else {
                        { source_tab("source-live", Source::Live, "Live relay") }
                    }
                    if page.saved.is_some() {
                        { source_tab("source-saved", Source::Saved, "Saved run") }
                    }
                </div>
                <label class="compare">{ "Compare with" }
                    <select id="compare-model" onchange={on_compare} disabled={source == Source::Saved}>
                        <option value="" selected={compare.is_none()}>{ "nothing" }</option>
                        { for MODELS.iter().map(|(option, label)| html! {
                            <option value={option.key()} selected={compare == Some(*option)}>{ *label }</option>
                        }) }
                    </select>
                </label>
                <button id="lesson-button" class={classes!("secondary", lesson.open.is_some().then_some("active"))}
                        aria-pressed={lesson.open.is_some().to_string()} onclick={act(|| PageAction::ToggleLesson)}
                        title="The lesson, step by step (n: next step, p: previous)">
                    { "Lesson" }
                </button>
                <label class="text-size" title="Text size, for a projector">{ "Text" }
                    <select id="text-size" onchange={on_text_size}>
                        { for address::TEXT_SIZES.iter().map(|size| html! {
                            <option value={size.to_string()} selected={*size == page.text_size}>{ format!("{size}%") }</option>
                        }) }
                    </select>
                </label>
                <button id="help-button" class="secondary" aria-label="Help: keys and the words of the lesson"
                        onclick={act(|| PageAction::Help(true))}>
                    { "?" }
                </button>
                if let Some(push) = &page.host_push {
                    <label id="follow-host" class="follow" title={format!("the host's lesson: {}", push.query)}>
                        <input type="checkbox" checked={page.following} onchange={on_follow} />
                        { "Follow the host" }
                    </label>
                }
                <StatusBadge status={status.clone()} history={page.status_history.text()}
                             lab={world.lab.as_ref().filter(|_| source == Source::Live).map(|lab| lab.lab)}
                             saved={source == Source::Saved} />
            </header>
            if page.help {
                <HelpOverlay on_close={dispatch.reform(|()| PageAction::Help(false))} />
            }
            if let LinkStatus::NoRelay { retry_in_s } = *status {
                <NoRelayNotice url={relay_url.to_owned()} {retry_in_s} showing_saved_run={source == Source::Saved}
                               compact={lesson.open.is_some()} />
            }
            if let LinkStatus::Refused { reason } = status {
                <div id="lab-refused" class="panel notice" role="alert">
                    <p>{ "The relay refused this page a lab: " }<span class="reason">{ reason.clone() }</span></p>
                    <p class="hint">{ "Meanwhile the page runs the simulation." }</p>
                </div>
            }
            if let LinkStatus::Closed { reason } = status {
                <div id="lab-closed" class="panel notice" role="alert">
                    <p>{ "The relay closed this lab: " }<span class="reason">{ reason.clone() }</span></p>
                    <button id="reopen-lab" onclick={act(|| PageAction::Reload)}>{ "Open a new lab" }</button>
                </div>
            }
            if let Some(problem) = &page.run_problem {
                <div id="run-problem" class="panel notice run-problem" role="alert">
                    <p>{ problem.clone() }</p>
                    <button class="secondary" onclick={act(|| PageAction::DismissProblem)}>{ "Dismiss" }</button>
                </div>
            }
            if let Some(number) = lesson.open {
                <main class="grid projector">
                    <LessonPanel {number} progress={lesson.progress.clone()} run={lesson.run.clone()} runs={lesson.runs}
                                 source={page.lesson_runs_where()}
                                 on_action={dispatch.reform(PageAction::Lesson)} />
                    { ring }
                    { listing }
                    { lanes }
                    <section class="panel tabbed" aria-label="More views">
                        <div class="tab-list" role="tablist">
                            { for Pane::ALL.iter().map(|each| html! {
                                <button id={format!("tab-{}", pane_key(*each))} role="tab"
                                        class={classes!("tab", (page.pane == *each).then_some("active"))}
                                        aria-selected={(page.pane == *each).to_string()}
                                        onclick={{ let each = *each; on_click(dispatch, move || PageAction::Pane(each)) }}>
                                    { pane_label(*each) }
                                </button>
                            }) }
                        </div>
                        <div role="tabpanel" aria-labelledby={format!("tab-{}", pane_key(page.pane))}>
                            { match page.pane {
                                Pane::Controls => controls,
                                Pane::Counters => counters,
                                Pane::Selector => selector,
                                Pane::Log => log,
                            } }
                        </div>
                    </section>
                </main>
            } else {
                <main class="grid">
                    { controls }
                    { counters }
                    { ring }
                    { selector }
                    { lanes }
                    { listing }
                    { log }
                </main>
            }
            <Timeline first={recording.first()} end={recording.end()} position={recording.position()}
                      at={recording.time_at(recording.position())} end_at={recording.time_at(recording.end())}
                      let_go={recording.let_go()} goes_on={source != Source::Saved}
                      on_action={dispatch.reform(PageAction::Time)} on_save={dispatch.reform(|()| PageAction::Save)}
                      on_open={outlets.open_file.clone()} />
        </div>
    }
}
