//! Where the page came from: the folder its own files are served from (its
//! base: `/` from a relay, `/loopscope/` from a static site built with
//! `scripts/build-site.sh /loopscope/`), and whether a relay comes with it.
//!
//! Every address the page asks for (the relay's `ws` and `lesson`, the
//! host's `room`) is made from the base, never from the root, so the page
//! works under a sub-path: on a static host, or from a relay behind a
//! reverse proxy.
//!
//! A static site says at build time that no relay comes with it:
//! `scripts/build-site.sh` writes [`RELAY_SETTING`] with the value `none`
//! into its page, and such a page never asks for one (no WebSocket, no
//! event stream). The address arithmetic is pure and tested natively;
//! reading the document is the thin edge below it.

/// The `<meta name=…>` a static site's page carries (`content="none"`).
pub const RELAY_SETTING: &str = "loopscope-relay";

/// The folder of an absolute URL (a file's), with its trailing slash: the
/// query and the fragment go, and so does the file's name.
pub fn folder_of(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..end];
    match url.rfind('/') {
        // Not the slashes of `scheme://`.
        Some(slash) if !url[..slash].ends_with(['/', ':']) => &url[..=slash],
        _ => url,
    }
}

/// The folder above `folder` (an absolute URL ending in `/`), or `folder`
/// itself at the root.
pub fn parent_folder(folder: &str) -> &str {
    let parent = folder_of(folder.strip_suffix('/').unwrap_or(folder));
    if parent.ends_with('/') {
        parent
    } else {
        folder
    }
}

/// `path` (relative, such as `ws`) under `base` (an absolute `http:` or
/// `https:` URL ending in `/`), as a WebSocket URL (`ws:` or `wss:`).
pub fn websocket_url(base: &str, path: &str) -> String {
    let joined = format!("{base}{path}");
    if let Some(rest) = joined.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = joined.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        joined
    }
}

/// Whether a relay comes with a page whose [`RELAY_SETTING`] reads
/// `setting` (none when the page has no such tag: a relay's own page).
pub fn relay_comes_with(setting: Option<&str>) -> bool {
    setting.map(str::trim) != Some("none")
}

/// This page's base: the folder of its own script (Trunk links it from the
/// public URL it was built for), or else the folder of the page's address.
pub fn base() -> String {
    let Some(window) = web_sys::window() else {
        return "/".to_owned();
    };
    let page = window.location().href().unwrap_or_default();
    let script = window
        .document()
        .and_then(|document| {
            document
                .query_selector("link[rel=modulepreload]")
                .ok()
                .flatten()
        })
        .and_then(|link| link.get_attribute("href"))
        .and_then(|href| web_sys::Url::new_with_base(&href, &page).ok())
        .map(|url| url.href());
    folder_of(script.as_deref().unwrap_or(&page)).to_owned()
}

/// `path` under this page's base, as an absolute URL.
pub fn url(path: &str) -> String {
    format!("{}{path}", base())
}

/// Whether this page may look for a relay: every page but a static site's.
pub fn relay_expected() -> bool {
    let setting = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| {
            document
                .query_selector(&format!("meta[name=\"{RELAY_SETTING}\"]"))
                .ok()
                .flatten()
        })
        .and_then(|meta| meta.get_attribute("content"));
    relay_comes_with(setting.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_files_folder_keeps_its_sub_path_and_drops_its_name_and_query() {
        assert_eq!(
            folder_of("http://127.0.0.1:8080/loopscope-1a2b.js"),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            folder_of("https://example.org/courses/loopscope/loopscope-1a2b.js"),
            "https://example.org/courses/loopscope/"
        );
        assert_eq!(
            folder_of("http://h/loopscope/?lesson=3#x/y"),
            "http://h/loopscope/"
        );
        assert_eq!(
            folder_of("http://h/loopscope/host/?token=a/b"),
            "http://h/loopscope/host/"
        );
        assert_eq!(folder_of("http://h"), "http://h");
    }

    #[test]
    fn the_dashboards_playground_is_the_folder_above_it() {
        assert_eq!(
            parent_folder("http://10.0.0.1:8080/host/"),
            "http://10.0.0.1:8080/"
        );
        assert_eq!(
            parent_folder("https://example.org/loopscope/host/"),
            "https://example.org/loopscope/"
        );
        assert_eq!(parent_folder("http://h/"), "http://h/");
    }

    #[test]
    fn the_relays_socket_is_under_the_base_with_the_matching_scheme() {
        assert_eq!(
            websocket_url("http://127.0.0.1:8080/", "ws"),
            "ws://127.0.0.1:8080/ws"
        );
        assert_eq!(
            websocket_url("https://example.org/loopscope/", "ws"),
            "wss://example.org/loopscope/ws"
        );
    }

    #[test]
    fn only_a_page_that_says_none_goes_without_a_relay() {
        assert!(relay_comes_with(None));
        assert!(relay_comes_with(Some("")));
        assert!(!relay_comes_with(Some("none")));
        assert!(!relay_comes_with(Some(" none ")));
    }
}
