//! The choices the page offers, in one list that the page, the simulator
//! and the relay share: the four models with their keys (as links,
//! commands and events write them) and labels, and the five client
//! behaviours with theirs. A behaviour's preset is the protocol's default
//! for its kind, so the page's "polite" button, a simulated polite client
//! and `{"kind":"polite"}` sent to the relay are the same client.

use crate::{ClientBehaviour, ServerModel, ShutdownPolicy, defaults};

/// The models, in the lesson's order.
pub const MODELS: [ServerModel; 4] = [
    ServerModel::Blocking,
    ServerModel::BusyPoll,
    ServerModel::Selector,
    ServerModel::AsyncTasks,
];

/// The client behaviours the page offers, in its order: key, label.
pub const BEHAVIOURS: [(&str, &str); 5] = [
    ("polite", "polite"),
    ("slow", "slow sender"),
    ("silent", "silent"),
    ("crasher", "crasher"),
    ("flood", "flood"),
];

impl ServerModel {
    /// Its name in links, commands and events: `busy_poll`.
    pub const fn key(self) -> &'static str {
        match self {
            ServerModel::Blocking => "blocking",
            ServerModel::BusyPoll => "busy_poll",
            ServerModel::Selector => "selector",
            ServerModel::AsyncTasks => "async_tasks",
        }
    }

    /// Its name for a person: `non-blocking busy poll`.
    pub const fn label(self) -> &'static str {
        match self {
            ServerModel::Blocking => "blocking sockets",
            ServerModel::BusyPoll => "non-blocking busy poll",
            ServerModel::Selector => "selector loop",
            ServerModel::AsyncTasks => "asyncio tasks",
        }
    }

    /// Whether its program offers a choice of [`ShutdownPolicy`]: asyncio's
    /// does (step 7 of the lesson); the others always give a grace period,
    /// then close the rest.
    pub const fn offers_shutdown_policies(self) -> bool {
        matches!(self, ServerModel::AsyncTasks)
    }

    /// The policy its program runs when asked for `policy`: that one if it
    /// offers a choice, grace then cancel if not (a compared server under
    /// another model is shut down its own way).
    pub fn shutdown_policy(self, policy: ShutdownPolicy) -> ShutdownPolicy {
        if self.offers_shutdown_policies() {
            policy
        } else {
            ShutdownPolicy::GraceThenCancel
        }
    }

    /// The model whose [`key`](Self::key) is `key`.
    pub fn named(key: &str) -> Option<ServerModel> {
        MODELS.into_iter().find(|model| model.key() == key)
    }
}

impl ClientBehaviour {
    /// The behaviour the page's button `key` starts: the protocol's
    /// default for that kind.
    pub fn preset(key: &str) -> Option<ClientBehaviour> {
        Some(match key {
            "polite" => ClientBehaviour::default(),
            "slow" => ClientBehaviour::Slow {
                messages: defaults::slow_messages(),
                size: defaults::slow_size(),
                byte_interval_ms: defaults::byte_interval_ms(),
            },
            "silent" => ClientBehaviour::Silent {},
            "crasher" => ClientBehaviour::Crasher {
                size: defaults::size(),
            },
            "flood" => ClientBehaviour::Flood {
                bytes: defaults::flood_bytes(),
            },
            _ => return None,
        })
    }

    /// Its kind's key, as [`BEHAVIOURS`] and the wire name it.
    pub fn key(&self) -> &'static str {
        match self {
            ClientBehaviour::Polite { .. } => "polite",
            ClientBehaviour::Slow { .. } => "slow",
            ClientBehaviour::Silent {} => "silent",
            ClientBehaviour::Crasher { .. } => "crasher",
            ClientBehaviour::Flood { .. } => "flood",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_preset_is_what_its_bare_kind_means_on_the_wire() {
        for (key, _) in BEHAVIOURS {
            let preset = ClientBehaviour::preset(key).unwrap();
            let bare: ClientBehaviour =
                serde_json::from_str(&format!(r#"{{"kind":"{key}"}}"#)).unwrap();
            assert_eq!(bare, preset, "{key}");
            assert_eq!(preset.key(), key);
            let written = serde_json::to_value(&preset).unwrap();
            assert_eq!(written["kind"], key);
        }
        assert_eq!(ClientBehaviour::preset("nope"), None);
    }

    #[test]
    fn a_models_key_is_its_wire_name_and_names_it_back() {
        for model in MODELS {
            assert_eq!(
                serde_json::to_string(&model).unwrap(),
                format!("\"{}\"", model.key())
            );
            assert_eq!(ServerModel::named(model.key()), Some(model));
            assert!(!model.label().is_empty());
        }
        assert_eq!(ServerModel::named("busy-poll"), None);
    }
}
