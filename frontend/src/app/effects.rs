//! The playground's edge: the one place where the page meets the browser.
//! [`Shell`] owns the page cell and the WebSockets, turns the browser's
//! events (a lab's message, a frame, a key, a file) into
//! [`PageAction`]s, and carries out the [`Effect`]s the page answers with:
//! commands to the labs, the address, the stored progress, pointing at an
//! element, downloads. It draws at most once per animation frame however
//! many actions came.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use loopscope_runfile::Limits;
use protocol::workshop::PushFeed;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use yew::Callback;

use crate::model::lesson::Progress;
use crate::model::recording::Recording;
use crate::page::{Effect, Key, OpenedRun, Page, PageAction, Start, Update, Which};
use crate::sources::frame_clock::{self, EveryFrame};
use crate::sources::live::{Link, LinkStatus, connect};
use crate::sources::workshop::{self, EventFeed, JOIN_TOKEN_KEY, with_token};
use crate::sources::{download, saving, site};

/// Most milliseconds of a frame the simulations may take to advance and
/// apply their events (or a live lab's waiting events take to apply); what
/// does not fit waits for the next frame, so frames stay short and the
/// page stays smooth.
const MAX_SHARE_MS: f64 = 5.0;
/// The work a frame aims to stay under: the share above shrinks (down to
/// [`MIN_SHARE_MS`]) by as much as the last render took beyond the rest.
const FRAME_WORK_MS: f64 = 10.0;
/// The least share of a frame the events get, however long renders take,
/// so that a page always moves on.
const MIN_SHARE_MS: f64 = 1.5;

/// How long opening a run may take (a million events take about 1.5 s).
const REPLAY_PATIENCE_MS: f64 = 15_000.0;

/// The class that marks the element a step points at.
const POINTED: &str = "pointed";

/// This frame's share for the simulations or a live lab's waiting events:
/// what the last render left of [`FRAME_WORK_MS`], at most
/// [`MAX_SHARE_MS`].
fn frame_share() -> f64 {
    (FRAME_WORK_MS - frame_clock::last_render_ms()).clamp(MIN_SHARE_MS, MAX_SHARE_MS)
}

/// What lives for the page's life: the page, its links, the listeners.
pub struct Shell {
    /// The page.
    pub page: Rc<RefCell<Page>>,
    /// Sends the page an action (for the views).
    pub dispatch: Callback<PageAction>,
    /// Opens a run file (for the views).
    pub open_file: Callback<web_sys::File>,
    /// The join token, which every relay address carries.
    token: Option<String>,
    /// The page's lab, and the compared one.
    link: RefCell<Link>,
    compared_link: RefCell<Option<Link>>,
    /// Whether a drawing is asked for the next animation frame.
    redraw_pending: Cell<bool>,
    /// Draws the app again.
    force_update: yew::functional::UseForceUpdateHandle,
    /// When the drawing a frame asked for began.
    pub render_started: Cell<Option<f64>>,
    /// Bumped at each drawing, so views tell drawings apart.
    pub frame: Cell<u64>,
    /// What the page's start asked, carried out once it is drawn.
    first_effects: RefCell<Vec<Effect>>,
    /// The shell itself, for the frame callbacks.
    this: Weak<Shell>,
}

impl Shell {
    /// The page as the browser's address and storage leave it.
    pub fn new(force_update: yew::functional::UseForceUpdateHandle) -> Rc<Shell> {
        // First: the join token leaves the address before anything reads it.
        let token = workshop::take_token_from_address(JOIN_TOKEN_KEY);
        let start = Start {
            query: page_query(),
            relay_expected: site::relay_expected(),
            stored_progress: local_storage()
                .and_then(|storage| storage.get_item(Progress::KEY).ok().flatten()),
            following: workshop::following(),
        };
        let (page, Update { effects, .. }) = Page::new(start, Box::new(frame_clock::now));
        Rc::new_cyclic(|shell: &Weak<Shell>| {
            let dispatch = {
                let shell = shell.clone();
                Callback::from(move |action| {
                    if let Some(shell) = shell.upgrade() {
                        shell.act(action);
                    }
                })
            };
            let open_file = {
                let shell = shell.clone();
                Callback::from(move |file| {
                    if let Some(shell) = shell.upgrade() {
                        shell.open(file);
                    }
                })
            };
            Shell {
                page: Rc::new(RefCell::new(page)),
                dispatch,
                open_file,
                token,
                link: RefCell::default(),
                compared_link: RefCell::default(),
                redraw_pending: Cell::new(false),
                force_update,
                render_started: Cell::new(None),
                frame: Cell::new(0),
                first_effects: RefCell::new(effects),
                this: shell.clone(),
            }
        })
    }

    /// Acts on the page and carries out what it answers.
    pub fn act(&self, action: PageAction) {
        // The work a frame's share is measured by.
        let timed = matches!(
            action,
            PageAction::Frame { .. } | PageAction::LabMessage(..) | PageAction::Time(_)
        );
        // What a person did is drawn at once; what the sources bring (and
        // a drag along the timeline), at most once per animation frame
        // however much comes.
        let by_a_person = !matches!(
            action,
            PageAction::Frame { .. }
                | PageAction::LabMessage(..)
                | PageAction::Rendered
                | PageAction::Time(_)
        );
        let update = {
            let mut page = self.page.borrow_mut();
            if timed {
                frame_clock::time(|| page.act(action))
            } else {
                page.act(action)
            }
        };
        self.carry_out(update.effects);
        if update.redraw && by_a_person {
            self.force_update.force_update();
        } else if update.redraw {
            self.redraw();
        }
    }

    /// Starts what lives for the page's life: the lab's link, the host's
    /// feed, the frames, the keys. Dropping what it returns stops them.
    pub fn start(&self) -> Running {
        let static_site = self.page.borrow().status == LinkStatus::Static;
        if !static_site {
            let (on_message, on_status) = (
                self.dispatch
                    .reform(|message| PageAction::LabMessage(Which::Main, message)),
                self.dispatch.reform(PageAction::LinkStatus),
            );
            *self.link.borrow_mut() = connect(self.lab_url(), on_message, on_status);
        }
        let feed: Option<EventFeed> = (!static_site)
            .then(|| {
                let on_feed = self
                    .dispatch
                    .reform(|feed: PushFeed| PageAction::HostPush(feed.lesson));
                workshop::listen_to_the_host(self.token.as_deref(), on_feed)
            })
            .flatten();
        let ticker = {
            let dispatch = self.dispatch.clone();
            EveryFrame::start(move |elapsed_ms| {
                dispatch.emit(PageAction::Frame {
                    elapsed_ms,
                    share_ms: frame_share(),
                });
            })
        };
        let keys = self.listen_to_keys();
        let first = std::mem::take(&mut *self.first_effects.borrow_mut());
        self.carry_out(first);
        Running {
            _parts: Box::new((feed, ticker, keys)),
        }
    }

    /// After each drawing: its time ends the frame's measure, and the page
    /// hears it was drawn.
    pub fn drawn(&self) {
        frame_clock::mark_interactive();
        if let Some(started) = self.render_started.take() {
            let render = frame_clock::now() - started;
            frame_clock::add(render);
            frame_clock::frame_done(render);
        }
        self.act(PageAction::Rendered);
    }

    /// Asks for one drawing on the next animation frame, however often it
    /// is asked before then.
    fn redraw(&self) {
        if self.redraw_pending.replace(true) {
            return;
        }
        let shell = self.this.clone();
        let on_frame = Closure::once_into_js(move || {
            if let Some(shell) = shell.upgrade() {
                shell.redraw_pending.set(false);
                shell.render_started.set(Some(frame_clock::now()));
                shell.force_update.force_update();
            }
        });
        if let Some(window) = web_sys::window() {
            let _ = window.request_animation_frame(on_frame.unchecked_ref());
        }
    }

    /// Carries out the page's effects, in order.
    fn carry_out(&self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Send(Which::Main, command) => {
                    self.link.borrow().send(&command);
                }
                Effect::Send(Which::Compared, command) => {
                    if let Some(link) = self.compared_link.borrow().as_ref() {
                        link.send(&command);
                    }
                }
                Effect::OpenComparedLab => {
                    let on_message = self
                        .dispatch
                        .reform(|message| PageAction::LabMessage(Which::Compared, message));
                    let link = connect(self.lab_url(), on_message, Callback::noop());
                    if let Some(old) = self.compared_link.borrow_mut().replace(link) {
                        old.close();
                    }
                }
                Effect::CloseComparedLab => {
                    if let Some(old) = self.compared_link.borrow_mut().take() {
                        old.close();
                    }
                }
                Effect::SetAddress(query) => set_address(&query),
                Effect::StoreProgress(json) => {
                    if let Some(storage) = local_storage() {
                        let _ = storage.set_item(Progress::KEY, &json);
                    }
                }
                Effect::StoreFollowing(follow) => workshop::set_following(follow),
                Effect::Save(header) => self.save(&header),
                Effect::SaveTrace(which) => {
                    let saved = {
                        let page = self.page.borrow();
                        let run = page.runs.get(which);
                        download::save_trace(&run.world, &run.recording)
                    };
                    if let Err(problem) = saved {
                        self.act(PageAction::Note(
                            which,
                            format!("the trace could not be saved: {problem}"),
                        ));
                    }
                }
                Effect::PointAt { selectors, scroll } => point_at(selectors, scroll),
                Effect::Reload => {
                    if let Some(window) = web_sys::window() {
                        let _ = window.location().reload();
                    }
                }
            }
        }
    }

    /// Offers the page's run as a run file to download (the browser
    /// compresses it, and may take a moment for a long run).
    fn save(&self, header: &loopscope_runfile::Header) {
        let (parts, name) = {
            let page = self.page.borrow();
            let run = &page.runs.main;
            (
                frame_clock::time(|| saving::run_parts(&run.recording, header)),
                saving::file_name(run.world.model),
            )
        };
        let dispatch = self.dispatch.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(problem) = saving::offer_gzipped(parts, name).await {
                dispatch.emit(PageAction::Note(
                    Which::Main,
                    format!("the run could not be saved: {problem}"),
                ));
            }
        });
    }

    /// Opens a run file the learner picked or dropped.
    fn open(&self, file: web_sys::File) {
        let name = file.name();
        let limits = Limits::default();
        if let Err(problem) = loopscope_runfile::check_size(file.size() as u64, &limits) {
            self.act(PageAction::NotOpened(format!(
                "{name} was not opened: {problem}"
            )));
            return;
        }
        let dispatch = self.dispatch.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let opened = file_bytes(&file).await.and_then(|bytes| {
                let give_up_at = js_sys::Date::now() + REPLAY_PATIENCE_MS;
                Recording::open_within(&bytes, &limits, || js_sys::Date::now() > give_up_at)
                    .map_err(|problem| problem.to_string())
            });
            dispatch.emit(match opened {
                Ok((header, recording, world)) => PageAction::Opened(Box::new(OpenedRun {
                    name,
                    header,
                    recording,
                    world,
                })),
                Err(problem) => PageAction::NotOpened(format!("{name} was not opened: {problem}")),
            });
        });
    }

    /// The relay's WebSocket under this page's base, with the join token.
    fn lab_url(&self) -> String {
        with_token(&bare_lab_url(), self.token.as_deref())
    }

    /// Keyboard: space plays or pauses, → steps, ← steps back, End shows
    /// now, ? shows the help, n and p the next and previous step of the
    /// lesson.
    fn listen_to_keys(&self) -> Option<(gloo_events::EventListener, gloo_events::EventListener)> {
        let window = web_sys::window()?;
        let (page, dispatch) = (Rc::clone(&self.page), self.dispatch.clone());
        let down = gloo_events::EventListener::new(&window, "keydown", move |event| {
            let Some(event) = event.dyn_ref::<web_sys::KeyboardEvent>() else {
                return;
            };
            if typing_into_a_field(event) || event.ctrl_key() || event.meta_key() || event.alt_key()
            {
                return;
            }
            let Some(key) = key_of(&event.key()) else {
                return;
            };
            if page.borrow().takes_key(key) {
                event.prevent_default();
            }
            dispatch.emit(PageAction::Key(key));
        });
        // Space is play/pause even on a focused button (the last one
        // clicked), which would otherwise take it as a click when the key
        // comes up, and undo the toggle.
        let up = gloo_events::EventListener::new(&window, "keyup", move |event| {
            let on_button = event
                .target()
                .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
                .is_some_and(|element| element.tag_name() == "BUTTON");
            if on_button
                && event
                    .dyn_ref::<web_sys::KeyboardEvent>()
                    .is_some_and(|key| key.key() == " ")
            {
                event.prevent_default();
            }
        });
        Some((down, up))
    }
}

/// What [`Shell::start`] started, stopped when dropped.
pub struct Running {
    _parts: Box<dyn std::any::Any>,
}

/// The page's key for a key the browser names, if it answers it.
fn key_of(name: &str) -> Option<Key> {
    Some(match name {
        " " => Key::Space,
        "ArrowRight" => Key::Right,
        "ArrowLeft" => Key::Left,
        "End" => Key::End,
        "n" => Key::NextStep,
        "p" => Key::PreviousStep,
        "?" => Key::Help,
        "Escape" => Key::Escape,
        _ => return None,
    })
}

/// Whether keys go to a field being typed in (or a slider, a picker), not
/// to a lesson's answer just picked.
fn typing_into_a_field(event: &web_sys::KeyboardEvent) -> bool {
    event
        .target()
        .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
        .is_some_and(|element| match element.tag_name().as_str() {
            "INPUT" => !matches!(
                element.get_attribute("type").as_deref(),
                Some("radio" | "checkbox")
            ),
            "SELECT" | "TEXTAREA" => true,
            _ => false,
        })
}

/// The bytes of a file the person picked or dropped.
async fn file_bytes(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let buffer = wasm_bindgen_futures::JsFuture::from(file.array_buffer())
        .await
        .map_err(|error| format!("the browser could not read it ({error:?})"))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The page's query string (`?model=…`).
fn page_query() -> String {
    web_sys::window()
        .and_then(|window| window.location().search().ok())
        .unwrap_or_default()
}

/// Replaces the page's address with `query`, as it is (an empty one, `?`,
/// leaves the bare path), without a new history entry.
fn set_address(query: &str) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let path = window.location().pathname().unwrap_or_default();
    let url = if query == "?" { path.as_str() } else { query };
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(url));
    }
}

/// The relay's WebSocket under this page's base, to show (without the
/// token).
pub fn bare_lab_url() -> String {
    site::websocket_url(&site::base(), "ws")
}

/// Marks the first element `selectors` find (and only it) as pointed at;
/// scrolls it into view if `scroll`.
fn point_at(selectors: &[&str], scroll: bool) {
    let Some(document) = web_sys::window().and_then(|window| window.document()) else {
        return;
    };
    let target = selectors
        .iter()
        .find_map(|selector| document.query_selector(selector).ok().flatten());
    if let Ok(marked) = document.query_selector_all(&format!(".{POINTED}")) {
        for index in 0..marked.length() {
            if let Some(element) = marked
                .item(index)
                .and_then(|node| node.dyn_into::<web_sys::Element>().ok())
                && Some(&element) != target.as_ref()
            {
                let _ = element.class_list().remove_1(POINTED);
            }
        }
    }
    if let Some(target) = target {
        let _ = target.class_list().add_1(POINTED);
        if scroll && !on_screen(&document, &target) {
            let options = web_sys::ScrollIntoViewOptions::new();
            options.set_block(web_sys::ScrollLogicalPosition::Nearest);
            target.scroll_into_view_with_scroll_into_view_options(&options);
        }
    }
}

/// Whether `element` lies wholly on screen: inside the viewport, above the
/// timeline that sticks to its bottom.
fn on_screen(document: &web_sys::Document, element: &web_sys::Element) -> bool {
    let rect = element.get_bounding_client_rect();
    let bottom = document
        .query_selector(".timeline")
        .ok()
        .flatten()
        .map(|timeline| timeline.get_bounding_client_rect().top())
        .or_else(|| {
            web_sys::window()
                .and_then(|window| window.inner_height().ok())
                .and_then(|height| height.as_f64())
        })
        .unwrap_or(0.0);
    rect.top() >= 0.0 && rect.bottom() <= bottom
}
