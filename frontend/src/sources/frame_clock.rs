//! How long the app works per animation frame: the events it applied since
//! the last frame plus the render. Each frame's total goes to the browser's
//! performance timeline as a `loopscope frame` measure, which DevTools shows
//! and the frame benchmark (`tests/benches/frames.rs`) reads; the page also
//! marks `loopscope interactive` once, when it first answers to clicks.
//!
//! Measures are removed from the timeline as soon as they are made, so a
//! page left open for hours keeps none; a `PerformanceObserver` still sees
//! each one.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Function, Object, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

/// The name of each frame's measure.
pub const FRAME: &str = "loopscope frame";
/// The name of the mark made when the page first answers.
pub const INTERACTIVE: &str = "loopscope interactive";

thread_local! {
    /// Milliseconds of work since the last frame's measure.
    static BUSY_MS: Cell<f64> = const { Cell::new(0.0) };
    static INTERACTIVE_MARKED: Cell<bool> = const { Cell::new(false) };
    /// Milliseconds the last frame's render took.
    static LAST_RENDER_MS: Cell<f64> = const { Cell::new(0.0) };
}

fn performance() -> Option<web_sys::Performance> {
    web_sys::window()?.performance()
}

/// Milliseconds since the page started.
pub fn now() -> f64 {
    performance().map_or(0.0, |performance| performance.now())
}

/// Runs `work`, counting its time towards the next frame's.
pub fn time<T>(work: impl FnOnce() -> T) -> T {
    let started = now();
    let result = work();
    add(now() - started);
    result
}

/// Counts `ms` of work towards the next frame's.
pub fn add(ms: f64) {
    BUSY_MS.with(|busy| busy.set(busy.get() + ms));
}

/// Milliseconds the last frame's render took (0 before the first).
pub fn last_render_ms() -> f64 {
    LAST_RENDER_MS.with(Cell::get)
}

/// Marks the moment the page first answers (once; later calls do nothing).
pub fn mark_interactive() {
    if INTERACTIVE_MARKED.with(|marked| !marked.replace(true))
        && let Some(performance) = performance()
    {
        let _ = performance.mark(INTERACTIVE);
    }
}

/// Ends a frame: its work so far becomes one measure, ending now, whose
/// `detail.render` says how much of it was the render (`render_ms`; the
/// rest applied events).
pub fn frame_done(render_ms: f64) {
    LAST_RENDER_MS.with(|last| last.set(render_ms));
    let busy = BUSY_MS.with(|busy| busy.replace(0.0));
    let Some(performance) = performance() else {
        return;
    };
    let end = performance.now();
    let options = Object::new();
    let _ = Reflect::set(&options, &"start".into(), &(end - busy).into());
    let _ = Reflect::set(&options, &"end".into(), &end.into());
    let detail = Object::new();
    let _ = Reflect::set(&detail, &"render".into(), &render_ms.into());
    let _ = Reflect::set(&options, &"detail".into(), &detail);
    // `measure(name, {start, end})`, which web-sys offers only behind its
    // unstable flag.
    if let Ok(measure) = Reflect::get(&performance, &"measure".into())
        && let Ok(measure) = measure.dyn_into::<Function>()
    {
        let _ = measure.call2(&performance, &JsValue::from_str(FRAME), &options);
        performance.clear_measures_with_measure_name(FRAME);
    }
}

/// A frame callback that asks for the next frame itself: shared with its
/// own body.
type FrameCallback = Rc<RefCell<Option<Closure<dyn FnMut(f64)>>>>;

/// Calls a function once per animation frame, with the milliseconds since
/// its last call (0 the first time), until dropped. A background tab runs
/// no frames, so nothing runs there.
pub struct EveryFrame {
    next: FrameCallback,
    handle: Rc<Cell<i32>>,
}

impl EveryFrame {
    /// Starts calling `tick`.
    pub fn start(mut tick: impl FnMut(f64) + 'static) -> EveryFrame {
        let next = FrameCallback::default();
        let handle = Rc::new(Cell::new(0));
        let mut last = None::<f64>;
        let again = Rc::clone(&next);
        let again_handle = Rc::clone(&handle);
        *next.borrow_mut() = Some(Closure::new(move |at: f64| {
            tick(last.map_or(0.0, |last| (at - last).max(0.0)));
            last = Some(at);
            if let Some(closure) = again.borrow().as_ref() {
                again_handle.set(request_frame(closure));
            }
        }));
        if let Some(closure) = next.borrow().as_ref() {
            handle.set(request_frame(closure));
        }
        EveryFrame { next, handle }
    }
}

impl Drop for EveryFrame {
    fn drop(&mut self) {
        if let Some(window) = web_sys::window() {
            let _ = window.cancel_animation_frame(self.handle.get());
        }
        // The closure holds a handle to its own cell: break the cycle.
        self.next.borrow_mut().take();
    }
}

/// Asks for `closure` on the next animation frame.
fn request_frame(closure: &Closure<dyn FnMut(f64)>) -> i32 {
    web_sys::window()
        .and_then(|window| {
            window
                .request_animation_frame(closure.as_ref().unchecked_ref())
                .ok()
        })
        .unwrap_or(0)
}
