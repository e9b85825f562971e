//! The app in a real headless Chromium, served by a real relay.

use std::cell::RefCell;

use loopscope_e2e::{Browser, Relay, dist_dir, wait_until};
use tokio::net::TcpListener;

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
async fn spawning_a_client_shows_its_connection_and_the_echoed_bytes_grow() -> anyhow::Result<()> {
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
        format!("{}", relay.addr),
        "the lab has its own port"
    );
    assert_eq!(browser.count("#connections tbody tr").await, 0);
    assert_eq!(bytes_echoed(&browser).await, Some(0));

    browser.click("#spawn").await?;
    wait_until("a connection row", || async {
        (browser.count("#connections tbody tr").await == 1).then_some(())
    })
    .await?;
    // The client sends a message every 200 ms: watch the counter climb to
    // the client's total, never going back.
    let seen = RefCell::new(Vec::new());
    wait_until("all of the client's bytes echoed", || async {
        let now = bytes_echoed(&browser).await?;
        let mut seen = seen.borrow_mut();
        if seen.last() != Some(&now) {
            seen.push(now);
        }
        (now == DEFAULT_CLIENT_BYTES).then_some(())
    })
    .await?;
    let seen = seen.into_inner();
    assert!(
        seen.windows(2).all(|pair| pair[0] < pair[1]),
        "the counter only grows: {seen:?}"
    );
    wait_until("the finished task", || async {
        let state = browser.text("#connections tbody tr .state").await?;
        (state == "done").then_some(())
    })
    .await?;

    browser.click("#spawn").await?;
    wait_until("a second client's bytes", || async {
        (bytes_echoed(&browser).await? == 2 * DEFAULT_CLIENT_BYTES).then_some(())
    })
    .await?;
    assert_eq!(browser.count("#connections tbody tr").await, 2);
    assert_eq!(
        browser.text("#counter-clients-finished").await.as_deref(),
        Some("2")
    );
    browser.screenshot_if_asked("live-lab").await?;

    browser.close().await?;
    relay.stop().await;
    Ok(())
}

#[tokio::test]
async fn without_a_relay_the_page_says_so_and_offers_the_simulation() -> anyhow::Result<()> {
    // A plain static file server, as `trunk serve` or any web host would be.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let files =
        axum::Router::new().fallback_service(tower_http::services::ServeDir::new(dist_dir()));
    let server = tokio::spawn(async move { axum::serve(listener, files).await });

    let browser = Browser::start().await?;
    browser.client.goto(&format!("http://{addr}/")).await?;
    browser.wait_for_status("no-relay").await?;
    let notice = browser.text("#no-relay").await.unwrap_or_default();
    assert!(notice.contains("No relay answered"), "{notice}");
    assert!(
        notice.contains(&format!("ws://{addr}/ws")),
        "it names the address it tried: {notice}"
    );
    let placeholder = browser
        .text("#simulation-placeholder")
        .await
        .unwrap_or_default();
    assert!(placeholder.contains("not built yet"), "{placeholder}");
    assert_eq!(
        browser.attr("#spawn", "disabled").await.as_deref(),
        Some("true")
    );
    browser.screenshot_if_asked("no-relay").await?;

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
