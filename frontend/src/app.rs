//! The root component: picks the source (a live lab, the simulation when
//! no relay answers, or a saved run), feeds its events through the
//! [`Recording`] to the [`World`], and lays out the views, which are the same
//! for every source; the timeline under them moves the world back and forth
//! through the recording.
//!
//! Events arrive in batches and are applied to the world in place; the page
//! re-renders at most once per animation frame however many batches came.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use protocol::workshop::{Lesson, LessonFeed};
use protocol::{Command, HandlerStyle, ServerMessage, ServerModel, ShutdownPolicy};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use yew::prelude::*;

mod lesson_mode;

use crate::model::address;
use crate::model::lesson::Tab;
use crate::views::sim_controls::MODELS;
use crate::model::numbers::thousands;
use crate::views::timeline::dropped_file;
use crate::views::{
    CodeListing, Comparison, CountersView, EventLog, HelpOverlay, LabPanel, LessonAction,
    LessonPanel, LoopCycle, NoRelayNotice, SelectorTable, SharedWorld, SimAction, SimControls,
    StatusBadge, TaskLanes, TimeAction, Timeline,
};
use crate::sources::frame_clock::{self, EveryFrame};
use crate::sources::inbox::{self, Inbox};
use crate::model::narration::{Life, Moment};
use crate::sources::live::{Link, LinkStatus, StatusHistory, connect};
use crate::model::recording::Recording;
use crate::sources::saving;
use crate::model::scenario::{MAX_LINK_CLIENTS, ScenarioLink, SimSettings};
use crate::sources::simulated::SimSource;
use crate::sources::site;
use crate::workshop::{self, JOIN_TOKEN_KEY, with_token};
use crate::model::world::World;
use loopscope_runfile::{Header, Limits, RunSource};

/// Most milliseconds of a frame the simulations may take to advance and
/// apply their events (or a live lab's waiting events take to apply); what
/// does not fit waits for the next frame, so frames stay short and the
/// page stays smooth.
const MAX_SHARE_MS: f64 = 5.0;
/// The work a frame aims to stay under: the share above shrinks (down to
/// [`MIN_SHARE_MS`]) by as much as the last render took beyond the rest.
const FRAME_WORK_MS: f64 = 10.0;
/// The least share of a frame the events get, however long renders take,
/// so that a page always moves on.
const MIN_SHARE_MS: f64 = 1.5;

/// This frame's share for the simulations or a live lab's waiting events:
/// what the last render left of [`FRAME_WORK_MS`], at most
/// [`MAX_SHARE_MS`].
fn frame_share() -> f64 {
    (FRAME_WORK_MS - frame_clock::last_render_ms()).clamp(MIN_SHARE_MS, MAX_SHARE_MS)
}

/// How long opening a run may take (a million events take about 1.5 s).
const REPLAY_PATIENCE_MS: f64 = 15_000.0;

/// Where the world's events come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A lab on the relay that served the page.
    Live,
    /// The simulator in the page.
    Sim,
    /// A run saved earlier, opened from a file.
    Saved,
}

/// A run opened from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedRun {
    /// The file's name.
    name: String,
    /// Its first line.
    header: Header,
}

/// The source when the person has not picked one: live when a relay
/// answers, the simulation when none does.
fn automatic_source(status: &LinkStatus) -> Source {
    match status {
        LinkStatus::NoRelay { .. } | LinkStatus::Refused { .. } | LinkStatus::Static => Source::Sim,
        LinkStatus::Connecting
        | LinkStatus::Live
        | LinkStatus::Lost { .. }
        | LinkStatus::Closed { .. } => Source::Live,
    }
}

/// The app.
#[function_component]
pub fn App() -> Html {
    // First: the join token leaves the address before anything reads it.
    let token: Rc<Option<String>> =
        use_memo((), |_| workshop::take_token_from_address(JOIN_TOKEN_KEY));
    let world = use_mut_ref(World::default);
    let recording = use_mut_ref(Recording::default);
    // A run opened from a file, and what went wrong opening one.
    let saved_run = use_state(|| None::<Rc<SavedRun>>);
    // While a saved run plays (at its own pace): the moment of the run it
    // has reached.
    let replaying: Rc<Cell<Option<protocol::Micros>>> = use_memo((), |_| Cell::new(None));
    let run_problem = use_state_eq(|| None::<String>);
    let sim = use_mut_ref(|| SimSource::new(ScenarioLink::parse(&page_query())));
    let help = use_state_eq(|| false);
    // A static site's page never looks for a relay (see `site`).
    let status = use_state_eq(|| {
        if site::relay_expected() {
            LinkStatus::Connecting
        } else {
            LinkStatus::Static
        }
    });
    let status_history = use_mut_ref(|| {
        let mut history = StatusHistory::default();
        history.record(&status);
        history
    });
    // A link that carries a scenario asks for the simulation; a lesson's
    // step defines its own, and runs live when a lab connects.
    let chosen = use_state_eq(|| {
        let query = page_query();
        (query.contains("model=")
            && address::lesson_step(&query, crate::model::lesson::STEPS.len()).is_none())
        .then_some(Source::Sim)
    });
    // The source in force, for the callbacks that outlive a render.
    let active: Rc<Cell<Source>> = use_memo((), |_| Cell::new(Source::Live));
    let link = use_state(Link::default);
    // The same scenario under a second model, side by side: its world, and
    // its simulation or its own live lab.
    let compare = use_state_eq(|| ScenarioLink::parse(&page_query()).compare);
    let second_world = use_mut_ref(World::default);
    let second_recording = use_mut_ref(Recording::default);
    // Each run's world and the recording that feeds it, for the callbacks.
    let fed = Fed {
        world: Rc::clone(&world),
        recording: Rc::clone(&recording),
        inbox: use_mut_ref(Inbox::default),
    };
    let second_fed = Fed {
        world: Rc::clone(&second_world),
        recording: Rc::clone(&second_recording),
        inbox: use_mut_ref(Inbox::default),
    };
    let second_sim: Rc<RefCell<Option<SimSource>>> = use_mut_ref(|| None);
    let second_link: Rc<RefCell<Option<Link>>> = use_mut_ref(|| None);
    let (redraw, render_started) = use_frame_redraw();
    // Each render that a frame asked for ends that frame's measure.
    use_effect(move || {
        frame_clock::mark_interactive();
        if let Some(started) = render_started.take() {
            let render = frame_clock::now() - started;
            frame_clock::add(render);
            frame_clock::frame_done(render);
        }
    });

    // The page's lab as the relay last described it (its hello, and the
    // server it last started), kept while the page shows the simulation.
    let lab_memo: Rc<RefCell<LabMemo>> = use_mut_ref(LabMemo::default);
    let source = chosen.unwrap_or_else(|| automatic_source(&status));
    {
        // A new source starts from an empty world; the live one knows its
        // lab at once.
        let world = Rc::clone(&world);
        let recording = Rc::clone(&recording);
        let inbox = Rc::clone(&fed.inbox);
        let active = Rc::clone(&active);
        let lab_memo = Rc::clone(&lab_memo);
        let (saved_run, replaying) = (saved_run.clone(), Rc::clone(&replaying));
        let redraw = redraw.clone();
        use_effect_with(source, move |source| {
            active.set(*source);
            // A saved run was put in place as it opened; leaving it lets it
            // go (its recording is the page's, which the new source fills).
            if *source != Source::Saved {
                replaying.set(None);
                if saved_run.is_some() {
                    saved_run.set(None);
                }
                // Events a lab sent before are no part of the new run.
                inbox.borrow_mut().clear();
                let (mut recording, mut world) = (recording.borrow_mut(), world.borrow_mut());
                recording.restart(&mut world);
                if *source == Source::Live {
                    lab_memo.borrow().replay(&mut recording, &mut world);
                }
            }
            redraw.emit(());
        });
    }
    {
        // Comparing (again, or no more): both runs start afresh together.
        let (fed, second_fed) = (fed.clone(), second_fed.clone());
        let sim = Rc::clone(&sim);
        let second_sim = Rc::clone(&second_sim);
        let second_link = Rc::clone(&second_link);
        let link = link.clone();
        let redraw = redraw.clone();
        let token = Rc::clone(&token);
        use_effect_with((source, *compare), move |(source, compare)| {
            second_fed.restart();
            *second_sim.borrow_mut() = None;
            if let Some(old) = second_link.borrow_mut().take() {
                old.close();
            }
            match (source, compare) {
                (Source::Sim, compare) => {
                    let mut sim = sim.borrow_mut();
                    if let Some(model) = *compare {
                        let settings = sim.settings();
                        sim.reset(settings);
                        fed.restart();
                        let mut second = compared_run(&sim.link(), model);
                        second.playing = sim.playing;
                        *second_sim.borrow_mut() = Some(second);
                    }
                    // A link that compares says so; one that no longer
                    // does, no more. (A plain page keeps its plain address.)
                    if compare.is_some() || page_query().contains("compare=") {
                        keep_in_address(
                            &ScenarioLink {
                                compare: *compare,
                                ..sim.link()
                            }
                            .to_query(),
                        );
                    }
                }
                (Source::Live, Some(model)) => {
                    // This page's lab restarts its server too (same model:
                    // the one running now), so that both runs start with no
                    // one connected.
                    fed.flush();
                    fed.back_to_now();
                    let (current, errors) = {
                        let world = fed.world.borrow();
                        (world.model, world.errors)
                    };
                    if let Some(current) = current
                        && link.send(&Command::SetModel {
                            model: current,
                            errors,
                        })
                    {
                        fed.recording
                            .borrow_mut()
                            .begin_fresh_run(&mut fed.world.borrow_mut());
                    }
                    *second_link.borrow_mut() = Some(open_second_lab(
                        *model,
                        errors,
                        page_lab_url(token.as_deref()),
                        second_fed.clone(),
                        redraw.clone(),
                    ));
                }
                (Source::Live, None) | (Source::Saved, _) => {}
            }
            redraw.emit(());
        });
    }
    {
        let fed = fed.clone();
        let status = status.clone();
        let status_history = Rc::clone(&status_history);
        let link = link.clone();
        let active = Rc::clone(&active);
        let redraw = redraw.clone();
        let token = Rc::clone(&token);
        let lab_memo = Rc::clone(&lab_memo);
        let static_site = *status == LinkStatus::Static;
        use_effect_with((), move |_| {
            if static_site {
                return;
            }
            let on_message = Callback::from(move |message: Result<ServerMessage, String>| {
                if let Ok(message) = &message {
                    lab_memo.borrow_mut().note(message);
                }
                if active.get() != Source::Live {
                    return;
                }
                if fed.apply_frame(message) {
                    redraw.emit(());
                }
            });
            let on_status = Callback::from(move |new_status: LinkStatus| {
                status_history.borrow_mut().record(&new_status);
                status.set(new_status);
            });
            link.set(connect(
                page_lab_url(token.as_deref()),
                on_message,
                on_status,
            ));
        });
    }
    // The lesson the host leads, listened to for the page's life and
    // followed unless the person turned following off.
    let host_lesson = use_state_eq(|| None::<Lesson>);
    let following = use_state_eq(workshop::following);
    let followed_serial = use_mut_ref(|| 0_u64);
    {
        let host_lesson = host_lesson.clone();
        let token = Rc::clone(&token);
        let static_site = *status == LinkStatus::Static;
        use_effect_with((), move |_| {
            let on_feed = Callback::from(move |feed: LessonFeed| host_lesson.set(feed.lesson));
            let feed = (!static_site)
                .then(|| workshop::listen_to_the_host(token.as_deref(), on_feed))
                .flatten();
            move || drop(feed)
        });
    }
    {
        let fed = fed.clone();
        let second_fed = second_fed.clone();
        let sim = Rc::clone(&sim);
        let second_sim = Rc::clone(&second_sim);
        let followed_serial = Rc::clone(&followed_serial);
        let (chosen, compare, redraw) = (chosen.clone(), compare.clone(), redraw.clone());
        use_effect_with(
            ((*host_lesson).clone(), *following),
            move |(lesson, following)| {
                let Some(lesson) = lesson.as_ref().filter(|_| *following) else {
                    return;
                };
                if followed_serial.replace(lesson.serial) == lesson.serial {
                    return;
                }
                follow(&lesson.query, &sim, &fed, &second_sim, &second_fed);
                let link = ScenarioLink::parse(&lesson.query);
                compare.set(link.compare);
                chosen.set(Some(Source::Sim));
                redraw.emit(());
            },
        );
    }
    let on_follow = {
        let following = following.clone();
        let followed_serial = Rc::clone(&followed_serial);
        Callback::from(move |event: Event| {
            let input: web_sys::HtmlInputElement = event.target_unchecked_into();
            let follow = input.checked();
            workshop::set_following(follow);
            if follow {
                // Coming back: the host's lesson starts again here.
                followed_serial.replace(0);
            }
            following.set(follow);
        })
    };
    {
        let fed = fed.clone();
        let second_fed = second_fed.clone();
        let sim = Rc::clone(&sim);
        let second_sim = Rc::clone(&second_sim);
        let active = Rc::clone(&active);
        let replaying = Rc::clone(&replaying);
        let redraw = redraw.clone();
        use_effect_with((), move |_| {
            let ticker = EveryFrame::start(move |elapsed| {
                if let (Source::Saved, Some(at)) = (active.get(), replaying.get()) {
                    // A saved run plays on at its own pace, to its end.
                    let at = at + (elapsed * 1000.0) as protocol::Micros;
                    frame_clock::time(|| fed.follow_time(at));
                    let playing = fed.recording.borrow().is_looking_back();
                    replaying.set(playing.then_some(at));
                    redraw.emit(());
                    return;
                }
                if active.get() == Source::Live {
                    // A live lab's burst is applied a slice at a time.
                    let changed = frame_clock::time(|| {
                        let out_of_time = out_of_time_after(frame_share());
                        let changed = fed.apply_waiting(&out_of_time);
                        second_fed.apply_waiting(&out_of_time) || changed
                    });
                    if changed {
                        redraw.emit(());
                    }
                    return;
                }
                if active.get() != Source::Sim {
                    return;
                }
                let changed = frame_clock::time(|| {
                    // The simulations get a share of the frame (half each
                    // when two run side by side); whatever does not fit
                    // waits for the next one. The compared run goes to the
                    // first one's moment, so the two never drift apart.
                    let mut second = second_sim.borrow_mut();
                    let share = if second.is_some() {
                        frame_share() / 2.0
                    } else {
                        frame_share()
                    };
                    let mut sim = sim.borrow_mut();
                    let mut changed = run(&fed, share, |out_of_time, take| {
                        sim.advance_into(elapsed, out_of_time, take);
                    });
                    if let Some(second) = second.as_mut() {
                        let leader = sim.now();
                        changed |= run(&second_fed, share, |out_of_time, take| {
                            second.advance_to_into(leader, out_of_time, take);
                        });
                    }
                    changed
                });
                if changed {
                    redraw.emit(());
                }
            });
            move || drop(ticker)
        });
    }
    let on_sim_action = {
        let fed = fed.clone();
        let second_fed = second_fed.clone();
        let sim = Rc::clone(&sim);
        let second_sim = Rc::clone(&second_sim);
        let redraw = redraw.clone();
        Callback::from(move |action: SimAction| {
            let mut sim = sim.borrow_mut();
            let mut second_sim = second_sim.borrow_mut();
            // Looking back, Step moves on through the recording; every
            // other action acts now, so the page shows now first.
            if fed.recording.borrow().is_looking_back() {
                if action == SimAction::Step {
                    fed.step_forward();
                    if fed.recording.borrow().is_looking_back() {
                        second_fed.show_moment_of(&fed);
                    } else {
                        second_fed.back_to_now();
                    }
                    redraw.emit(());
                    return;
                }
                if !matches!(action, SimAction::Speed(_)) {
                    fed.back_to_now();
                    second_fed.back_to_now();
                }
            }
            if let Some(second) = second_sim.as_mut() {
                mirror(&action, second, &second_fed);
            }
            match action {
                SimAction::TogglePlay => sim.playing = !sim.playing,
                SimAction::Step => {
                    let events = sim.step();
                    let tries = events
                        .iter()
                        .filter(|event| {
                            matches!(event.kind, protocol::EventKind::WouldBlock { .. })
                        })
                        .count();
                    fed.record(events);
                    // Would-blocks are too many to log one by one; a step
                    // still says what it tried.
                    if tries > 0 {
                        fed.note(format!(
                            "this step: {tries} {} would block (BlockingIOError), each a call wasted",
                            if tries == 1 { "try" } else { "tries" }
                        ));
                    }
                }
                SimAction::Reset(settings) => {
                    sim.reset(settings);
                    fed.restart();
                }
                SimAction::Speed(speed) => sim.speed = speed,
                SimAction::AddClients(key, count) => {
                    if sim.add_clients(key, count) < count {
                        fed.note(format!(
                            "a simulation holds at most {MAX_LINK_CLIENTS} clients: \
                             reset it to start again"
                        ));
                    }
                }
                SimAction::Shutdown(policy, grace) => sim.shutdown(policy, grace),
            }
            if let Some(second) = second_sim.as_mut() {
                // The compared run plays, or not, with the page's own.
                second.playing = sim.playing;
            }
            // The page's address always reproduces the scenario.
            let compare = second_sim.as_ref().map(|second| second.settings().model);
            keep_in_address(
                &ScenarioLink {
                    compare,
                    ..sim.link()
                }
                .to_query(),
            );
            redraw.emit(());
        })
    };
    let on_time = {
        let fed = fed.clone();
        let second_fed = second_fed.clone();
        let sim = Rc::clone(&sim);
        let second_sim = Rc::clone(&second_sim);
        let replaying = Rc::clone(&replaying);
        let redraw = redraw.clone();
        Callback::from(move |action: TimeAction| {
            // Stepping holds a playing saved run still; a drag does not.
            if !matches!(action, TimeAction::Seek(_)) {
                replaying.set(None);
            }
            frame_clock::time(|| {
                match action {
                    TimeAction::Seek(position) => fed.seek(position),
                    TimeAction::StepBack => fed.step_back(),
                    TimeAction::StepForward => fed.step_forward(),
                    TimeAction::Now => fed.back_to_now(),
                }
                if fed.recording.borrow().is_looking_back() {
                    // The compared run shows the same moment, and a
                    // simulation holds still while the learner looks back.
                    second_fed.show_moment_of(&fed);
                    sim.borrow_mut().playing = false;
                    if let Some(second) = second_sim.borrow_mut().as_mut() {
                        second.playing = false;
                    }
                } else {
                    second_fed.back_to_now();
                }
                if replaying.get().is_some() {
                    replaying.set(Some(fed.time_shown()));
                }
            });
            redraw.emit(());
        })
    };
    let on_save = {
        let fed = fed.clone();
        let sim = Rc::clone(&sim);
        let active = Rc::clone(&active);
        let saved_run = saved_run.clone();
        let redraw = redraw.clone();
        Callback::from(move |()| {
            let header = match active.get() {
                Source::Sim => Header::new(
                    RunSource::Simulation,
                    Some(sim.borrow().link().to_query()),
                    None,
                ),
                Source::Live => Header::new(
                    RunSource::Live,
                    None,
                    fed.recording.borrow().hello().cloned(),
                ),
                Source::Saved => match saved_run.as_deref() {
                    Some(saved) => saved.header.clone(),
                    None => return,
                },
            };
            // A live run is saved with everything it has said so far.
            fed.flush();
            let header = Header {
                let_go: fed.recording.borrow().let_go(),
                ..header
            };
            fed.save(&header, redraw.clone());
        })
    };
    let on_open = {
        let fed = fed.clone();
        let active = Rc::clone(&active);
        let replaying = Rc::clone(&replaying);
        let (chosen, saved_run, run_problem, compare) = (
            chosen.clone(),
            saved_run.clone(),
            run_problem.clone(),
            compare.clone(),
        );
        let redraw = redraw.clone();
        Callback::from(move |file: web_sys::File| {
            let name = file.name();
            let limits = Limits::default();
            if let Err(problem) = loopscope_runfile::check_size(file.size() as u64, &limits) {
                run_problem.set(Some(format!("{name} was not opened: {problem}")));
                return;
            }
            let (fed, active, replaying, chosen, saved_run, run_problem, compare, redraw) = (
                fed.clone(),
                Rc::clone(&active),
                Rc::clone(&replaying),
                chosen.clone(),
                saved_run.clone(),
                run_problem.clone(),
                compare.clone(),
                redraw.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                let opened = file_bytes(&file).await.and_then(|bytes| {
                    let give_up_at = js_sys::Date::now() + REPLAY_PATIENCE_MS;
                    Recording::open_within(&bytes, &limits, || js_sys::Date::now() > give_up_at)
                        .map_err(|problem| problem.to_string())
                });
                match opened {
                    Ok((header, recording, world)) => {
                        // No source feeds the page's world from here on.
                        active.set(Source::Saved);
                        replaying.set(None);
                        fed.inbox.borrow_mut().clear();
                        *fed.recording.borrow_mut() = recording;
                        *fed.world.borrow_mut() = world;
                        saved_run.set(Some(Rc::new(SavedRun { name, header })));
                        run_problem.set(None);
                        // A saved run is shown alone.
                        compare.set(None);
                        chosen.set(Some(Source::Saved));
                        redraw.emit(());
                    }
                    Err(problem) => {
                        run_problem.set(Some(format!("{name} was not opened: {problem}")));
                    }
                }
            });
        })
    };
    let on_replay = {
        let fed = fed.clone();
        let replaying = Rc::clone(&replaying);
        let redraw = redraw.clone();
        Callback::from(move |()| {
            if replaying.take().is_none() {
                if !fed.recording.borrow().is_looking_back() {
                    // At the end: play from the start.
                    let first = fed.recording.borrow().first();
                    fed.seek(first);
                }
                replaying.set(Some(fed.time_shown()));
            }
            redraw.emit(());
        })
    };
    // The lesson panel: the step open (from `?lesson=N`), the learner's
    // progress, the step's run; the tab shown beside the projector layout;
    // the text size (`?text=150`).
    let lesson = use_mut_ref(lesson_mode::LessonMode::from_page);
    let tab = use_state_eq(Tab::default);
    let text_size = use_state_eq(|| address::text_size(&page_query()));
    let live_now: Rc<Cell<bool>> = use_memo((), |_| Cell::new(false));
    live_now.set(*status == LinkStatus::Live);
    let connecting: Rc<Cell<bool>> = use_memo((), |_| Cell::new(true));
    connecting.set(*status == LinkStatus::Connecting);
    // The shutdown policy the controls offer (asyncio's), kept by the page:
    // the lesson's step 7 shuts down with it too.
    let shutdown_policy = use_state_eq(ShutdownPolicy::default);
    let on_policy = {
        let shutdown_policy = shutdown_policy.clone();
        Callback::from(move |policy| shutdown_policy.set(policy))
    };
    let lesson_page = lesson_mode::Page {
        mode: Rc::clone(&lesson),
        sim: Rc::clone(&sim),
        fed: fed.clone(),
        second_sim: Rc::clone(&second_sim),
        second_fed: second_fed.clone(),
        active: Rc::clone(&active),
        live: Rc::clone(&live_now),
        connecting: Rc::clone(&connecting),
        policy: *shutdown_policy,
        lab: (*link).clone(),
        chosen: chosen.clone(),
        compare: compare.clone(),
        tab: tab.clone(),
        on_sim_action: on_sim_action.clone(),
        redraw: redraw.clone(),
    };
    // The page as it is now, for the keys (whose listener outlives renders).
    let lesson_now: Rc<RefCell<Option<lesson_mode::Page>>> = use_mut_ref(|| None);
    *lesson_now.borrow_mut() = Some(lesson_page.clone());
    {
        let lesson_page = lesson_page.clone();
        use_effect(move || lesson_page.after_render());
    }
    {
        // A host who pushes a step of the lesson (`lesson=N` in the link)
        // opens it on every following page, waiting for their predictions.
        let lesson_page = lesson_page.clone();
        let opened_serial = use_mut_ref(|| 0_u64);
        use_effect_with(
            ((*host_lesson).clone(), *following),
            move |(lesson, following)| {
                let Some(lesson) = lesson.as_ref().filter(|_| *following) else {
                    return;
                };
                if opened_serial.replace(lesson.serial) == lesson.serial {
                    return;
                }
                if let Some(number) =
                    address::lesson_step(&lesson.query, crate::model::lesson::STEPS.len())
                {
                    // The host's lesson runs in the simulation, as any
                    // lesson followed does: the page's lab is left alone.
                    lesson_page.open_in_simulation(number);
                }
            },
        );
    }
    let on_lesson = {
        let lesson_page = lesson_page.clone();
        Callback::from(move |action: LessonAction| lesson_page.act(action))
    };
    let on_text_size = {
        let text_size = text_size.clone();
        Callback::from(move |event: Event| {
            let select: web_sys::HtmlSelectElement = event.target_unchecked_into();
            let size = address::text_size(&format!("text={}", select.value()));
            let value = (size != address::TEXT_SIZES[0]).then(|| size.to_string());
            keep_in_address_exactly(&address::with_param(
                &page_query(),
                "text",
                value.as_deref(),
            ));
            text_size.set(size);
        })
    };
    {
        // Keyboard: space plays or pauses, → steps, ← steps back, End
        // shows now, ? shows the help, n and p the next and previous step
        // of the lesson.
        let on_sim_action = on_sim_action.clone();
        let on_time = on_time.clone();
        let on_replay = on_replay.clone();
        let help = help.clone();
        let active = Rc::clone(&active);
        let lesson_now = Rc::clone(&lesson_now);
        use_effect_with((), move |_| {
            let listener = web_sys::window().map(|window| {
                gloo_events::EventListener::new(&window, "keydown", move |event| {
                    let Some(event) = event.dyn_ref::<web_sys::KeyboardEvent>() else {
                        return;
                    };
                    // Keys go to a field being typed in (or a slider, a
                    // picker), not to a lesson's answer just picked.
                    let typing = event
                        .target()
                        .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
                        .is_some_and(|element| match element.tag_name().as_str() {
                            "INPUT" => !matches!(
                                element.get_attribute("type").as_deref(),
                                Some("radio" | "checkbox")
                            ),
                            "SELECT" | "TEXTAREA" => true,
                            _ => false,
                        });
                    if typing || event.ctrl_key() || event.meta_key() || event.alt_key() {
                        return;
                    }
                    match event.key().as_str() {
                        " " if active.get() == Source::Sim => {
                            event.prevent_default();
                            on_sim_action.emit(SimAction::TogglePlay);
                        }
                        " " if active.get() == Source::Saved => {
                            event.prevent_default();
                            on_replay.emit(());
                        }
                        "ArrowRight" if active.get() == Source::Sim => {
                            event.prevent_default();
                            on_sim_action.emit(SimAction::Step);
                        }
                        "ArrowRight" => {
                            event.prevent_default();
                            on_time.emit(TimeAction::StepForward);
                        }
                        "ArrowLeft" => {
                            event.prevent_default();
                            on_time.emit(TimeAction::StepBack);
                        }
                        "End" => {
                            event.prevent_default();
                            on_time.emit(TimeAction::Now);
                        }
                        "n" | "p" => {
                            let by = if event.key() == "n" { 1 } else { -1 };
                            let page = lesson_now.borrow().clone();
                            if let Some(page) = page {
                                page.go_by(by);
                            }
                        }
                        "?" => help.set(!*help),
                        "Escape" => help.set(false),
                        _ => {}
                    }
                })
            });
            // Space is play/pause even on a focused button (the last one
            // clicked), which would otherwise take it as a click when the
            // key comes up, and undo the toggle.
            let space_up = web_sys::window().map(|window| {
                gloo_events::EventListener::new(&window, "keyup", move |event| {
                    let on_button = event
                        .target()
                        .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
                        .is_some_and(|element| element.tag_name() == "BUTTON");
                    if on_button
                        && event
                            .dyn_ref::<web_sys::KeyboardEvent>()
                            .is_some_and(|key| key.key() == " ")
                    {
                        event.prevent_default();
                    }
                })
            });
            move || drop((listener, space_up))
        });
    }
    let choose = |pick: Source| {
        let chosen = chosen.clone();
        Callback::from(move |_: MouseEvent| chosen.set(Some(pick)))
    };

    let on_compare = {
        let compare = compare.clone();
        Callback::from(move |event: Event| {
            let select: web_sys::HtmlSelectElement = event.target_unchecked_into();
            compare.set(ServerModel::named(&select.value()));
        })
    };

    let frame = use_mut_ref(|| 0_u64);
    *frame.borrow_mut() += 1;
    let shared = SharedWorld {
        world: Rc::clone(&world),
        recording: Rc::clone(&recording),
        frame: *frame.borrow(),
    };
    let second_shared = SharedWorld {
        world: Rc::clone(&second_world),
        recording: Rc::clone(&second_recording),
        frame: *frame.borrow(),
    };
    let mirror_link = second_link.borrow().clone();
    let world = world.borrow();
    let recording = recording.borrow();
    // What the live lab is now, whatever moment the views show: its panel
    // acts on now.
    let now_world = recording.now_world(&world);
    let live = *status == LinkStatus::Live;
    let sim = sim.borrow();
    let model = match source {
        Source::Sim => sim.settings().model,
        Source::Live | Source::Saved => world.model.unwrap_or_default(),
    };
    let compare = compare.filter(|_| source != Source::Saved);
    // What the ring, the card and the controls say of the server: the
    // moment shown, and (for the controls, which act on now) the present.
    let moment = Moment::of(model, &world);
    let now_life = Life::of(now_world);
    let on_drop = {
        let on_open = on_open.clone();
        Callback::from(move |event: DragEvent| {
            event.prevent_default();
            if let Some(file) = dropped_file(&event) {
                on_open.emit(file);
            }
        })
    };
    let controls = html! {
        if source == Source::Sim {
            <SimControls settings={sim.settings()} playing={sim.playing} speed={sim.speed}
                         now={sim.now()} behind={sim.behind().or_else(|| second_sim.borrow().as_ref().and_then(SimSource::behind))}
                         life={now_life} on_action={on_sim_action}
                         policy={*shutdown_policy} on_policy={on_policy.clone()} />
        } else if let (Source::Saved, Some(saved)) = (source, saved_run.as_deref()) {
            { saved_run_panel(saved, &recording, replaying.get().is_some(), on_replay.clone(), choose(Source::Sim)) }
        } else {
            <LabPanel lab={now_world.lab.clone().filter(|_| !matches!(*status, LinkStatus::Closed { .. }))} model={now_world.model} paused={now_world.paused}
                      errors={now_world.errors} life={now_life}
                      link={(*link).clone()} mirror={mirror_link} mirror_model={compare} enabled={live}
                      policy={*shutdown_policy} on_policy={on_policy} />
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
        <SelectorTable world={shared.clone()}
                       uses_selector={matches!(model, ServerModel::Selector | ServerModel::AsyncTasks)} />
    };
    let lanes = html! {
        if let Some(second_model) = compare {
            <Comparison first={(model, shared.clone())} second={(second_model, second_shared)} />
        } else {
            <TaskLanes world={shared.clone()} />
        }
    };
    let listing = html! {
        if source == Source::Sim {
            <CodeListing model={sim.settings().model} errors={sim.settings().style} line={world.lit_line()}
                         crashed={world.crashed.is_some()} />
        } else if let Some(model) = world.model {
            // A live lab reports no listing lines: each happening
            // lights the line it stands at.
            <CodeListing {model} errors={world.errors} line={world.lit_line()}
                         crashed={world.crashed.is_some()} />
        }
    };
    let log = html! { <EventLog world={shared.clone()} /> };
    let lesson_state = lesson.borrow();
    let open_lesson = {
        let lesson_page = lesson_page.clone();
        Callback::from(move |_: MouseEvent| {
            let open = lesson_page.mode.borrow().open;
            match open {
                Some(_) => lesson_page.act(LessonAction::Close),
                None => lesson_page.go_by(0),
            }
        })
    };
    html! {
        <div class={classes!("app", lesson_state.open.is_some().then_some("lesson-mode"))}
             style={(*text_size != address::TEXT_SIZES[0]).then(|| format!("zoom:{}%", *text_size))}
             ondragover={Callback::from(|event: DragEvent| event.prevent_default())}
             ondrop={on_drop}>
            <header class="top">
                <h1>{ "Loopscope" }</h1>
                <p class="tagline">{ "watch an event loop juggle sockets" }</p>
                <div class="source" role="group" aria-label="Source">
                    <button id="source-sim" class={classes!("tab", (source == Source::Sim).then_some("active"))}
                            aria-pressed={(source == Source::Sim).to_string()} onclick={choose(Source::Sim)}>
                        { "Simulation" }
                    </button>
                    if *status == LinkStatus::Static {
                        <p id="live-elsewhere" class="hint">
                            { "Real sockets, live: run " }<code>{ "scripts/run.sh" }</code>
                            { " from Loopscope's source on your own machine." }
                        </p>
                    } else {
                        <button id="source-live" class={classes!("tab", (source == Source::Live).then_some("active"))}
                                aria-pressed={(source == Source::Live).to_string()} onclick={choose(Source::Live)}>
                            { "Live relay" }
                        </button>
                    }
                    if saved_run.is_some() {
                        <button id="source-saved" class={classes!("tab", (source == Source::Saved).then_some("active"))}
                                aria-pressed={(source == Source::Saved).to_string()} onclick={choose(Source::Saved)}>
                            { "Saved run" }
                        </button>
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
                <button id="lesson-button" class={classes!("secondary", lesson_state.open.is_some().then_some("active"))}
                        aria-pressed={lesson_state.open.is_some().to_string()} onclick={open_lesson}
                        title="The lesson, step by step (n: next step, p: previous)">
                    { "Lesson" }
                </button>
                <label class="text-size" title="Text size, for a projector">{ "Text" }
                    <select id="text-size" onchange={on_text_size}>
                        { for address::TEXT_SIZES.iter().map(|size| html! {
                            <option value={size.to_string()} selected={*size == *text_size}>{ format!("{size}%") }</option>
                        }) }
                    </select>
                </label>
                <button id="help-button" class="secondary" aria-label="Help: keys and the words of the lesson"
                        onclick={let help = help.clone(); Callback::from(move |_: MouseEvent| help.set(true))}>
                    { "?" }
                </button>
                if let Some(lesson) = &*host_lesson {
                    <label id="follow-host" class="follow" title={format!("the host's lesson: {}", lesson.query)}>
                        <input type="checkbox" checked={*following} onchange={on_follow} />
                        { "Follow the host" }
                    </label>
                }
                <StatusBadge status={(*status).clone()} history={status_history.borrow().text()} lab={world.lab.as_ref().map(|lab| lab.lab)} />
            </header>
            if *help {
                <HelpOverlay on_close={let help = help.clone(); Callback::from(move |_| help.set(false))} />
            }
            if let LinkStatus::NoRelay { retry_in_s } = *status {
                <NoRelayNotice url={bare_lab_url()} {retry_in_s} showing_saved_run={source == Source::Saved}
                               compact={lesson_state.open.is_some()} />
            }
            if let LinkStatus::Refused { reason } = &*status {
                <div id="lab-refused" class="panel notice" role="alert">
                    <p>{ "The relay refused this page a lab: " }<span class="reason">{ reason.clone() }</span></p>
                    <p class="hint">{ "Meanwhile the page runs the simulation." }</p>
                </div>
            }
            if let LinkStatus::Closed { reason } = &*status {
                <div id="lab-closed" class="panel notice" role="alert">
                    <p>{ "The relay closed this lab: " }<span class="reason">{ reason.clone() }</span></p>
                    <button id="reopen-lab" onclick={Callback::from(|_: MouseEvent| {
                        if let Some(window) = web_sys::window() {
                            let _ = window.location().reload();
                        }
                    })}>{ "Open a new lab" }</button>
                </div>
            }
            if let Some(problem) = &*run_problem {
                <div id="run-problem" class="panel notice run-problem" role="alert">
                    <p>{ problem.clone() }</p>
                    <button class="secondary" onclick={let run_problem = run_problem.clone();
                            Callback::from(move |_: MouseEvent| run_problem.set(None))}>{ "Dismiss" }</button>
                </div>
            }
            if let Some(number) = lesson_state.open {
                <main class="grid projector">
                    <LessonPanel {number} progress={lesson_state.progress.clone()} run={lesson_state.run.clone()} runs={lesson_state.runs}
                                 source={if live_now.get() && source == Source::Live { "in the live lab" } else { "in the simulation" }}
                                 on_action={on_lesson} />
                    { ring }
                    { listing }
                    { lanes }
                    <section class="panel tabbed" aria-label="More views">
                        <div class="tab-list" role="tablist">
                            { for Tab::ALL.iter().map(|each| {
                                let (tab, each) = (tab.clone(), *each);
                                html! {
                                    <button id={format!("tab-{}", each.key())} role="tab"
                                            class={classes!("tab", (*tab == each).then_some("active"))}
                                            aria-selected={(*tab == each).to_string()}
                                            onclick={Callback::from(move |_: MouseEvent| tab.set(each))}>
                                        { each.label() }
                                    </button>
                                }
                            }) }
                        </div>
                        <div role="tabpanel" aria-labelledby={format!("tab-{}", tab.key())}>
                            { match *tab {
                                Tab::Controls => controls,
                                Tab::Counters => counters,
                                Tab::Selector => selector,
                                Tab::Log => log,
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
                      on_action={on_time} {on_save} {on_open} />
        </div>
    }
}

/// What the page keeps of its live lab while it shows the simulation: the
/// relay's hello and the event that started the lab's current server, so
/// that switching back shows the lab (its port, its model) at once.
#[derive(Default)]
struct LabMemo {
    hello: Option<ServerMessage>,
    listening: Option<protocol::Event>,
}

impl LabMemo {
    /// Keeps what `message` says about the lab.
    fn note(&mut self, message: &ServerMessage) {
        match message {
            ServerMessage::Hello(_) => {
                self.hello = Some(message.clone());
                self.listening = None;
            }
            ServerMessage::Events { events } => {
                if let Some(started) = events
                    .iter()
                    .rev()
                    .find(|event| matches!(event.kind, protocol::EventKind::Listening { .. }))
                {
                    self.listening = Some(started.clone());
                }
            }
        }
    }

    /// Tells `recording` (and `world`) what is kept, as the relay said it.
    fn replay(&self, recording: &mut Recording, world: &mut World) {
        if let Some(hello) = &self.hello {
            recording.record(world, hello.clone());
        }
        if let Some(started) = &self.listening {
            recording.record(
                world,
                ServerMessage::Events {
                    events: vec![started.clone()],
                },
            );
        }
    }
}

/// A world and the recording that feeds it: every event goes through the
/// recording, and the world shows the moment the recording is at. A live
/// lab's events wait in the inbox until a frame has time for them.
#[derive(Clone)]
struct Fed {
    world: Rc<RefCell<World>>,
    recording: Rc<RefCell<Recording>>,
    inbox: Rc<RefCell<Inbox>>,
}

impl Fed {
    /// Records `events` from the source.
    fn record(&self, events: Vec<protocol::Event>) {
        self.recording.borrow_mut().record(
            &mut self.world.borrow_mut(),
            ServerMessage::Events { events },
        );
    }

    /// Takes one frame from a lab (or what was wrong with it): its events
    /// join the inbox, for [`Fed::apply_waiting`]; anything else is
    /// recorded at once, after what waits. A full inbox is emptied now,
    /// timed as the frame's work. Says whether the world changed now.
    fn apply_frame(&self, message: Result<ServerMessage, String>) -> bool {
        let message = match message {
            Ok(ServerMessage::Events { events })
                if self.inbox.borrow().has_room_for(events.len()) =>
            {
                self.inbox.borrow_mut().push(events);
                return false;
            }
            other => other,
        };
        frame_clock::time(|| {
            if matches!(message, Ok(ServerMessage::Hello(_))) {
                // A greeting starts the run afresh: what waits belonged to
                // the one before.
                self.inbox.borrow_mut().clear();
            } else {
                self.flush();
            }
            let (mut recording, mut world) = (self.recording.borrow_mut(), self.world.borrow_mut());
            match message {
                Ok(message) => recording.record(&mut world, message),
                Err(problem) => recording.note(&mut world, problem),
            }
        });
        true
    }

    /// Records every event in the inbox now (before the run is read or
    /// changed other than by its source).
    fn flush(&self) {
        let waiting = self.inbox.borrow_mut().take_all();
        if !waiting.is_empty() {
            self.record(waiting);
        }
    }

    /// Records the inbox's events, a slice at a time, until it is empty or
    /// `out_of_time`; says whether any were.
    fn apply_waiting(&self, out_of_time: &dyn Fn() -> bool) -> bool {
        let mut any = false;
        loop {
            let slice = self.inbox.borrow_mut().take(inbox::SLICE);
            if slice.is_empty() {
                return any;
            }
            any = true;
            self.record(slice);
            if out_of_time() {
                return any;
            }
        }
    }

    /// Puts a problem of the page's own in the log.
    fn note(&self, text: String) {
        self.recording
            .borrow_mut()
            .note(&mut self.world.borrow_mut(), text);
    }

    /// Forgets the run.
    fn restart(&self) {
        self.inbox.borrow_mut().clear();
        self.recording
            .borrow_mut()
            .restart(&mut self.world.borrow_mut());
    }

    fn seek(&self, position: u64) {
        self.recording
            .borrow_mut()
            .seek(&mut self.world.borrow_mut(), position);
    }

    fn step_back(&self) {
        self.recording
            .borrow_mut()
            .step_back(&mut self.world.borrow_mut());
    }

    fn step_forward(&self) {
        self.recording
            .borrow_mut()
            .step_forward(&mut self.world.borrow_mut());
    }

    fn back_to_now(&self) {
        self.recording
            .borrow_mut()
            .back_to_now(&mut self.world.borrow_mut());
    }

    /// The time of the moment shown.
    fn time_shown(&self) -> protocol::Micros {
        let recording = self.recording.borrow();
        recording.time_at(recording.position())
    }

    /// Shows the same moment as `other` shows: a compared run follows the
    /// page's own (its start at the other's start, else the events up to
    /// the time of the other's newest one shown).
    fn show_moment_of(&self, other: &Fed) {
        let (at_start, since_start) = {
            let other = other.recording.borrow();
            let position = other.position();
            let since = other
                .time_at(position)
                .saturating_sub(other.origin(position));
            (position == other.first(), since)
        };
        if at_start {
            let first = self.recording.borrow().first();
            self.seek(first);
        } else {
            // Each lab counts time from its own start: both line up on
            // the start of their server (this one's newest: the one started
            // for the comparison).
            let origin = {
                let recording = self.recording.borrow();
                recording.origin(recording.end())
            };
            self.follow_time(origin + since_start);
        }
    }

    /// Shows this run after its events up to `at`.
    fn follow_time(&self, at: protocol::Micros) {
        let position = self.recording.borrow().position_at_time(at);
        self.seek(position);
    }

    /// Offers the recording as a run file with `header` to download (the
    /// browser compresses it, and may take a moment for a long run).
    fn save(&self, header: &Header, redraw: Callback<()>) {
        let parts = frame_clock::time(|| saving::run_parts(&self.recording.borrow(), header));
        let name = saving::file_name(self.world.borrow().model);
        let fed = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(problem) = saving::offer_gzipped(parts, name).await {
                fed.note(format!("the run could not be saved: {problem}"));
                redraw.emit(());
            }
        });
    }
}

/// The bytes of a file the person picked or dropped.
async fn file_bytes(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let buffer = wasm_bindgen_futures::JsFuture::from(file.array_buffer())
        .await
        .map_err(|error| format!("the browser could not read it ({error:?})"))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// The panel that stands for the controls while a saved run is shown.
fn saved_run_panel(
    saved: &SavedRun,
    recording: &Recording,
    playing: bool,
    on_replay: Callback<()>,
    to_sim: Callback<MouseEvent>,
) -> Html {
    let header = &saved.header;
    let origin = match (header.source, &header.hello) {
        (RunSource::Live, Some(hello)) => {
            format!("a live lab (#{} on {})", hello.lab, hello.echo_addr)
        }
        (RunSource::Live, None) => "a live lab".to_owned(),
        (RunSource::Simulation, _) => "a simulation".to_owned(),
    };
    let end = recording.end();
    html! {
        <section id="saved-run" class="panel controls" aria-labelledby="saved-run-title">
            <h2 id="saved-run-title">{ "Saved run" }</h2>
            <p><strong class="file-name">{ saved.name.clone() }</strong></p>
            <p id="saved-run-summary">
                { format!("Recorded from {origin}: {} events over {:.3} s{}. It replays here on its own: \
                          play it, drag the timeline, Step back (←) and Step (→) through it.",
                          thousands(end - recording.first()),
                          recording.time_at(end).saturating_sub(recording.time_at(recording.first())) as f64 / 1e6,
                          if recording.let_go() > 0 {
                              format!(" (its first {} events were let go before it was saved: \
                                       what happened before is not in it)", thousands(recording.let_go()))
                          } else {
                              String::new()
                          }) }
            </p>
            if let Some(scenario) = &header.scenario {
                // A link only to a scenario this page would make, built
                // from its parsed settings (and relative, so it stays on
                // this page's own path).
                if let Some(link) = ScenarioLink::parse_exact(scenario) {
                    <p class="hint">{ "Its scenario: " }<a id="saved-scenario" href={link.to_query()}>{ link.to_query() }</a></p>
                } else {
                    <p class="hint">{ "Its scenario is not one this page can open: " }<code>{ scenario.clone() }</code></p>
                }
            }
            <div class="controls">
                <button id="replay-play" onclick={Callback::from(move |_: MouseEvent| on_replay.emit(()))}
                        title="Play the run at its own pace (Space)">
                    { if playing { "Pause" } else { "Play" } }
                </button>
                <button id="close-saved-run" class="secondary" onclick={to_sim}>{ "Back to the simulation" }</button>
            </div>
        </section>
    }
}

/// Starts the scenario of the host's lesson (`query`, a lesson link's) in
/// the page's simulation, and in the compared one if the lesson compares.
fn follow(
    query: &str,
    sim: &RefCell<SimSource>,
    fed: &Fed,
    second_sim: &RefCell<Option<SimSource>>,
    second_fed: &Fed,
) {
    let link = ScenarioLink::parse(query);
    *second_sim.borrow_mut() = link.compare.map(|model| compared_run(&link, model));
    *sim.borrow_mut() = SimSource::new(link);
    fed.restart();
    second_fed.restart();
    keep_in_address(query);
}

/// The scenario of `link` under `model`: the second run of a comparison.
fn compared_run(link: &ScenarioLink, model: ServerModel) -> SimSource {
    SimSource::new(ScenarioLink {
        settings: SimSettings {
            model,
            ..link.settings
        },
        compare: None,
        ..link.clone()
    })
}

/// Whether `ms` have passed since this was made.
fn out_of_time_after(ms: f64) -> impl Fn() -> bool {
    let started = frame_clock::now();
    move || frame_clock::now() - started > ms
}

/// Runs a simulation's `step` for at most `share_ms`, applying what happens
/// to its world as it comes; says whether anything did.
fn run(
    fed: &Fed,
    share_ms: f64,
    step: impl FnOnce(&dyn Fn() -> bool, &mut dyn FnMut(Vec<protocol::Event>)),
) -> bool {
    let out_of_time = out_of_time_after(share_ms);
    let mut changed = false;
    step(&out_of_time, &mut |events| {
        if !events.is_empty() {
            changed = true;
            fed.record(events);
        }
    });
    changed
}

/// Does to the compared simulation what `action` does to the page's own
/// (it keeps its own model when the page's is reset).
fn mirror(action: &SimAction, second: &mut SimSource, fed: &Fed) {
    match action {
        SimAction::TogglePlay => {}
        SimAction::Step => fed.record(second.step()),
        SimAction::Reset(settings) => {
            let model = second.settings().model;
            second.reset(SimSettings { model, ..*settings });
            fed.restart();
        }
        SimAction::Speed(speed) => second.speed = *speed,
        SimAction::AddClients(key, count) => {
            second.add_clients(key, *count);
        }
        SimAction::Shutdown(policy, grace) => {
            let policy = second.settings().model.shutdown_policy(*policy);
            second.shutdown(policy, *grace);
        }
    }
}

/// Opens a second lab on the relay for the comparison and switches it to
/// `model` as soon as it greets; its events go to `fed`.
/// Its handlers do `errors` with a client's error, as the first lab's do.
fn open_second_lab(
    model: ServerModel,
    errors: HandlerStyle,
    url: String,
    fed: Fed,
    redraw: Callback<()>,
) -> Link {
    let opened: Rc<RefCell<Option<Link>>> = Rc::default();
    let on_message = {
        let opened = Rc::clone(&opened);
        Callback::from(move |message: Result<ServerMessage, String>| {
            let greeted = matches!(message, Ok(ServerMessage::Hello(_)));
            if fed.apply_frame(message) {
                redraw.emit(());
            }
            if greeted && let Some(link) = opened.borrow().as_ref() {
                link.send(&Command::SetModel { model, errors });
            }
        })
    };
    let link = connect(url, on_message, Callback::noop());
    *opened.borrow_mut() = Some(link.clone());
    link
}

/// The page's query string (`?model=…`).
fn page_query() -> String {
    web_sys::window()
        .and_then(|window| window.location().search().ok())
        .unwrap_or_default()
}

/// Replaces the page's address (without a new history entry) so that a
/// copied link reproduces the scenario; the view it keeps (the lesson step,
/// the text size) stays.
fn keep_in_address(query: &str) {
    keep_in_address_exactly(&address::with_view(query, &page_query()));
}

/// Replaces the page's address with `query`, as it is (an empty one, `?`,
/// leaves the bare path).
fn keep_in_address_exactly(query: &str) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let path = window.location().pathname().unwrap_or_default();
    let url = if query == "?" { path.as_str() } else { query };
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(url));
    }
}

/// The relay's WebSocket under this page's base (`ws://<host>/ws` from a
/// relay's root), with the join token if the page has one.
fn page_lab_url(token: Option<&str>) -> String {
    with_token(&bare_lab_url(), token)
}

/// The relay's WebSocket under this page's base, to show (without the
/// token).
fn bare_lab_url() -> String {
    site::websocket_url(&site::base(), "ws")
}

/// A callback that asks for one re-render on the next animation frame, however
/// often it is called before then; and when that frame's render began.
#[hook]
fn use_frame_redraw() -> (Callback<()>, Rc<Cell<Option<f64>>>) {
    let force_update = use_force_update();
    let pending: Rc<RefCell<bool>> = use_mut_ref(|| false);
    let render_started: Rc<Cell<Option<f64>>> = use_memo((), |_| Cell::new(None));
    let started = Rc::clone(&render_started);
    let redraw = Callback::from(move |()| {
        if pending.replace(true) {
            return;
        }
        let pending = Rc::clone(&pending);
        let force_update = force_update.clone();
        let started = Rc::clone(&started);
        let on_frame = Closure::once_into_js(move || {
            pending.replace(false);
            started.set(Some(frame_clock::now()));
            force_update.force_update();
        });
        if let Some(window) = web_sys::window() {
            let _ = window.request_animation_frame(on_frame.unchecked_ref());
        }
    });
    (redraw, render_started)
}
