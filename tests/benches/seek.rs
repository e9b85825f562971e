//! Seek benchmark in a real headless Chromium: a recorded run of a million
//! events, saved as a file, opened in a page with no relay, then the
//! scrubber dragged to 200 moments (150 anywhere, 50 a short drag apart).
//!
//! Each seek's work (the seek plus the render that shows it) is the page's
//! `loopscope frame` measure (see `frontend/src/frame_clock.rs`); "to
//! painted" runs from the scrubber's input event to the second animation
//! frame after it, so it includes waiting for the display. Memory is the
//! page's JavaScript heap plus its WebAssembly memory (the recording, the
//! snapshots, the world), after the seeks.
//!
//! Run: `trunk build --release && cargo bench -p loopscope-e2e --bench seek`
//! (the app in `dist/` must be a release build to measure what people get).

use std::time::Instant;

use anyhow::Context;
use loopscope_e2e::{Browser, numbers, percentile, serve_static_app, wait_until};
use loopscope_runfile::{Header, RunSource, Writer};
use loopscope_sim::{Scenario, Simulation};
use protocol::{ClientBehaviour, Event, ServerModel};
use serde_json::Value;

/// Events in the run.
const EVENTS: usize = 1_000_000;

/// A million events of an asyncio server with polite clients arriving 2 ms
/// apart (about a thousand connected at a time), as the page would record.
fn recorded_run() -> Vec<u8> {
    let scenario = Scenario::new(ServerModel::AsyncTasks).seed(7).clients(
        40_000,
        ClientBehaviour::default(),
        0,
        2_000,
    );
    let mut simulation = Simulation::new(scenario);
    let mut events: Vec<Event> = Vec::with_capacity(EVENTS);
    let mut until = 0;
    while events.len() < EVENTS {
        until += 100_000;
        simulation.run_until(until);
        events.extend(simulation.drain_events());
    }
    events.truncate(EVENTS);
    let mut writer = Writer::new(&Header::new(
        RunSource::Simulation,
        Some("?model=async_tasks".into()),
        None,
    ));
    writer.events(&events);
    writer.finish()
}

/// Drags the scrubber to each position in turn; gives each seek's frame
/// work and time to painted, and the page's memory after.
const SEEK: &str = r##"
const [positions, done] = arguments;
const scrub = document.querySelector('#scrub');
const work = [];
const painted = [];
let frames = [];
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (entry.name === "loopscope frame") frames.push(entry.duration);
  }
});
observer.observe({ type: "measure" });
let index = 0;
function seek() {
  if (index === positions.length) {
    observer.disconnect();
    done({
      work, painted,
      heap: performance.memory ? performance.memory.usedJSHeapSize : null,
      wasm: window.wasmBindings.wasm_memory_bytes(),
      shown: document.querySelector('#scrub-position').textContent,
    });
    return;
  }
  frames = [];
  const started = performance.now();
  scrub.value = positions[index++];
  scrub.dispatchEvent(new Event('input', { bubbles: true }));
  requestAnimationFrame(() => requestAnimationFrame(() => {
    painted.push(performance.now() - started);
    setTimeout(() => {
      work.push(frames.length ? Math.max(...frames) : 0);
      seek();
    }, 0);
  }));
}
seek();
"##;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let generated = Instant::now();
    let file = recorded_run();
    println!(
        "run of {EVENTS} events generated in {:.1} s; saved file {:.1} MB",
        generated.elapsed().as_secs_f64(),
        file.len() as f64 / 1e6
    );
    let folder = tempfile::tempdir()?;
    let path = folder.path().join("million.loopscope.gz");
    std::fs::write(&path, &file)?;

    let (addr, server) = serve_static_app().await?;
    let browser = Browser::start().await?;
    browser.client.goto(&format!("http://{addr}/")).await?;
    browser.wait_for_status("no-relay").await?;
    let opening = Instant::now();
    browser.pick_file("#open-run", &path).await?;
    wait_until("the run opened", || async {
        browser.text("#saved-run-summary").await
    })
    .await?;
    let opened = opening.elapsed();

    // 150 moments anywhere, then a drag of 50 short moves.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut positions: Vec<u64> = (0..150)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % EVENTS as u64
        })
        .collect();
    positions.extend((0..50).map(|step| 400_000 + step * 1_500));
    let positions: Vec<Value> = positions.into_iter().map(Value::from).collect();
    let result = browser
        .client
        .execute_async(SEEK, vec![Value::Array(positions)])
        .await
        .context("seeking")?;
    let (mut work, mut painted) = (numbers(&result, "work"), numbers(&result, "painted"));
    let mb = |key: &str| result[key].as_f64().unwrap_or(f64::NAN) / 1e6;
    println!(
        "| seeks | work p50 | work p95 | work max | to painted p95 | open | JS heap | wasm memory | file |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} s | {:.0} MB | {:.0} MB | {:.1} MB |",
        work.len(),
        percentile(&mut work, 0.5),
        percentile(&mut work, 0.95),
        percentile(&mut work, 1.0),
        percentile(&mut painted, 0.95),
        opened.as_secs_f64(),
        mb("heap"),
        mb("wasm"),
        file.len() as f64 / 1e6,
    );
    println!("last shown: {}", result["shown"].as_str().unwrap_or("?"));
    browser.close().await?;
    server.abort();
    Ok(())
}
