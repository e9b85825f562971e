//! The golden scenario natively: its events must match the committed
//! fingerprint, which the wasm test checks too. After an intended change to
//! the simulator, run with `LOOPSCOPE_BLESS=1` to record the new one.

mod golden;

#[test]
fn the_golden_scenario_matches_its_committed_fingerprint() {
    let fingerprint = golden::fingerprint();
    if std::env::var_os("LOOPSCOPE_BLESS").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/fingerprint.txt");
        std::fs::write(path, &fingerprint).unwrap();
        return; // the comparison runs against the new file next time
    }
    assert_eq!(fingerprint, golden::EXPECTED.trim());
}

/// A page short of time runs the simulation a slice of wakes per frame:
/// however it is sliced, the run is the same.
#[test]
fn running_in_slices_of_wakes_gives_the_same_run() {
    for wakes in [1, 7, 100] {
        let sliced = golden::events_json_run_by(|simulation, time| {
            let mut slices = 0;
            while !simulation.run_toward(time, wakes) {
                slices += 1;
                assert!(
                    simulation.now() <= time,
                    "the clock never runs ahead of the target"
                );
            }
            if wakes < 100 {
                assert!(slices > 0, "slices of {wakes} wakes never fell short");
            }
            assert_eq!(
                simulation.now(),
                time,
                "a slice that got there sets the clock"
            );
        });
        assert_eq!(
            golden::fingerprint_of(sliced),
            golden::fingerprint(),
            "slices of {wakes}"
        );
    }
}
