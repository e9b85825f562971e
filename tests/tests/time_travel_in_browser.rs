//! Time travel in a real headless Chromium: a live run saved to a file and
//! opened again with no relay, the scrubber, Step back and Step, and files
//! the page must refuse without losing what it shows.

use loopscope_e2e::{Browser, Relay, open_simulation, serve_static_app, wait_until};
use loopscope_runfile::{Header, RunSource, Writer};
use protocol::{Event, EventKind, ServerModel};

/// Fewer events than three polite clients' conversations make in a live
/// asyncio lab, and more than its CPU samples make in a test's patience.
const THREE_CLIENTS_EVENTS: u64 = 150;

/// The number a counter shows.
async fn counter(browser: &Browser, name: &str) -> Option<u64> {
    browser
        .text(&format!("#counter-{name}"))
        .await?
        .replace(',', "")
        .parse()
        .ok()
}

#[tokio::test]
async fn a_live_run_saved_opens_with_no_relay_and_scrubs_back_to_its_start() -> anyhow::Result<()> {
    let relay = Relay::start().await;
    let browser = Browser::start().await?;
    browser.client.goto(&relay.url()).await?;
    browser.wait_for_status("live").await?;
    // The real selector loop reports each iteration, for Step back.
    browser.select("#live-model", "selector").await?;
    wait_until("the selector program beside the lab", || async {
        (browser.text("#code-title").await? == "selector.py").then_some(())
    })
    .await?;
    browser.set_value("#spawn-count", "5").await?;
    browser.click("#spawn").await?;
    wait_until("five clients served", || async {
        (browser.text("#counter-clients-finished").await? == "5 / 5").then_some(())
    })
    .await?;
    browser.click("#save-run").await?;
    let saved = browser.downloaded(".loopscope.gz").await?;
    assert!(
        saved
            .file_name()
            .is_some_and(|name| name.to_string_lossy() == "loopscope-selector.loopscope.gz"),
        "{saved:?}"
    );
    relay.stop().await;

    // The page again, from a plain static server: no relay anywhere.
    let (addr, server) = serve_static_app().await?;
    browser.client.goto(&format!("http://{addr}/")).await?;
    browser.wait_for_status("no-relay").await?;
    browser.pick_file("#open-run", &saved).await?;
    wait_until("the saved run shown", || async {
        browser
            .text("#saved-run-summary")
            .await
            .filter(|text| text.contains("a live lab (#1 on 127.0.0.1:"))
    })
    .await?;
    assert_eq!(
        browser
            .attr("#source-saved", "aria-pressed")
            .await
            .as_deref(),
        Some("true")
    );
    assert_eq!(browser.count("#lanes .lane").await, 5, "five connections");
    assert!(
        browser
            .text("#simulation-note")
            .await
            .is_some_and(|note| note.contains("replays the saved run")),
        "the page says what it shows"
    );
    assert_eq!(
        browser.text("#counter-clients-finished").await.as_deref(),
        Some("5 / 5")
    );
    assert_eq!(
        browser.text("#code-title").await.as_deref(),
        Some("selector.py")
    );
    let iterations = counter(&browser, "iterations").await.unwrap_or(0);
    assert!(iterations > 5, "{iterations} iterations");

    // Half way through, for a look (and the README's picture).
    let half = browser.attr("#scrub", "max").await.unwrap_or_default();
    let half = (half.parse::<u64>().unwrap_or(0) * 55 / 100).to_string();
    browser.scrub_to(&half).await?;
    wait_until("half way", || async {
        browser
            .text("#scrub-position")
            .await
            .filter(|text| text.contains("looking back"))
    })
    .await?;
    browser
        .client
        .execute("window.scrollTo(0, 0);", vec![])
        .await?;
    browser.screenshot_if_asked("saved-run").await?;

    browser.scrub_to("min").await?;
    wait_until("no connection at the start", || async {
        (browser.count("#lanes .lane").await == 0).then_some(())
    })
    .await?;
    assert_eq!(counter(&browser, "iterations").await, Some(0));
    assert!(
        browser
            .text("#scrub-position")
            .await
            .is_some_and(|text| text.contains("looking back")),
    );
    browser.screenshot_if_asked("saved-run-at-start").await?;

    // End shows the end again; Step back goes one iteration back.
    browser.press("\u{E010}").await?;
    wait_until("the end again", || async {
        (browser.count("#lanes .lane").await == 5).then_some(())
    })
    .await?;
    assert_eq!(counter(&browser, "iterations").await, Some(iterations));
    browser.click("#step-back").await?;
    wait_until("one iteration back", || async {
        (counter(&browser, "iterations").await? == iterations - 1).then_some(())
    })
    .await?;
    browser.click("#step-back").await?;
    wait_until("two iterations back", || async {
        (counter(&browser, "iterations").await? == iterations - 2).then_some(())
    })
    .await?;
    // → is Step: one iteration on.
    browser.press("\u{E014}").await?;
    wait_until("one iteration on", || async {
        (counter(&browser, "iterations").await? == iterations - 1).then_some(())
    })
    .await?;
    browser.screenshot_if_asked("saved-run-step-back").await?;

    // Play replays it from the start at its own pace, to its end.
    browser.scrub_to("min").await?;
    browser.click("#replay-play").await?;
    // (Its "Pause" lasts only as long as the run it replays: what lasts is
    // what it replayed.)
    wait_until("the first connections replayed", || async {
        (browser.count("#lanes .lane").await > 0).then_some(())
    })
    .await?;
    wait_until("the replay at its end", || async {
        (browser.text("#replay-play").await? == "Play"
            && browser.attr("#scrub-now", "disabled").await.as_deref() == Some("true"))
        .then_some(())
    })
    .await?;
    assert_eq!(browser.count("#lanes .lane").await, 5);
    assert_eq!(counter(&browser, "iterations").await, Some(iterations));

    // Back to the simulation: the saved run is let go, its tab with it.
    browser.click("#close-saved-run").await?;
    wait_until("the simulation again", || async {
        (browser.count("#source-saved").await == 0
            && browser.attr("#source-sim", "aria-pressed").await.as_deref() == Some("true"))
        .then_some(())
    })
    .await?;

    browser.close().await?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn the_simulation_steps_back_and_on_and_holds_still_while_looking_back() -> anyhow::Result<()>
{
    let (browser, server) = open_simulation("?model=selector&speed=5&clients=polite*3").await?;
    wait_until("three clients served", || async {
        (browser.text("#counter-clients-finished").await? == "3 / 3").then_some(())
    })
    .await?;
    // Paused (Space), so that the numbers hold still to be read.
    browser.press(" ").await?;
    wait_until("the simulation paused", || async {
        (browser.text("#sim-play").await? == "Play").then_some(())
    })
    .await?;
    let lines = |text: String| -> Option<u64> { text.split(' ').nth(2)?.parse().ok() };
    let end_iterations = counter(&browser, "iterations").await.unwrap_or(0);
    let end_lines = lines(browser.text("#log-count").await.unwrap_or_default());
    // ← is Step back.
    browser.press("\u{E012}").await?;
    wait_until("one iteration back", || async {
        (counter(&browser, "iterations").await? + 1 == end_iterations).then_some(())
    })
    .await?;
    let back_lines = lines(browser.text("#log-count").await.unwrap_or_default());
    assert!(
        back_lines < end_lines,
        "{back_lines:?} lines, {end_lines:?} at the end"
    );
    assert_eq!(
        browser.text("#sim-play").await.as_deref(),
        Some("Play"),
        "the simulation holds still"
    );
    // Playing again starts from now: the page shows now first.
    browser.press(" ").await?;
    wait_until("now again, playing", || async {
        (browser.attr("#scrub-now", "disabled").await.as_deref() == Some("true")
            && browser.text("#sim-play").await? == "Pause")
            .then_some(())
    })
    .await?;
    // Space again pauses (as the button does).
    browser.press(" ").await?;
    wait_until("paused again", || async {
        (browser.text("#sim-play").await? == "Play").then_some(())
    })
    .await?;
    let end_iterations = counter(&browser, "iterations").await.unwrap_or(0);
    browser.press("\u{E012}").await?;
    wait_until("one iteration back again", || async {
        (counter(&browser, "iterations").await? + 1 == end_iterations).then_some(())
    })
    .await?;
    // → goes on through the recording, up to now.
    browser.press("\u{E014}").await?;
    wait_until("now again", || async {
        (browser.attr("#scrub-now", "disabled").await.as_deref() == Some("true")).then_some(())
    })
    .await?;
    assert_eq!(counter(&browser, "iterations").await, Some(end_iterations));
    browser.close().await?;
    server.abort();
    Ok(())
}

/// A small run file written by the same code the page uses.
fn small_run(version: u32) -> Vec<u8> {
    let mut header = Header::new(RunSource::Simulation, Some("?model=selector".into()), None);
    header.version = version;
    let mut writer = Writer::new(&header);
    let events: Vec<Event> = [
        EventKind::Listening {
            addr: "127.0.0.1:9".into(),
            model: ServerModel::Selector,
            errors: Default::default(),
        },
        EventKind::LoopIteration { iteration: 1 },
        EventKind::LoopIteration { iteration: 2 },
    ]
    .into_iter()
    .enumerate()
    .map(|(at, kind)| Event {
        at: at as u64 * 1000,
        kind,
    })
    .collect();
    writer.events(&events);
    writer.finish()
}

#[tokio::test]
async fn a_foreign_damaged_or_newer_file_is_refused_and_the_page_keeps_its_run()
-> anyhow::Result<()> {
    let (browser, server) = open_simulation("?model=async_tasks&speed=5&clients=polite*2").await?;
    let folder = tempfile::tempdir()?;
    let file = |name: &str, bytes: &[u8]| -> anyhow::Result<std::path::PathBuf> {
        let path = folder.path().join(name);
        std::fs::write(&path, bytes)?;
        Ok(path)
    };
    let good = small_run(loopscope_runfile::VERSION);
    let cases = [
        (
            file("photo.gz", b"\x89PNG\r\n\x1a\n not a run")?,
            "is not a saved Loopscope run",
        ),
        (
            file("cut.loopscope.gz", &good[..good.len() - 12])?,
            "cut short",
        ),
        (
            file("newer.loopscope.gz", &small_run(99))?,
            "newer Loopscope (run format 99)",
        ),
        // Refused by its size, before a byte of it is read.
        (
            file("huge.loopscope.gz", &vec![0; 65 << 20])?,
            "the file is 65 MiB; a saved run is at most 64 MiB",
        ),
    ];
    for (path, words) in &cases {
        browser.pick_file("#open-run", path).await?;
        let problem = wait_until("the refusal", || async {
            browser
                .text("#run-problem")
                .await
                .filter(|text| text.contains(words))
        })
        .await?;
        assert!(
            problem.starts_with(&*path.file_name().unwrap().to_string_lossy()),
            "{problem}"
        );
    }
    browser.screenshot_if_asked("run-refused").await?;
    // Nothing was lost: the simulation runs on, its clients are served.
    assert_eq!(browser.count("#source-saved").await, 0);
    wait_until("the simulation's clients served", || async {
        (browser.text("#counter-clients-finished").await? == "2 / 2").then_some(())
    })
    .await?;

    // Dropped on the page, a good file opens.
    let base64 = base64_of(&good);
    browser
        .client
        .execute(
            "const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));
             const transfer = new DataTransfer();
             transfer.items.add(new File([bytes], 'dropped.loopscope.gz'));
             document.querySelector('.app').dispatchEvent(
               new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));",
            vec![base64.into()],
        )
        .await?;
    wait_until("the dropped run", || async {
        browser
            .text("#saved-run .file-name")
            .await
            .filter(|name| name == "dropped.loopscope.gz")
    })
    .await?;
    assert_eq!(counter(&browser, "iterations").await, Some(2));
    assert_eq!(
        browser.count("#run-problem").await,
        0,
        "the old refusal is gone"
    );
    browser.close().await?;
    server.abort();
    Ok(())
}

/// Standard base64, for handing bytes to the page's script.
fn base64_of(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let word = chunk.iter().enumerate().fold(0_u32, |word, (index, byte)| {
            word | u32::from(*byte) << (16 - 8 * index)
        });
        for index in 0..4 {
            if index <= chunk.len() {
                out.push(ALPHABET[(word >> (18 - 6 * index) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test]
async fn the_timeline_stays_in_view_at_projector_and_large_sizes() -> anyhow::Result<()> {
    let (browser, server) = open_simulation("?model=selector&speed=5&clients=polite*3").await?;
    for (width, height) in [(1280, 720), (1920, 1080)] {
        browser.client.set_window_size(width, height).await?;
        for scroll in [
            "0",
            "document.body.scrollHeight / 2",
            "document.body.scrollHeight",
        ] {
            let inside = browser
                .client
                .execute(
                    &format!(
                        "window.scrollTo(0, {scroll});
                         const bar = document.querySelector('.timeline').getBoundingClientRect();
                         const scrub = document.querySelector('#scrub').getBoundingClientRect();
                         return bar.top >= 0 && bar.bottom <= window.innerHeight
                             && scrub.width > 200;"
                    ),
                    vec![],
                )
                .await?;
            assert_eq!(
                inside,
                serde_json::Value::Bool(true),
                "{width}×{height}, scrolled to {scroll}"
            );
        }
        browser
            .client
            .execute("window.scrollTo(0, 0);", vec![])
            .await?;
        browser.press("\u{E012}").await?;
        wait_until("looking back", || async {
            browser
                .text("#scrub-position")
                .await
                .filter(|text| text.contains("looking back"))
        })
        .await?;
        browser
            .screenshot_if_asked(&format!("timeline-{width}x{height}"))
            .await?;
        browser.press("\u{E010}").await?;
    }
    browser.close().await?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn side_by_side_both_runs_go_back_to_the_same_moment() -> anyhow::Result<()> {
    let (browser, server) =
        open_simulation("?model=blocking&speed=5&clients=polite*3&compare=async_tasks").await?;
    wait_until("both runs with three lanes", || async {
        (browser.count("#lanes .lane").await == 3 && browser.count("#lanes-b .lane").await == 3)
            .then_some(())
    })
    .await?;
    browser.scrub_to("min").await?;
    wait_until("both back at the start", || async {
        (browser.count("#lanes .lane").await == 0 && browser.count("#lanes-b .lane").await == 0)
            .then_some(())
    })
    .await?;
    browser.press("\u{E010}").await?;
    wait_until("both at now again", || async {
        (browser.count("#lanes .lane").await == 3 && browser.count("#lanes-b .lane").await == 3)
            .then_some(())
    })
    .await?;
    browser.close().await?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn a_live_lab_goes_on_recording_while_the_page_looks_back() -> anyhow::Result<()> {
    let relay = Relay::start().await;
    let browser = Browser::start().await?;
    browser.client.goto(&relay.url()).await?;
    browser.wait_for_status("live").await?;
    browser.set_value("#spawn-count", "2").await?;
    browser.click("#spawn").await?;
    wait_until("two clients served", || async {
        (browser.text("#counter-clients-finished").await? == "2 / 2").then_some(())
    })
    .await?;
    browser.scrub_to("min").await?;
    wait_until("back at the start", || async {
        (browser.count("#lanes .lane").await == 0).then_some(())
    })
    .await?;
    let recorded = || async {
        browser
            .prop("#scrub", "max")
            .await
            .and_then(|max| max.parse::<u64>().ok())
    };
    let before = recorded().await.unwrap_or(0);
    // The lab panel acts on now: three more clients, while the page
    // shows the start.
    browser.set_value("#spawn-count", "3").await?;
    browser.click("#spawn").await?;
    // More than the lab's own CPU samples (two a second) could add while
    // the test waits: three polite clients' conversations.
    wait_until("their events recorded", || async {
        (recorded().await? > before + THREE_CLIENTS_EVENTS).then_some(())
    })
    .await?;
    assert_eq!(
        browser.count("#lanes .lane").await,
        0,
        "the page still shows the moment chosen"
    );
    assert_eq!(browser.prop("#scrub", "value").await.as_deref(), Some("0"));
    browser.press("\u{E010}").await?;
    wait_until("now, with all five", || async {
        (browser.count("#lanes .lane").await == 5).then_some(())
    })
    .await?;
    browser.close().await?;
    relay.stop().await;
    Ok(())
}
