//! The door policy of the WebSocket: which pages may drive this relay.
//!
//! A relay on a laptop is reachable from every web page that laptop's browser
//! opens, so the upgrade to `/ws` checks two headers before a lab is made:
//!
//! * `Host` must name the address the relay is bound to (or `localhost` when
//!   that is loopback), or one the host allowed with `--allow-host`. This
//!   defeats DNS rebinding, where a hostile name resolves to 127.0.0.1.
//! * `Origin`, which browsers always send on a WebSocket handshake, must be
//!   the relay's own origin (`http://` + the checked `Host`), or one allowed
//!   with `--allow-origin`. This defeats cross-site WebSocket hijacking.
//!   A handshake without `Origin` comes from a program, not from a page, and
//!   is let in: a hostile page cannot leave the header out.
//!
//! A browser leaves the port out of both headers when it is the scheme's
//! default (80 for `http`), so names are compared with the port written
//! out.
//!
//! Pure: no I/O, so every rule is unit-tested below.

use std::net::SocketAddr;

/// Why a handshake was refused; the text goes back in the 403 response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The request named no host.
    #[error("the request has no Host header")]
    MissingHost,
    /// The request was addressed to a name this relay does not answer to.
    #[error(
        "host {0:?} is not this relay's address; start the relay with --allow-host {0} to allow it"
    )]
    HostNotAllowed(String),
    /// The page that opened the WebSocket came from another site.
    #[error(
        "origin {0:?} may not drive this relay; only pages it serves itself may (or start it with --allow-origin)"
    )]
    OriginNotAllowed(String),
}

/// The hosts and origins allowed to open a lab.
#[derive(Debug, Clone)]
pub struct DoorPolicy {
    hosts: Vec<String>,
    extra_origins: Vec<String>,
}

impl DoorPolicy {
    /// The policy for a relay bound to `bound`, plus what the host allowed
    /// on the command line.
    pub fn new(bound: SocketAddr, extra_hosts: &[String], extra_origins: &[String]) -> Self {
        let port = bound.port();
        let mut hosts = vec![bound.to_string()];
        if bound.ip().is_loopback() || bound.ip().is_unspecified() {
            hosts.push(format!("localhost:{port}"));
            hosts.push(format!("127.0.0.1:{port}"));
            hosts.push(format!("[::1]:{port}"));
        }
        hosts.extend(extra_hosts.iter().cloned());
        let mut hosts: Vec<String> = hosts.iter().map(|host| with_port(host)).collect();
        hosts.dedup();
        let extra_origins = extra_origins
            .iter()
            .map(|origin| origin_with_port(origin.trim_end_matches('/')))
            .collect();
        DoorPolicy {
            hosts,
            extra_origins,
        }
    }

    /// Lets a handshake in, or says why not.
    pub fn check(&self, host: Option<&str>, origin: Option<&str>) -> Result<(), Refusal> {
        let sent_host = host.ok_or(Refusal::MissingHost)?;
        let host = with_port(sent_host);
        if !self.hosts.contains(&host) {
            return Err(Refusal::HostNotAllowed(sent_host.to_ascii_lowercase()));
        }
        let Some(sent_origin) = origin else {
            return Ok(());
        };
        let origin = origin_with_port(sent_origin);
        let own_origin = format!("http://{host}");
        if origin == own_origin || self.extra_origins.contains(&origin) {
            Ok(())
        } else {
            Err(Refusal::OriginNotAllowed(sent_origin.to_ascii_lowercase()))
        }
    }
}

/// `host[:port]` in lower case with the port written out (80 when left out).
fn with_port(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    // An IPv6 literal ends in `]` when it has no port.
    let has_port = match host.rfind(']') {
        Some(bracket) => host[bracket..].contains(':'),
        None => host.contains(':'),
    };
    if has_port { host } else { format!("{host}:80") }
}

/// An `http://host[:port]` origin with the port written out; other schemes
/// are left as they are (and never match the relay's own origin).
fn origin_with_port(origin: &str) -> String {
    let origin = origin.to_ascii_lowercase();
    match origin.strip_prefix("http://") {
        Some(host) => format!("http://{}", with_port(host)),
        None => origin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback_policy() -> DoorPolicy {
        DoorPolicy::new("127.0.0.1:8080".parse().unwrap(), &[], &[])
    }

    #[test]
    fn the_relays_own_page_is_let_in() {
        let policy = loopback_policy();
        assert_eq!(
            policy.check(Some("127.0.0.1:8080"), Some("http://127.0.0.1:8080")),
            Ok(())
        );
        assert_eq!(
            policy.check(Some("localhost:8080"), Some("http://localhost:8080")),
            Ok(())
        );
    }

    #[test]
    fn a_page_from_another_site_is_refused() {
        let refusal = loopback_policy()
            .check(Some("127.0.0.1:8080"), Some("https://evil.example"))
            .unwrap_err();
        assert_eq!(
            refusal,
            Refusal::OriginNotAllowed("https://evil.example".into())
        );
    }

    #[test]
    fn a_page_from_the_same_host_on_another_port_is_refused() {
        let refusal = loopback_policy()
            .check(Some("127.0.0.1:8080"), Some("http://127.0.0.1:3000"))
            .unwrap_err();
        assert!(matches!(refusal, Refusal::OriginNotAllowed(_)));
    }

    #[test]
    fn an_origin_must_match_the_host_it_was_sent_to() {
        // Both names are allowed, but a page loaded from one must not speak
        // through the other.
        let refusal = loopback_policy()
            .check(Some("127.0.0.1:8080"), Some("http://localhost:8080"))
            .unwrap_err();
        assert!(matches!(refusal, Refusal::OriginNotAllowed(_)));
    }

    #[test]
    fn a_rebound_host_name_is_refused() {
        let refusal = loopback_policy()
            .check(
                Some("attacker.example:8080"),
                Some("http://attacker.example:8080"),
            )
            .unwrap_err();
        assert_eq!(
            refusal,
            Refusal::HostNotAllowed("attacker.example:8080".into())
        );
    }

    #[test]
    fn a_missing_host_is_refused() {
        assert_eq!(
            loopback_policy().check(None, None),
            Err(Refusal::MissingHost)
        );
    }

    #[test]
    fn a_program_without_origin_is_let_in() {
        assert_eq!(
            loopback_policy().check(Some("127.0.0.1:8080"), None),
            Ok(())
        );
    }

    #[test]
    fn on_port_80_a_browser_leaves_the_port_out_and_is_let_in() {
        let policy = DoorPolicy::new("192.168.1.20:80".parse().unwrap(), &[], &[]);
        assert_eq!(
            policy.check(Some("192.168.1.20"), Some("http://192.168.1.20")),
            Ok(())
        );
        assert_eq!(
            policy.check(Some("192.168.1.20:80"), Some("http://192.168.1.20")),
            Ok(())
        );
        let loopback = DoorPolicy::new("[::1]:80".parse().unwrap(), &[], &[]);
        assert_eq!(loopback.check(Some("[::1]"), Some("http://[::1]")), Ok(()));
        assert_eq!(
            loopback.check(Some("localhost"), Some("http://localhost")),
            Ok(())
        );
        // Leaving the port out means 80, not any port.
        let elsewhere = DoorPolicy::new("192.168.1.20:8080".parse().unwrap(), &[], &[]);
        assert!(elsewhere.check(Some("192.168.1.20"), None).is_err());
        assert!(
            policy
                .check(Some("192.168.1.20"), Some("http://192.168.1.20:8080"))
                .is_err()
        );
    }

    #[test]
    fn a_workshop_address_and_allowed_extras_are_let_in() {
        let policy = DoorPolicy::new(
            "192.168.1.20:8080".parse().unwrap(),
            &["workshop.lan:8080".into()],
            &["http://127.0.0.1:8081/".into()],
        );
        assert_eq!(
            policy.check(Some("192.168.1.20:8080"), Some("http://192.168.1.20:8080")),
            Ok(())
        );
        assert_eq!(
            policy.check(Some("Workshop.LAN:8080"), Some("http://workshop.lan:8080")),
            Ok(())
        );
        assert_eq!(
            policy.check(Some("192.168.1.20:8080"), Some("http://127.0.0.1:8081")),
            Ok(())
        );
        // A LAN-bound relay does not answer to localhost names it was not given.
        assert!(policy.check(Some("localhost:8080"), None).is_err());
    }
}
