//! The workshop's tokens: the join token in the link attendees open, and
//! the host token of the dashboard.
//!
//! A token is 16 characters from an alphabet without look-alikes (no `0`,
//! `o`, `1`, `l`), 80 random bits, short enough to type from a projector.
//! It is compared in constant time, and never printed by `Debug`.

use std::fmt;

use subtle::ConstantTimeEq;

/// Characters of a generated token: 32 of them, 5 bits each.
const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
/// Characters of a generated token.
const GENERATED_LEN: usize = 16;
/// The shortest token a host may choose.
pub const MIN_LEN: usize = 8;

/// A token that lets a request in.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// Why a token given on the command line is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadSecret {
    /// Too short to resist guessing.
    #[error("a token has at least {MIN_LEN} characters")]
    TooShort,
    /// It would need escaping in a link.
    #[error("a token holds letters, digits, '-' and '_' only (it goes in a link)")]
    NotLinkSafe,
}

impl Secret {
    /// A fresh random token.
    pub fn generate() -> Secret {
        let mut bytes = [0_u8; GENERATED_LEN];
        getrandom::fill(&mut bytes).expect("the operating system gives random bytes");
        // 256 is a multiple of 32: every character is equally likely.
        let text = bytes
            .iter()
            .map(|byte| ALPHABET[usize::from(byte % 32)] as char)
            .collect();
        Secret(text)
    }

    /// A token the host chose.
    pub fn new(text: &str) -> Result<Secret, BadSecret> {
        if text.len() < MIN_LEN {
            return Err(BadSecret::TooShort);
        }
        if !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(BadSecret::NotLinkSafe);
        }
        Ok(Secret(text.to_owned()))
    }

    /// Whether `offered` is this token, in time that does not depend on
    /// where they differ.
    pub fn admits(&self, offered: Option<&str>) -> bool {
        offered.is_some_and(|offered| bool::from(self.0.as_bytes().ct_eq(offered.as_bytes())))
    }

    /// The token, to print in the host's terminal or put in a link.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl std::str::FromStr for Secret {
    type Err = BadSecret;

    fn from_str(text: &str) -> Result<Secret, BadSecret> {
        Secret::new(text)
    }
}

/// The value of `name` in a request's query string.
pub fn query_value<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_link_safe_distinct_and_hidden_from_debug() {
        let (a, b) = (Secret::generate(), Secret::generate());
        assert_ne!(a, b);
        assert_eq!(a.reveal().len(), GENERATED_LEN);
        assert!(Secret::new(a.reveal()).is_ok());
        assert!(!format!("{a:?}").contains(a.reveal()));
    }

    #[test]
    fn only_the_same_token_is_admitted() {
        let secret = Secret::new("room-42-token").unwrap();
        assert!(secret.admits(Some("room-42-token")));
        assert!(!secret.admits(Some("room-42-tokem")));
        assert!(!secret.admits(Some("room-42")));
        assert!(!secret.admits(Some("")));
        assert!(!secret.admits(None));
    }

    #[test]
    fn chosen_tokens_must_be_long_and_link_safe() {
        assert_eq!(Secret::new("short"), Err(BadSecret::TooShort));
        assert_eq!(Secret::new("has space in"), Err(BadSecret::NotLinkSafe));
        assert_eq!(Secret::new("a&b=cdefgh"), Err(BadSecret::NotLinkSafe));
    }

    #[test]
    fn the_token_is_found_among_other_query_pairs() {
        assert_eq!(query_value(Some("model=x&token=abc"), "token"), Some("abc"));
        assert_eq!(query_value(Some("tokens=abc"), "token"), None);
        assert_eq!(query_value(None, "token"), None);
    }
}
