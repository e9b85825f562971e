//! The task lanes: one lane per connection (and the task serving it) on a
//! time axis, coloured by state — in the backlog, running, suspended on a
//! socket, ready, parked in a blocking call, done, failed, cancelled — with
//! the busy-poll loop's would-block tries as ticks and a shutdown's deadline
//! as a line.
//!
//! Only the lanes in view cost anything: their names are a few absolutely
//! placed list items in a tall scrolling box, and their history is drawn on
//! one canvas that stays in view, so a thousand lanes scroll smoothly.

use std::cell::RefCell;
use std::rc::Rc;

use protocol::{Micros, ServerModel};
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};
use yew::prelude::*;

use crate::model::latency::human;
use crate::model::world::lanes::{CLASSES, lane_name, state_class, state_text};
use crate::model::world::{Connection, TaskState, World};
use crate::page::PageAction;
use crate::views::RunView;
use crate::views::measured::use_width;
use crate::views::windowing::{in_view, use_scroll_top};

/// Height of one lane, in CSS pixels.
const ROW: f64 = 18.0;
/// Height of the time axis above the lanes.
const AXIS: f64 = 18.0;
/// Most height the view takes; more lanes scroll.
const MAX_HEIGHT: f64 = 396.0;
/// The time window shown at first, and its bounds when zooming.
const DEFAULT_WINDOW: Micros = 4_000_000;
const MIN_WINDOW: Micros = 1_000;
const MAX_WINDOW: Micros = 120_000_000;
/// Props of [`TaskLanes`].
#[derive(Properties, PartialEq)]
pub struct LanesProps {
    /// The world whose connections are drawn.
    pub world: RunView,
    /// The id of the list of lanes, and the prefix of the view's other ids.
    #[prop_or(AttrValue::Static("lanes"))]
    pub id: AttrValue,
    /// The heading.
    #[prop_or(AttrValue::Static("Connections and tasks over time"))]
    pub title: AttrValue,
}

/// What part of the lanes is in view.
#[derive(Clone, Copy, Debug, PartialEq)]
struct View {
    /// The first lane in view (with overscan).
    first: usize,
    /// How many lanes from `first`.
    count: usize,
    /// How far the box is scrolled, in CSS pixels.
    scroll_top: f64,
    /// The canvas height, in CSS pixels.
    height: f64,
    /// The time window.
    start: Micros,
    end: Micros,
}

/// One lane per connection on a time axis.
#[function_component]
pub fn TaskLanes(props: &LanesProps) -> Html {
    let (scroll_top, onscroll) = use_scroll_top();
    let window = use_state_eq(|| DEFAULT_WINDOW);
    // `None` follows the newest event; `Some(end)` holds the view still.
    let pinned_end = use_state_eq(|| None::<Micros>);
    let canvas = use_node_ref();

    let id = props.id.clone();
    let world = props.world.world();
    let lanes = world.connections.len();
    let full_height = AXIS + lanes as f64 * ROW;
    let height = full_height.clamp(AXIS + 3.0 * ROW, MAX_HEIGHT);
    let rows = in_view(lanes, ROW, height - AXIS, scroll_top);
    let end = pinned_end.unwrap_or(world.now).min(world.now).max(*window);
    let view = View {
        first: rows.first,
        count: rows.end - rows.first,
        scroll_top,
        height,
        start: end - *window,
        end,
    };
    // The canvas's width comes from the browser after it lays the page
    // out, and its colours from the style sheet once per colour scheme:
    // drawing asks the browser for neither.
    let width = use_width(canvas.clone());
    let palette: Rc<RefCell<Option<Palette>>> = use_mut_ref(|| None);
    {
        let run = props.world.clone();
        let canvas = canvas.clone();
        use_effect(move || {
            if let (Some(canvas), Some(width)) = (canvas.cast::<HtmlCanvasElement>(), width) {
                let mut palette = palette.borrow_mut();
                let dark = Palette::dark_scheme();
                if palette.as_ref().is_none_or(|known| known.dark != dark) {
                    *palette = Some(Palette::read(&canvas, dark));
                }
                if let Some(palette) = palette.as_ref() {
                    draw(&canvas, &run.world(), view, width, palette);
                }
            }
        });
    }

    let zoom = |factor: f64| {
        let window = window.clone();
        Callback::from(move |_: MouseEvent| {
            let wider = (*window as f64 * factor) as Micros;
            window.set(wider.clamp(MIN_WINDOW, MAX_WINDOW));
        })
    };
    let pan = |direction: i64| {
        let pinned_end = pinned_end.clone();
        let (now, window) = (world.now, *window);
        Callback::from(move |_: MouseEvent| {
            let end = pinned_end.unwrap_or(now) as i64 + direction * window as i64 / 2;
            pinned_end.set(Some((end.max(window as i64) as Micros).min(now)));
        })
    };
    let follow = {
        let pinned_end = pinned_end.clone();
        Callback::from(move |_: MouseEvent| pinned_end.set(None))
    };
    let save_trace = {
        let run = props.world.clone();
        Callback::from(move |_: MouseEvent| run.act(PageAction::SaveTrace(run.which())))
    };

    let labels = world
        .connections
        .values()
        .enumerate()
        .skip(view.first)
        .take(view.count)
        .map(|(index, connection)| lane_label(index, connection, world.model));
    html! {
        <section class="panel lanes-panel" aria-labelledby={format!("{id}-title")}>
            <div class="lanes-head">
                <h2 id={format!("{id}-title")}>{ props.title.clone() }</h2>
                { countdown(&world, &format!("{id}-countdown")) }
                <div class="controls" role="group" aria-label="Time axis">
                    <button class="secondary" id={format!("{id}-zoom-out")} aria-label="Zoom out" onclick={zoom(2.0)}>{ "−" }</button>
                    <span id={format!("{id}-window")} class="hint">{ human(*window) }</span>
                    <button class="secondary" id={format!("{id}-zoom-in")} aria-label="Zoom in" onclick={zoom(0.5)}>{ "+" }</button>
                    <button class="secondary" id={format!("{id}-earlier")} aria-label="Earlier" onclick={pan(-1)}>{ "◀" }</button>
                    <button class="secondary" id={format!("{id}-later")} aria-label="Later" onclick={pan(1)}>{ "▶" }</button>
                    <button class="secondary" id={format!("{id}-follow")} aria-pressed={pinned_end.is_none().to_string()}
                            onclick={follow}>{ "Now" }</button>
                    <button class="secondary" id={format!("{id}-save-trace")} disabled={lanes == 0}
                            title="Save these lanes as a trace file for Perfetto (ui.perfetto.dev) or chrome://tracing"
                            onclick={save_trace}>{ "Save trace" }</button>
                </div>
            </div>
            if lanes == 0 {
                <p class="empty">{ "No connections yet: spawn a client, or connect with nc." }</p>
            } else {
                <div id={format!("{id}-view")} class="lanes-scroll" style={format!("height:{}px", height + 2.0)} {onscroll}>
                    <div class="lanes-inner" style={format!("height:{full_height}px")}>
                        <canvas ref={canvas} class="lanes-canvas" style={format!("height:{height}px")}
                                role="img" aria-label={summary(&world, view)} />
                        <ol id={id.clone()} aria-label="Connections">{ for labels }</ol>
                    </div>
                </div>
                <p class="lanes-legend hint" aria-hidden="true">
                    { for CLASSES.iter().map(|class| html! {
                        <span class={classes!("swatch", *class)} title={crate::model::glossary::meaning(class)}>{ class.to_string() }</span>
                    }) }
                    <span class="swatch would-block" title={crate::model::glossary::meaning("would-block")}>{ "would block" }</span>
                </p>
            }
        </section>
    }
}

fn lane_label(index: usize, connection: &Connection, model: Option<ServerModel>) -> Html {
    let (class, text) = (
        state_class(&connection.state),
        state_text(&connection.state),
    );
    let name = lane_name(connection, model);
    let title = format!(
        "{name}: {text}; peer {}; {} B in, {} B out",
        if connection.peer.is_empty() {
            "not accepted yet"
        } else {
            &connection.peer
        },
        connection.bytes_in,
        connection.bytes_out
    );
    html! {
        <li key={connection.conn.0} class={classes!("lane", class)} data-conn={connection.conn.0.to_string()}
            style={format!("top:{}px", AXIS + index as f64 * ROW)} {title}>
            <span class="lane-name">{ name }</span>
            <span class="state">{ text }</span>
        </li>
    }
}

/// During a shutdown: what the lanes have left, in the words the card
/// beside the ring uses ([`crate::model::narration::countdown`], pure and tested
/// with it).
fn countdown(world: &World, id: &str) -> Html {
    match crate::model::narration::countdown(world) {
        Some(text) => html! { <p id={id.to_owned()} class="countdown" role="status">{ text }</p> },
        None => html! {},
    }
}

/// The canvas in words, for screen readers.
fn summary(world: &World, view: View) -> String {
    let mut counts = [0_usize; CLASSES.len()];
    for connection in world.connections.values() {
        let class = state_class(&connection.state);
        if let Some(index) = CLASSES.iter().position(|known| *known == class) {
            counts[index] += 1;
        }
    }
    let states: Vec<String> = CLASSES
        .iter()
        .zip(counts)
        .filter(|(_, count)| *count > 0)
        .map(|(class, count)| format!("{count} {class}"))
        .collect();
    format!(
        "Timeline of {} connections over {}: {}",
        world.connections.len(),
        human(view.end - view.start),
        states.join(", ")
    )
}

/// The colours the lanes are drawn in: the style sheet's, as they are for
/// one colour scheme.
struct Palette {
    /// Whether they are the dark scheme's.
    dark: bool,
    /// One per state class, in the order of [`CLASSES`].
    states: Vec<String>,
    would_block: String,
    muted: String,
    line: String,
    bad: String,
}

impl Palette {
    /// Whether the page is in its dark colour scheme now.
    fn dark_scheme() -> bool {
        web_sys::window()
            .and_then(|window| {
                window
                    .match_media("(prefers-color-scheme: dark)")
                    .ok()
                    .flatten()
            })
            .is_some_and(|query| query.matches())
    }

    /// Reads the colours of `canvas`'s style.
    fn read(canvas: &HtmlCanvasElement, dark: bool) -> Palette {
        let style =
            web_sys::window().and_then(|window| window.get_computed_style(canvas).ok().flatten());
        let colour = |name: &str| -> String {
            style
                .as_ref()
                .and_then(|style| style.get_property_value(name).ok())
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
                .unwrap_or_else(|| "gray".to_owned())
        };
        Palette {
            dark,
            states: CLASSES
                .iter()
                .map(|class| colour(&format!("--lane-{class}")))
                .collect(),
            would_block: colour("--lane-would-block"),
            muted: colour("--muted"),
            line: colour("--line"),
            bad: colour("--bad"),
        }
    }
}

/// Draws the lanes in view on the canvas, `width` CSS pixels wide.
fn draw(canvas: &HtmlCanvasElement, world: &World, view: View, width: f64, palette: &Palette) {
    let Some(context) = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|context| context.dyn_into::<CanvasRenderingContext2d>().ok())
    else {
        return;
    };
    let Some(window) = web_sys::window() else {
        return;
    };
    let ratio = window.device_pixel_ratio();
    let (pixel_width, pixel_height) = ((width * ratio) as u32, (view.height * ratio) as u32);
    if canvas.width() != pixel_width || canvas.height() != pixel_height {
        canvas.set_width(pixel_width);
        canvas.set_height(pixel_height);
    }
    let _ = context.set_transform(ratio, 0.0, 0.0, ratio, 0.0, 0.0);
    context.clear_rect(0.0, 0.0, width, view.height);
    let fill_for = |state: &TaskState| {
        let class = state_class(state);
        let index = CLASSES
            .iter()
            .position(|known| *known == class)
            .unwrap_or(0);
        &palette.states[index]
    };
    let span = (view.end - view.start).max(1) as f64;
    let x = |at: Micros| (at.saturating_sub(view.start)) as f64 / span * width;

    // The deadline's label sits on the axis: no time is written under it.
    let deadline_x = world
        .deadline
        .filter(|deadline| (view.start..=view.end).contains(deadline))
        .map(&x);
    draw_axis(
        &context,
        &palette.muted,
        &palette.line,
        view,
        width,
        &x,
        deadline_x,
    );
    let would_block = &palette.would_block;
    for (index, connection) in world
        .connections
        .values()
        .enumerate()
        .skip(view.first)
        .take(view.count)
    {
        let top = AXIS + index as f64 * ROW - view.scroll_top + 3.0;
        if top + ROW < AXIS || top > view.height {
            continue;
        }
        let bar = ROW - 6.0;
        let from = connection
            .history
            .partition_point(|past| past.to < view.start);
        for past in connection.history.range(from..) {
            if past.from > view.end {
                break;
            }
            context.set_fill_style_str(fill_for(&past.state));
            let left = x(past.from.max(view.start));
            context.fill_rect(left, top, (x(past.to) - left).max(1.0), bar);
        }
        context.set_fill_style_str(fill_for(&connection.state));
        if connection.state.is_final() {
            // The end: a cap where the lane stops.
            if (view.start..=view.end).contains(&connection.since) {
                context.fill_rect(x(connection.since) - 1.5, top - 2.0, 3.0, bar + 4.0);
            }
        } else if connection.since <= view.end {
            let left = x(connection.since.max(view.start));
            context.fill_rect(left, top, (x(world.now.min(view.end)) - left).max(1.0), bar);
        }
        let from = connection
            .would_blocks
            .partition_point(|at| *at < view.start);
        context.set_fill_style_str(would_block);
        for at in connection.would_blocks.range(from..) {
            if *at > view.end {
                break;
            }
            context.fill_rect(x(*at), top - 2.0, 1.0, 4.0);
        }
    }
    if let Some(deadline) = world.deadline
        && (view.start..=view.end).contains(&deadline)
    {
        context.set_fill_style_str(&palette.bad);
        context.fill_rect(x(deadline) - 1.0, 0.0, 2.0, view.height);
        let _ = context.fill_text("deadline", x(deadline) + 4.0, AXIS - 5.0);
    }
}

/// Ticks and times along the top, at a round step.
fn draw_axis(
    context: &CanvasRenderingContext2d,
    ink: &str,
    line: &str,
    view: View,
    width: f64,
    x: &dyn Fn(Micros) -> f64,
    deadline_x: Option<f64>,
) {
    let span = view.end - view.start;
    // A time's label takes about 50 px: a narrow canvas (a phone's) has
    // fewer ticks, so that labels never run into each other.
    let most_ticks = ((width / 70.0) as u64).clamp(2, 8);
    let step = [1, 2, 5]
        .iter()
        .flat_map(|base| (0..9).map(move |power| base * 10_u64.pow(power)))
        .filter(|step| span / step <= most_ticks)
        .min()
        .unwrap_or(span.max(1));
    context.set_font("11px ui-monospace, monospace");
    let mut tick = view.start.div_ceil(step) * step;
    while tick <= view.end {
        let left = x(tick);
        context.set_fill_style_str(line);
        context.fill_rect(left, AXIS - 4.0, 1.0, view.height);
        context.set_fill_style_str(ink);
        // "deadline" takes about 55 px from 4 px right of its line; a time
        // takes about 45.
        let under_deadline = deadline_x.is_some_and(|at| left + 48.0 > at && left < at + 60.0);
        if left < width - 40.0 && !under_deadline {
            let _ = context.fill_text(&human(tick), left + 3.0, AXIS - 6.0);
        }
        tick += step;
    }
}
