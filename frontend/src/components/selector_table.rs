//! The selector table: each socket the server has, what it is registered
//! for, and whether the last `select()` reported it ready.

use protocol::{IoOp, Sock};
use yew::prelude::*;

use crate::world::SocketRow;

/// Props of [`SelectorTable`].
#[derive(Properties, PartialEq)]
pub struct SelectorTableProps {
    /// The rows, listener first.
    pub rows: Vec<SocketRow>,
    /// Whether the model uses a selector at all.
    pub uses_selector: bool,
}

/// The table.
#[function_component]
pub fn SelectorTable(props: &SelectorTableProps) -> Html {
    html! {
        <section class="panel sockets" aria-labelledby="sockets-title">
            <h2 id="sockets-title">{ "The selector" }</h2>
            if !props.uses_selector {
                <p class="hint">{ "This server has no selector: nothing is registered, nothing is \
                                   reported ready. It finds out by trying (or by blocking)." }</p>
            }
            <table id="selector-table">
                <thead>
                    <tr>
                        <th scope="col">{ "socket" }</th>
                        <th scope="col">{ "registered for" }</th>
                        <th scope="col">{ "ready in last select()" }</th>
                        <th scope="col">{ "state" }</th>
                    </tr>
                </thead>
                <tbody>
                    { for props.rows.iter().map(|row| {
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
                                <td>{ if row.closed { "closed" } else { "open" } }</td>
                            </tr>
                        }
                    }) }
                </tbody>
            </table>
        </section>
    }
}
