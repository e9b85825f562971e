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
    let behaviours = [
        ClientBehaviour::default(),
        ClientBehaviour::default(),
        ClientBehaviour::default(),
        ClientBehaviour::default(),
        ClientBehaviour::default(),
        ClientBehaviour::default(),
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
        for budget in [SNAPSHOT_BUDGET, 10_000] {
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
                assert!(recording.interval() > INTERVAL, "{model:?}: thinned");
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
    assert_eq!(line.text, describe(&events[third as usize - 1].kind));
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
