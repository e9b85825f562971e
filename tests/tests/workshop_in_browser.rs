//! Workshop mode in real headless Chromiums: the join token carried from the
//! join link to the relay and kept out of every copied link, the host's
//! dashboard closing a lab, pages following the host's lesson, and what a
//! visit costs on the wire.

use std::time::Instant;

use loopscope_e2e::{Browser, Relay, wait_until};
use loopscope_relay::Config;
use loopscope_relay::secret::Secret;

const JOIN: &str = "join-token-42";
const HOST: &str = "host-token-42";

async fn workshop_relay() -> Relay {
    Relay::start_with(Config {
        join_token: Some(Secret::new(JOIN).unwrap()),
        host_token: Secret::new(HOST).unwrap(),
        ..Config::default()
    })
    .await
}

fn join_link(relay: &Relay) -> String {
    format!("{}?token={JOIN}", relay.url())
}

async fn address(browser: &Browser) -> String {
    browser
        .client
        .current_url()
        .await
        .map(|url| url.to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_join_link_opens_a_lab_and_its_token_never_reaches_a_copied_link() -> anyhow::Result<()>
{
    let relay = workshop_relay().await;
    let browser = Browser::start().await?;
    browser.client.goto(&join_link(&relay)).await?;
    browser.wait_for_status("live").await?;
    assert!(
        !address(&browser).await.contains(JOIN),
        "the address bar lost the token"
    );
    // A scenario chosen on the page goes in the address, the token does not.
    browser.click("#source-sim").await?;
    browser.select("#sim-model", "selector").await?;
    let link = wait_until("the scenario in the address", || async {
        Some(address(&browser).await).filter(|url| url.contains("model=selector"))
    })
    .await?;
    assert!(!link.contains("token"), "{link}");
    // The tab keeps its token: a reload (of the address without it) still
    // gets a lab.
    browser.client.refresh().await?;
    browser.wait_for_status("live").await?;
    browser.click("#source-live").await?;
    wait_until("a second lab", || async {
        (browser.text("#link-status").await? == "live · lab #2").then_some(())
    })
    .await?;
    assert!(
        browser.count("#echo-addr").await == 1,
        "back on the live source, the page shows its lab at once"
    );
    browser.close().await?;

    // Without the token: refused at the door, in the relay's words, and the
    // page runs the simulation instead of retrying.
    let stranger = Browser::start().await?;
    stranger.client.goto(&relay.url()).await?;
    stranger.wait_for_status("refused").await?;
    let reason = stranger
        .text("#lab-refused .reason")
        .await
        .unwrap_or_default();
    assert!(reason.contains("join link"), "{reason}");
    assert_eq!(
        stranger
            .attr("#source-sim", "aria-pressed")
            .await
            .as_deref(),
        Some("true")
    );
    stranger
        .screenshot_if_asked("refused-without-token")
        .await?;
    stranger.close().await?;
    relay.stop().await;
    Ok(())
}

#[tokio::test]
async fn the_host_sees_two_labs_with_their_models_and_clients_and_closes_one() -> anyhow::Result<()>
{
    let relay = workshop_relay().await;
    let first = Browser::start().await?;
    first.client.goto(&join_link(&relay)).await?;
    first.wait_for_status("live").await?;
    first.select("#live-model", "selector").await?;
    first.set_value("#spawn-count", "3").await?;
    first.select("#spawn-behaviour", "silent").await?;
    first.click("#spawn").await?;
    let second = Browser::start().await?;
    second.client.goto(&join_link(&relay)).await?;
    second.wait_for_status("live").await?;
    let second_lab = wait_until("the second page's lab number", || async {
        second
            .text("#link-status")
            .await?
            .split('#')
            .nth(1)?
            .trim()
            .parse::<u64>()
            .ok()
    })
    .await?;

    let host = Browser::start().await?;
    host.client
        .goto(&format!("{}host?token={HOST}", relay.url()))
        .await?;
    wait_until("the host token out of the address", || async {
        (!address(&host).await.contains(HOST)).then_some(())
    })
    .await?;
    wait_until(
        "two labs on the dashboard, one running the selector with 3 clients",
        || async {
            let models = host.texts("#labs tbody .model").await;
            let clients = host.texts("#labs tbody .clients").await;
            (models.len() == 2
                && models
                    .iter()
                    .zip(&clients)
                    .any(|(model, clients)| model == "selector loop" && clients == "3"))
            .then_some(())
        },
    )
    .await?;
    let listed = host.texts("#labs tbody .model").await;
    assert!(listed.contains(&"asyncio tasks".to_owned()), "{listed:?}");
    assert_eq!(
        host.text("#join-link").await.unwrap_or_default(),
        join_link(&relay)
    );
    host.screenshot_if_asked("host-dashboard").await?;

    host.click(&format!("#labs tr[data-lab='{second_lab}'] .close-lab"))
        .await?;
    second.wait_for_status("closed").await?;
    let reason = second.text("#lab-closed .reason").await.unwrap_or_default();
    assert!(reason.contains("host closed this lab"), "{reason}");
    wait_until("the dashboard without the closed lab", || async {
        (host.count("#labs tbody tr").await == 1).then_some(())
    })
    .await?;
    assert_eq!(
        first.attr("#link-status", "data-status").await.as_deref(),
        Some("live")
    );
    for browser in [first, second, host] {
        browser.close().await?;
    }
    relay.stop().await;
    Ok(())
}

/// Whether a page shows the simulation of `model`, as a lesson of it.
async fn shows(browser: &Browser, model: &str) -> bool {
    browser.prop("#sim-model", "value").await.as_deref() == Some(model)
        && browser.attr("#source-sim", "aria-pressed").await.as_deref() == Some("true")
        && address(browser).await.contains(&format!("model={model}"))
}

async fn push(relay: &Relay, link: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = format!(r#"{{"link": "{link}"}}"#);
    let request = format!(
        "PUT /host/lesson HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {HOST}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        relay.addr,
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(relay.addr).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    anyhow::ensure!(response.starts_with("HTTP/1.1 200"), "{response}");
    Ok(())
}

#[tokio::test]
async fn pages_follow_the_hosts_lesson_can_leave_and_come_back_and_a_late_page_starts_on_it()
-> anyhow::Result<()> {
    let relay = workshop_relay().await;
    let mut pages = Vec::new();
    for _ in 0..3 {
        let page = Browser::start().await?;
        page.client.goto(&join_link(&relay)).await?;
        page.wait_for_status("live").await?;
        pages.push(page);
    }
    assert_eq!(
        pages[0].count("#follow-host").await,
        0,
        "nothing to follow yet"
    );

    let pushed = Instant::now();
    push(&relay, "?model=blocking&clients=slow,polite*3").await?;
    for page in &pages {
        wait_until("the page on the host's lesson", || async {
            shows(page, "blocking").await.then_some(())
        })
        .await?;
    }
    println!(
        "three pages followed the push within {:?}",
        pushed.elapsed()
    );
    assert_eq!(
        pages[1]
            .prop("#follow-host input", "checked")
            .await
            .as_deref(),
        Some("true")
    );
    pages[1].screenshot_if_asked("following-the-host").await?;

    // The second page leaves; the next lesson moves only the others.
    pages[1].click("#follow-host input").await?;
    push(&relay, "?model=selector&clients=polite*5").await?;
    for page in [&pages[0], &pages[2]] {
        wait_until("the others on the next lesson", || async {
            shows(page, "selector").await.then_some(())
        })
        .await?;
    }
    // It heard the push too (the toggle's title names the host's lesson
    // in force), and did not move.
    wait_until("the page that left told of the next lesson", || async {
        pages[1]
            .attr("#follow-host", "title")
            .await?
            .contains("model=selector")
            .then_some(())
    })
    .await?;
    assert!(
        shows(&pages[1], "blocking").await,
        "a page that left stays where it was"
    );
    // Coming back brings it to the lesson in force.
    pages[1].click("#follow-host input").await?;
    wait_until("the page back on the host's lesson", || async {
        shows(&pages[1], "selector").await.then_some(())
    })
    .await?;

    // A page opened now starts on the lesson.
    let late = Browser::start().await?;
    late.client.goto(&join_link(&relay)).await?;
    wait_until("the late page on the lesson", || async {
        shows(&late, "selector").await.then_some(())
    })
    .await?;
    for page in pages.into_iter().chain([late]) {
        page.close().await?;
    }
    relay.stop().await;
    Ok(())
}

/// Bytes the page's visit moved over the network, as the browser counts
/// them (headers and compressed bodies; 0 for what came from its cache).
async fn bytes_on_the_wire(browser: &Browser) -> anyhow::Result<u64> {
    let total = browser
        .client
        .execute(
            "return performance.getEntriesByType('navigation')
                .concat(performance.getEntriesByType('resource'))
                .reduce((sum, entry) => sum + entry.transferSize, 0);",
            vec![],
        )
        .await?;
    Ok(total.as_f64().unwrap_or_default() as u64)
}

#[tokio::test]
async fn a_first_visit_is_compressed_and_a_second_comes_from_the_cache() -> anyhow::Result<()> {
    let relay = Relay::start().await;
    let browser = Browser::start().await?;
    browser.client.goto(&relay.url()).await?;
    browser.wait_for_status("live").await?;
    let first = bytes_on_the_wire(&browser).await?;
    browser.client.goto(&relay.url()).await?;
    browser.wait_for_status("live").await?;
    let second = bytes_on_the_wire(&browser).await?;
    println!("bytes on the wire: first visit {first}, second visit {second}");
    assert!(first < 300_000, "the first visit moved {first} bytes");
    assert!(second < 5_000, "the second visit moved {second} bytes");
    browser.close().await?;
    relay.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_step_the_host_pushes_opens_on_following_pages_and_waits_for_their_predictions()
-> anyhow::Result<()> {
    let relay = workshop_relay().await;
    let page = Browser::start().await?;
    page.client.goto(&join_link(&relay)).await?;
    page.wait_for_status("live").await?;
    assert_eq!(page.count("#lesson").await, 0);
    let own = wait_until("the lab's own listing", || async {
        page.text("#code-title").await
    })
    .await?;
    assert_ne!(
        own, "selector.py",
        "the lab starts under another model than the step's"
    );
    // The dashboard's "Step 3" button pushes this link.
    push(
        &relay,
        "?lesson=3&model=selector&speed=0.25&clients=polite,slow",
    )
    .await?;
    page.wait_for_step(3).await?;
    // A live page stays live: its own lab restarts under the step's model.
    wait_until("the live lab under the step's model", || async {
        (page.text("#code-title").await? == "selector.py").then_some(())
    })
    .await?;
    assert_eq!(
        page.attr("#source-live", "aria-pressed").await.as_deref(),
        Some("true")
    );
    let where_text = page.text(".lesson-look").await.unwrap_or_default();
    assert!(where_text.contains("in the live lab"), "{where_text}");
    assert!(address(&page).await.contains("lesson=3"));
    // Nothing is proved before the attendee has predicted and run it.
    assert_eq!(page.count("#lesson-proof").await, 0);
    assert_eq!(
        page.prop("#lesson-run", "disabled").await.as_deref(),
        Some("true")
    );
    page.close().await?;
    relay.stop().await;
    Ok(())
}
