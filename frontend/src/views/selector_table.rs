//! The selector table: each socket the server has, what it is registered
//! for, and whether the last `select()` reported it ready. Windowed: only
//! the rows in view are rendered, however many sockets there are.

use protocol::{IoOp, Sock};
use yew::prelude::*;

use crate::views::RunView;
use crate::views::windowing::{in_view, use_scroll_top};

/// Height of one row, in CSS pixels (fixed, for the windowing).
const ROW_PX: f64 = 24.0;
/// Height of the scroll box.
const VIEW_PX: f64 = 264.0;

/// Props of [`SelectorTable`].
#[derive(Properties, PartialEq)]
pub struct SelectorTableProps {
    /// The world whose sockets are shown, listener first.
    pub world: RunView,
    /// Whether the model uses a selector at all.
    pub uses_selector: bool,
}

/// The table.
#[function_component]
pub fn SelectorTable(props: &SelectorTableProps) -> Html {
    let (scroll_top, onscroll) = use_scroll_top();
    let world = props.world.world();
    let view = in_view(world.sockets.len(), ROW_PX, VIEW_PX, scroll_top);
    let rows = world
        .sockets
        .values()
        .skip(view.first)
        .take(view.end - view.first);
    html! {
        <section class="panel sockets" aria-labelledby="sockets-title">
            <h2 id="sockets-title">{ "The selector" }</h2>
            if !props.uses_selector {
                <p class="hint">{ "This server has no selector: nothing is registered, nothing is \
                                   reported ready. It finds out by trying (or by blocking)." }</p>
            }
            <div class="table-scroll" style={format!("max-height:{VIEW_PX}px")} {onscroll}>
            <table id="selector-table">
                <thead>
                    <tr>
                        <th scope="col">{ "socket" }</th>
                        <th scope="col" title={crate::model::glossary::meaning("registered")}>{ "registered for" }</th>
                        <th scope="col" title={crate::model::glossary::meaning("ready")}>{ "ready in last select()" }</th>
                        <th scope="col" class="num" title="Bytes in its kernel buffers: received, not read by the server / written, not yet taken by the client">
                            { "buffered in / out" }
                        </th>
                        <th scope="col">{ "state" }</th>
                    </tr>
                </thead>
                <tbody>
                    <tr class="spacer" aria-hidden="true" style={format!("height:{}px", view.before_px)} />
                    { for rows.map(|row| {
                        let name = match row.sock {
                            Sock::Listener => "listener".to_owned(),
                            Sock::Conn(conn) => conn.to_string(),
                        };
                        let interest = match row.interest {
                            Some(IoOp::Read) => "read",
                            Some(IoOp::Write) => "write",
                            None => "—",
                        };
                        html! {
                            <tr class={classes!(row.ready.then_some("ready"), row.closed.then_some("closed"))}
                                data-sock={name.clone()}>
                                <td>{ name }</td>
                                <td class="interest">{ interest }</td>
                                <td class="ready">{ if row.ready { "ready" } else { "" } }</td>
                                <td class="num buffered">
                                    { if row.sock == Sock::Listener { String::new() } else { format!("{} / {}", row.recv_queue, row.send_queue) } }
                                </td>
                                <td>{ if row.closed { "closed" } else { "open" } }</td>
                            </tr>
                        }
                    }) }
                    <tr class="spacer" aria-hidden="true" style={format!("height:{}px", view.after_px)} />
                </tbody>
            </table>
            </div>
        </section>
    }
}
