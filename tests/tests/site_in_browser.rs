//! The playground as a static site, as a teacher would put it on any web
//! host: built by `scripts/build-site.sh /loopscope/` (the test command
//! builds it into `target/loopscope-site/`), served by a plain static file
//! server under the sub-path `/loopscope/`, opened in a real headless
//! Chromium. The simulation, a lesson step run to its proof, a saved run
//! opened again, its scenario's link and time travel all work there; the
//! page never asks for a relay and never speaks of one; every request it
//! makes stays under the sub-path and succeeds, and its console has no
//! error.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use loopscope_e2e::{Browser, wait_until};
use tokio::net::TcpListener;

const SUB_PATH: &str = "/loopscope/";

/// The built site (`LOOPSCOPE_SITE_DIR` names another build).
fn site_dir() -> PathBuf {
    std::env::var_os("LOOPSCOPE_SITE_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/loopscope-site"),
        PathBuf::from,
    )
}

/// A plain static file server with the site under [`SUB_PATH`], which
/// remembers every request it answered (its path and query, and status).
struct StaticHost {
    url: String,
    requests: Arc<Mutex<Vec<(String, u16)>>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl StaticHost {
    async fn start() -> anyhow::Result<StaticHost> {
        let site = site_dir();
        anyhow::ensure!(
            site.join("index.html").exists(),
            "no static site in {}: run scripts/test.sh (it builds it with scripts/build-site.sh {SUB_PATH} target/loopscope-site)",
            site.display()
        );
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        let files = axum::Router::new()
            .nest_service(
                SUB_PATH.trim_end_matches('/'),
                tower_http::services::ServeDir::new(site),
            )
            .layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    let recorded = Arc::clone(&recorded);
                    async move {
                        let asked = request.uri().to_string();
                        let response = next.run(request).await;
                        recorded
                            .lock()
                            .unwrap()
                            .push((asked, response.status().as_u16()));
                        response
                    }
                },
            ));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}{SUB_PATH}", listener.local_addr()?);
        let server = tokio::spawn(async move { axum::serve(listener, files).await });
        Ok(StaticHost {
            url,
            requests,
            server,
        })
    }

    fn requests(&self) -> Vec<(String, u16)> {
        self.requests.lock().unwrap().clone()
    }
}

/// The page's visible text, lower-cased.
async fn page_text(browser: &Browser) -> anyhow::Result<String> {
    let text = browser
        .client
        .execute("return document.body.innerText;", vec![])
        .await?;
    Ok(text.as_str().unwrap_or_default().to_lowercase())
}

/// Asserts the page says nothing of a relay or of retrying.
async fn assert_no_word_of_a_relay(browser: &Browser, when: &str) -> anyhow::Result<()> {
    let text = page_text(browser).await?;
    for word in ["relay", "retrying", "reconnecting"] {
        assert!(
            !text.contains(word),
            "{when}: the page says {word:?}:\n{text}"
        );
    }
    Ok(())
}

/// The page's path and query.
async fn path_and_query(browser: &Browser) -> anyhow::Result<(String, String)> {
    let url = browser.client.current_url().await?;
    Ok((
        url.path().to_owned(),
        url.query().unwrap_or_default().to_owned(),
    ))
}

#[tokio::test]
async fn the_static_site_under_a_sub_path_runs_the_lesson_and_saved_runs_and_never_asks_for_a_relay()
-> anyhow::Result<()> {
    let host = StaticHost::start().await?;
    let browser = Browser::start().await?;
    browser.client.goto(&host.url).await?;
    // The page knows it is a static site's: its status says so from the
    // start, and the simulation is the source.
    browser.wait_for_status("static").await?;
    assert_eq!(browser.status_history().await, ["static"]);
    wait_until("the simulation chosen", || async {
        (browser.attr("#source-sim", "aria-pressed").await? == "true").then_some(())
    })
    .await?;
    assert_eq!(
        browser.count("#source-live").await,
        0,
        "no live source offered"
    );
    let elsewhere = browser.text("#live-elsewhere").await.unwrap_or_default();
    assert!(elsewhere.contains("scripts/run.sh"), "{elsewhere}");
    assert_no_word_of_a_relay(&browser, "the playground").await?;

    // The help says nothing of a relay either.
    browser.click("#help-button").await?;
    wait_until("the help", || async {
        (browser.count("#glossary").await > 0).then_some(())
    })
    .await?;
    assert_no_word_of_a_relay(&browser, "the help").await?;
    browser.press("\u{e00c}").await?; // Escape
    wait_until("the help closed", || async {
        (browser.count("#glossary").await == 0).then_some(())
    })
    .await?;

    // A lesson step, run to its proof; its address stays under the sub-path.
    browser.click("#lesson-button").await?;
    browser.wait_for_step(1).await?;
    let (path, query) = path_and_query(&browser).await?;
    assert_eq!(path, SUB_PATH);
    assert!(query.contains("lesson=1"), "{query}");
    browser.click("#lesson-answer-1").await?;
    browser.click("#lesson-run").await?;
    let proved = wait_until("step 1's proof", || async {
        browser.attr("#lesson-proof", "data-answer").await
    })
    .await?;
    assert_eq!(proved, "1", "step 1 proves the others wait in the backlog");
    assert_eq!(
        browser.text("#lesson-verdict").await.as_deref(),
        Some("You predicted it.")
    );
    assert_no_word_of_a_relay(&browser, "the lesson").await?;
    browser.click("#lesson-button").await?; // closed again
    wait_until("the lesson closed", || async {
        (browser.count("#lesson-title").await == 0).then_some(())
    })
    .await?;

    // The run saved to a file, then opened again.
    wait_until("something to save", || async {
        (browser.prop("#save-run", "disabled").await? == "false").then_some(())
    })
    .await?;
    browser.click("#save-run").await?;
    let saved = browser.downloaded(".loopscope.gz").await?;
    browser.pick_file("#open-run", &saved).await?;
    wait_until("the saved run shown", || async {
        browser
            .text("#saved-run-summary")
            .await
            .filter(|text| text.contains("a simulation"))
    })
    .await?;
    assert_no_word_of_a_relay(&browser, "the saved run").await?;
    // Back in time, in the saved run.
    browser.scrub_to("min").await?;
    wait_until("looking back", || async {
        browser
            .text("#scrub-position")
            .await
            .filter(|text| text.contains("looking back"))
    })
    .await?;
    // Its scenario's link is the page's own, under the sub-path.
    let link = browser
        .prop("#saved-scenario", "href")
        .await
        .context("the saved run's scenario link")?;
    assert!(
        link.starts_with(&format!("{}?model=", host.url)),
        "{link} is under {}",
        host.url
    );
    browser.mark_document().await?;
    browser.click("#saved-scenario").await?;
    browser.wait_for_new_document().await?;
    wait_until("the scenario's page", || async {
        let (path, query) = path_and_query(&browser).await.ok()?;
        (path == SUB_PATH && query.starts_with("model=")).then_some(())
    })
    .await?;
    browser.wait_for_status("static").await?;

    // What the page asked for: only its own files, all found; nothing
    // else, no relay's `ws` or `lesson`, and no error in its console.
    let requests = host.requests();
    assert!(requests.len() >= 4, "{requests:?}");
    for (asked, status) in &requests {
        assert!(asked.starts_with(SUB_PATH), "{asked} is outside {SUB_PATH}");
        let path = asked.split('?').next().unwrap_or_default();
        assert!(
            !path.ends_with("/ws") && !path.ends_with("/lesson"),
            "the page asked for a relay: {asked}"
        );
        assert!(*status < 400, "{asked}: {status}");
    }
    let errors = browser.console_errors().await?;
    assert!(errors.is_empty(), "the console: {errors:#?}");
    browser.screenshot_if_asked("static-site").await?;
    browser.close().await?;
    host.server.abort();
    Ok(())
}

#[tokio::test]
async fn the_console_log_the_site_test_reads_does_report_a_failed_request() -> anyhow::Result<()> {
    // The site test's "no error in the console" would pass on a log that
    // is never read: here the page asks for a file that is not there.
    let host = StaticHost::start().await?;
    let browser = Browser::start().await?;
    browser.client.goto(&host.url).await?;
    browser.wait_for_status("static").await?;
    browser
        .client
        .execute("fetch('missing.js'); return null;", vec![])
        .await?;
    let errors = wait_until("the 404 in the console", || async {
        let errors = browser.console_errors().await.ok()?;
        (!errors.is_empty()).then_some(errors)
    })
    .await?;
    assert!(
        errors.iter().any(|error| error.contains("404")),
        "{errors:#?}"
    );
    assert!(
        host.requests()
            .iter()
            .any(|(asked, status)| asked.ends_with("missing.js") && *status == 404)
    );
    browser.close().await?;
    host.server.abort();
    Ok(())
}
