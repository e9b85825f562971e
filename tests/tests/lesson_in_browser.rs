//! The lesson panel in a real headless Chromium: every step opens from its
//! link with the model it names, asks before it runs, and shows the answer
//! its run proved with the element it points at in view; the projector
//! layout keeps the lesson, the ring, the lanes and the lit line of the
//! program on the first screen at 1280×720 (bounding boxes); `n`/`p`, the
//! progress kept in local storage, the text size kept in the link; a step
//! run in a live lab; the shutdown policies offered by the control; step 7
//! under each policy, the card's words while shutting down (looked back
//! at on the timeline, where each moment holds still) and after, and the
//! proof's verdict against the lanes.

use fantoccini::Locator;
use loopscope_e2e::{Browser, Relay, open_simulation, wait_until};
use serde_json::Value;

/// Whether `text` speaks of a grace period or a deadline, other than to
/// say there is none ("with no deadline").
fn speaks_of_a_deadline(text: &str) -> bool {
    let text = text.to_lowercase().replace("no deadline", "");
    ["grace", "deadline", "timeout="]
        .iter()
        .any(|word| text.contains(word))
}

/// What step 7 must show under one shutdown policy.
struct PolicySeen {
    /// The policy's value in the shutdown control.
    policy: &'static str,
    /// The answer its run proves.
    proves: usize,
    /// Whether it gives a grace period (the card and the countdown may
    /// speak of one only then).
    grace: bool,
    /// The words of its branch of async_tasks.py the card says at some
    /// moment while shutting down.
    while_shutting_down: &'static [&'static str],
    /// What the card says once the proof is in: the server stopped, or
    /// (waiting for everyone, with a client that never leaves) still
    /// waiting, for ever.
    at_the_end: &'static str,
}

const POLICIES: [PolicySeen; 4] = [
    PolicySeen {
        policy: "grace_then_cancel",
        proves: 2,
        grace: true,
        while_shutting_down: &[
            "asyncio.wait(tasks, timeout=grace) lets the tasks still running finish within the 2.00 s of grace",
            "The grace period is over: task.cancel()",
        ],
        at_the_end: "asyncio.wait() gave the tasks the 2.00 s of grace",
    },
    PolicySeen {
        policy: "cancel_at_once",
        proves: 0,
        grace: false,
        while_shutting_down: &["Cancel at once: task.cancel() cancels every task at once"],
        at_the_end: "Every task still running was cancelled at once",
    },
    PolicySeen {
        policy: "wait_for_everyone",
        proves: 1,
        grace: false,
        while_shutting_down: &["asyncio.gather(*tasks) waits until every task has ended by itself"],
        at_the_end: "asyncio.gather(*tasks) waits until every task has ended by itself",
    },
    PolicySeen {
        policy: "notify_first",
        proves: 0,
        grace: false,
        while_shutting_down: &[
            "Say goodbye: client.send(GOODBYE)",
            "Goodbye said: task.cancel()",
        ],
        at_the_end: "sent the goodbye line, then closed",
    },
];

/// One moment of the page as one script saw it: the timeline's position
/// text, the server's life, the card, the countdown.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    position: String,
    life: String,
    card: String,
    countdown: Option<String>,
}

/// The page's moment now, read in one script (so from one render).
async fn seen(browser: &Browser) -> anyhow::Result<Seen> {
    let seen = browser
        .client
        .execute(
            "const text = css => { const e = document.querySelector(css); return e ? e.textContent : null; };
             return {
               position: text('#scrub-position') || '',
               life: document.querySelector('section.loop').dataset.life,
               card: text('#explanation') || '',
               countdown: text('#lanes-countdown'),
             };",
            vec![],
        )
        .await?;
    let text = |key: &str| seen.get(key).and_then(Value::as_str).map(str::to_owned);
    Ok(Seen {
        position: text("position").unwrap_or_default(),
        life: text("life").unwrap_or_default(),
        card: text("card").unwrap_or_default(),
        countdown: text("countdown"),
    })
}

/// `1234567` as `1,234,567`, as the timeline writes it.
fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The scrubber's bounds: the oldest position kept and now.
async fn scrub_bounds(browser: &Browser) -> anyhow::Result<(u64, u64)> {
    let bound = |name: &'static str| async move {
        browser
            .attr("#scrub", name)
            .await
            .and_then(|value| value.parse::<u64>().ok())
            .ok_or_else(|| anyhow::anyhow!("no scrubber {name}"))
    };
    Ok((bound("min").await?, bound("max").await?))
}

/// Shows the run after `position` events (looking back: the simulation
/// holds still there; at the scrubber's end, now) and gives that moment
/// once the page shows it, the same in two reads. `bounds`: the
/// scrubber's.
async fn look_back_at(
    browser: &Browser,
    position: u64,
    (first, end): (u64, u64),
) -> anyhow::Result<Seen> {
    browser
        .client
        .execute(
            "const scrub = document.querySelector('#scrub');
             scrub.value = String(arguments[0]);
             scrub.dispatchEvent(new Event('input', { bubbles: true }));",
            vec![Value::from(position)],
        )
        .await?;
    let at = if position >= end {
        "now".to_owned()
    } else {
        format!("event {} of", thousands(position - first))
    };
    wait_until(&format!("the moment after {position} events"), || async {
        let once = seen(browser).await.ok()?;
        if !once.position.contains(&at) {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let twice = seen(browser).await.ok()?;
        (once == twice).then_some(once)
    })
    .await
}

/// The first position in `low..=high` whose moment `is` says yes to (the
/// moments say no, then yes, in order: a server's life goes one way);
/// `None` if none does.
async fn first_where(
    browser: &Browser,
    bounds: (u64, u64),
    mut low: u64,
    is: impl Fn(&Seen) -> bool,
) -> anyhow::Result<Option<u64>> {
    let mut high = bounds.1;
    if !is(&look_back_at(browser, high, bounds).await?) {
        return Ok(None);
    }
    while low < high {
        let middle = low + (high - low) / 2;
        if is(&look_back_at(browser, middle, bounds).await?) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    Ok(Some(low))
}

/// The integers in `text`, in order.
fn integers(text: &str) -> Vec<usize> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter_map(|piece| piece.parse().ok())
        .collect()
}

/// What each step names and what its run proves, as the page must show it.
struct StepSeen {
    number: usize,
    title: &'static str,
    /// The listing the step's model runs.
    listing: &'static str,
    /// The elements the step may point at once its run proved something
    /// (a CSS selector list).
    pointed: &'static str,
    /// The answer its run proves (0-based, in the order offered).
    proves: usize,
}

const STEPS: [StepSeen; 7] = [
    StepSeen {
        number: 1,
        title: "Blocking sockets",
        listing: "blocking.py",
        pointed: "#lanes .lane.backlog, #lanes-view",
        proves: 1,
    },
    StepSeen {
        number: 2,
        title: "Non-blocking sockets",
        listing: "busy_poll.py",
        pointed: "#counter-would-block",
        proves: 2,
    },
    StepSeen {
        number: 3,
        title: "The selectors module",
        listing: "selector.py",
        pointed: "#selector-table tr.ready, #selector-table",
        proves: 0,
    },
    StepSeen {
        number: 4,
        title: "select() in a loop",
        listing: "selector.py",
        pointed: "#loop-cycle",
        proves: 0,
    },
    StepSeen {
        number: 5,
        title: "sock_accept",
        listing: "async_tasks.py",
        pointed: "#lanes .lane.waiting, #lanes-view",
        proves: 2,
    },
    StepSeen {
        number: 6,
        title: "One task per client",
        listing: "async_tasks_unhandled.py",
        pointed: "#lanes .lane.failed, #lanes-view",
        proves: 0,
    },
    StepSeen {
        number: 7,
        title: "Graceful shutdown",
        listing: "async_tasks.py",
        pointed: "#lanes-countdown, #lanes-view",
        proves: 2,
    },
];

/// The bounding box of the first element `css` finds, and the viewport:
/// `[left, top, right, bottom]`, `[width, height]`.
async fn box_of(browser: &Browser, css: &str) -> anyhow::Result<Option<([f64; 4], [f64; 2])>> {
    let found = browser
        .client
        .execute(
            "const e = document.querySelector(arguments[0]);
             if (!e) return null;
             const r = e.getBoundingClientRect();
             return [[r.left, r.top, r.right, r.bottom], [window.innerWidth, window.innerHeight]];",
            vec![Value::from(css)],
        )
        .await?;
    Ok(serde_json::from_value(found).ok())
}

/// Asserts that `css` is on screen as the page is scrolled: inside the viewport, above
/// the timeline that sticks to its bottom, and not empty.
async fn assert_on_screen(browser: &Browser, css: &str, what: &str) -> anyhow::Result<()> {
    let ([left, top, right, bottom], [width, height]) = box_of(browser, css)
        .await?
        .unwrap_or_else(|| panic!("{what} ({css}) is not in the page"));
    let timeline_top = box_of(browser, ".timeline")
        .await?
        .map_or(height, |(rect, _)| rect[1]);
    assert!(
        right - left > 10.0 && bottom - top > 10.0,
        "{what} is empty: {left},{top} to {right},{bottom}"
    );
    assert!(
        left >= 0.0 && top >= 0.0 && right <= width + 0.5 && bottom <= timeline_top + 0.5,
        "{what} ({css}) lies at {left:.0},{top:.0} to {right:.0},{bottom:.0}: outside the first \
         screen of {width}×{height} (the timeline starts at {timeline_top:.0})"
    );
    Ok(())
}

/// Sizes the window so that the page's viewport is `width`×`height`.
async fn set_viewport(browser: &Browser, width: u32, height: u32) -> anyhow::Result<()> {
    browser.client.set_window_size(width, height).await?;
    let inner: Vec<u32> = serde_json::from_value(
        browser
            .client
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await?,
    )?;
    browser
        .client
        .set_window_size(width + (width - inner[0]), height + (height - inner[1]))
        .await?;
    Ok(())
}

/// Runs the open step (again) and waits for the proof of that run, not of
/// an earlier one still shown; gives the answer it proved.
async fn run_again(browser: &Browser) -> anyhow::Result<usize> {
    let before: u32 = browser
        .attr("#lesson-proof", "data-run")
        .await
        .and_then(|run| run.parse().ok())
        .unwrap_or(0);
    browser.click("#lesson-run").await?;
    wait_until("the new run's proof", || async {
        let run: u32 = browser
            .attr("#lesson-proof", "data-run")
            .await?
            .parse()
            .ok()?;
        let answer = browser
            .attr("#lesson-proof", "data-answer")
            .await?
            .parse()
            .ok()?;
        (run > before).then_some(answer)
    })
    .await
}

/// Picks answer `answer`, runs the step and waits for its proof; gives the
/// answer the run proved.
async fn predict_and_run(browser: &Browser, answer: usize) -> anyhow::Result<usize> {
    assert_eq!(
        browser.prop("#lesson-run", "disabled").await.as_deref(),
        Some("true"),
        "the run waits for a prediction"
    );
    browser.click(&format!("#lesson-answer-{answer}")).await?;
    browser.click("#lesson-run").await?;
    let proved = wait_until("the run's proof", || async {
        browser
            .attr("#lesson-proof", "data-answer")
            .await?
            .parse()
            .ok()
    })
    .await?;
    Ok(proved)
}

#[tokio::test]
async fn every_step_opens_from_its_link_asks_first_and_shows_what_its_run_proved()
-> anyhow::Result<()> {
    let (browser, server) = open_simulation("?lesson=1").await?;
    for step in &STEPS {
        if step.number > 1 {
            let url = browser.client.current_url().await?;
            let next = url.join(&format!("/?lesson={}", step.number))?;
            browser.client.goto(next.as_str()).await?;
            browser.wait_for_status("no-relay").await?;
        }
        let title = wait_until("the step's title", || async {
            let title = browser.text("#lesson-title").await?;
            title.contains(step.title).then_some(title)
        })
        .await?;
        assert!(title.starts_with(&format!("{}.", step.number)), "{title}");
        assert_eq!(
            browser.text("#code-title").await.as_deref(),
            Some(step.listing),
            "step {}: the listing is the model the step names",
            step.number
        );
        assert_eq!(
            browser
                .attr(&format!("#lesson-go-{}", step.number), "aria-current")
                .await
                .as_deref(),
            Some("step")
        );
        // Nothing runs before the prediction.
        assert_eq!(browser.count("#lesson-proof").await, 0);
        // Predict one answer wrong on purpose in odd steps, to see the verdict.
        let predicted = if step.number % 2 == 1 {
            (step.proves + 1) % 3
        } else {
            step.proves
        };
        let proved = predict_and_run(&browser, predicted).await?;
        assert_eq!(
            proved,
            step.proves,
            "step {}: {:?}",
            step.number,
            browser.text("#lesson-proof").await
        );
        let evidence = browser.text("#lesson-evidence").await.unwrap_or_default();
        assert!(
            evidence.chars().any(|c| c.is_ascii_digit()),
            "step {}: {evidence}",
            step.number
        );
        let verdict = browser.text("#lesson-verdict").await.unwrap_or_default();
        assert_eq!(
            verdict == "You predicted it.",
            predicted == step.proves,
            "step {}: {verdict}",
            step.number
        );
        assert_eq!(
            browser.count(".answer.proved").await,
            1,
            "one answer is proved"
        );
        assert_eq!(
            browser
                .count(&format!(".answer.proved #lesson-answer-{}", step.proves))
                .await,
            1,
            "the proved answer is marked"
        );
        // The element it points at is marked (only it), and on screen.
        wait_until("the pointed element", || async {
            let matches: Value = browser
                .client
                .execute(
                    "const p = document.querySelectorAll('.pointed');
                     return p.length === 1 && p[0].matches(arguments[0]);",
                    vec![Value::from(step.pointed)],
                )
                .await
                .ok()?;
            (matches == Value::Bool(true)).then_some(())
        })
        .await?;
        // Where the page left it: brought into view if it was not.
        assert_on_screen(&browser, ".pointed", "the pointed element").await?;
        browser
            .screenshot_if_asked(&format!("lesson-step-{}", step.number))
            .await?;
    }
    browser.close().await?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn at_1280x720_the_lesson_the_ring_the_lanes_and_the_lit_line_share_the_first_screen()
-> anyhow::Result<()> {
    let (browser, server) = open_simulation("?lesson=5").await?;
    for (width, height) in [(1280, 720), (1920, 1080)] {
        set_viewport(&browser, width, height).await?;
        if width == 1280 {
            assert_eq!(predict_and_run(&browser, 2).await?, 2);
        } else {
            assert_eq!(run_again(&browser).await?, 2);
        }
        // WebDriver scrolls what it clicks into view; a person at a
        // projector has not scrolled.
        browser
            .client
            .execute("window.scrollTo(0, 0);", vec![])
            .await?;
        wait_until("a lit line", || async {
            (browser.count("#code-listing .line.current").await == 1).then_some(())
        })
        .await?;
        browser
            .screenshot_if_asked(&format!("lesson-{width}x{height}"))
            .await?;
        for (css, what) in [
            ("#lesson", "the lesson panel"),
            ("#loop-cycle", "the loop's ring"),
            (".lanes-panel", "the lanes"),
            ("#code-listing .line.current", "the program's lit line"),
            ("#lesson-proof", "the proof"),
        ] {
            assert_on_screen(&browser, css, what).await?;
        }
    }
    browser.close().await?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn keys_move_between_steps_and_progress_and_text_size_survive_a_reload() -> anyhow::Result<()>
{
    let (browser, server) = open_simulation("").await?;
    assert_eq!(
        browser.count("#lesson").await,
        0,
        "the lesson opens when asked"
    );
    browser.click("#lesson-button").await?;
    browser.wait_for_step(1).await?;
    assert_eq!(predict_and_run(&browser, 1).await?, 1);
    // n and p, with the address following; also right after picking an
    // answer (a radio button has the focus then).
    browser.click("#lesson-answer-1").await?;
    browser
        .client
        .find(Locator::Css("#lesson-answer-1"))
        .await?
        .send_keys("n")
        .await?;
    browser.wait_for_step(2).await?;
    assert!(
        browser
            .client
            .current_url()
            .await?
            .as_str()
            .contains("lesson=2")
    );
    assert_eq!(
        browser.text("#code-title").await.as_deref(),
        Some("busy_poll.py")
    );
    browser.press("p").await?;
    browser.wait_for_step(1).await?;
    // Text size, kept in the link.
    browser.select("#text-size", "150").await?;
    wait_until("the link keeps the text size", || async {
        let url = browser.client.current_url().await.ok()?;
        url.as_str().contains("text=150").then_some(())
    })
    .await?;
    let url = browser.client.current_url().await?;
    browser.client.goto(url.as_str()).await?;
    browser.wait_for_status("no-relay").await?;
    wait_until("the step and the size after a reload", || async {
        let zoom: Value = browser
            .client
            .execute(
                "return getComputedStyle(document.querySelector('.app')).zoom;",
                vec![],
            )
            .await
            .ok()?;
        let title = browser.text("#lesson-title").await?;
        (zoom.as_str() == Some("1.5") && title.starts_with("1.")).then_some(())
    })
    .await?;
    // What the learner did is remembered: step 1 is done, its prediction kept.
    assert!(
        browser
            .attr("#lesson-go-1", "class")
            .await
            .unwrap_or_default()
            .contains("done")
    );
    assert_eq!(
        browser.prop("#lesson-answer-1", "checked").await.as_deref(),
        Some("true")
    );
    assert!(
        !browser
            .attr("#lesson-go-2", "class")
            .await
            .unwrap_or_default()
            .contains("done")
    );
    // Closing the lesson leaves the step out of the link, and the old layout back.
    browser.click("#lesson-close").await?;
    wait_until("the lesson closed", || async {
        (browser.count("#lesson").await == 0).then_some(())
    })
    .await?;
    assert!(
        !browser
            .client
            .current_url()
            .await?
            .as_str()
            .contains("lesson=")
    );
    assert!(
        browser
            .client
            .find(Locator::Css("#sim-model"))
            .await
            .is_ok()
    );
    browser.close().await?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn with_a_live_lab_connected_a_step_runs_on_real_sockets() -> anyhow::Result<()> {
    let relay = Relay::start().await;
    let browser = Browser::start().await?;
    browser
        .client
        .goto(&format!("{}?lesson=6", relay.url()))
        .await?;
    browser.wait_for_status("live").await?;
    wait_until("the live lab runs the step's model", || async {
        (browser.text("#code-title").await? == "async_tasks_unhandled.py").then_some(())
    })
    .await?;
    assert!(browser.text("#lesson-look").await.is_some());
    let where_text = browser.text(".lesson-look").await.unwrap_or_default();
    assert!(where_text.contains("in the live lab"), "{where_text}");
    assert_eq!(predict_and_run(&browser, 0).await?, 0);
    let evidence = browser.text("#lesson-evidence").await.unwrap_or_default();
    assert!(evidence.contains("served 2 other clients"), "{evidence}");
    // A reload of the step's link (which now holds the step's scenario
    // too) runs live again.
    let url = browser.client.current_url().await?;
    browser.client.goto(url.as_str()).await?;
    browser.wait_for_status("live").await?;
    wait_until("the step live again after a reload", || async {
        browser
            .text(".lesson-look")
            .await?
            .contains("in the live lab")
            .then_some(())
    })
    .await?;
    browser.close().await?;
    relay.stop().await;
    Ok(())
}

#[tokio::test]
async fn step_7_runs_under_the_policy_the_control_has_chosen() -> anyhow::Result<()> {
    let (browser, server) = open_simulation("?lesson=7").await?;
    browser.wait_for_step(7).await?;
    assert_eq!(predict_and_run(&browser, 2).await?, 2, "grace, then cancel");
    assert_eq!(browser.count("#lesson-unusual").await, 0);
    // Cancel at once, chosen in the controls' tab: the same step now
    // proves that everyone still running is closed at once.
    browser.click("#tab-controls").await?;
    browser.select("#sim-policy", "cancel_at_once").await?;
    let proved = run_again(&browser).await?;
    assert_eq!(proved, 0, "{:?}", browser.text("#lesson-proof").await);
    assert!(
        browser.text("#lesson-unusual").await.is_some(),
        "the panel says the run went otherwise than the step's usual one"
    );
    // The choice stays with the page across the tabs.
    browser.click("#tab-counters").await?;
    browser.click("#tab-controls").await?;
    assert_eq!(
        browser.prop("#sim-policy", "value").await.as_deref(),
        Some("cancel_at_once")
    );
    browser.close().await?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn the_shutdown_control_offers_asyncio_s_four_policies() -> anyhow::Result<()> {
    // One silent client only: once the shutdown waits for it, nothing else
    // runs, so the waiting line stays lit (a talking client's task would
    // light its own lines next).
    let (browser, server) = open_simulation("?model=async_tasks&clients=silent").await?;
    let offered = browser.texts("#sim-policy option").await;
    assert_eq!(offered.len(), 4, "{offered:?}");
    browser.select("#sim-policy", "wait_for_everyone").await?;
    assert_eq!(
        browser.count("#sim-grace").await,
        0,
        "no grace period to choose"
    );
    browser.click("#sim-shutdown").await?;
    wait_until("the server waits for everyone", || async {
        browser
            .text("#lanes-countdown")
            .await?
            .contains("waiting for every client")
            .then_some(())
    })
    .await?;
    let lit = wait_until("the listing lit on the waiting line", || async {
        browser
            .text("#code-listing .line.current")
            .await
            .filter(|line| line.contains("wait for everyone"))
    })
    .await?;
    assert!(!lit.contains("timeout"), "{lit}");
    // Other models offer no choice: their programs have one way.
    browser.select("#sim-model", "selector").await?;
    wait_until("the selector's controls", || async {
        (browser.text("#code-title").await? == "selector.py").then_some(())
    })
    .await?;
    assert_eq!(browser.count("#sim-policy").await, 0);
    assert_eq!(browser.count("#sim-grace").await, 1);
    browser.close().await?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn step_7_shuts_the_live_server_down_on_time_and_proves_the_grace_period()
-> anyhow::Result<()> {
    let relay = Relay::start().await;
    let browser = Browser::start().await?;
    browser
        .client
        .goto(&format!("{}?lesson=7", relay.url()))
        .await?;
    browser.wait_for_status("live").await?;
    wait_until("the step in the live lab", || async {
        browser
            .text(".lesson-look")
            .await?
            .contains("in the live lab")
            .then_some(())
    })
    .await?;
    // A second after the clients start, the page shuts the real server
    // down with 2 s of grace: the silent client's task is cancelled at the
    // deadline, the talking ones finish first.
    assert_eq!(predict_and_run(&browser, 2).await?, 2);
    let evidence = browser.text("#lesson-evidence").await.unwrap_or_default();
    assert!(
        evidence.contains("1 was cancelled at the deadline"),
        "{evidence}"
    );
    let countdown = browser.text("#lanes-countdown").await.unwrap_or_default();
    assert!(countdown.starts_with("Server stopped"), "{countdown}");
    browser
        .client
        .execute("window.scrollTo(0, 0);", vec![])
        .await?;
    browser.screenshot_if_asked("lesson-live-step-7").await?;
    browser.close().await?;
    relay.stop().await;
    Ok(())
}

#[tokio::test]
async fn step_7_under_each_policy_tells_the_policy_and_proves_what_the_lanes_show()
-> anyhow::Result<()> {
    let (browser, server) = open_simulation("?lesson=7").await?;
    browser.wait_for_step(7).await?;
    browser.click("#lesson-answer-2").await?;
    for seen_under in &POLICIES {
        let policy = seen_under.policy;
        // Back to now (a run looked back at before), then the policy.
        if browser.attr("#scrub-now", "disabled").await.as_deref() != Some("true") {
            browser.click("#scrub-now").await?;
        }
        browser.click("#tab-controls").await?;
        browser.select("#sim-policy", policy).await?;
        let proved = run_again(&browser).await?;
        let evidence = browser.text("#lesson-evidence").await.unwrap_or_default();
        assert_eq!(proved, seen_under.proves, "{policy}: {evidence}");

        // The proof's verdict is what the lanes show, once they are in
        // their lasting states (every lane ended, or the silent one
        // waiting for ever).
        let numbers = integers(&evidence);
        let lanes = |class: &'static str| {
            let browser = &browser;
            async move { browser.count(&format!("#lanes .lane.{class}")).await }
        };
        let agree = wait_until(
            &format!("{policy}: the lanes as the proof says ({evidence})"),
            || async {
                let (done, cancelled, waiting) = (
                    lanes("done").await,
                    lanes("cancelled").await,
                    lanes("waiting").await,
                );
                let agree = match (proved, numbers.as_slice()) {
                    // Some finished after the shutdown began, the rest cancelled.
                    (2, [finished, was_cancelled]) => {
                        cancelled == *was_cancelled && done >= *finished && *was_cancelled > 0
                    }
                    // All still running cancelled at once.
                    (0, [was_cancelled]) => cancelled == *was_cancelled && waiting == 0,
                    // The server waits for the ones who never leave.
                    (1, [waiting_for]) => waiting == *waiting_for && cancelled == 0,
                    _ => false,
                };
                agree.then_some(())
            },
        )
        .await;
        assert!(agree.is_ok(), "{policy}: {evidence}: {agree:?}");

        // At the end (a lasting state: stopped, or waiting for ever), the
        // card tells this policy; the countdown agrees.
        let end = wait_until(&format!("{policy}: the card at the end"), || async {
            let now = seen(&browser).await.ok()?;
            now.card.contains(seen_under.at_the_end).then_some(now)
        })
        .await?;
        let countdown = end.countdown.clone().unwrap_or_default();
        if seen_under.policy == "wait_for_everyone" {
            assert_eq!(end.life, "shutting-down", "{end:?}");
            assert!(countdown.contains("with no deadline"), "{countdown}");
        } else {
            assert_eq!(end.life, "stopped", "{end:?}");
            assert!(end.card.starts_with("The server has shut down"), "{end:?}");
            assert!(countdown.starts_with("Server stopped"), "{countdown}");
            // The clients told goodbye: the same number in both.
            if let Some(told) = integers(&countdown).first() {
                assert!(end.card.contains(&format!("{told} client")), "{end:?}");
            }
        }

        // While shutting down: each moment looked back at on the timeline
        // (where it holds still), from the first after the listener closed
        // to the last before the server stopped. Paused first, so that
        // the run's end stays where it is.
        if browser.text("#sim-play").await.as_deref() == Some("Pause") {
            browser.click("#sim-play").await?;
        }
        wait_until("the simulation paused", || async {
            (browser.text("#sim-play").await? == "Play").then_some(())
        })
        .await?;
        let bounds = scrub_bounds(&browser).await?;
        let (first, last) = bounds;
        let began = first_where(&browser, bounds, first, |moment| moment.life != "running")
            .await?
            .expect("the run shut down");
        let stopped = first_where(&browser, bounds, began, |moment| moment.life == "stopped")
            .await?
            .unwrap_or(last + 1);
        // Every moment near both ends (where the short phases are), and
        // some between.
        let span = stopped - began;
        let mut positions: Vec<u64> = (began..stopped.min(began + 20)).collect();
        positions.extend((1..10).map(|tenth| began + span * tenth / 10));
        positions.extend(stopped.saturating_sub(12).max(began)..stopped);
        positions.sort_unstable();
        positions.dedup();
        let mut cards = Vec::new();
        for position in positions.into_iter().filter(|at| *at <= last) {
            let moment = look_back_at(&browser, position, bounds).await?;
            assert_eq!(
                moment.life, "shutting-down",
                "{policy} at {position}: {moment:?}"
            );
            assert!(
                moment.card.starts_with("Shutting down"),
                "{policy}: {moment:?}"
            );
            let countdown = moment.countdown.clone().unwrap_or_default();
            assert!(
                countdown.starts_with("Shutting down"),
                "{policy}: {moment:?}"
            );
            if !seen_under.grace {
                assert!(
                    !speaks_of_a_deadline(&moment.card),
                    "{policy}: the card speaks of a grace period: {moment:?}"
                );
                assert!(
                    !speaks_of_a_deadline(&countdown),
                    "{policy}: the countdown speaks of a deadline: {moment:?}"
                );
            }
            cards.push(moment.card);
        }
        for words in seen_under.while_shutting_down {
            assert!(
                cards.iter().any(|card| card.contains(words)),
                "{policy}: no card said {words:?}: {cards:#?}"
            );
        }
        if !seen_under.grace {
            assert!(!speaks_of_a_deadline(&end.card), "{policy}: {end:?}");
        }
        browser
            .screenshot_if_asked(&format!("lesson-step-7-{policy}"))
            .await?;
    }
    browser.close().await?;
    server.abort();
    Ok(())
}
