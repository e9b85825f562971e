//! The lab panel: where the echo server listens, and the button that starts
//! clients against it.

use protocol::{ClientBehaviour, Command, Hello};
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::live::Link;

/// Props of [`LabPanel`].
#[derive(Properties, PartialEq)]
pub struct LabPanelProps {
    /// The lab's greeting, once it came.
    pub lab: Option<Hello>,
    /// Where commands go.
    pub link: Link,
    /// Whether the relay is connected.
    pub enabled: bool,
}

/// The echo address, and "Spawn client" with a count.
#[function_component]
pub fn LabPanel(props: &LabPanelProps) -> Html {
    let count = use_state(|| 1_u32);
    let max = props
        .lab
        .as_ref()
        .map_or(1, |lab| lab.limits.max_clients.max(1));
    let on_count = {
        let count = count.clone();
        Callback::from(move |event: InputEvent| {
            let input: HtmlInputElement = event.target_unchecked_into();
            if let Ok(value) = input.value().parse::<u32>() {
                count.set(value.clamp(1, max));
            }
        })
    };
    let on_spawn = {
        let link = props.link.clone();
        let count = *count;
        Callback::from(move |_: MouseEvent| {
            link.send(&Command::SpawnClients {
                count,
                behaviour: ClientBehaviour::default(),
            });
        })
    };
    let echo_addr = props.lab.as_ref().map(|lab| lab.echo_addr.clone());
    html! {
        <section class="panel lab" aria-labelledby="lab-title">
            <h2 id="lab-title">{ "Your lab" }</h2>
            <p>
                { "An echo server (one task per connection) listens on " }
                <code id="echo-addr">{ echo_addr.clone().unwrap_or_else(|| "…".into()) }</code>
            </p>
            if let Some(addr) = echo_addr {
                <p class="hint">
                    { "Try it yourself: " }
                    <code>{ nc_command(&addr) }</code>
                    { " and type a line; your connection shows up below." }
                </p>
            }
            <div class="controls">
                <label for="spawn-count">{ "Clients" }</label>
                <input id="spawn-count" type="number" min="1" max={max.to_string()}
                       value={count.to_string()} oninput={on_count} />
                <button id="spawn" onclick={on_spawn} disabled={!props.enabled}>
                    { "Spawn client" }
                </button>
            </div>
            <p class="hint">{ "Each client sends 5 messages of 32 bytes, 200 ms apart, and checks every echo." }</p>
        </section>
    }
}

/// `nc HOST PORT` for an address like `127.0.0.1:4000` or `[::1]:4000`.
fn nc_command(addr: &str) -> String {
    match addr.rsplit_once(':') {
        Some((host, port)) => format!("nc {} {port}", host.trim_matches(['[', ']'])),
        None => format!("nc {addr}"),
    }
}

#[cfg(test)]
mod tests {
    use super::nc_command;

    #[test]
    fn the_nc_hint_splits_host_and_port() {
        assert_eq!(nc_command("127.0.0.1:4000"), "nc 127.0.0.1 4000");
        assert_eq!(nc_command("[::1]:4000"), "nc ::1 4000");
    }
}
