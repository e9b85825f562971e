//! The page's flows, natively: actions in, state and effects out, with the
//! real simulator and worlds behind them. The browser tests drive the same
//! flows through the page's buttons; these say exactly what each action
//! must do, and run in milliseconds.

use loopscope_runfile::{Header, RunSource};
use protocol::workshop::HostPush;
use protocol::{
    Command, Event, EventKind, HandlerStyle, Hello, Limits, PROTOCOL_VERSION, ServerMessage,
    ServerModel, ShutdownPhase, ShutdownPolicy,
};

use super::*;
use crate::model::lesson::{self, STEP_GRACE};

/// A page opened at `query` (a relay expected, as the relay serves it).
fn page(query: &str) -> Page {
    let start = Start {
        query: query.to_owned(),
        relay_expected: true,
        stored_progress: None,
        following: true,
    };
    Page::new(start, Box::new(|| 0.0)).0
}

/// A page at `query` whose relay never answered: it runs the simulation.
fn simulating(query: &str) -> Page {
    let mut page = page(query);
    page.act(PageAction::LinkStatus(LinkStatus::NoRelay {
        retry_in_s: 4,
    }));
    assert_eq!(page.source(), Source::Sim);
    page
}

/// A page at `query` whose lab greeted, running `model`.
fn connected(query: &str, model: ServerModel) -> Page {
    let mut page = page(query);
    page.act(PageAction::LinkStatus(LinkStatus::Live));
    page.act(PageAction::LabMessage(Which::Main, Ok(hello(1, model))));
    page.act(PageAction::LabMessage(Which::Main, Ok(listening(model))));
    frames(&mut page, 1);
    assert_eq!(page.runs.main.world.model, Some(model));
    assert_eq!(page.source(), Source::Live);
    page
}

fn hello(lab: u64, model: ServerModel) -> ServerMessage {
    ServerMessage::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        lab,
        echo_addr: "127.0.0.1:4000".into(),
        model,
        limits: Limits::default(),
    })
}

/// The lab's server says it listens, under `model`.
fn listening(model: ServerModel) -> ServerMessage {
    ServerMessage::Events {
        events: vec![Event {
            at: 10,
            kind: EventKind::Listening {
                addr: "127.0.0.1:4000".into(),
                model,
                errors: HandlerStyle::Handled,
            },
        }],
    }
}

/// `count` frames of 16 ms, each drawn.
fn frames(page: &mut Page, count: usize) -> Vec<Effect> {
    let mut effects = Vec::new();
    for _ in 0..count {
        effects.extend(
            page.act(PageAction::Frame {
                elapsed_ms: 16.0,
                share_ms: 5.0,
            })
            .effects,
        );
        effects.extend(page.act(PageAction::Rendered).effects);
    }
    effects
}

fn push(serial: u64, query: &str) -> PageAction {
    PageAction::HostPush(Some(HostPush {
        serial,
        query: query.to_owned(),
    }))
}

/// The commands `effects` send to `which` lab.
fn sent(effects: &[Effect], which: Which) -> Vec<Command> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Send(to, command) if *to == which => Some(command.clone()),
            _ => None,
        })
        .collect()
}

/// How many events of `run` (kept in its recording) `matches`.
fn count(run: &Run, matches: impl Fn(&EventKind) -> bool) -> usize {
    let recording = &run.recording;
    recording
        .events_between(recording.first(), recording.end())
        .filter(|event| matches(&event.kind))
        .count()
}

fn began_shutting_down(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Shutdown {
            phase: ShutdownPhase::StopAccepting
        }
    )
}

#[test]
fn the_same_push_twice_does_nothing() {
    let mut page = simulating("");
    let scenario = "?model=selector&clients=polite,polite";
    let followed = page.act(push(1, scenario));
    assert!(
        followed
            .effects
            .contains(&Effect::SetAddress(scenario.to_owned()))
    );
    assert_eq!(page.sim().settings().model, ServerModel::Selector);
    frames(&mut page, 60);
    let (events, now) = (page.runs.main.recording.end(), page.sim().now());
    assert!(events > 0, "the pushed scenario runs");

    let again = page.act(push(1, scenario));
    assert_eq!(
        again.effects,
        [],
        "nothing to do for a push followed already"
    );
    assert_eq!(page.runs.main.recording.end(), events, "the run goes on");
    assert_eq!(page.sim().now(), now);

    // The host pushing the same scenario again (a new serial) restarts it.
    page.act(push(2, scenario));
    assert!(page.runs.main.recording.end() < events);
    assert_eq!(page.sim().now(), 0);
}

#[test]
fn following_the_host_and_unticking_it() {
    let mut page = simulating("");
    page.act(push(1, "?model=selector&clients=polite"));
    assert_eq!(page.sim().settings().model, ServerModel::Selector);

    let unticked = page.act(PageAction::Follow(false));
    assert_eq!(unticked.effects, [Effect::StoreFollowing(false)]);
    page.act(push(2, "?model=busy_poll&clients=polite"));
    assert_eq!(
        page.sim().settings().model,
        ServerModel::Selector,
        "a page that does not follow keeps its own scenario"
    );
    assert_eq!(page.host_push.as_ref().map(|push| push.serial), Some(2));

    // Ticked again: the host's push in force starts here at once.
    let ticked = page.act(PageAction::Follow(true));
    assert_eq!(ticked.effects[0], Effect::StoreFollowing(true));
    assert_eq!(page.sim().settings().model, ServerModel::BusyPoll);

    // A pushed step of the lesson opens where the page runs: a simulating
    // page in its simulation, a live page in its live lab.
    page.act(push(3, "?lesson=3"));
    let step = lesson::step(3).unwrap();
    assert_eq!(page.lesson.open, Some(3));
    assert_eq!(page.sim().settings().model, step.link().settings.model);
    let mut live = connected("", ServerModel::AsyncTasks);
    let pushed = live.act(push(1, "?lesson=3"));
    assert_eq!(live.lesson.open, Some(3));
    assert_eq!(live.source(), Source::Live, "a live page stays live");
    assert_eq!(live.lesson_runs_where(), "in the live lab");
    assert_eq!(
        sent(&pushed.effects, Which::Main),
        [Command::SetModel {
            model: step.link().settings.model,
            errors: step.link().settings.style
        }]
    );
    assert_eq!(live.lesson.run, RunState::Ready, "it waits for predictions");
}

#[test]
fn stepping_back_while_comparing_shows_the_same_moment_in_both_runs() {
    let mut page = simulating("?model=blocking&clients=polite,polite&compare=async_tasks");
    assert_eq!(page.compare(), Some(ServerModel::AsyncTasks));
    assert_eq!(
        page.runs
            .compared
            .sim
            .as_ref()
            .map(|sim| sim.settings().model),
        Some(ServerModel::AsyncTasks)
    );
    frames(&mut page, 120);
    for _ in 0..5 {
        page.act(PageAction::Time(TimeAction::StepBack));
    }
    let (main, compared) = (&page.runs.main, &page.runs.compared);
    assert!(main.is_looking_back() && compared.is_looking_back());
    // Both runs' clocks start at 0: the compared run shows every event up
    // to the page's moment, and none after it.
    let shown = main.time_shown();
    assert!(compared.time_shown() <= shown);
    let next = compared
        .recording
        .events_between(compared.recording.position(), compared.recording.end())
        .next()
        .map(|event| event.at);
    assert!(next.is_none_or(|at| at > shown), "{next:?} after {shown}");
    assert!(
        !page.sim().playing && !page.runs.compared.sim.as_ref().unwrap().playing,
        "both hold still while the learner looks back"
    );

    // Step (→) moves both on through what was recorded; End shows now.
    let before = page.runs.main.recording.position();
    page.act(PageAction::Key(Key::Right));
    assert!(page.runs.main.recording.position() > before);
    let shown = page.runs.main.time_shown();
    assert!(page.runs.compared.time_shown() <= shown);
    page.act(PageAction::Key(Key::End));
    assert!(!page.runs.main.is_looking_back() && !page.runs.compared.is_looking_back());
}

#[test]
fn opening_a_saved_run_ends_a_comparison() {
    let mut recorded = simulating("?model=selector&clients=polite");
    frames(&mut recorded, 60);
    let events = recorded.runs.main.recording.end();
    let run = std::mem::take(&mut recorded.runs.main);

    let mut page = simulating("?model=blocking&clients=polite&compare=selector");
    frames(&mut page, 30);
    assert!(page.runs.compared.recording.end() > 0);
    page.act(PageAction::Opened(Box::new(OpenedRun {
        name: "selector.loopscope.gz".into(),
        header: Header::new(RunSource::Simulation, Some("?model=selector".into()), None),
        recording: run.recording,
        world: run.world,
    })));
    assert_eq!(page.source(), Source::Saved);
    assert_eq!(page.compare(), None);
    assert!(page.runs.compared.sim.is_none());
    assert_eq!(
        page.runs.compared.recording.end(),
        0,
        "the compared run is gone"
    );
    assert_eq!(
        page.runs.main.recording.end(),
        events,
        "the saved run is shown"
    );
    frames(&mut page, 30);
    assert_eq!(page.runs.main.recording.end(), events, "no source feeds it");

    // Back to the simulation: the saved run is let go, compared with nothing.
    page.act(PageAction::Choose(Source::Sim));
    assert_eq!(page.source(), Source::Sim);
    assert!(page.saved.is_none());
    assert_eq!(page.compare(), None);
}

#[test]
fn a_step_opened_while_connecting_moves_to_the_live_lab_once_it_connects() {
    let step = lesson::step(4).unwrap();
    let model = step.link().settings.model;
    let mut page = page("?lesson=4");
    frames(&mut page, 1);
    assert_eq!(page.lesson.open, Some(4));
    assert_eq!(page.lesson_runs_where(), "in the simulation");
    assert_eq!(
        page.sim().settings().model,
        model,
        "loaded in the simulation meanwhile"
    );

    page.act(PageAction::LinkStatus(LinkStatus::Live));
    page.act(PageAction::LabMessage(
        Which::Main,
        Ok(hello(1, ServerModel::AsyncTasks)),
    ));
    let moved = frames(&mut page, 1);
    assert_eq!(page.lesson_runs_where(), "in the live lab");
    assert_eq!(
        sent(&moved, Which::Main),
        [Command::SetModel {
            model,
            errors: step.link().settings.style
        }],
        "the lab's server restarts under the step's model"
    );

    // Run: the server restarts again, and the clients start once it says
    // it listens (not before).
    let run = page.act(PageAction::Lesson(LessonAction::Run));
    assert!(matches!(
        sent(&run.effects, Which::Main)[..],
        [Command::SetModel { .. }]
    ));
    assert_eq!(page.lesson.run, RunState::Running);
    let waiting = frames(&mut page, 3);
    assert_eq!(sent(&waiting, Which::Main), []);
    page.act(PageAction::LabMessage(Which::Main, Ok(listening(model))));
    let spawned = frames(&mut page, 1);
    let clients: u32 = sent(&spawned, Which::Main)
        .iter()
        .map(|command| match command {
            Command::SpawnClients { count, .. } => *count,
            other => panic!("only clients start: {other:?}"),
        })
        .sum();
    assert_eq!(clients as usize, step.link().clients.len());
    assert_eq!(sent(&frames(&mut page, 3), Which::Main), [], "once");
}

#[test]
fn step_7_shuts_down_once() {
    let step = lesson::step(7).unwrap();
    let after = step.shutdown_after.unwrap();
    let mut page = simulating("");
    page.act(PageAction::Policy(ShutdownPolicy::CancelAtOnce));
    page.act(PageAction::Lesson(LessonAction::Go(7)));
    page.act(PageAction::Lesson(LessonAction::Run));
    while page.sim().now() < after + STEP_GRACE + 1_000_000 {
        frames(&mut page, 1);
    }
    assert_eq!(count(&page.runs.main, began_shutting_down), 1);
    assert_eq!(
        page.runs.main.world.shutdown_policy,
        Some(ShutdownPolicy::CancelAtOnce)
    );
    frames(&mut page, 120);
    assert_eq!(count(&page.runs.main, began_shutting_down), 1, "not again");

    // Run it again: the new run is shut down too, once.
    page.act(PageAction::Lesson(LessonAction::Run));
    assert_eq!(page.lesson.runs, 2);
    assert_eq!(count(&page.runs.main, began_shutting_down), 0);
    while page.sim().now() < after + STEP_GRACE + 1_000_000 {
        frames(&mut page, 1);
    }
    assert_eq!(count(&page.runs.main, began_shutting_down), 1);
}

#[test]
fn a_lab_action_reaches_both_labs_and_the_compared_one_keeps_its_model() {
    let mut page = connected("", ServerModel::AsyncTasks);
    let compared = page.act(PageAction::Compare(Some(ServerModel::BusyPoll)));
    assert!(compared.effects.contains(&Effect::OpenComparedLab));
    assert_eq!(
        sent(&compared.effects, Which::Main),
        [Command::SetModel {
            model: ServerModel::AsyncTasks,
            errors: HandlerStyle::Handled
        }],
        "the page's own server restarts too, so both start with no one connected"
    );
    let greeted = page.act(PageAction::LabMessage(
        Which::Compared,
        Ok(hello(2, ServerModel::AsyncTasks)),
    ));
    assert_eq!(
        sent(&greeted.effects, Which::Compared),
        [Command::SetModel {
            model: ServerModel::BusyPoll,
            errors: HandlerStyle::Handled
        }]
    );

    let errors = page.act(PageAction::Lab(LabAction::SetErrors(
        HandlerStyle::Unhandled,
    )));
    assert_eq!(
        sent(&errors.effects, Which::Main),
        [Command::SetModel {
            model: ServerModel::AsyncTasks,
            errors: HandlerStyle::Unhandled
        }]
    );
    assert_eq!(
        sent(&errors.effects, Which::Compared),
        [Command::SetModel {
            model: ServerModel::BusyPoll,
            errors: HandlerStyle::Unhandled
        }]
    );
    let shutdown = page.act(PageAction::Lab(LabAction::Shutdown {
        grace_ms: 2_000,
        policy: ShutdownPolicy::WaitForEveryone,
    }));
    assert_eq!(
        sent(&shutdown.effects, Which::Compared),
        [Command::Shutdown {
            grace_ms: 2_000,
            policy: ServerModel::BusyPoll.shutdown_policy(ShutdownPolicy::WaitForEveryone)
        }]
    );
    let model = page.act(PageAction::Lab(LabAction::SetModel(ServerModel::Selector)));
    assert_eq!(
        sent(&model.effects, Which::Compared),
        [],
        "the compared lab keeps its model"
    );

    // Compared with nothing: the second lab closes, commands go to one.
    let ended = page.act(PageAction::Compare(None));
    assert!(ended.effects.contains(&Effect::CloseComparedLab));
    let paused = page.act(PageAction::Lab(LabAction::Pause));
    assert_eq!(sent(&paused.effects, Which::Main), [Command::Pause {}]);
    assert_eq!(sent(&paused.effects, Which::Compared), []);
}

#[test]
fn the_address_always_reproduces_the_scenario_and_keeps_the_view() {
    let mut page = simulating("?text=150");
    page.act(PageAction::Sim(SimAction::AddClients("polite", 2)));
    let query = page.query().to_owned();
    assert!(query.contains("text=150"), "{query}");
    assert_eq!(
        ScenarioLink::parse(&query).to_query(),
        page.sim().link().to_query()
    );
    assert_eq!(
        ScenarioLink::parse(&query).clients.len(),
        ScenarioLink::default().clients.len() + 2
    );

    let opened = page.act(PageAction::Lesson(LessonAction::Go(2)));
    assert!(page.query().contains("lesson=2"), "{}", page.query());
    assert!(
        opened
            .effects
            .contains(&Effect::SetAddress(page.query().to_owned()))
    );
    page.act(PageAction::ToggleLesson);
    assert!(!page.query().contains("lesson="), "{}", page.query());
    assert!(page.query().contains("text=150"), "{}", page.query());
}

#[test]
fn keys_act_on_the_source_shown() {
    let mut live = connected("", ServerModel::Selector);
    assert!(!live.takes_key(Key::Space), "a live lab has no play button");
    let mut page = simulating("?model=selector&clients=polite");
    assert!(page.takes_key(Key::Space));
    let playing = page.sim().playing;
    page.act(PageAction::Key(Key::Space));
    assert_eq!(page.sim().playing, !playing);
    page.act(PageAction::Key(Key::Help));
    assert!(page.help);
    page.act(PageAction::Key(Key::Escape));
    assert!(!page.help);
    // n with the panel closed opens the first step not done.
    live.act(PageAction::Key(Key::NextStep));
    assert_eq!(live.lesson.open, Some(1));
}

/// Runs the open step until it proves something (in at most 30 s of
/// simulated time), and returns the proof.
fn run_to_proof(page: &mut Page) -> lesson::Proof {
    page.act(PageAction::Lesson(LessonAction::Run));
    let serial = page.runs.main.serial;
    loop {
        assert!(page.sim().now() < 30_000_000, "no proof");
        frames(page, 1);
        assert_eq!(
            page.runs.main.serial, serial,
            "the proof belongs to this run"
        );
        if let RunState::Proved(proof) = &page.lesson.run {
            return proof.clone();
        }
    }
}

/// The answer step 5's lanes give, read off the run's events themselves:
/// did another client's first echo come before the first client's lane
/// ended (2), or after (0)?
fn step_5_answer_in_the_events(run: &Run) -> usize {
    let recording = &run.recording;
    let events: Vec<&Event> = recording
        .events_between(recording.first(), recording.end())
        .collect();
    let first = *run.world.connections.keys().next().unwrap();
    let first_ended = run.world.connections[&first]
        .state
        .is_final()
        .then_some(run.world.connections[&first].since);
    let other_echo = events
        .iter()
        .find_map(|event| match &event.kind {
            EventKind::Sent { conn, bytes } if *conn != first && *bytes > 0 => Some(event.at),
            EventKind::Traffic { conn, sent, .. } if *conn != first && *sent > 0 => Some(event.at),
            _ => None,
        })
        .unwrap();
    match first_ended {
        Some(end) if other_echo >= end => 0,
        _ => 2,
    }
}

#[test]
fn step_5_run_three_times_proves_what_its_lanes_show_each_time() {
    let mut page = simulating("");
    page.act(PageAction::Lesson(LessonAction::Go(5)));
    let step = lesson::step(5).unwrap();
    for run in 1..=3 {
        let proof = run_to_proof(&mut page);
        assert_eq!(page.lesson.runs, run);
        assert_eq!(
            proof.answer,
            step_5_answer_in_the_events(&page.runs.main),
            "run {run}: {}",
            proof.evidence
        );
        assert_eq!(proof.answer, step.teaches, "run {run}: {}", proof.evidence);
        // Read again once every client has gone, from the same run, it says
        // the same: it is read off the lanes' histories, not their states.
        while !page
            .runs
            .main
            .world
            .connections
            .values()
            .all(|lane| lane.state.is_final())
        {
            assert!(page.sim().now() < 60_000_000, "the clients never left");
            frames(&mut page, 1);
        }
        assert_eq!(
            step.proof_of(&page.runs.main.world)
                .map(|later| later.answer),
            Some(proof.answer)
        );
    }
    // The same step under the blocking server: the lanes say "only after",
    // and so does the verdict.
    let mut blocking = simulating("");
    blocking.act(PageAction::Lesson(LessonAction::Go(5)));
    let mut settings = blocking.sim().settings();
    settings.model = ServerModel::Blocking;
    blocking.act(PageAction::Sim(SimAction::Reset(settings)));
    blocking.act(PageAction::Sim(SimAction::TogglePlay));
    while blocking.sim().now() < 20_000_000 {
        frames(&mut blocking, 1);
    }
    let proof = (step.proof)(&blocking.runs.main.world).expect("a verdict");
    assert_eq!(proof.answer, 0, "{}", proof.evidence);
    assert_eq!(step_5_answer_in_the_events(&blocking.runs.main), 0);
}

#[test]
fn step_7_run_three_times_under_each_policy_proves_the_same_each_time() {
    let expected = [
        (ShutdownPolicy::GraceThenCancel, 2),
        (ShutdownPolicy::CancelAtOnce, 0),
        (ShutdownPolicy::WaitForEveryone, 1),
        (ShutdownPolicy::NotifyFirst, 0),
    ];
    let mut page = simulating("");
    page.act(PageAction::Lesson(LessonAction::Go(7)));
    for (policy, answer) in expected {
        page.act(PageAction::Policy(policy));
        for run in 1..=3 {
            let proof = run_to_proof(&mut page);
            assert_eq!(
                proof.answer, answer,
                "{policy:?}, run {run}: {}",
                proof.evidence
            );
            assert_eq!(
                page.runs.main.world.shutdown_policy,
                Some(policy),
                "{policy:?}, run {run}: the verdict is about a run under this policy"
            );
            assert_eq!(count(&page.runs.main, began_shutting_down), 1);
        }
    }
}

#[test]
fn each_new_run_is_another_run() {
    let mut page = simulating("");
    page.act(PageAction::Lesson(LessonAction::Go(4)));
    let opened = page.runs.main.serial;
    page.act(PageAction::Lesson(LessonAction::Run));
    let first = page.runs.main.serial;
    assert!(first > opened);
    frames(&mut page, 10);
    assert_eq!(page.runs.main.serial, first, "frames go on in the same run");
    page.act(PageAction::Lesson(LessonAction::Run));
    assert!(
        page.runs.main.serial > first,
        "Run again starts another run"
    );
    assert!(!page.runs.main.is_looking_back(), "a new run shows now");
}

#[test]
fn a_prediction_survives_the_page_loading_again() {
    // A lab the relay closed is opened again by loading the page: the step
    // (in the address) and the prediction (stored) come back.
    let mut page = simulating("?lesson=4");
    frames(&mut page, 1);
    let predicted = page.act(PageAction::Lesson(LessonAction::Predict(1)));
    let stored = predicted
        .effects
        .iter()
        .find_map(|effect| match effect {
            Effect::StoreProgress(json) => Some(json.clone()),
            _ => None,
        })
        .expect("the prediction is stored");
    let reload = page.act(PageAction::Reload);
    assert_eq!(reload.effects, [Effect::Reload]);

    let start = Start {
        query: page.query().to_owned(),
        relay_expected: true,
        stored_progress: Some(stored),
        following: true,
    };
    let (again, _) = Page::new(start, Box::new(|| 0.0));
    assert_eq!(again.lesson.open, Some(4));
    assert_eq!(again.lesson.progress.predicted.get(&4), Some(&1));
}

#[test]
fn a_proof_that_switches_the_pane_scrolls_once_the_pane_is_drawn() {
    let step = lesson::step(2).unwrap();
    assert_eq!(step.look_at.pane, Some(lesson::Pane::Counters));
    let mut page = simulating("");
    page.act(PageAction::Lesson(LessonAction::Go(2)));
    page.act(PageAction::Pane(lesson::Pane::Log));
    page.act(PageAction::Lesson(LessonAction::Predict(step.teaches)));
    page.act(PageAction::Lesson(LessonAction::Run));
    let pointing = |effects: &[Effect]| {
        effects.iter().find_map(|effect| match effect {
            Effect::PointAt { scroll, .. } => Some(*scroll),
            _ => None,
        })
    };
    let proved = loop {
        assert!(page.sim().now() < 30_000_000, "no proof");
        page.act(PageAction::Frame {
            elapsed_ms: 16.0,
            share_ms: 5.0,
        });
        let drawn = page.act(PageAction::Rendered);
        if matches!(page.lesson.run, RunState::Proved(_)) {
            break drawn;
        }
    };
    assert!(proved.redraw, "the proof switched the pane: draw again");
    assert_eq!(page.pane, lesson::Pane::Counters);
    assert_eq!(
        pointing(&proved.effects),
        Some(false),
        "not on the old pane"
    );
    let next = page.act(PageAction::Rendered);
    assert_eq!(
        pointing(&next.effects),
        Some(true),
        "now that the pane is drawn"
    );
    let after = page.act(PageAction::Rendered);
    assert_eq!(pointing(&after.effects), Some(false), "once");
}
