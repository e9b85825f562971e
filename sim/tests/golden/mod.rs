//! One scenario whose event sequence is pinned by a fingerprint, shared by
//! the native test and the wasm test: both must produce the same bytes.

use loopscope_sim::{ClientBehaviour, HandlerStyle, Scenario, ServerModel, Simulation};

/// The committed fingerprint of the scenario's events.
pub const EXPECTED: &str = include_str!("fingerprint.txt");

/// Every model, clients of every behaviour, an unhandled error and a
/// shutdown: one run that touches most of the simulator.
pub fn events_json() -> Vec<String> {
    events_json_run_by(|simulation, time| simulation.run_until(time))
}

/// The same runs, each step to a time taken by `run_to`.
pub fn events_json_run_by(run_to: impl Fn(&mut Simulation, u64)) -> Vec<String> {
    let mut runs = Vec::new();
    for model in [
        ServerModel::Blocking,
        ServerModel::BusyPoll,
        ServerModel::Selector,
        ServerModel::AsyncTasks,
    ] {
        let scenario = Scenario::new(model)
            .seed(2024)
            .style(HandlerStyle::Unhandled)
            .buffer(1024)
            .clients(
                4,
                ClientBehaviour::Polite {
                    messages: 3,
                    size: 700,
                    interval_ms: 15,
                },
                0,
                3_000,
            )
            .client(
                ClientBehaviour::Slow {
                    messages: 1,
                    size: 4,
                    byte_interval_ms: 5,
                },
                1_000,
            )
            .client(ClientBehaviour::Silent {}, 2_000)
            .client(ClientBehaviour::Flood { bytes: 5_000 }, 4_000)
            .client(ClientBehaviour::Crasher { size: 10 }, 60_000);
        let mut simulation = Simulation::new(scenario);
        run_to(&mut simulation, 40_000);
        simulation.shutdown(100_000);
        run_to(&mut simulation, 400_000);
        runs.push(serde_json::to_string(&simulation.drain_events()).expect("events serialize"));
    }
    runs
}

/// FNV-1a over the runs' JSON, with the number of bytes hashed.
pub fn fingerprint() -> String {
    fingerprint_of(events_json())
}

/// FNV-1a over `runs`, with the number of bytes hashed.
pub fn fingerprint_of(runs: Vec<String>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut length = 0;
    for run in runs {
        for byte in run.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        length += run.len();
    }
    format!("{hash:016x} {length}")
}
