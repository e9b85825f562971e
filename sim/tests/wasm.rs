//! The simulator compiled to wasm and run in headless Chromium
//! (wasm-bindgen-test): the same events as natively, and how fast.
//!
//! `scripts/test.sh` runs it; by hand:
//! `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
//!  cargo test -p loopscope-sim --target wasm32-unknown-unknown --test wasm`.
#![cfg(target_arch = "wasm32")]

mod golden;

use loopscope_sim::{ClientBehaviour, Scenario, ServerModel, Simulation};
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn the_golden_scenario_gives_the_same_events_in_the_browser_as_natively() {
    assert_eq!(golden::fingerprint(), golden::EXPECTED.trim());
}

/// Not a timed assertion: it reports the browser's speed for docs/numbers.md's
/// table, next to the native benchmark of the same scenario.
#[wasm_bindgen_test]
fn the_simulator_runs_in_the_browser_and_reports_its_speed() {
    let polite = ClientBehaviour::Polite {
        messages: 100,
        size: 64,
        interval_ms: 10,
    };
    let scenario = Scenario::new(ServerModel::AsyncTasks).clients(1000, polite, 0, 100);
    let started = js_sys::Date::now();
    let mut simulation = Simulation::new(scenario);
    let mut events = 0u64;
    let mut finished = 0;
    let mut horizon = 0;
    while finished < 1000 {
        horizon += 100_000;
        simulation.run_until(horizon);
        for event in simulation.drain_events() {
            events += 1;
            if matches!(
                event.kind,
                protocol::EventKind::ClientFinished { error: None, .. }
            ) {
                finished += 1;
            }
        }
    }
    let seconds = (js_sys::Date::now() - started) / 1000.0;
    console_log!(
        "wasm: AsyncTasks 1000 clients x 100 messages: {events} events in {seconds:.3} s = {:.2} M events/s",
        events as f64 / seconds / 1e6
    );
    assert_eq!(finished, 1000);
}
