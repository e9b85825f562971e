//! Seeking equals replaying: the world at any position, reached through
//! snapshots, is the world that applying the events up to it makes.

use loopscope_runfile::{Header, Limits, RunSource, Writer};
use loopscope_sim::{HandlerStyle, Scenario, Simulation};
use protocol::{ClientBehaviour, ConnId, Hello, PROTOCOL_VERSION, ServerModel};

use super::*;

fn hello() -> Hello {
    Hello {
        protocol: PROTOCOL_VERSION,
        lab: 7,
        echo_addr: "127.0.0.1:4000".into(),
        model: ServerModel::Selector,
        limits: protocol::Limits::default(),
    }
}

/// A real run of the simulator: a mix of clients under `model`, shut down
/// half way.
fn simulated_run(model: ServerModel) -> Vec<Event> {
    let second: Micros = 1_000_000;
    // Polite clients twice as chatty as the page's preset: many events in
    // a short run.
    let polite = ClientBehaviour::Polite {
        messages: 5,
        size: 32,
        interval_ms: 200,
    };
    let behaviours = [
        polite.clone(),
        polite.clone(),
        polite.clone(),
        polite.clone(),
        polite.clone(),
        polite,
        ClientBehaviour::Slow {
            messages: 2,
            size: 4,
            byte_interval_ms: 10,
        },
        ClientBehaviour::Crasher { size: 32 },
    ];
    let scenario = behaviours.iter().enumerate().fold(
        Scenario::new(model).style(HandlerStyle::Handled),
        |scenario, (index, behaviour)| scenario.client(behaviour.clone(), index as Micros * 50_000),
    );
    let mut simulation = Simulation::new(scenario);
    simulation.run_until(second);
    simulation.shutdown(second / 2);
    simulation.run_until(3 * second);
    simulation.drain_events()
}

const MODELS: [ServerModel; 4] = [
    ServerModel::Blocking,
    ServerModel::BusyPoll,
    ServerModel::Selector,
    ServerModel::AsyncTasks,
];

/// The world after the hello and `events[..n]`, made the plain way.
fn replayed(events: &[Event], n: usize) -> World {
    let mut world = World::default();
    world.apply_message(ServerMessage::Hello(hello()));
    for event in &events[..n] {
        world.apply(event);
    }
    world
}

/// The recording as a gzip run file, as the page saves it (the page has
/// the browser compress it).
fn saved(recording: &Recording, header: &Header) -> Vec<u8> {
    let mut writer = Writer::new(header);
    recording.write_to(&mut writer);
    writer.finish()
}

/// Events between snapshots in these tests: many snapshots in short runs.
const INTERVAL: u64 = 32;

/// A recording of `events`, fed in batches of 50, with snapshots every
/// [`INTERVAL`] events within `budget` bytes.
fn recorded(events: &[Event], budget: usize) -> (Recording, World) {
    let mut recording = Recording::with_limits(MAX_EVENTS, budget, INTERVAL);
    let mut world = World::default();
    recording.record(&mut world, ServerMessage::Hello(hello()));
    for batch in events.chunks(50) {
        recording.record(
            &mut world,
            ServerMessage::Events {
                events: batch.to_vec(),
            },
        );
    }
    (recording, world)
}

#[test]
fn seeking_anywhere_in_any_order_equals_replaying_up_to_there() {
    for model in MODELS {
        let events = simulated_run(model);
        assert!(events.len() > 150, "{model:?}: {} events", events.len());
        for budget in [SNAPSHOT_BUDGET, 60_000] {
            let (mut recording, mut world) = recorded(&events, budget);
            let end_world = world.clone();
            // Positions in a scrambled order: back, forward, far, near.
            let mut position = 1_u64;
            for _ in 0..60 {
                position = (position * 7_919 + 104_729) % (events.len() as u64 + 1);
                recording.seek(&mut world, position);
                assert_eq!(recording.position(), position);
                assert!(
                    world == replayed(&events, position as usize),
                    "{model:?}, budget {budget}: seek to {position} differs"
                );
            }
            recording.back_to_now(&mut world);
            assert!(world == end_world, "{model:?}: back to now is the end");
            let (count, bytes) = recording.snapshots();
            if budget < SNAPSHOT_BUDGET {
                assert!(
                    bytes <= budget || count == 1,
                    "{model:?}: {bytes} bytes in {count} snapshots"
                );
                if model == ServerModel::BusyPoll {
                    assert!(recording.interval() > INTERVAL, "{model:?}: thinned");
                }
            } else {
                assert!(count > 1, "{model:?}: seeks went through snapshots");
            }
        }
    }
}

#[test]
fn step_back_then_step_returns_to_the_same_state() {
    for model in MODELS {
        let events = simulated_run(model);
        let (mut recording, mut world) = recorded(&events, SNAPSHOT_BUDGET);
        let end_world = world.clone();
        recording.step_back(&mut world);
        let back = recording.position();
        assert!(back < recording.end());
        assert!(
            matches!(
                recording.event_at(back).map(|event| &event.kind),
                Some(EventKind::LoopIteration { .. })
            ),
            "{model:?}: Step back stops before an iteration begins"
        );
        assert!(recording.step_forward(&mut world));
        assert!(world == end_world, "{model:?}: from the end and back");
        assert!(!recording.is_looking_back());

        // From a moment mid-run, three back and three forward.
        recording.seek(&mut world, events.len() as u64 / 2);
        recording.step_back(&mut world);
        let (start, start_world) = (recording.position(), world.clone());
        for _ in 0..3 {
            recording.step_back(&mut world);
        }
        let iterations_back = world.counters.iterations;
        assert_eq!(start_world.counters.iterations - iterations_back, 3);
        for _ in 0..3 {
            recording.step_forward(&mut world);
        }
        assert_eq!(recording.position(), start);
        assert!(world == start_world, "{model:?}: three back, three on");
    }
}

#[test]
fn a_run_without_iterations_steps_one_log_line() {
    let mut recording = Recording::default();
    let mut world = World::default();
    let events = (1..=5)
        .flat_map(|id| {
            [
                Event {
                    at: id * 10,
                    kind: EventKind::Accepted {
                        conn: ConnId(id),
                        peer: "p".into(),
                    },
                },
                Event {
                    at: id * 10 + 1,
                    kind: EventKind::Cpu {
                        busy_us: 1,
                        window_us: 10,
                    },
                },
            ]
        })
        .collect();
    recording.record(&mut world, ServerMessage::Events { events });
    recording.step_back(&mut world);
    assert_eq!(world.counters.accepted, 4);
    assert_eq!(recording.log_len_at(recording.position()), 4);
    recording.step_back(&mut world);
    assert_eq!(world.counters.accepted, 3);
    recording.step_forward(&mut world);
    recording.step_forward(&mut world);
    assert_eq!(world.counters.accepted, 5);
    assert!(!recording.is_looking_back());
}

#[test]
fn events_that_arrive_while_looking_back_go_to_the_head() {
    let events = simulated_run(ServerModel::AsyncTasks);
    let half = events.len() / 2;
    let (mut recording, mut world) = recorded(&events[..half], SNAPSHOT_BUDGET);
    recording.seek(&mut world, 10);
    let shown = world.clone();
    recording.record(
        &mut world,
        ServerMessage::Events {
            events: events[half..].to_vec(),
        },
    );
    assert!(world == shown, "the page keeps showing the moment chosen");
    assert_eq!(recording.position(), 10);
    assert_eq!(recording.end(), events.len() as u64);
    recording.back_to_now(&mut world);
    assert!(world == replayed(&events, events.len()));
}

#[test]
fn the_log_shows_the_lines_up_to_the_position() {
    let events = simulated_run(ServerModel::Selector);
    let (mut recording, mut world) = recorded(&events, SNAPSHOT_BUDGET);
    let all = recording.log_len_at(recording.end());
    let frequent = events
        .iter()
        .filter(|event| is_frequent(&event.kind))
        .count();
    assert_eq!(
        all,
        1 + events.len() - frequent,
        "the hello's line, then one per event"
    );
    assert_eq!(
        recording.log_line(0).unwrap().text,
        "lab #7 echoes on 127.0.0.1:4000"
    );
    recording.seek(&mut world, 0);
    assert_eq!(recording.log_len_at(recording.position()), 1);
    let third = recording.log_position(3).unwrap();
    assert_eq!(recording.log_len_at(third), 4);
    assert_eq!(recording.log_len_at(third - 1), 3);
    let line = recording.log_line(3).unwrap();
    assert_eq!(
        line.text,
        describe(
            &events[third as usize - 1].kind,
            Some(ServerModel::Selector)
        ),
        "in the words of the listing of the server that ran then"
    );
}

#[test]
fn a_note_is_an_error_event_in_the_log() {
    let mut recording = Recording::default();
    let mut world = World::default();
    recording.note(&mut world, "frame 3 is not JSON".into());
    assert_eq!(recording.log_subject(0).unwrap().kind, "error");
    assert_eq!(
        recording.log_line(0).unwrap().text,
        "error: frame 3 is not JSON"
    );
    assert_eq!(recording.end(), 1);
}

#[test]
fn the_oldest_events_are_let_go_beyond_the_cap() {
    let events = simulated_run(ServerModel::BusyPoll);
    let cap = 10 * INTERVAL;
    let mut recording = Recording::with_limits(cap, SNAPSHOT_BUDGET, INTERVAL);
    let mut world = World::default();
    recording.record(&mut world, ServerMessage::Hello(hello()));
    recording.record(
        &mut world,
        ServerMessage::Events {
            events: events.clone(),
        },
    );
    let kept = recording.end() - recording.first();
    // A sixteenth more than the excess goes at once, so that letting go
    // happens seldom.
    assert_eq!(kept, cap - cap / 16);
    assert_eq!(recording.end(), events.len() as u64);
    // The oldest kept moment is what it was, and earlier ones are not.
    let first = recording.first();
    recording.seek(&mut world, 0);
    assert_eq!(recording.position(), first);
    assert!(world == replayed(&events, first as usize));
    assert_eq!(
        recording.log_line(0).unwrap().kind,
        "hello",
        "the lab's line stays"
    );
    assert!((1..recording.log_len()).all(|index| recording.log_position(index).unwrap() > first));
}

#[test]
fn a_saved_run_opens_to_the_same_moments() {
    let events = simulated_run(ServerModel::AsyncTasks);
    let mut recording = Recording::with_limits(MAX_EVENTS, SNAPSHOT_BUDGET, INTERVAL);
    let mut world = World::default();
    recording.record(&mut world, ServerMessage::Hello(hello()));
    let (before, after) = events.split_at(events.len() / 3);
    recording.record(
        &mut world,
        ServerMessage::Events {
            events: before.to_vec(),
        },
    );
    recording.begin_fresh_run(&mut world);
    recording.record(
        &mut world,
        ServerMessage::Events {
            events: after.to_vec(),
        },
    );
    let bytes = saved(
        &recording,
        &Header::new(RunSource::Live, None, Some(hello())),
    );

    let (header, mut opened, mut opened_world) =
        Recording::open(&bytes, &Limits::default()).unwrap();
    assert_eq!(header.hello, Some(hello()));
    assert!(opened_world == world, "the same end");
    assert_eq!(opened.end(), recording.end());
    for position in [
        0,
        17,
        before.len() as u64,
        before.len() as u64 + 5,
        events.len() as u64 - 3,
    ] {
        recording.seek(&mut world, position);
        opened.seek(&mut opened_world, position);
        assert!(opened_world == world, "the same world at {position}");
    }
}

#[test]
fn a_hello_begins_a_new_recording() {
    let events = simulated_run(ServerModel::Blocking);
    let (mut recording, mut world) = recorded(&events, SNAPSHOT_BUDGET);
    recording.seek(&mut world, 5);
    recording.record(
        &mut world,
        ServerMessage::Hello(Hello { lab: 8, ..hello() }),
    );
    assert_eq!(recording.end(), 0);
    assert!(!recording.is_looking_back());
    assert_eq!(world.lab.as_ref().map(|lab| lab.lab), Some(8));
    assert!(world.connections.is_empty());
}

#[test]
fn a_bad_file_is_refused_whole() {
    let error = Recording::open(b"not a run", &Limits::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("this is not a saved Loopscope run"),
        "{error}"
    );
    let events = simulated_run(ServerModel::Selector);
    let (recording, _) = recorded(&events, SNAPSHOT_BUDGET);
    let bytes = saved(
        &recording,
        &Header::new(RunSource::Simulation, Some("?model=selector".into()), None),
    );
    let cut = Recording::open(&bytes[..bytes.len() - 9], &Limits::default()).unwrap_err();
    assert!(cut.to_string().contains("cut short"), "{cut}");
}

fn at(at: Micros, kind: EventKind) -> Event {
    Event { at, kind }
}

fn listening(model: ServerModel) -> EventKind {
    EventKind::Listening {
        addr: "127.0.0.1:9".into(),
        model,
        errors: Default::default(),
    }
}

#[test]
fn a_quiet_run_keeps_its_last_half_hour() {
    let minute: Micros = 60_000_000;
    let mut recording = Recording::default();
    let mut world = World::default();
    for index in 0..=40 {
        recording.record(
            &mut world,
            ServerMessage::Events {
                events: vec![at(
                    index * minute,
                    EventKind::Accepted {
                        conn: ConnId(index + 1),
                        peer: "p".into(),
                    },
                )],
            },
        );
    }
    let kept: Vec<Micros> = recording
        .events_between(recording.first(), recording.end())
        .map(|event| event.at)
        .collect();
    assert!(kept.len() >= 28, "{} minutes kept", kept.len());
    assert!(kept[0] >= 10 * minute, "nothing older than 30 minutes");
    assert_eq!(kept.last(), Some(&(40 * minute)));
    assert_eq!(
        recording.time_at(recording.first()),
        kept[0],
        "the start's time"
    );
    assert_eq!(world.counters.accepted, 41, "the head counts everything");
    recording.seek(&mut world, 0);
    assert_eq!(
        world.counters.accepted,
        recording.first(),
        "the oldest moment kept is what it was"
    );
}

#[test]
fn fresh_runs_replay_as_they_happened_and_cost_no_snapshots() {
    let mut recording = Recording::with_limits(MAX_EVENTS, 60_000, INTERVAL);
    let mut world = World::default();
    let mut expected = Vec::new();
    let mut plain = World::default();
    for round in 0..2_000_u64 {
        let events = vec![
            at(round * 10, listening(ServerModel::Selector)),
            at(
                round * 10 + 1,
                EventKind::Accepted {
                    conn: ConnId(1),
                    peer: "p".into(),
                },
            ),
        ];
        for event in &events {
            plain.apply(event);
        }
        recording.record(&mut world, ServerMessage::Events { events });
        recording.begin_fresh_run(&mut world);
        plain.begin_fresh_run();
        expected.push((recording.end(), plain.clone()));
    }
    let (count, bytes) = recording.snapshots();
    assert!(bytes <= 60_000, "{bytes} bytes in {count} snapshots");
    for (position, world_then) in expected.iter().step_by(97) {
        recording.seek(&mut world, *position - 1);
        recording.step_forward(&mut world);
        let mut then = world_then.clone();
        // The moment shown has not yet been told of the fresh run that
        // follows it; the head had.
        then.begin_fresh_run();
        let mut shown = world.clone();
        shown.begin_fresh_run();
        assert!(shown == then, "at {position}");
    }
}

#[test]
fn a_run_with_more_connections_than_a_lab_allows_is_refused() {
    let events: Vec<Event> = (1..=MAX_OPEN_CONNECTIONS as u64 + 1)
        .map(|conn| {
            at(
                conn,
                EventKind::Accepted {
                    conn: ConnId(conn),
                    peer: "p".into(),
                },
            )
        })
        .collect();
    let mut writer = Writer::new(&Header::new(RunSource::Live, None, None));
    writer.events(&events);
    let error = Recording::open(&writer.finish(), &Limits::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("more than 10000 connections at once"),
        "{error}"
    );
}

#[test]
fn a_line_stays_with_the_connection_its_task_served_then() {
    let mut recording = Recording::default();
    let mut world = World::default();
    let (task, first, second) = (TaskId(1), ConnId(1), ConnId(2));
    let events = vec![
        at(0, listening(ServerModel::AsyncTasks)),
        at(
            1,
            EventKind::Accepted {
                conn: first,
                peer: "p".into(),
            },
        ),
        at(
            2,
            EventKind::TaskSpawned {
                task,
                conn: Some(first),
            },
        ),
        at(3, EventKind::TaskResumed { task }),
        // The server restarts: task numbers start again.
        at(4, listening(ServerModel::AsyncTasks)),
        at(
            5,
            EventKind::Accepted {
                conn: second,
                peer: "p".into(),
            },
        ),
        at(
            6,
            EventKind::TaskSpawned {
                task,
                conn: Some(second),
            },
        ),
        at(7, EventKind::TaskResumed { task }),
    ];
    recording.record(&mut world, ServerMessage::Events { events });
    let resumed: Vec<Option<Sock>> = (0..recording.log_len())
        .filter_map(|index| recording.log_subject(index))
        .filter(|subject| subject.kind == "task_resumed")
        .map(|subject| subject.sock)
        .collect();
    assert_eq!(resumed, [Some(Sock::Conn(first)), Some(Sock::Conn(second))]);
}

#[test]
fn stepping_stops_where_a_server_starts_and_steps_lines_where_it_does_not_iterate() {
    let mut recording = Recording::default();
    let mut world = World::default();
    let mut events = vec![at(0, listening(ServerModel::AsyncTasks))];
    // tokio's tasks: lines, no iterations.
    for conn in 1..=3 {
        events.push(at(
            conn,
            EventKind::Accepted {
                conn: ConnId(conn),
                peer: "p".into(),
            },
        ));
    }
    // Switched to a selector: iterations.
    events.push(at(10, listening(ServerModel::Selector)));
    for iteration in 1..=3 {
        events.push(at(10 + iteration, EventKind::LoopIteration { iteration }));
        events.push(at(
            10 + iteration,
            EventKind::SelectCalled { timeout_us: None },
        ));
    }
    recording.record(&mut world, ServerMessage::Events { events });
    let mut stops = Vec::new();
    loop {
        recording.step_back(&mut world);
        stops.push(recording.position());
        if recording.position() == recording.first() {
            break;
        }
    }
    // Iterations 3, 2, 1 (events 9, 7, 5), the selector's start (4), then
    // the tokio lines (accepts at 3, 2, 1) and its start (0).
    assert_eq!(stops, [9, 7, 5, 4, 3, 2, 1, 0]);
    let mut forward = Vec::new();
    while recording.step_forward(&mut world) {
        forward.push(recording.position());
    }
    assert_eq!(forward, [1, 2, 3, 4, 5, 7, 9, recording.end()]);
}

#[test]
fn a_run_saved_after_events_were_let_go_opens_at_the_same_positions() {
    let events = simulated_run(ServerModel::BusyPoll);
    let cap = 10 * INTERVAL;
    let mut recording = Recording::with_limits(cap, SNAPSHOT_BUDGET, INTERVAL);
    let mut world = World::default();
    recording.record(&mut world, ServerMessage::Events { events });
    assert!(recording.let_go() > 0);
    let header = Header {
        let_go: recording.let_go(),
        ..Header::new(RunSource::Simulation, None, None)
    };
    let (read, opened, _) =
        Recording::open(&saved(&recording, &header), &Limits::default()).unwrap();
    assert_eq!(read.let_go, recording.let_go());
    assert_eq!(
        (opened.first(), opened.end()),
        (recording.first(), recording.end())
    );
}
