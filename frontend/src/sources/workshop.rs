//! Workshop mode, the page's side.
//!
//! * The join token travels from the page's address (the join link) to the
//!   relay, and nowhere else: at start it moves into the tab's session
//!   storage and out of the address, so a lesson link copied from the
//!   address bar never carries it, and a reload of the tab keeps it.
//! * The host's push arrives on `/lesson`, a server-sent event
//!   stream (the browser's `EventSource` reconnects by itself); the page
//!   follows it unless the person turned following off.
//!
//! The string handling is pure and tested natively; the storage and the
//! stream only run in the browser.

use protocol::workshop::PushFeed;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use yew::Callback;

/// Where the tab keeps the join token.
pub const JOIN_TOKEN_KEY: &str = "loopscope.token";
/// Where the tab keeps the host token (the dashboard's).
pub const HOST_TOKEN_KEY: &str = "loopscope.host-token";
/// Where the tab remembers that the person stopped following the host.
const NOT_FOLLOWING_KEY: &str = "loopscope.not-following";

/// Splits the `token` pair out of a query string: the token, and the query
/// without it (`""` when nothing else is left, else with its `?`).
pub fn split_token(query: &str) -> (Option<String>, String) {
    let mut token = None;
    let mut kept = Vec::new();
    for pair in query.trim_start_matches('?').split('&') {
        match pair.split_once('=') {
            Some(("token", value)) => token = Some(value.to_owned()).filter(|t| !t.is_empty()),
            _ if pair.is_empty() => {}
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    };
    (token, rest)
}

/// `url` with `token` as its query's `token` (tokens are link-safe).
pub fn with_token(url: &str, token: Option<&str>) -> String {
    match token {
        Some(token) => {
            let joiner = if url.contains('?') { '&' } else { '?' };
            format!("{url}{joiner}token={token}")
        }
        None => url.to_owned(),
    }
}

fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

/// Moves a token in the page's address into the tab's storage under
/// `key`, takes it out of the address, and returns the tab's token.
pub fn take_token_from_address(key: &str) -> Option<String> {
    let window = web_sys::window()?;
    let search = window.location().search().unwrap_or_default();
    let (from_address, rest) = split_token(&search);
    let storage = session_storage();
    if let Some(token) = &from_address {
        if let Some(storage) = &storage {
            let _ = storage.set_item(key, token);
        }
        let path = window.location().pathname().unwrap_or_default();
        let hash = window.location().hash().unwrap_or_default();
        if let Ok(history) = window.history() {
            let _ = history.replace_state_with_url(
                &wasm_bindgen::JsValue::NULL,
                "",
                Some(&format!("{path}{rest}{hash}")),
            );
        }
        return from_address;
    }
    storage.and_then(|storage| storage.get_item(key).ok().flatten())
}

/// Whether this tab follows the host (it does until the person says not).
pub fn following() -> bool {
    session_storage()
        .and_then(|storage| storage.get_item(NOT_FOLLOWING_KEY).ok().flatten())
        .is_none()
}

/// Remembers, for this tab, whether it follows the host.
pub fn set_following(follow: bool) {
    if let Some(storage) = session_storage() {
        let _ = if follow {
            storage.remove_item(NOT_FOLLOWING_KEY)
        } else {
            storage.set_item(NOT_FOLLOWING_KEY, "1")
        };
    }
}

/// A request's answer: its status and its body as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub text: String,
}

impl Answer {
    /// Whether the status is a success.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends `method url` to the relay, with a bearer token and a JSON body if
/// given; `Err` when nothing answered.
pub async fn request(
    method: &str,
    url: &str,
    bearer: Option<&str>,
    json: Option<&str>,
) -> Result<Answer, String> {
    use wasm_bindgen_futures::JsFuture;
    let failed = |error: wasm_bindgen::JsValue| format!("{error:?}");
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new().map_err(failed)?;
    if let Some(token) = bearer {
        headers
            .set("Authorization", &format!("Bearer {token}"))
            .map_err(failed)?;
    }
    if let Some(json) = json {
        headers
            .set("Content-Type", "application/json")
            .map_err(failed)?;
        init.set_body(&wasm_bindgen::JsValue::from_str(json));
    }
    init.set_headers(&headers);
    let request = web_sys::Request::new_with_str_and_init(url, &init).map_err(failed)?;
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|_| "the relay did not answer".to_owned())?
        .unchecked_into();
    let text = match response.text() {
        Ok(promise) => JsFuture::from(promise)
            .await
            .ok()
            .and_then(|text| text.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    Ok(Answer {
        status: response.status(),
        text,
    })
}

/// A server-sent event stream, closed when dropped.
pub struct EventFeed {
    source: web_sys::EventSource,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
}

impl Drop for EventFeed {
    fn drop(&mut self) {
        self.source.close();
    }
}

/// Listens to the server-sent events at `url`, each a JSON `T`, for as
/// long as the returned feed lives. Unreadable events are skipped.
pub fn listen<T>(url: &str, on_event: Callback<T>) -> Option<EventFeed>
where
    T: serde::de::DeserializeOwned + 'static,
{
    let source = web_sys::EventSource::new(url).ok()?;
    let on_message =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            if let Some(text) = event.data().as_string()
                && let Ok(value) = serde_json::from_str(&text)
            {
                on_event.emit(value);
            }
        });
    source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    Some(EventFeed {
        source,
        _on_message: on_message,
    })
}

/// Listens to the host's push.
pub fn listen_to_the_host(token: Option<&str>, on_feed: Callback<PushFeed>) -> Option<EventFeed> {
    listen(
        &with_token(&crate::sources::site::url("lesson"), token),
        on_feed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_leaves_the_query_and_the_rest_stays() {
        assert_eq!(
            split_token("?token=k3y&model=selector&clients=polite*3"),
            (
                Some("k3y".to_owned()),
                "?model=selector&clients=polite*3".to_owned()
            )
        );
        assert_eq!(
            split_token("?token=k3y"),
            (Some("k3y".to_owned()), String::new())
        );
        assert_eq!(
            split_token("?model=blocking"),
            (None, "?model=blocking".to_owned())
        );
        assert_eq!(split_token(""), (None, String::new()));
    }

    #[test]
    fn the_token_is_added_to_the_relays_urls() {
        assert_eq!(
            with_token("ws://10.0.0.1:8080/ws", Some("abc")),
            "ws://10.0.0.1:8080/ws?token=abc"
        );
        assert_eq!(with_token("/lesson", None), "/lesson");
        assert_eq!(with_token("/a?b=c", Some("t")), "/a?b=c&token=t");
    }
}
