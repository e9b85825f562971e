//! The event log, newest first: every line the recording keeps up to the
//! moment shown, in the lesson's words (with the machinery's own terms
//! behind a details toggle), filtered by event type, socket or task, and
//! windowed, so
//! that only the lines in view are put in words and rendered, however many
//! there are.

use yew::prelude::*;

use crate::model::numbers::thousands;
use crate::model::recording::{KIND_NAMES, LogFilter, LogLine, MAX_EVENTS, Recording};
use crate::views::RunView;
use crate::views::windowing::{in_view, use_scroll_top};

/// Height of one line, in CSS pixels (fixed, for the windowing).
const LINE_PX: f64 = 20.0;
/// Height of the scroll box.
const VIEW_PX: f64 = 320.0;

/// Props of [`EventLog`].
#[derive(Properties, PartialEq)]
pub struct EventLogProps {
    /// The world whose log is shown.
    pub world: RunView,
}

/// The log lines that pass a filter, oldest first: found once, then only
/// the new lines are looked at, frame after frame.
#[derive(Default)]
struct Matches {
    /// The filter and the recording's epoch they were found for.
    key: Option<(LogFilter, u64)>,
    /// Lines looked at so far.
    scanned: usize,
    lines: Vec<u32>,
}

impl Matches {
    /// Brings the matches up to the newest line of `recording`.
    fn update(&mut self, recording: &Recording, filter: LogFilter) {
        let key = (filter, recording.epoch());
        if self.key != Some(key) {
            *self = Matches {
                key: Some(key),
                ..Matches::default()
            };
        }
        let all = recording.log_len_at(recording.end());
        for index in self.scanned..all {
            if recording
                .log_subject(index)
                .is_some_and(|subject| filter.matches(&subject))
            {
                self.lines.push(index as u32);
            }
        }
        self.scanned = all;
    }

    /// How many of the matches are among the first `shown` lines.
    fn before(&self, shown: usize) -> usize {
        self.lines
            .partition_point(|index| (*index as usize) < shown)
    }
}

/// Every event in words, with its time.
#[function_component]
pub fn EventLog(props: &EventLogProps) -> Html {
    let filter = use_state_eq(LogFilter::default);
    let subject_text = use_state_eq(String::new);
    let (scroll_top, onscroll) = use_scroll_top();
    // The lesson's words only, or also the machinery's.
    let details = use_state_eq(|| false);
    let on_details = {
        let details = details.clone();
        Callback::from(move |event: Event| {
            let input: web_sys::HtmlInputElement = event.target_unchecked_into();
            details.set(input.checked());
        })
    };

    let on_kind = {
        let filter = filter.clone();
        Callback::from(move |event: Event| {
            let value = event
                .target_unchecked_into::<web_sys::HtmlSelectElement>()
                .value();
            let kind = KIND_NAMES.iter().find(|kind| **kind == value).copied();
            filter.set(LogFilter { kind, ..*filter });
        })
    };
    let on_subject = {
        let filter = filter.clone();
        let subject_text = subject_text.clone();
        Callback::from(move |event: InputEvent| {
            let text = event
                .target_unchecked_into::<web_sys::HtmlInputElement>()
                .value();
            let (sock, task) = LogFilter::subject(&text).unwrap_or_default();
            filter.set(LogFilter {
                sock,
                task,
                ..*filter
            });
            subject_text.set(text);
        })
    };

    let matches = use_mut_ref(Matches::default);
    let recording = props.world.recording();
    // The lines up to the moment shown.
    let shown = recording.log_len_at(recording.position());
    let mut matches = matches.borrow_mut();
    let filtered = !filter.is_open();
    let total = if filtered {
        matches.update(&recording, *filter);
        matches.before(shown)
    } else {
        shown
    };
    let view = in_view(total, LINE_PX, VIEW_PX, scroll_top);
    // Newest first: row i is the i-th newest line that passes.
    let line_at = |row: usize| {
        let index = if filtered {
            matches.lines[total - 1 - row] as usize
        } else {
            shown - 1 - row
        };
        recording.log_line(index).unwrap_or_else(|| LogLine {
            at: 0,
            text: String::new(),
            kind: "",
            details: String::new(),
        })
    };
    let unknown_subject =
        !subject_text.trim().is_empty() && LogFilter::subject(&subject_text).is_none();
    html! {
        <section class="panel log" aria-labelledby="log-title">
            <div class="log-head">
                <h2 id="log-title">{ "Event log" }</h2>
                <label>{ "type " }
                    <select id="log-kind" onchange={on_kind}>
                        <option value="" selected={filter.kind.is_none()}>{ "all" }</option>
                        { for KIND_NAMES.iter().map(|kind| html! {
                            <option value={*kind} selected={filter.kind == Some(*kind)}>{ *kind }</option>
                        }) }
                    </select>
                </label>
                <label>{ "socket or task " }
                    <input id="log-subject" type="text" placeholder="conn#3, task#2, listener"
                           value={(*subject_text).clone()} oninput={on_subject}
                           aria-invalid={unknown_subject.to_string()} />
                </label>
                <label title="Also show each line in the machinery's terms: the protocol's event, tokio's polls, the OS's errors">
                    <input id="log-details" type="checkbox" checked={*details} onchange={on_details} />
                    { " details" }
                </label>
                <span id="log-count" class="hint">
                    { format!("{total} of {shown} lines (a run keeps its newest {} events)", thousands(MAX_EVENTS)) }
                </span>
            </div>
            <div class="log-scroll" style={format!("height:{VIEW_PX}px")} {onscroll}>
                <ol id="event-log" aria-live="off">
                    <li class="spacer" aria-hidden="true" style={format!("height:{}px", view.before_px)} />
                    { for (view.first..view.end).map(|row| {
                        let line = line_at(row);
                        html! {
                            <li class={classes!("line", line.kind)}>
                                <time>{ format!("{:>9.3} ms", line.at as f64 / 1000.0) }</time>
                                { " " }{ &line.text }
                                if *details {
                                    <span class="details">{ " " }{ &line.details }</span>
                                }
                            </li>
                        }
                    }) }
                    <li class="spacer" aria-hidden="true" style={format!("height:{}px", view.after_px)} />
                </ol>
            </div>
        </section>
    }
}
