//! A simulation's settings (model, error handling, seed) and the link
//! that reproduces a scenario (`?model=…&clients=…&speed=…`): what a page
//! address, a lesson step, a host's push and a saved run share. Pure.

use loopscope_sim::{ClientBehaviour, HandlerStyle, ServerModel};
use protocol::Micros;

/// The speeds offered, as virtual time per real time.
pub const SPEEDS: [f64; 6] = [0.1, 0.25, 1.0, 5.0, 20.0, 50.0];

/// The client behaviours offered on the page: key (as in links), label.
pub use protocol::presets::BEHAVIOURS;

/// What a client of `behaviour` does, in a sentence, from its own
/// parameters (so that the words never drift from what it does).
pub fn describe_behaviour(behaviour: &ClientBehaviour) -> String {
    match behaviour {
        ClientBehaviour::Polite {
            messages,
            size,
            interval_ms,
        } => format!(
            "A polite client sends {messages} messages of {size} bytes, {interval_ms} ms apart, \
             reads each echo before the next, and checks every byte."
        ),
        ClientBehaviour::Slow {
            messages,
            size,
            byte_interval_ms,
        } => format!(
            "A slow sender sends {messages} messages of {size} bytes one byte at a time, \
             {byte_interval_ms} ms apart: a server that waits for it in recv() keeps everyone \
             else waiting."
        ),
        ClientBehaviour::Silent {} => "A silent client connects and never sends: it stays until \
             the server closes. A server blocked in its recv() serves nobody else meanwhile."
            .to_owned(),
        ClientBehaviour::Crasher { size } => format!(
            "A crasher sends half of a {size}-byte message, then resets its connection (RST): \
             the server's next recv() or send() on it raises ConnectionResetError."
        ),
        ClientBehaviour::Flood { bytes } => format!(
            "A flood client sends {bytes} bytes as fast as it can and never reads: the echo fills \
             the buffers, so the server's send must wait for room (or would block)."
        ),
    }
}

/// A whole scenario as a link keeps it: `?model=selector&errors=unhandled&
/// seed=3&speed=5&clients=polite,polite,crasher`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioLink {
    /// Model, error handling, seed.
    pub settings: SimSettings,
    /// Virtual time per real time.
    pub speed: f64,
    /// The clients, by behaviour key, started one after the other.
    pub clients: Vec<&'static str>,
    /// A second model to run the same scenario under, side by side.
    pub compare: Option<ServerModel>,
}

impl Default for ScenarioLink {
    fn default() -> Self {
        ScenarioLink {
            settings: SimSettings::default(),
            speed: 1.0,
            clients: vec!["polite"; 3],
            compare: None,
        }
    }
}

impl ScenarioLink {
    /// Reads a page's query string (with or without its `?`); what is
    /// missing or not understood keeps its default.
    pub fn parse(query: &str) -> ScenarioLink {
        let mut link = ScenarioLink::default();
        for pair in query.trim_start_matches('?').split('&') {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            match key {
                "model" => {
                    if let Some(model) = ServerModel::named(value) {
                        link.settings.model = model;
                    }
                }
                "compare" => link.compare = ServerModel::named(value),
                "errors" => {
                    link.settings.style = if value == "unhandled" {
                        HandlerStyle::Unhandled
                    } else {
                        HandlerStyle::Handled
                    };
                }
                "seed" => link.settings.seed = value.parse().unwrap_or(link.settings.seed),
                "speed" => {
                    if let Some(speed) = SPEEDS.iter().find(|speed| speed.to_string() == value) {
                        link.speed = *speed;
                    }
                }
                // `polite,slow` or, for many alike, `polite*500`.
                "clients" => {
                    link.clients = value
                        .split(',')
                        .flat_map(|entry| {
                            let (key, times) = entry.split_once('*').unwrap_or((entry, "1"));
                            let known = BEHAVIOURS
                                .iter()
                                .find(|(known, _)| *known == key)
                                .map(|(known, _)| *known);
                            let times = times.parse().unwrap_or(0).min(MAX_LINK_CLIENTS);
                            std::iter::repeat_n(known, times).flatten()
                        })
                        .take(MAX_LINK_CLIENTS)
                        .collect();
                }
                _ => {}
            }
        }
        link
    }

    /// The scenario `query` is, if it is exactly a link this page makes
    /// ([`ScenarioLink::to_query`]); anything else (another site's
    /// address, a path, a setting the page would not write) is `None`, so
    /// a link taken from a file is never pasted into the page as it came.
    pub fn parse_exact(query: &str) -> Option<ScenarioLink> {
        let link = ScenarioLink::parse(query);
        (link.to_query() == query).then_some(link)
    }

    /// The query string that reproduces this scenario.
    pub fn to_query(&self) -> String {
        let errors = match self.settings.style {
            HandlerStyle::Handled => "handled",
            HandlerStyle::Unhandled => "unhandled",
        };
        let compare = self
            .compare
            .map(|model| format!("&compare={}", model.key()))
            .unwrap_or_default();
        format!(
            "?model={}&errors={errors}&seed={}&speed={}&clients={}{compare}",
            self.settings.model.key(),
            self.settings.seed,
            self.speed,
            clients_query(&self.clients)
        )
    }
}

/// Most clients a link may ask for, and a scenario may hold.
pub const MAX_LINK_CLIENTS: usize = 1_000;

/// Clients as a link lists them: runs of the same behaviour as `key*n`.
fn clients_query(clients: &[&str]) -> String {
    clients
        .chunk_by(|a, b| a == b)
        .map(|run| match run.len() {
            1 => run[0].to_owned(),
            n => format!("{}*{n}", run[0]),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Time between two starting clients: 150 ms, or less when there are many,
/// so that all have connected within 3 s.
pub fn arrival_gap(clients: usize) -> Micros {
    (3_000_000 / clients.max(1) as Micros).min(150_000)
}

/// What a simulation starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimSettings {
    /// The server model.
    pub model: ServerModel,
    /// What handlers do with errors.
    pub style: HandlerStyle,
    /// The seed.
    pub seed: u64,
}

impl Default for SimSettings {
    fn default() -> Self {
        SimSettings {
            model: ServerModel::AsyncTasks,
            style: HandlerStyle::Handled,
            seed: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_link_the_page_makes_is_taken_as_a_scenario() {
        let made = ScenarioLink::parse("?model=selector&clients=polite,slow").to_query();
        assert_eq!(
            ScenarioLink::parse_exact(&made).map(|link| link.to_query()),
            Some(made.clone())
        );
        for crafted in [
            "/evil.example/phish",
            "\\evil.example/phish",
            "//evil.example/?model=selector",
            "https://evil.example/?model=selector",
            &format!("{made}&next=//evil.example"),
            "?model=selector",
        ] {
            assert!(ScenarioLink::parse_exact(crafted).is_none(), "{crafted}");
        }
    }
}
