//! The app in a real headless Chromium, served by a real relay.

use std::cell::RefCell;

use loopscope_e2e::{Browser, Relay, open_simulation, serve_static_app, wait_until};

/// Bytes one default (polite) client gets echoed: 5 messages of 32 bytes.
const DEFAULT_CLIENT_BYTES: u64 = 5 * 32;

async fn bytes_echoed(browser: &Browser) -> Option<u64> {
    browser
        .text("#counter-bytes-echoed")
        .await?
        .trim()
        .parse()
        .ok()
}

#[tokio::test]
async fn five_spawned_clients_get_five_lanes_their_tasks_suspend_and_the_echoed_bytes_grow()
-> anyhow::Result<()> {
    let relay = Relay::start().await;
    let browser = Browser::start().await?;
    browser.client.goto(&relay.url()).await?;
    browser.wait_for_status("live").await?;

    let echo_addr = wait_until("the echo address", || async {
        browser
            .text("#echo-addr")
            .await
            .filter(|text| text.starts_with("127.0.0.1:"))
    })
    .await?;
    assert_ne!(
        echo_addr,
        relay.addr.to_string(),
        "the lab has its own port"
    );
    assert_eq!(browser.count("#lanes .lane").await, 0);
    assert_eq!(bytes_echoed(&browser).await, Some(0));

    browser.set_value("#spawn-count", "5").await?;
    browser.click("#spawn").await?;
    wait_until("five lanes", || async {
        (browser.count("#lanes .lane").await == 5).then_some(())
    })
    .await?;
    browser.screenshot_if_asked("live-lab").await?;

    // Watch the counter climb to the clients' total, never going back.
    let seen = RefCell::new(Vec::new());
    wait_until("all of the clients' bytes echoed", || async {
        let now = bytes_echoed(&browser).await?;
        let mut seen = seen.borrow_mut();
        if seen.last() != Some(&now) {
            seen.push(now);
        }
        (now == 5 * DEFAULT_CLIENT_BYTES).then_some(())
    })
    .await?;
    let seen = seen.into_inner();
    assert!(
        seen.windows(2).all(|pair| pair[0] < pair[1]),
        "the counter only grows: {seen:?}"
    );
    wait_until("every task done", || async {
        let states = browser.texts("#lanes .lane .state").await;
        (states == ["done"; 5]).then_some(())
    })
    .await?;
    // Between two messages (400 ms apart) a task has nothing to read: it
    // suspended on recv, which is the lesson's point. The log keeps it.
    browser.select("#log-kind", "task_waiting").await?;
    wait_until("a task's suspension on recv in the log", || async {
        browser
            .texts("#event-log li.line")
            .await
            .iter()
            .any(|line| line.contains("sock_recv"))
            .then_some(())
    })
    .await?;
    browser.select("#log-kind", "").await?;

    browser.set_value("#spawn-count", "1").await?;
    browser.click("#spawn").await?;
    wait_until("a sixth client's bytes", || async {
        (bytes_echoed(&browser).await? == 6 * DEFAULT_CLIENT_BYTES).then_some(())
    })
    .await?;
    assert_eq!(browser.count("#lanes .lane").await, 6);
    wait_until("six clients done", || async {
        (browser.text("#counter-clients-finished").await? == "6 / 6").then_some(())
    })
    .await?;

    browser.close().await?;
    relay.stop().await;
    Ok(())
}

#[tokio::test]
async fn without_a_relay_the_page_says_so_and_offers_the_simulation() -> anyhow::Result<()> {
    // A plain static file server, as `trunk serve` or any web host would be.
    let (addr, server) = serve_static_app().await?;

    let browser = Browser::start().await?;
    browser.client.goto(&format!("http://{addr}/")).await?;
    browser.wait_for_status("no-relay").await?;
    let notice = browser.text("#no-relay").await.unwrap_or_default();
    assert!(notice.contains("No relay answered"), "{notice}");
    assert!(
        notice.contains(&format!("ws://{addr}/ws")),
        "it names the address it tried: {notice}"
    );
    let note = browser.text("#simulation-note").await.unwrap_or_default();
    assert!(note.contains("runs the simulation"), "{note}");
    assert_eq!(
        browser.attr("#source-sim", "aria-pressed").await.as_deref(),
        Some("true"),
        "the simulation is the source when no relay answers"
    );

    // The simulated clients show up in the same table as live ones, served
    // by tasks; the listing lights the line the server is on.
    wait_until("three simulated connections", || async {
        (browser.count("#lanes .lane").await == 3).then_some(())
    })
    .await?;
    wait_until("a lit line of async_tasks.py", || async {
        browser
            .text("#code-listing .line.current")
            .await
            .filter(|line| !line.trim().is_empty())
    })
    .await?;
    browser.screenshot_if_asked("simulation").await?;

    // Step: one iteration of the server's loop at a time.
    browser.click("#sim-step").await?;
    assert_eq!(
        browser.text("#sim-play").await.as_deref(),
        Some("Play"),
        "stepping pauses"
    );
    let before: u64 = wait_until("the iteration counter", || async {
        browser.text("#counter-iterations").await?.parse().ok()
    })
    .await?;
    browser.click("#sim-step").await?;
    wait_until("exactly one more iteration", || async {
        let now: u64 = browser.text("#counter-iterations").await?.parse().ok()?;
        (now == before + 1).then_some(())
    })
    .await?;

    // Another model restarts the simulation: the blocking server, whose
    // one thread parks in a blocking call while the others wait.
    browser.select("#sim-model", "blocking").await?;
    browser.click("#sim-play").await?;
    wait_until("the thread blocked in a call", || async {
        let states = browser.texts("#lanes .lane .state").await;
        states
            .iter()
            .any(|state| state.starts_with("thread blocked"))
            .then_some(())
    })
    .await?;
    browser.screenshot_if_asked("simulation-blocking").await?;

    browser.close().await?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn the_page_reconnects_when_the_relay_restarts() -> anyhow::Result<()> {
    let relay = Relay::start().await;
    let addr = relay.addr;
    let browser = Browser::start().await?;
    browser.client.goto(&relay.url()).await?;
    browser.wait_for_status("live").await?;
    let first_echo = browser.text("#echo-addr").await;

    relay.stop().await;
    browser.wait_for_status("lost").await?;

    let relay = Relay::start_on(addr).await;
    browser.wait_for_status("live").await?;
    let second_echo = wait_until("the new lab's echo address", || async {
        browser
            .text("#echo-addr")
            .await
            .filter(|text| Some(text) != first_echo.as_ref())
    })
    .await?;
    assert!(second_echo.starts_with("127.0.0.1:"));

    browser.close().await?;
    relay.stop().await;
    Ok(())
}

#[tokio::test]
async fn the_live_lab_switches_to_a_real_blocking_server_and_the_second_client_waits()
-> anyhow::Result<()> {
    let relay = Relay::start().await;
    let browser = Browser::start().await?;
    browser.client.goto(&relay.url()).await?;
    browser.wait_for_status("live").await?;
    assert_eq!(
        browser.attr("#live-pause", "disabled").await.as_deref(),
        Some("true"),
        "the tokio model cannot be paused live"
    );

    browser.select("#live-model", "blocking").await?;
    wait_until("the blocking program beside the lab", || async {
        (browser.text("#code-title").await? == "blocking.py").then_some(())
    })
    .await?;
    browser.set_value("#spawn-count", "2").await?;
    browser.click("#spawn").await?;
    wait_until("the thread parked in a blocking call", || async {
        let states = browser.texts("#lanes .lane .state").await;
        states
            .iter()
            .any(|state| state.starts_with("thread blocked in"))
            .then_some(())
    })
    .await?;
    browser.screenshot_if_asked("live-blocking").await?;
    wait_until("both clients served, one after the other", || async {
        (browser.text("#counter-clients-finished").await? == "2 / 2").then_some(())
    })
    .await?;
    // While the first was served, the second waited in the kernel's
    // backlog: the counter said so for that while, the log keeps it.
    browser.select("#log-kind", "backlog").await?;
    wait_until(
        "the second client in the kernel's backlog, in the log",
        || async {
            browser
                .texts("#event-log li.line")
                .await
                .iter()
                .any(|line| line.contains("1 waiting in the listen backlog"))
                .then_some(())
        },
    )
    .await?;

    browser.close().await?;
    relay.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_link_restores_its_scenario_and_the_keyboard_drives_it() -> anyhow::Result<()> {
    let (addr, server) = serve_static_app().await?;
    let browser = Browser::start().await?;
    let link = "?model=selector&errors=unhandled&seed=4&speed=5&clients=polite,slow";
    browser
        .client
        .goto(&format!("http://{addr}/{link}"))
        .await?;
    browser.wait_for_status("no-relay").await?;
    assert_eq!(
        browser.prop("#sim-model", "value").await.as_deref(),
        Some("selector")
    );
    assert_eq!(
        browser.prop("#sim-style", "value").await.as_deref(),
        Some("unhandled")
    );
    assert_eq!(
        browser.prop("#sim-speed", "value").await.as_deref(),
        Some("5")
    );

    // The selector table: the listener registered for reading, then the
    // clients' sockets; the loop ring lights its phase.
    wait_until("two client sockets in the selector table", || async {
        let rows = browser.texts("#selector-table tbody tr[data-sock]").await;
        (rows.len() >= 3 && rows[0].contains("listener")).then_some(())
    })
    .await?;
    let phase = browser.text("#loop-phase").await.unwrap_or_default();
    assert!(
        ["select", "ready", "run", "timers"].contains(&phase.as_str()),
        "{phase:?}"
    );
    let explanation = browser.text("#explanation").await.unwrap_or_default();
    assert!(explanation.contains("select()"), "{explanation}");

    // Space pauses; → steps one iteration; ? opens the help.
    browser.press(" ").await?;
    wait_until("paused by the space bar", || async {
        (browser.text("#sim-play").await? == "Play").then_some(())
    })
    .await?;
    let before: u64 = browser
        .text("#counter-iterations")
        .await
        .unwrap_or_default()
        .parse()?;
    browser.press("\u{E014}").await?; // WebDriver's ArrowRight
    wait_until("one more iteration", || async {
        let now: u64 = browser.text("#counter-iterations").await?.parse().ok()?;
        (now == before + 1).then_some(())
    })
    .await?;
    browser.press("?").await?;
    wait_until("the help", || async { browser.text("#help-title").await }).await?;
    browser.screenshot_if_asked("help").await?;
    browser.press("\u{E00C}").await?; // Escape
    wait_until("the help closed", || async {
        (browser.count("#help").await == 0).then_some(())
    })
    .await?;

    // Adding a client puts it in the address, so a copied link has it.
    browser.click("#add-flood").await?;
    let url = browser.client.current_url().await?;
    assert!(url.as_str().ends_with("clients=polite,slow,flood"), "{url}");

    browser.close().await?;
    server.abort();
    Ok(())
}

/// The state shown on connection `conn`'s lane.
async fn lane_state(browser: &Browser, conn: u64) -> Option<String> {
    browser
        .text(&format!("#lanes .lane[data-conn='{conn}'] .state"))
        .await
}

#[tokio::test]
async fn blocking_the_second_clients_lane_waits_in_the_backlog_until_the_first_leaves()
-> anyhow::Result<()> {
    // At a quarter of real speed the first client's conversation lasts
    // about 7 s: long enough for a busy machine to look at it.
    let (browser, server) =
        open_simulation("?model=blocking&speed=0.25&clients=polite,polite").await?;
    wait_until(
        "the first client served, the thread blocked in recv, the second in the backlog",
        || async {
            (lane_state(&browser, 1).await? == "thread blocked in recv"
                && lane_state(&browser, 2).await? == "waiting in the backlog"
                && browser.text("#counter-backlog").await? == "1")
                .then_some(())
        },
    )
    .await?;
    browser.screenshot_if_asked("lanes-blocking").await?;
    // Its turn comes only when the first has gone.
    wait_until("the second served", || async {
        let second = lane_state(&browser, 2).await?;
        (second != "waiting in the backlog").then_some(())
    })
    .await?;
    let first = lane_state(&browser, 1).await.unwrap_or_default();
    assert!(["done", "closed"].contains(&first.as_str()), "{first}");

    browser.close().await?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn busy_poll_burns_a_whole_cpu_and_marks_its_would_blocks() -> anyhow::Result<()> {
    let (browser, server) = open_simulation("?model=busy_poll&clients=silent").await?;
    wait_until("the CPU at 100%", || async {
        (browser.text("#counter-cpu").await? == "100%").then_some(())
    })
    .await?;
    wait_until("the connection polled over and over", || async {
        (lane_state(&browser, 1).await? == "polled, nothing there").then_some(())
    })
    .await?;
    let would_block: u64 = wait_until("would-block tries counted", || async {
        browser
            .text("#counter-would-block")
            .await?
            .parse()
            .ok()
            .filter(|n| *n > 100)
    })
    .await?;
    assert!(would_block > 100);
    browser.screenshot_if_asked("lanes-busy-poll").await?;

    browser.close().await?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn selector_stepping_shows_the_socket_that_sent_in_the_ready_set() -> anyhow::Result<()> {
    let (browser, server) = open_simulation("?model=selector&speed=0.1&clients=polite").await?;
    wait_until("the client's socket registered", || async {
        (lane_state(&browser, 1).await? == "registered for read").then_some(())
    })
    .await?;
    browser.press(" ").await?;
    wait_until("paused", || async {
        (browser.text("#sim-play").await? == "Play").then_some(())
    })
    .await?;
    let (echoed_before, _) = lane_bytes(&browser, 1).await.unwrap_or_default();
    // Step, one iteration at a time, until select() returns the client's
    // socket with its next message (they come 400 ms apart).
    let mut stepped = 0;
    let ready = loop {
        let ready = browser
            .texts("#selector-table tr.ready td:first-child")
            .await;
        let (bytes_in, _) = lane_bytes(&browser, 1).await.unwrap_or_default();
        if (ready.iter().any(|sock| sock == "conn#1") && bytes_in > echoed_before) || stepped == 60
        {
            break ready;
        }
        let before: u64 = wait_until("the iteration counter", || async {
            browser.text("#counter-iterations").await?.parse().ok()
        })
        .await?;
        browser.press("\u{E014}").await?;
        wait_until("one more iteration", || async {
            let now: u64 = browser.text("#counter-iterations").await?.parse().ok()?;
            (now == before + 1).then_some(())
        })
        .await?;
        stepped += 1;
    };
    assert_eq!(ready, ["conn#1"], "after {stepped} steps");
    // Its callback read that one message, and registered the socket for
    // writing: the echo waits for the next select() to say there is room.
    let interest = || async {
        browser
            .text("#selector-table tr[data-sock='conn#1'] td.interest")
            .await
    };
    assert_eq!(
        lane_bytes(&browser, 1).await,
        Some((echoed_before + 32, echoed_before)),
        "one 32-byte message read, not echoed yet"
    );
    assert_eq!(interest().await.as_deref(), Some("write"));
    let before: u64 = browser
        .text("#counter-iterations")
        .await
        .unwrap_or_default()
        .parse()?;
    browser.press("\u{E014}").await?;
    wait_until("the next iteration", || async {
        let now: u64 = browser.text("#counter-iterations").await?.parse().ok()?;
        (now == before + 1).then_some(())
    })
    .await?;
    assert_eq!(
        browser
            .texts("#selector-table tr.ready td:first-child")
            .await,
        ["conn#1"],
        "ready for writing"
    );
    assert_eq!(
        lane_bytes(&browser, 1).await,
        Some((echoed_before + 32, echoed_before + 32)),
        "the echo went out"
    );
    assert_eq!(interest().await.as_deref(), Some("read"));
    browser.screenshot_if_asked("lanes-selector").await?;

    browser.close().await?;
    server.abort();
    Ok(())
}

/// Bytes in and out of connection `conn`, as its lane's tooltip says.
async fn lane_bytes(browser: &Browser, conn: u64) -> Option<(u64, u64)> {
    let title = browser
        .attr(&format!("#lanes .lane[data-conn='{conn}']"), "title")
        .await?;
    let (_, counts) = title.rsplit_once("; ")?;
    let (bytes_in, bytes_out) = counts.split_once(" B in, ")?;
    Some((
        bytes_in.parse().ok()?,
        bytes_out.strip_suffix(" B out")?.parse().ok()?,
    ))
}

#[tokio::test]
async fn async_tasks_suspend_on_recv_and_a_shutdown_counts_down_and_cancels_the_silent()
-> anyhow::Result<()> {
    let (browser, server) =
        open_simulation("?model=async_tasks&speed=0.25&clients=silent,polite").await?;
    wait_until("a task suspended on recv", || async {
        (lane_state(&browser, 1).await? == "suspended on recv").then_some(())
    })
    .await?;
    let name = browser
        .text("#lanes .lane[data-conn='1'] .lane-name")
        .await
        .unwrap_or_default();
    assert_eq!(name, "conn#1 · task#2", "the lane names its task");
    browser.click("#sim-shutdown").await?;
    let countdown = wait_until("the countdown", || async {
        browser
            .text("#lanes-countdown")
            .await
            .filter(|text| text.contains("cancelled in"))
    })
    .await?;
    assert!(
        countdown.ends_with(" s") || countdown.ends_with(" ms"),
        "{countdown}"
    );
    browser.screenshot_if_asked("lanes-shutdown").await?;
    // The silent client never sends: its task is still waiting at the
    // deadline and is cancelled.
    wait_until("the silent client's task cancelled", || async {
        (lane_state(&browser, 1).await? == "cancelled").then_some(())
    })
    .await?;
    wait_until("the server stopped", || async {
        (browser.text("#lanes-countdown").await? == "Server stopped").then_some(())
    })
    .await?;

    browser.close().await?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn the_event_log_renders_only_what_is_in_view_and_filters_by_socket_and_type()
-> anyhow::Result<()> {
    let (browser, server) =
        open_simulation("?model=async_tasks&speed=50&clients=polite*200").await?;
    wait_until("two hundred clients done", || async {
        (browser.text("#counter-clients-finished").await? == "200 / 200").then_some(())
    })
    .await?;
    let count = |text: String| -> Option<(usize, usize)> {
        let (shown, rest) = text.split_once(" of ")?;
        let total = rest.split_once(' ')?.0;
        Some((shown.parse().ok()?, total.parse().ok()?))
    };
    let (shown, total) =
        count(browser.text("#log-count").await.unwrap_or_default()).expect("the log's line count");
    assert_eq!(shown, total, "no filter: every line");
    assert!(total > 5_000, "{total} lines");
    let rendered = browser.count("#event-log li.line").await;
    assert!(
        rendered <= 25,
        "only the lines in view are in the page: {rendered}"
    );

    browser.select("#log-kind", "task_finished").await?;
    wait_until("one task_finished line per client", || async {
        (count(browser.text("#log-count").await?)? == (200, total)).then_some(())
    })
    .await?;

    browser.select("#log-kind", "").await?;
    browser.set_value("#log-subject", "conn#7").await?;
    let (about_conn, _) = wait_until("the lines about conn#7", || async {
        count(browser.text("#log-count").await?).filter(|(shown, _)| *shown < total)
    })
    .await?;
    let lines = browser.texts("#event-log li.line").await;
    assert!(
        !lines.is_empty() && lines.len() <= about_conn,
        "{about_conn}: {lines:#?}"
    );
    assert!(
        lines
            .iter()
            .all(|line| line.contains("conn#7") || line.contains("task#8")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|line| line.contains("task#8")),
        "its task's lines too: {lines:#?}"
    );

    browser.close().await?;
    server.abort();
    Ok(())
}

/// A latency as the page writes it (`850 µs`, `12.3 ms`, `1.20 s`), in µs.
fn micros(text: &str) -> Option<f64> {
    let (number, unit) = text.trim().split_once(' ')?;
    let number: f64 = number.parse().ok()?;
    Some(match unit {
        "µs" => number,
        "ms" => number * 1e3,
        "s" => number * 1e6,
        _ => return None,
    })
}

/// The two cells of a row of the comparison table.
async fn metric(browser: &Browser, key: &str) -> Option<(String, String)> {
    let row = format!("#comparison-metrics tr[data-metric='{key}']");
    Some((
        browser.text(&format!("{row} td.first")).await?,
        browser.text(&format!("{row} td.second")).await?,
    ))
}

/// Waits until both runs of a comparison served all their `clients`, and
/// checks that each run has a lane per client.
async fn wait_until_both_served(browser: &Browser, clients: usize) -> anyhow::Result<()> {
    let served = format!("{clients} / {clients}");
    wait_until("both runs served every client", || async {
        let (first, second) = metric(browser, "served").await?;
        (first == served && second == served).then_some(())
    })
    .await?;
    assert_eq!(browser.count("#lanes .lane").await, clients);
    assert_eq!(browser.count("#lanes-b .lane").await, clients);
    Ok(())
}

#[tokio::test]
async fn side_by_side_the_blocking_server_makes_clients_wait_longer_than_asyncio()
-> anyhow::Result<()> {
    let (browser, server) =
        open_simulation("?model=blocking&speed=5&clients=polite*3&compare=async_tasks").await?;
    wait_until_both_served(&browser, 3).await?;
    let (blocking, asyncio) = metric(&browser, "latency-p99").await.unwrap_or_default();
    let (blocking, asyncio) = (micros(&blocking), micros(&asyncio));
    assert!(
        blocking
            .zip(asyncio)
            .is_some_and(|(blocking, asyncio)| blocking > 10.0 * asyncio),
        "the third client waited for the two before it: {blocking:?} vs {asyncio:?}"
    );
    browser.screenshot_if_asked("side-by-side").await?;

    // Nothing to compare with: one run again, and the address says so.
    browser.select("#compare-model", "").await?;
    wait_until("one run", || async {
        (browser.count("#comparison-metrics").await == 0).then_some(())
    })
    .await?;
    let url = browser.client.current_url().await?;
    assert!(!url.as_str().contains("compare="), "{url}");

    browser.close().await?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn live_side_by_side_runs_two_labs_and_spawns_the_same_clients_in_both() -> anyhow::Result<()>
{
    let relay = Relay::start().await;
    let browser = Browser::start().await?;
    browser.client.goto(&relay.url()).await?;
    browser.wait_for_status("live").await?;
    // A client served before the comparison is not part of it.
    browser.click("#spawn").await?;
    wait_until("the first client done", || async {
        (browser.text("#counter-clients-finished").await? == "1 / 1").then_some(())
    })
    .await?;
    browser.select("#compare-model", "blocking").await?;
    wait_until("the second lab on the blocking server", || async {
        (browser
            .text("#comparison-metrics thead th:nth-child(3)")
            .await?
            == "blocking sockets")
            .then_some(())
    })
    .await?;
    browser.set_value("#spawn-count", "2").await?;
    browser.click("#spawn").await?;
    wait_until_both_served(&browser, 2).await?;
    let (tokio, blocking) = metric(&browser, "latency-p99").await.unwrap_or_default();
    let (tokio, blocking) = (micros(&tokio), micros(&blocking));
    // The second client's first echo waited out the first client's
    // conversation: at least three of its 400 ms pauses, however fast or
    // slow the machine is.
    assert!(
        blocking
            .zip(tokio)
            .is_some_and(|(blocking, tokio)| blocking >= 1_200_000.0 && blocking > tokio),
        "on the real blocking server the second client waited for the first: {blocking:?} vs {tokio:?}"
    );

    // Errors unhandled restarts both labs so: a crasher then kills the
    // real blocking server, and fails only its own task under tokio.
    browser.select("#live-style", "unhandled").await?;
    wait_until("this lab restarted without handlers", || async {
        (browser.text("#code-title").await? == "async_tasks_unhandled.py").then_some(())
    })
    .await?;
    browser.select("#spawn-behaviour", "crasher").await?;
    browser.set_value("#spawn-count", "1").await?;
    browser.click("#spawn").await?;
    wait_until("the blocking lab crashed too", || async {
        browser
            .texts("#lanes-b .lane .state")
            .await
            .iter()
            .any(|state| state.starts_with("failed: the server crashed"))
            .then_some(())
    })
    .await?;

    browser.select("#compare-model", "").await?;
    wait_until("one lab again", || async {
        (browser.count("#lanes-b").await == 0).then_some(())
    })
    .await?;

    browser.close().await?;
    relay.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_flood_fills_both_buffers_of_its_socket_in_the_selector_table() -> anyhow::Result<()> {
    let (browser, server) = open_simulation("?model=selector&speed=5&clients=flood").await?;
    // The flood never reads its echo: the server's send buffer fills, the
    // server stops reading, and the receive buffer fills behind it (8 KiB
    // each in the simulation).
    wait_until("both buffers full", || async {
        let levels = browser
            .text("#selector-table tr[data-sock='conn#1'] td.buffered")
            .await?;
        (levels == "8192 / 8192").then_some(())
    })
    .await?;
    assert_eq!(
        browser
            .text("#selector-table tr[data-sock='conn#1'] td.interest")
            .await
            .as_deref(),
        Some("write"),
        "the selector waits for room to write"
    );

    browser.close().await?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn the_lanes_save_as_a_trace_file_for_perfetto() -> anyhow::Result<()> {
    let (browser, server) = open_simulation("?model=async_tasks&speed=5&clients=polite*2").await?;
    wait_until("both clients done", || async {
        (browser.text("#counter-clients-finished").await? == "2 / 2").then_some(())
    })
    .await?;
    // Keep the file the page offers, rather than let it download.
    browser
        .client
        .execute(
            "const create = URL.createObjectURL;
             URL.createObjectURL = (blob) => { window.savedTrace = blob; return create(blob); };
             HTMLAnchorElement.prototype.click = function () { window.savedName = this.download; };",
            vec![],
        )
        .await?;
    browser.click("#lanes-save-trace").await?;
    let text = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             window.savedTrace.text().then(done);",
            vec![],
        )
        .await?;
    let name = browser
        .client
        .execute("return window.savedName;", vec![])
        .await?;
    assert_eq!(name, "loopscope-async_tasks.trace.json");
    let trace: serde_json::Value = serde_json::from_str(text.as_str().unwrap_or_default())?;
    let events = trace["traceEvents"].as_array().cloned().unwrap_or_default();
    let named = |phase: &str, name: &str| -> Vec<u64> {
        events
            .iter()
            .filter(|event| event["ph"] == phase && event["name"] == name)
            .filter_map(|event| event["tid"].as_u64())
            .collect()
    };
    let threads: Vec<&str> = events
        .iter()
        .filter(|event| event["name"] == "thread_name")
        .filter_map(|event| event["args"]["name"].as_str())
        .collect();
    assert_eq!(
        threads,
        ["conn#1 · task#2", "conn#2 · task#3", "server loop"]
    );
    // The raw events too: each loop iteration an instant on the loop's
    // thread (0), and the open connections as a counter.
    let iterations = named("i", "loop iteration");
    assert!(!iterations.is_empty() && iterations.iter().all(|tid| *tid == 0));
    assert!(
        events
            .iter()
            .any(|event| event["ph"] == "C" && event["name"] == "open connections")
    );
    let mut suspended = named("X", "suspended on recv");
    suspended.dedup();
    assert_eq!(suspended, [1, 2], "each task awaited sock_recv");
    assert_eq!(named("i", "done"), [1, 2]);

    browser.close().await?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn clients_come_by_the_count_the_grace_is_chosen_and_the_seed_goes_in_the_link()
-> anyhow::Result<()> {
    let (browser, server) = open_simulation("?model=async_tasks&speed=5&clients=").await?;
    browser.set_value("#sim-count", "4").await?;
    browser.click("#add-silent").await?;
    wait_until("four lanes", || async {
        (browser.count("#lanes .lane").await == 4).then_some(())
    })
    .await?;
    let url = browser.client.current_url().await?;
    assert!(url.as_str().contains("clients=silent*4"), "{url}");

    // A one-second grace: the deadline the server announces is 1 s after
    // the shutdown began.
    browser
        .client
        .execute(
            "const grace = document.querySelector('#sim-grace');
             grace.value = '1000';
             grace.dispatchEvent(new Event('input', { bubbles: true }));",
            vec![],
        )
        .await?;
    wait_until("the button says the grace", || async {
        (browser.text("#sim-shutdown").await? == "Shut down (1 s grace)").then_some(())
    })
    .await?;
    browser.click("#sim-shutdown").await?;
    browser.select("#log-kind", "shutdown").await?;
    let draining = wait_until("the deadline in the log", || async {
        browser
            .texts("#event-log li.line")
            .await
            .into_iter()
            .find(|line| line.contains("may finish until"))
    })
    .await?;
    let (began_ms, rest) = draining.trim().split_once(" ms ").unwrap_or_default();
    let deadline_s = rest.rsplit(' ').nth(1).unwrap_or_default();
    let grace_ms = deadline_s.parse::<f64>()? * 1000.0 - began_ms.trim().parse::<f64>()?;
    assert!((grace_ms - 1000.0).abs() < 1.0, "{draining}");
    wait_until("the silent clients' tasks cancelled", || async {
        (browser.count("#lanes .lane.cancelled").await == 4).then_some(())
    })
    .await?;

    // Another seed starts the run again, and the link keeps it.
    browser.set_value("#sim-seed", "7\u{E007}").await?;
    wait_until("the seed in the address", || async {
        let url = browser.client.current_url().await.ok()?;
        url.as_str().contains("seed=7").then_some(())
    })
    .await?;
    wait_until(
        "the same four clients again, before any shutdown",
        || async {
            (browser.count("#lanes .lane").await == 4
                && browser.count("#lanes-countdown").await == 0)
                .then_some(())
        },
    )
    .await?;

    browser.close().await?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn a_lab_the_relay_closes_for_idleness_says_why_and_the_page_does_not_reconnect()
-> anyhow::Result<()> {
    let relay = Relay::start_with(loopscope_relay::Config {
        limits: protocol::Limits {
            idle_timeout_s: 2,
            ..protocol::Limits::default()
        },
        ..loopscope_relay::Config::default()
    })
    .await;
    let browser = Browser::start().await?;
    browser.client.goto(&relay.url()).await?;
    // The lab is live for its 2 s only, which a busy machine may spend
    // loading the page: the badge's history says it was.
    browser.wait_for_status_shown("live").await?;
    browser.wait_for_status("closed").await?;
    let reason = browser
        .text("#lab-closed .reason")
        .await
        .unwrap_or_default();
    assert!(reason.contains("no command for 2 s"), "{reason}");
    assert_eq!(browser.count("#reopen-lab").await, 1, "a way to a new lab");
    assert_eq!(
        browser.count("#echo-addr").await,
        0,
        "the closed lab's port is not offered any more"
    );
    assert_eq!(browser.count("#no-lab").await, 1);
    browser.screenshot_if_asked("lab-closed").await?;
    // Longer than the first two reconnection delays: it stays closed, and
    // it never tried again (a try would show "connecting" after "closed").
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    let history = browser.status_history().await;
    assert_eq!(
        history.iter().rev().take(2).collect::<Vec<_>>(),
        ["closed", "live"],
        "{history:?}"
    );
    // The button opens a new lab (the page loads again), which the relay
    // closes for idleness in its turn.
    browser.mark_document().await?;
    browser.click("#reopen-lab").await?;
    browser.wait_for_new_document().await?;
    browser.wait_for_status_shown("live").await?;
    browser.wait_for_status("closed").await?;
    browser.close().await?;
    relay.stop().await;
    Ok(())
}

/// A counter of the page's Counters tab, as a number.
async fn counter(browser: &Browser, id: &str) -> Option<u64> {
    browser
        .text(&format!("#counter-{id}"))
        .await?
        .trim()
        .replace(',', "")
        .parse()
        .ok()
}

/// Waits until the counter `id` reads `value` exactly.
async fn wait_for_counter(browser: &Browser, id: &str, value: u64) -> anyhow::Result<()> {
    wait_until(&format!("{id} at {value}"), || async {
        (counter(browser, id).await? == value).then_some(())
    })
    .await
}

#[tokio::test]
async fn a_paused_live_blocking_server_echoes_nothing_and_each_step_serves_one_message()
-> anyhow::Result<()> {
    let relay = Relay::start().await;
    let browser = Browser::start().await?;
    browser.client.goto(&relay.url()).await?;
    browser.wait_for_status("live").await?;
    browser.select("#live-model", "blocking").await?;
    wait_until("the blocking program beside the lab", || async {
        (browser.text("#code-title").await? == "blocking.py").then_some(())
    })
    .await?;
    wait_until("the thread parked in accept()", || async {
        (browser.attr("#live-pause", "disabled").await.is_none()).then_some(())
    })
    .await?;

    // Paused while it waits in accept(): the one client is accepted (that
    // call was already under way), then the thread stops before its
    // first recv(), and the client's first message is never echoed.
    browser.click("#live-pause").await?;
    wait_until("the Resume button offered", || async {
        browser
            .attr("#live-resume", "disabled")
            .await
            .is_none()
            .then_some(())
    })
    .await?;
    browser.set_value("#spawn-count", "1").await?;
    browser.click("#spawn").await?;
    wait_until("the client's lane", || async {
        (browser.count("#lanes .lane").await == 1).then_some(())
    })
    .await?;
    let iterations = wait_until("the iteration counter", || async {
        counter(&browser, "iterations").await
    })
    .await?;
    // An absence can only be watched for a while: longer than three of
    // the client's 400 ms pauses between messages.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        bytes_echoed(&browser).await,
        Some(0),
        "paused: nothing echoed"
    );
    assert_eq!(counter(&browser, "iterations").await, Some(iterations));

    // Each Step lets the real thread run one iteration: one recv() of the
    // client's next 32-byte message, and its echo.
    for step in 1..=2 {
        browser.click("#live-step").await?;
        wait_for_counter(&browser, "iterations", iterations + step).await?;
        wait_for_counter(&browser, "bytes-echoed", 32 * step).await?;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        counter(&browser, "bytes-echoed").await,
        Some(64),
        "still paused after two steps: two messages echoed, no more"
    );
    assert_eq!(counter(&browser, "iterations").await, Some(iterations + 2));

    // Resumed, it serves the rest of the client's five messages.
    browser.click("#live-resume").await?;
    wait_for_counter(&browser, "bytes-echoed", DEFAULT_CLIENT_BYTES).await?;
    wait_until("the client served", || async {
        (browser.text("#counter-clients-finished").await? == "1 / 1").then_some(())
    })
    .await?;

    browser.close().await?;
    relay.stop().await;
    Ok(())
}
