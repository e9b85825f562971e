//! Frame benchmark in a real headless Chromium: how long the page works per
//! animation frame while a thousand simulated clients talk to the server,
//! and how soon after loading it answers.
//!
//! The page reports each frame's work (the events applied since the last
//! frame plus the render) as a `loopscope frame` measure on the browser's
//! performance timeline, and marks `loopscope interactive` once; this
//! benchmark collects them with a `PerformanceObserver`, beside the intervals
//! between animation frames that the browser really ran.
//!
//! Run: `trunk build --release && cargo bench -p loopscope-e2e --bench frames`
//! (the app in `dist/` must be a release build to measure what people get).

use std::time::Duration;

use anyhow::Context;
use loopscope_e2e::{Browser, numbers, percentile, serve_static_app, wait_until};

/// What the page does during the measured window.
struct Scenario {
    name: &'static str,
    link: &'static str,
    /// How long to measure, from the page load.
    window: Duration,
}

const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "1,000 polite clients, asyncio, 1×",
        link: "?model=async_tasks&speed=1&clients=polite*1000",
        window: Duration::from_secs(6),
    },
    Scenario {
        name: "1,000 polite clients, asyncio, 50×",
        link: "?model=async_tasks&speed=50&clients=polite*1000",
        window: Duration::from_secs(3),
    },
    Scenario {
        name: "1,000 polite clients, selector, 1×",
        link: "?model=selector&speed=1&clients=polite*1000",
        window: Duration::from_secs(6),
    },
    Scenario {
        name: "1,000 polite clients, busy poll, 1×",
        link: "?model=busy_poll&speed=1&clients=polite*1000",
        window: Duration::from_secs(6),
    },
];

/// Collects frame measures and animation-frame intervals for `ms`, then
/// hands them back with the interactive mark and what the page shows.
const COLLECT: &str = r##"
const [ms, done] = arguments;
const work = [];
const intervals = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (entry.name === "loopscope frame") work.push(entry.duration);
  }
}).observe({ type: "measure" });
const started = performance.now();
let last = null;
function frame(now) {
  if (last !== null) intervals.push(now - last);
  last = now;
  if (performance.now() - started < ms) {
    requestAnimationFrame(frame);
  } else {
    const interactive = performance.getEntriesByName("loopscope interactive")[0];
    done({
      work,
      intervals,
      interactive: interactive ? interactive.startTime : null,
      finished: document.querySelector("#counter-clients-finished")?.textContent ?? "",
    });
  }
}
requestAnimationFrame(frame);
"##;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (addr, server) = serve_static_app().await?;
    println!(
        "| scenario | frames | work p50 | work p95 | work max | frame interval p95 | interactive after | clients done |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for scenario in SCENARIOS {
        // A fresh browser each time: no warm caches, as a person arrives.
        let browser = Browser::start().await?;
        browser
            .client
            .goto(&format!("http://{addr}/{}", scenario.link))
            .await?;
        let result = browser
            .client
            .execute_async(COLLECT, vec![(scenario.window.as_millis() as u64).into()])
            .await
            .context("collecting the frames")?;
        let mut work = numbers(&result, "work");
        let mut intervals = numbers(&result, "intervals");
        println!(
            "| {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} ms | {} |",
            scenario.name,
            work.len(),
            percentile(&mut work, 0.5),
            percentile(&mut work, 0.95),
            percentile(&mut work, 1.0),
            percentile(&mut intervals, 0.95),
            result["interactive"].as_f64().unwrap_or(f64::NAN),
            result["finished"].as_str().unwrap_or("?"),
        );
        // The page kept up: its lanes are there to be looked at.
        wait_until("the lanes", || async { browser.text("#lanes .lane").await }).await?;
        browser.close().await?;
    }
    server.abort();
    Ok(())
}
