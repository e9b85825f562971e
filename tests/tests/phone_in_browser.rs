//! A phone is a first-class attendee: at 390×844 and 360×740 (a phone's
//! user agent, touch, 3 device pixels per CSS pixel, as Chromium's phone
//! emulation gives them) the playground and the lesson fit the screen's
//! width: no sideways scroll, every button within reach, the step's text,
//! its question and its proof readable without panning.

use loopscope_e2e::{Browser, open_simulation_in, wait_until};

/// The phones played: CSS pixels wide and high.
const PHONES: [(u32, u32); 2] = [(390, 844), (360, 740)];

/// A phone of `width`×`height` on the playground at `link`, with no relay
/// (it runs the simulation).
async fn open_on_phone(
    width: u32,
    height: u32,
    link: &str,
) -> anyhow::Result<(Browser, tokio::task::JoinHandle<std::io::Result<()>>)> {
    open_simulation_in(Browser::start_phone(width, height).await?, link).await
}

/// The page's width against the viewport's: a page wider than its screen
/// scrolls sideways.
async fn widths(browser: &Browser) -> anyhow::Result<(f64, f64)> {
    let pair: Vec<f64> = serde_json::from_value(
        browser
            .client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await?,
    )?;
    Ok((pair[0], pair[1]))
}

/// The elements `css` finds that are shown and reach past the screen's
/// left or right edge, described.
async fn cut_off(browser: &Browser, width: u32, css: &str) -> anyhow::Result<Vec<String>> {
    let found = browser
        .client
        .execute(
            "const width = arguments[1];
             return [...document.querySelectorAll(arguments[0])]
               .filter(e => e.getClientRects().length > 0)
               .map(e => [e, e.getBoundingClientRect()])
               .filter(([e, r]) => r.width > 0 && (r.left < -0.5 || r.right > width + 0.5))
               .map(([e, r]) => `${e.tagName.toLowerCase()}#${e.id}.${e.className} ` +
                                `${Math.round(r.left)}..${Math.round(r.right)}`);",
            vec![css.into(), width.into()],
        )
        .await?;
    Ok(serde_json::from_value(found)?)
}

/// Nothing scrolls sideways on a phone `width` wide (a page wider than the
/// phone widens its layout viewport: the phone zooms out, or pans), and
/// nothing `css` finds is cut off.
async fn fits(browser: &Browser, width: u32, css: &str, what: &str) -> anyhow::Result<()> {
    let (scroll, inner) = widths(browser).await?;
    let cut = cut_off(browser, width, css).await?;
    let width = f64::from(width);
    assert!(
        inner <= width + 0.5 && scroll <= width + 0.5,
        "{what}: the page is {scroll} px wide (its viewport {inner} px) on a {width} px screen; \
         past its edge: {cut:?}"
    );
    assert!(
        cut.is_empty(),
        "{what}: cut off at the screen's edge: {cut:?}"
    );
    Ok(())
}

#[tokio::test]
async fn on_a_phone_the_playground_fits_the_screen_s_width() -> anyhow::Result<()> {
    for (width, height) in PHONES {
        let (browser, server) = open_on_phone(
            width,
            height,
            "?model=async_tasks&speed=0.25&clients=polite*3",
        )
        .await?;
        wait_until("the lanes", || async {
            (browser.count("#lanes .lane").await >= 3).then_some(())
        })
        .await?;
        browser
            .screenshot_if_asked(&format!("phone-{width}-playground"))
            .await?;
        fits(
            &browser,
            width,
            "button, select, input, label, h2, p, .lane-name, #code, canvas",
            &format!("the playground at {width}×{height}"),
        )
        .await?;
        // The bars take the screen's width (the names lie over them), and
        // the timeline bar leaves the screen to the page.
        let sizes: Vec<f64> = serde_json::from_value(
            browser
                .client
                .execute(
                    "return [document.querySelector('.lanes-canvas').getBoundingClientRect().width,
                             document.querySelector('.timeline').getBoundingClientRect().height];",
                    vec![],
                )
                .await?,
        )?;
        let (bars, timeline) = (sizes[0], sizes[1]);
        assert!(
            bars >= 0.8 * f64::from(width),
            "the lanes' bars are {bars} px wide on a {width} px screen"
        );
        assert!(
            timeline <= 0.12 * f64::from(height),
            "the timeline bar is {timeline} px high on a {height} px screen"
        );
        browser.close().await?;
        server.abort();
    }
    Ok(())
}

#[tokio::test]
async fn on_a_phone_the_lesson_is_read_and_run_without_panning() -> anyhow::Result<()> {
    for (width, height) in PHONES {
        let (browser, server) = open_on_phone(width, height, "?lesson=5").await?;
        browser.wait_for_step(5).await?;
        let what = format!("step 5 at {width}×{height}");
        browser
            .screenshot_if_asked(&format!("phone-{width}-step"))
            .await?;
        fits(
            &browser,
            width,
            "#lesson, #lesson button, #lesson-question, #lesson-question label, #lesson-watch, \
             #tab-controls, #tab-log",
            &what,
        )
        .await?;
        browser.click("#lesson-answer-2").await?;
        browser.click("#lesson-run").await?;
        wait_until("the run's proof", || async {
            browser.attr("#lesson-proof", "data-answer").await
        })
        .await?;
        browser
            .screenshot_if_asked(&format!("phone-{width}-proof"))
            .await?;
        fits(&browser, width, "#lesson-proof, #lesson-proof p", &what).await?;
        browser.close().await?;
        server.abort();
    }
    Ok(())
}
