//! Frame benchmark in a real headless Chromium: how long the page works per
//! animation frame while a thousand clients talk to the server (simulated in
//! the page, or real ones on a live lab of a relay in this process), and how
//! soon after loading it answers.
//!
//! The page reports each frame's work (the events applied since the last
//! frame plus the render) as a `loopscope frame` measure on the browser's
//! performance timeline, and marks `loopscope interactive` once; this
//! benchmark collects them with a `PerformanceObserver`, beside the intervals
//! between animation frames that the browser really ran.
//!
//! Run: `trunk build --release && cargo bench -p loopscope-e2e --bench frames`
//! (the app in `dist/` must be a release build to measure what people get);
//! `LOOPSCOPE_FRAMES_ONLY=live` runs only the scenarios whose name has it.

use std::time::Duration;

use anyhow::Context;
use loopscope_e2e::{Browser, Relay, numbers, percentile, serve_static_app, wait_until};

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

/// A live lab's model, whose thousand polite clients the page spawns at
/// once on the relay.
struct LiveScenario {
    name: &'static str,
    model: &'static str,
    /// The program the page shows once the lab runs the model.
    listing: &'static str,
}

const LIVE_SCENARIOS: [LiveScenario; 4] = [
    LiveScenario {
        name: "1,000 polite clients, live asyncio",
        model: "async_tasks",
        listing: "async_tasks.py",
    },
    LiveScenario {
        name: "1,000 polite clients, live selector",
        model: "selector",
        listing: "selector.py",
    },
    LiveScenario {
        name: "1,000 polite clients, live busy poll",
        model: "busy_poll",
        listing: "busy_poll.py",
    },
    LiveScenario {
        name: "1,000 polite clients, live blocking",
        model: "blocking",
        listing: "blocking.py",
    },
];

/// How long a live scenario is measured, from the click on Spawn.
const LIVE_WINDOW: Duration = Duration::from_secs(8);

/// Collects frame measures and animation-frame intervals for `ms`, then
/// hands them back with the interactive mark and what the page shows.
const COLLECT: &str = r##"
const [ms, click, done] = arguments;
const work = [];
const render = [];
const intervals = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (entry.name === "loopscope frame") {
      work.push(entry.duration);
      render.push(entry.detail?.render ?? 0);
    }
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
      render,
      intervals,
      interactive: interactive ? interactive.startTime : null,
      finished: document.querySelector("#counter-clients-finished")?.textContent ?? "",
      dropped: document.querySelector("#counter-dropped")?.textContent ?? "",
    });
  }
}
requestAnimationFrame(frame);
if (click) document.querySelector(click).click();
"##;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    println!(
        "| scenario | frames | work p50 | work p95 | work max | render p95 | frame interval p95 | interactive after | clients done | events dropped |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    // `LOOPSCOPE_FRAMES_ONLY=live` (any part of a name) runs only those.
    let only = std::env::var("LOOPSCOPE_FRAMES_ONLY").unwrap_or_default();
    let (addr, server) = serve_static_app().await?;
    for scenario in SCENARIOS.into_iter().filter(|s| s.name.contains(&only)) {
        // A fresh browser each time: no warm caches, as a person arrives.
        let browser = Browser::start().await?;
        browser
            .client
            .goto(&format!("http://{addr}/{}", scenario.link))
            .await?;
        let result = collect(&browser, scenario.window, None).await?;
        print_row(scenario.name, &result);
        // The page kept up: its lanes are there to be looked at.
        wait_until("the lanes", || async { browser.text("#lanes .lane").await }).await?;
        browser.close().await?;
    }
    server.abort();
    // The relay binary compresses the app at start, before anyone asks;
    // this process's relays share those copies.
    loopscope_relay::http::assets::warm().await;
    for scenario in LIVE_SCENARIOS
        .into_iter()
        .filter(|s| s.name.contains(&only))
    {
        // A relay of its own each time, so one model's clients are gone
        // before the next model's arrive.
        let relay = Relay::start().await;
        let browser = Browser::start().await?;
        browser.client.goto(&relay.url()).await?;
        browser.wait_for_status("live").await?;
        browser.select("#live-model", scenario.model).await?;
        wait_until("the lab running the model", || async {
            (browser.text("#code-title").await? == scenario.listing).then_some(())
        })
        .await?;
        browser.select("#spawn-behaviour", "polite").await?;
        browser.set_value("#spawn-count", "1000").await?;
        let result = collect(&browser, LIVE_WINDOW, Some("#spawn")).await?;
        print_row(scenario.name, &result);
        wait_until("the lanes", || async { browser.text("#lanes .lane").await }).await?;
        browser.close().await?;
        relay.stop().await;
    }
    Ok(())
}

/// Runs [`COLLECT`] for `window`, clicking `click` (if any) once the
/// observers are in place.
async fn collect(
    browser: &Browser,
    window: Duration,
    click: Option<&str>,
) -> anyhow::Result<serde_json::Value> {
    browser
        .client
        .execute_async(
            COLLECT,
            vec![(window.as_millis() as u64).into(), click.into()],
        )
        .await
        .context("collecting the frames")
}

/// One row of the results table.
fn print_row(name: &str, result: &serde_json::Value) {
    let mut work = numbers(result, "work");
    let mut render = numbers(result, "render");
    let mut intervals = numbers(result, "intervals");
    println!(
        "| {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} ms | {} | {} |",
        name,
        work.len(),
        percentile(&mut work, 0.5),
        percentile(&mut work, 0.95),
        percentile(&mut work, 1.0),
        percentile(&mut render, 0.95),
        percentile(&mut intervals, 0.95),
        result["interactive"].as_f64().unwrap_or(f64::NAN),
        result["finished"].as_str().unwrap_or("?"),
        result["dropped"].as_str().unwrap_or("?"),
    );
}
