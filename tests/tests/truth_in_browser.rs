//! The page never contradicts the server or the listing it shows, in a real
//! headless Chromium: a crashed server looks crashed in every view and only
//! what still makes sense can be done to it (in the simulation, and live on
//! a real relay); the listing is the variant that runs; the listing follows
//! its lit line unless the learner scrolled it.

use loopscope_e2e::{Browser, Relay, open_simulation, wait_until};

/// The server's life as the loop panel says it.
async fn life(browser: &Browser) -> Option<String> {
    browser.attr("section.loop", "data-life").await
}

async fn disabled(browser: &Browser, css: &str) -> bool {
    browser.prop(css, "disabled").await.as_deref() == Some("true")
}

/// Waits for the server to crash, then checks everything a crashed
/// server's page must say, whichever source.
async fn check_the_crashed_view(browser: &Browser, listing: &str) -> anyhow::Result<()> {
    wait_until("the server crashed", || async {
        (life(browser).await? == "crashed").then_some(())
    })
    .await?;
    // The page re-renders on its next frame: the views follow within it.
    wait_until("the crashed view", || async {
        (browser.text("#loop-phase").await? == "crashed").then_some(())
    })
    .await?;
    let explanation = browser.text("#explanation").await.unwrap_or_default();
    assert!(
        explanation.starts_with("The server crashed")
            && explanation.contains("ConnectionResetError"),
        "{explanation}"
    );
    assert!(
        explanation.contains(listing),
        "the card names the listing: {explanation}"
    );
    assert_eq!(
        browser.count("#loop-cycle .phase.current").await,
        0,
        "no phase of a dead loop is lit"
    );
    assert_eq!(
        browser.text("#loop-phase").await.as_deref(),
        Some("crashed")
    );
    let listener = browser
        .texts("#selector-table tr[data-sock='listener'] td")
        .await;
    assert_eq!(
        listener.get(1).map(String::as_str),
        Some("—"),
        "{listener:?}"
    );
    assert_eq!(
        listener.last().map(String::as_str),
        Some("closed"),
        "{listener:?}"
    );
    let errors = browser.text("#counter-errors").await.unwrap_or_default();
    assert!(
        errors.ends_with("/ 1"),
        "one error nothing caught: {errors}"
    );
    // The lanes: those the crash cut off say so; none still waits or runs.
    let states = browser.texts("#lanes .lane .state").await;
    assert!(
        states
            .iter()
            .any(|state| state.starts_with("failed: the server crashed")),
        "{states:?}"
    );
    assert!(
        states
            .iter()
            .all(|state| state.starts_with("failed") || state == "done" || state == "closed"),
        "{states:?}"
    );
    assert_eq!(browser.text("#code-title").await.as_deref(), Some(listing));
    Ok(())
}

#[tokio::test]
async fn a_crashed_simulated_server_looks_crashed_everywhere_and_offers_only_reset()
-> anyhow::Result<()> {
    let (browser, server) =
        open_simulation("?model=selector&errors=unhandled&speed=1&clients=polite,polite,crasher")
            .await?;
    assert_eq!(
        browser.text("#code-title").await.as_deref(),
        Some("selector_unhandled.py")
    );
    check_the_crashed_view(&browser, "selector_unhandled.py").await?;
    for control in ["#add-polite", "#add-crasher", "#sim-shutdown"] {
        assert!(disabled(&browser, control).await, "{control} is disabled");
    }
    let why = browser
        .attr("#add-polite", "title")
        .await
        .unwrap_or_default();
    assert!(why.contains("crashed"), "and says why: {why}");
    let over = browser.text("#server-over").await.unwrap_or_default();
    assert!(over.contains("crashed") && over.contains("Reset"), "{over}");
    browser.screenshot_if_asked("crashed-selector").await?;

    // Paused first: the same clients would crash the new server again in
    // a moment, so its running state is looked at before it plays.
    browser.click("#sim-play").await?;
    wait_until("paused", || async {
        (browser.text("#sim-play").await? == "Play").then_some(())
    })
    .await?;
    browser.click("#sim-restart").await?;
    wait_until("a new server running", || async {
        (life(&browser).await? == "running").then_some(())
    })
    .await?;
    assert!(!disabled(&browser, "#add-polite").await);
    assert_eq!(browser.count("#server-over").await, 0);

    browser.close().await?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn the_listing_is_the_variant_that_runs_and_a_shut_down_server_disables_its_controls()
-> anyhow::Result<()> {
    let (browser, server) = open_simulation("?model=blocking&speed=1&clients=polite").await?;
    assert_eq!(
        browser.text("#code-title").await.as_deref(),
        Some("blocking.py")
    );
    let handled = browser.texts("#code-listing .line").await.join("\n");
    assert!(handled.contains("except ConnectionError"), "{handled}");
    assert!(
        handled.contains("# stop accepting"),
        "the shutdown is in the listing"
    );

    browser.select("#sim-style", "unhandled").await?;
    wait_until("the unhandled listing", || async {
        (browser.text("#code-title").await? == "blocking_unhandled.py").then_some(())
    })
    .await?;
    let unhandled = browser.texts("#code-listing .line").await.join("\n");
    assert!(!unhandled.contains("except ConnectionError"), "{unhandled}");
    assert_eq!(
        browser.text("#code-variant").await.as_deref(),
        Some("client errors unhandled")
    );

    // A graceful shutdown with no grace: the server stops, and what needs
    // it is disabled, saying why.
    browser.set_value("#sim-grace", "0").await.ok();
    browser.click("#sim-shutdown").await?;
    wait_until("the server stopped", || async {
        (life(&browser).await? == "stopped").then_some(())
    })
    .await?;
    wait_until("the card says so", || async {
        browser
            .text("#explanation")
            .await
            .filter(|text| text.starts_with("The server has shut down"))
    })
    .await?;
    assert!(disabled(&browser, "#add-polite").await);
    assert!(disabled(&browser, "#sim-shutdown").await);
    let why = browser
        .attr("#sim-shutdown", "title")
        .await
        .unwrap_or_default();
    assert!(why.contains("shut down"), "{why}");
    let lit = browser
        .text("#code-listing .line.current")
        .await
        .unwrap_or_default();
    assert!(
        lit.contains("print(\"shut down\""),
        "the lit line is the program's last: {lit}"
    );

    browser.close().await?;
    server.abort();
    Ok(())
}

/// Where the lit line is: its text, whether it lies inside the listing's
/// box, and how far the listing is scrolled.
async fn lit_line(browser: &Browser) -> Option<(String, bool, f64)> {
    let found = browser
        .client
        .execute(
            "const pre = document.getElementById('code-listing');
             const line = pre && pre.querySelector('.line.current');
             if (!line) { return null; }
             const box = pre.getBoundingClientRect(), at = line.getBoundingClientRect();
             return [line.textContent, at.top >= box.top && at.bottom <= box.bottom, pre.scrollTop];",
            vec![],
        )
        .await
        .ok()?;
    let found = found.as_array()?;
    Some((
        found[0].as_str()?.to_owned(),
        found[1].as_bool()?,
        found[2].as_f64()?,
    ))
}

#[tokio::test]
async fn the_listing_scrolls_to_its_lit_line_unless_the_learner_scrolled_it() -> anyhow::Result<()>
{
    // At a quarter of real speed the 2 s grace lasts 8 s, and the run is
    // paused inside it: the stop-accepting line stays lit while the test
    // looks, however slow the machine.
    let (browser, server) = open_simulation("?model=async_tasks&speed=0.25&clients=silent").await?;
    wait_until("the task suspended at its sock_recv, in view", || async {
        let (text, in_view, _) = lit_line(&browser).await?;
        (text.contains("loop.sock_recv") && in_view).then_some(())
    })
    .await?;
    // The shutdown code is far down the listing: the listing follows it.
    browser.click("#sim-shutdown").await?;
    browser.click("#sim-play").await?;
    wait_until("paused", || async {
        (browser.text("#sim-play").await? == "Play").then_some(())
    })
    .await?;
    let scrolled = wait_until("the stop-accepting line lit and in view", || async {
        let (text, in_view, scroll_top) = lit_line(&browser).await?;
        (text.contains("# stop accepting") && in_view).then_some(scroll_top)
    })
    .await?;
    assert!(scrolled > 0.0, "the listing scrolled down to it");
    browser.screenshot_if_asked("listing-follows").await?;

    // The learner scrolls back up to read the top: the listing stays there.
    browser
        .client
        .execute(
            "const pre = document.getElementById('code-listing');
             pre.dispatchEvent(new WheelEvent('wheel', { deltaY: -500, bubbles: true }));
             pre.scrollTop = 0;",
            vec![],
        )
        .await?;
    let (still_lit, ..) = lit_line(&browser).await.expect("a lit line");
    assert!(still_lit.contains("# stop accepting"), "{still_lit}");
    // Played on, the lit line moves down past the learner's view.
    browser.click("#sim-play").await?;
    wait_until("the grace period over, its line lit", || async {
        let (text, ..) = lit_line(&browser).await?;
        (text.contains("# the grace period is over") || text.contains("shut down")).then_some(())
    })
    .await?;
    let (_, in_view, scroll_top) = lit_line(&browser).await.expect("a lit line");
    assert_eq!(scroll_top, 0.0, "the learner's scroll is kept");
    assert!(!in_view);
    browser.click("#follow-line").await?;
    wait_until("the lit line back in view", || async {
        let (_, in_view, _) = lit_line(&browser).await?;
        in_view.then_some(())
    })
    .await?;
    assert_eq!(browser.count("#follow-line").await, 0);

    browser.close().await?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn a_real_selector_server_without_handlers_dies_of_a_crasher_and_the_page_says_so()
-> anyhow::Result<()> {
    let relay = Relay::start().await;
    let browser = Browser::start().await?;
    browser.client.goto(&relay.url()).await?;
    browser.wait_for_status("live").await?;
    wait_until("the lab", || async { browser.text("#echo-addr").await }).await?;

    browser.select("#live-model", "selector").await?;
    wait_until("the selector listing", || async {
        (browser.text("#code-title").await? == "selector.py").then_some(())
    })
    .await?;
    browser.select("#live-style", "unhandled").await?;
    wait_until("the real server restarted without handlers", || async {
        (browser.text("#code-title").await? == "selector_unhandled.py").then_some(())
    })
    .await?;
    assert_eq!(
        browser.prop("#live-style", "value").await.as_deref(),
        Some("unhandled"),
        "the control shows what the server runs"
    );

    // The real selector thread's CPU, as the kernel counts it: it sleeps
    // in epoll_wait while nobody sends.
    let cpu = wait_until("the server's CPU", || async {
        browser
            .text("#counter-cpu")
            .await
            .filter(|text| text.ends_with('%'))
    })
    .await?;
    let cpu: u32 = cpu.trim_end_matches('%').parse()?;
    assert!(cpu <= 10, "an idle selector sleeps: {cpu}%");
    browser.set_value("#spawn-count", "2").await?;
    browser.click("#spawn").await?;
    wait_until("two clients served", || async {
        (browser.count("#lanes .lane").await == 2).then_some(())
    })
    .await?;
    // The real server reports no lines: each happening lights its own.
    let lit = wait_until("a line lit on the real server's listing", || async {
        browser.text("#code-listing .line.current").await
    })
    .await?;
    assert!(
        [
            "selector.select(",
            "server.accept()",
            "client.recv(",
            "client.send(",
            "selector.register(",
            "selector.modify("
        ]
        .iter()
        .any(|call| lit.contains(call)),
        "{lit}"
    );
    browser.select("#spawn-behaviour", "crasher").await?;
    let hint = browser.text("#behaviour-hint").await.unwrap_or_default();
    assert!(
        hint.starts_with("A crasher"),
        "the hint follows the pick: {hint}"
    );
    browser.set_value("#spawn-count", "1").await?;
    browser.click("#spawn").await?;
    check_the_crashed_view(&browser, "selector_unhandled.py").await?;
    let raised = browser
        .text("#code-listing .line.current.raised")
        .await
        .unwrap_or_default();
    assert!(
        raised.contains("client.recv(") || raised.contains("client.send("),
        "the error escaped from the call that met the reset: {raised}"
    );
    // The log says it in Python's words; the details keep the OS's.
    browser.select("#log-kind", "server_crashed").await?;
    let crash = wait_until("the crash in the log", || async {
        browser
            .texts("#event-log li.line")
            .await
            .into_iter()
            .find(|line| line.contains("the server crashed"))
    })
    .await?;
    assert!(
        crash.contains("ConnectionResetError: [Errno 104]"),
        "{crash}"
    );
    assert!(!crash.contains("os error"), "{crash}");
    browser.click("#log-details").await?;
    let detailed = wait_until("the details", || async {
        browser
            .texts("#event-log li.line")
            .await
            .into_iter()
            .find(|line| line.contains("[server_crashed: the error as it came:"))
    })
    .await?;
    assert!(detailed.contains("(os error 104)"), "{detailed}");
    assert!(disabled(&browser, "#spawn").await);
    assert!(disabled(&browser, "#live-shutdown").await);
    browser.screenshot_if_asked("crashed-live").await?;

    browser.click("#live-restart").await?;
    wait_until("a new real server", || async {
        (life(&browser).await? == "running").then_some(())
    })
    .await?;
    assert!(!disabled(&browser, "#spawn").await);

    browser.close().await?;
    relay.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_busy_poll_step_says_what_it_tried_and_the_lessons_words_are_explained()
-> anyhow::Result<()> {
    let (browser, server) = open_simulation("?model=busy_poll&speed=1&clients=silent").await?;
    wait_until("the client polled", || async {
        let states = browser.texts("#lanes .lane .state").await;
        states
            .iter()
            .any(|state| state == "polled, nothing there")
            .then_some(())
    })
    .await?;
    browser.press(" ").await?;
    wait_until("paused", || async {
        (browser.text("#sim-play").await? == "Play").then_some(())
    })
    .await?;
    browser.press("\u{E014}").await?;
    let said = wait_until("the step's tries in the log", || async {
        browser
            .texts("#event-log li.line")
            .await
            .into_iter()
            .find(|line| line.contains("this step:"))
    })
    .await?;
    assert!(said.contains("would block (BlockingIOError)"), "{said}");

    // Each counter says what it counts; the words are in the help.
    let would_block = browser
        .client
        .execute(
            "return document.getElementById('counter-would-block').parentElement.title;",
            vec![],
        )
        .await?;
    assert!(
        would_block
            .as_str()
            .unwrap_or_default()
            .contains("BlockingIOError"),
        "{would_block}"
    );
    let polled = browser
        .attr(".lanes-legend .swatch.polling", "title")
        .await
        .unwrap_or_default();
    assert!(polled.contains("tried this socket"), "{polled}");
    browser.press("?").await?;
    let terms = wait_until("the glossary", || async {
        let terms = browser.texts("#glossary dt").await;
        (!terms.is_empty()).then_some(terms)
    })
    .await?;
    for term in [
        "would block",
        "listen backlog",
        "ready set",
        "suspended",
        "cancelled",
    ] {
        assert!(
            terms.iter().any(|known| known == term),
            "{term} in {terms:?}"
        );
    }
    browser.screenshot_if_asked("glossary").await?;

    browser.close().await?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn a_blocking_servers_wide_latency_spread_is_explained() -> anyhow::Result<()> {
    let (browser, server) = open_simulation("?model=blocking&speed=20&clients=polite*3").await?;
    let note = wait_until("the latency note", || async {
        browser.text("#latency-note").await
    })
    .await?;
    assert!(note.starts_with("p99 is "), "{note}");
    assert!(note.contains("backlog"), "{note}");
    let latency = browser.text("#counter-latency").await.unwrap_or_default();
    assert!(latency.contains(" / "), "{latency}");

    browser.close().await?;
    server.abort();
    Ok(())
}
