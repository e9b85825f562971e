//! The event log, newest first.

use std::rc::Rc;

use yew::prelude::*;

use crate::world::LogLine;

/// Props of [`EventLog`].
#[derive(Properties, PartialEq)]
pub struct EventLogProps {
    /// The lines, newest first.
    pub lines: Rc<Vec<LogLine>>,
}

/// The last few hundred events in words, with their times.
#[function_component]
pub fn EventLog(props: &EventLogProps) -> Html {
    html! {
        <section class="panel log" aria-labelledby="log-title">
            <h2 id="log-title">{ "Event log" }</h2>
            <ol id="event-log" aria-live="off">
                { for props.lines.iter().map(|line| html! {
                    <li class={line.kind}>
                        <time>{ format!("{:>9.3} ms", line.at as f64 / 1000.0) }</time>
                        { " " }{ &line.text }
                    </li>
                }) }
            </ol>
        </section>
    }
}
