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
