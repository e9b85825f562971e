//! The end-to-end harness: a relay served in-process on an ephemeral loopback
//! port, and a real headless Chromium driven through ChromeDriver.
//!
//! The app must be built first (`dist/`, which `scripts/test.sh` builds with
//! Trunk); the relay under test is a debug build, which reads `dist/` from
//! disk.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use loopscope_relay::{Config, serve};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Longest a test waits for the page to show something. Generous: a test
/// that passes never waits this long, and a fresh 2-core machine busy with
/// other work (other browsers of the same run, a build) can take many
/// seconds to load a page and its WebAssembly.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The built app, as Trunk leaves it (`LOOPSCOPE_DIST_DIR` names another
/// build, such as one with function names kept for profiling).
pub fn dist_dir() -> PathBuf {
    std::env::var_os("LOOPSCOPE_DIST_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist"),
        PathBuf::from,
    )
}

fn require_built_app() {
    assert!(
        dist_dir().join("index.html").exists(),
        "the app is not built: run scripts/test.sh (it builds dist/ with Trunk first)"
    );
}

/// Serves the built app from a plain static server in this process (no
/// relay, as `trunk serve` or any web host would): the page runs the
/// simulation. Returns its address; the server stops with the handle.
pub async fn serve_static_app() -> anyhow::Result<(SocketAddr, JoinHandle<std::io::Result<()>>)> {
    require_built_app();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let files =
        axum::Router::new().fallback_service(tower_http::services::ServeDir::new(dist_dir()));
    Ok((
        addr,
        tokio::spawn(async move { axum::serve(listener, files).await }),
    ))
}

/// A relay running in this process.
pub struct Relay {
    /// Where it serves.
    pub addr: SocketAddr,
    stop: CancellationToken,
    served: JoinHandle<anyhow::Result<()>>,
}

impl Relay {
    /// Starts a relay on an ephemeral loopback port.
    pub async fn start() -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding loopback");
        Relay::serve_on(listener)
    }

    /// Starts a relay on the given port (to restart one where it was).
    pub async fn start_on(addr: SocketAddr) -> Relay {
        let listener = TcpListener::bind(addr)
            .await
            .expect("binding the old address again");
        Relay::serve_on(listener)
    }

    /// Starts a relay with `config` on an ephemeral loopback port.
    pub async fn start_with(config: Config) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding loopback");
        Relay::serve_with(listener, config)
    }

    fn serve_on(listener: TcpListener) -> Relay {
        Relay::serve_with(listener, Config::default())
    }

    fn serve_with(listener: TcpListener, config: Config) -> Relay {
        require_built_app();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let served = tokio::spawn(serve(listener, config, stop.clone()));
        Relay { addr, stop, served }
    }

    /// The page's address.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Shuts the relay down the way Ctrl-C does and waits until it is gone.
    pub async fn stop(self) {
        self.stop.cancel();
        self.served
            .await
            .expect("relay task")
            .expect("relay stopped cleanly");
    }
}

/// Opens the app at `link` (`?model=…`, or empty) in a fresh browser, from
/// a plain static server (no relay), once the page says no relay answers.
/// The server stops when its handle is aborted.
pub async fn open_simulation(
    link: &str,
) -> anyhow::Result<(Browser, JoinHandle<std::io::Result<()>>)> {
    open_simulation_in(Browser::start().await?, link).await
}

/// [`open_simulation`] in `browser` (a phone's, say).
pub async fn open_simulation_in(
    browser: Browser,
    link: &str,
) -> anyhow::Result<(Browser, JoinHandle<std::io::Result<()>>)> {
    let (addr, server) = serve_static_app().await?;
    browser
        .client
        .goto(&format!("http://{addr}/{link}"))
        .await?;
    browser.wait_for_status("no-relay").await?;
    Ok((browser, server))
}

/// The value below which `fraction` of `values` lie (sorts them).
pub fn percentile(values: &mut [f64], fraction: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let index = ((values.len() as f64 * fraction).ceil() as usize).clamp(1, values.len()) - 1;
    values[index]
}

/// The numbers of the array `value[key]` (a page's measurements).
pub fn numbers(value: &serde_json::Value, key: &str) -> Vec<f64> {
    value[key]
        .as_array()
        .map(|values| {
            values
                .iter()
                .filter_map(serde_json::Value::as_f64)
                .collect()
        })
        .unwrap_or_default()
}

/// A headless Chromium under ChromeDriver, with its own empty profile.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    downloads: tempfile::TempDir,
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium (1280×800).
    pub async fn start() -> anyhow::Result<Browser> {
        Browser::start_with(None).await
    }

    /// A browser that plays a phone `width`×`height` CSS pixels wide and
    /// high, at 3 device pixels per CSS pixel, with a phone's user agent
    /// and touch: what an attendee who scanned the QR code has.
    pub async fn start_phone(width: u32, height: u32) -> anyhow::Result<Browser> {
        Browser::start_with(Some((width, height))).await
    }

    async fn start_with(phone: Option<(u32, u32)>) -> anyhow::Result<Browser> {
        let (driver, port) = start_chromedriver().await?;
        let profile = tempfile::tempdir().context("making a browser profile folder")?;
        let downloads = tempfile::tempdir().context("making a downloads folder")?;
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,800",
        ]
        .into_iter()
        .map(String::from)
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium_binary(),
                "args": args,
                // What the page offers to save lands here, unasked.
                "prefs": {
                    "download.default_directory": downloads.path(),
                    "download.prompt_for_download": false,
                },
            }),
        );
        if let Some((width, height)) = phone
            && let Some(options) = capabilities["goog:chromeOptions"].as_object_mut()
        {
            options.insert(
                "mobileEmulation".into(),
                serde_json::json!({
                    "deviceMetrics": {
                        "width": width,
                        "height": height,
                        "pixelRatio": 3.0,
                        "touch": true,
                        "mobile": true,
                    },
                    "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
                                  (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
                }),
            );
        }
        // The console's errors (failed requests included), for
        // `console_errors`.
        capabilities.insert(
            "goog:loggingPrefs".into(),
            serde_json::json!({ "browser": "SEVERE" }),
        );
        let client = ClientBuilder::native()
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .context("starting a Chromium session through ChromeDriver")?;
        Ok(Browser {
            client,
            driver,
            _profile: profile,
            downloads,
        })
    }

    /// Waits for a file whose name ends in `suffix` to finish downloading,
    /// and gives its path: Chromium writes into a `.crdownload` file and
    /// may hold the final name empty meanwhile, so the file counts once
    /// no download is under way and it has the same size twice running.
    pub async fn downloaded(&self, suffix: &str) -> anyhow::Result<PathBuf> {
        let last_size = std::cell::Cell::new(None);
        wait_until(&format!("a downloaded *{suffix}"), || async {
            let paths: Vec<PathBuf> = std::fs::read_dir(self.downloads.path())
                .ok()?
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .collect();
            if paths
                .iter()
                .any(|path| path.to_string_lossy().ends_with(".crdownload"))
            {
                return None;
            }
            let path = paths
                .into_iter()
                .find(|path| path.to_string_lossy().ends_with(suffix))?;
            let size = std::fs::metadata(&path).ok()?.len();
            let settled = size > 0 && last_size.replace(Some(size)) == Some(size);
            settled.then_some(path)
        })
        .await
    }

    /// Picks the file at `path` in the file input matching `css`, as a
    /// person does in the file dialog.
    pub async fn pick_file(&self, css: &str, path: &Path) -> anyhow::Result<()> {
        let input = self.client.find(Locator::Css(css)).await?;
        input.send_keys(&path.to_string_lossy()).await?;
        Ok(())
    }

    /// Text of the first element matching `css`, if there is one.
    pub async fn text(&self, css: &str) -> Option<String> {
        let element = self.client.find(Locator::Css(css)).await.ok()?;
        element.text().await.ok()
    }

    /// Texts of every element matching `css`, in page order.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let Ok(elements) = self.client.find_all(Locator::Css(css)).await else {
            return Vec::new();
        };
        let mut texts = Vec::with_capacity(elements.len());
        for element in elements {
            texts.push(element.text().await.unwrap_or_default());
        }
        texts
    }

    /// Replaces the value of the input matching `css` as a person does:
    /// select all, delete, type; each step fires the input events the page
    /// listens to (WebDriver's own clear fires none, and a page that
    /// re-renders meanwhile would put the old value back).
    pub async fn set_value(&self, css: &str, value: &str) -> anyhow::Result<()> {
        const CONTROL: char = '\u{E009}';
        const RELEASE_MODIFIERS: char = '\u{E000}';
        const BACKSPACE: char = '\u{E003}';
        let input = self.client.find(Locator::Css(css)).await?;
        input
            .send_keys(&format!("{CONTROL}a{RELEASE_MODIFIERS}{BACKSPACE}{value}"))
            .await?;
        Ok(())
    }

    /// Picks the option with `value` in the select matching `css`.
    pub async fn select(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let select = self.client.find(Locator::Css(css)).await?;
        select.select_by_value(value).await?;
        Ok(())
    }

    /// A property (such as a select's current `value`) of the element
    /// matching `css`.
    pub async fn prop(&self, css: &str, name: &str) -> Option<String> {
        let element = self.client.find(Locator::Css(css)).await.ok()?;
        element.prop(name).await.ok().flatten()
    }

    /// Presses keys as a person would, on the page itself.
    pub async fn press(&self, keys: &str) -> anyhow::Result<()> {
        let body = self.client.find(Locator::Css("body")).await?;
        body.send_keys(keys).await?;
        Ok(())
    }

    /// An attribute of the first element matching `css`.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        let element = self.client.find(Locator::Css(css)).await.ok()?;
        element.attr(name).await.ok().flatten()
    }

    /// How many elements match `css`.
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map_or(0, |found| found.len())
    }

    /// Clicks the element matching `css`, first scrolled to the middle of
    /// the window as a person would (the page's timeline bar stays at the
    /// bottom of the window, over what is scrolled under it).
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let element = self.client.find(Locator::Css(css)).await?;
        self.client
            .execute(
                "arguments[0].scrollIntoView({ block: 'center' });",
                vec![serde_json::to_value(&element)?],
            )
            .await?;
        element.click().await?;
        Ok(())
    }

    /// Waits until the link badge says `status` (`live`, `lost`, `no-relay`).
    pub async fn wait_for_status(&self, status: &str) -> anyhow::Result<()> {
        wait_until(&format!("link status {status}"), || async {
            (self.attr("#link-status", "data-status").await.as_deref() == Some(status))
                .then_some(())
        })
        .await
    }

    /// Waits until the link badge has shown `status` at some point, even if
    /// it shows another one now: for a status that lasts a moment only
    /// (a lab the relay closes for idleness is live for its idle timeout,
    /// which a busy machine may spend loading the page).
    pub async fn wait_for_status_shown(&self, status: &str) -> anyhow::Result<()> {
        wait_until(
            &format!("link status {status} in the badge's history"),
            || async {
                self.status_history()
                    .await
                    .contains(&status.to_owned())
                    .then_some(())
            },
        )
        .await
    }

    /// Marks the document now shown, so that [`Browser::wait_for_new_document`]
    /// can tell it from the next one (a history such as
    /// [`Browser::status_history`] belongs to one document).
    pub async fn mark_document(&self) -> anyhow::Result<()> {
        self.client
            .execute("window.loopscopeOldDocument = true;", vec![])
            .await?;
        Ok(())
    }

    /// Waits until the page has loaded again since [`Browser::mark_document`].
    pub async fn wait_for_new_document(&self) -> anyhow::Result<()> {
        wait_until("the page loaded again", || async {
            let value = self
                .client
                .execute(
                    "return document.readyState !== 'loading' \
                     && window.loopscopeOldDocument === undefined;",
                    vec![],
                )
                .await
                .ok()?;
            (value == serde_json::Value::Bool(true)).then_some(())
        })
        .await
    }

    /// The statuses the link badge has shown, oldest first.
    pub async fn status_history(&self) -> Vec<String> {
        self.attr("#link-status", "data-history")
            .await
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// Waits until the lesson panel shows step `number`.
    pub async fn wait_for_step(&self, number: usize) -> anyhow::Result<()> {
        let start = format!("{number}.");
        wait_until(&format!("step {number}"), || async {
            self.text("#lesson-title")
                .await?
                .starts_with(&start)
                .then_some(())
        })
        .await
    }

    /// The errors the page's console got since the last call: its own
    /// (a panic's message) and the browser's (a request that failed, a
    /// WebSocket that could not connect), one line each.
    pub async fn console_errors(&self) -> anyhow::Result<Vec<String>> {
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .context("reading the browser's console log")?;
        Ok(log
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect())
    }

    /// Drags the timeline's scrubber to `to` (`"min"`, `"max"` or a
    /// number), as a person's drag ends: the value set, then the input
    /// event.
    pub async fn scrub_to(&self, to: &str) -> anyhow::Result<()> {
        self.client
            .execute(
                "const scrub = document.querySelector('#scrub');
                 const to = arguments[0];
                 scrub.value = to === 'min' ? scrub.min : to === 'max' ? scrub.max : to;
                 scrub.dispatchEvent(new Event('input', { bubbles: true }));",
                vec![to.into()],
            )
            .await?;
        Ok(())
    }

    /// Saves a screenshot when `LOOPSCOPE_SCREENSHOT_DIR` is set (for the
    /// README and for looking at what a person sees).
    pub async fn screenshot_if_asked(&self, name: &str) -> anyhow::Result<()> {
        if let Some(folder) = std::env::var_os("LOOPSCOPE_SCREENSHOT_DIR") {
            let png = self.client.screenshot().await?;
            std::fs::write(Path::new(&folder).join(format!("{name}.png")), png)?;
        }
        Ok(())
    }

    /// Ends the session and ChromeDriver.
    pub async fn close(mut self) -> anyhow::Result<()> {
        self.client.clone().close().await?;
        let _ = self.driver.kill().await;
        Ok(())
    }
}

impl Drop for Browser {
    /// Ends ChromeDriver and every Chromium process it started, also when a
    /// test fails before `close` (they would otherwise go on running their
    /// pages, and skew whatever runs next).
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id().and_then(|pid| i32::try_from(pid).ok()) {
            // SAFETY: killpg only sends a signal; the group is the driver's
            // own (made with process_group(0), so its id is the driver's).
            unsafe {
                libc::killpg(pid, libc::SIGKILL);
            }
        }
    }
}

/// ChromeDriver's console log of the session's browser (the `se/log`
/// command Selenium uses; WebDriver itself has none).
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// Polls `check` until it gives a value or [`PATIENCE`] runs out. The page
/// changes on its own schedule (frames, socket messages), so a test can only
/// watch it.
pub async fn wait_until<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("gave up waiting for {what} after {PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn chromium_binary() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// Starts ChromeDriver on a free port and waits until it says it is ready.
async fn start_chromedriver() -> anyhow::Result<(Child, u16)> {
    let port = TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port();
    let mut driver =
        Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            // Its own process group, with the Chromium it starts, so that
            // dropping the browser ends them all (see `Drop for Browser`).
            .process_group(0)
            .spawn()
            .context("starting chromedriver (scripts/test.sh installs Debian's chromium-driver)")?;
    let stdout = driver.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = async {
        while let Some(line) = lines.next_line().await? {
            if line.contains("started successfully") {
                return Ok(());
            }
        }
        bail!("chromedriver exited before it was ready")
    };
    tokio::time::timeout(PATIENCE, ready)
        .await
        .context("chromedriver did not start in time")??;
    // Keep draining its output so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((driver, port))
}
