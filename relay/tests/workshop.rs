//! Workshop mode over real sockets: the join token at the door, the host's
//! dashboard and what the host may do, the host's push reaching every page, and
//! the app's files compressed and cached. Loopback's many addresses play
//! the attendees' machines.

mod support;

use loopscope_relay::Config;
use loopscope_relay::secret::Secret;
use loopscope_relay::session::CLOSED_BY_HOST;
use protocol::workshop::{HostPush, PushFeed, RoomView};
use protocol::{ClientBehaviour, Command, EventKind, ServerMessage, ServerModel};
use support::*;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const JOIN: &str = "join-token-42";
const HOST: &str = "host-token-42";

fn workshop() -> Config {
    Config {
        join_token: Some(Secret::new(JOIN).unwrap()),
        host_token: Secret::new(HOST).unwrap(),
        ..Config::default()
    }
}

/// A WebSocket handshake to `/ws` + `query` from `from`: the hello, or the
/// HTTP status and body of the refusal.
async fn handshake(
    relay: &RunningRelay,
    from: &str,
    query: &str,
) -> Result<(Socket, protocol::Hello), (u16, String)> {
    let stream = connect_from(from, relay.addr).await.unwrap();
    let mut request = format!("ws://{}/ws{query}", relay.addr)
        .into_client_request()
        .unwrap();
    let origin = HeaderValue::from_str(&format!("http://{}", relay.addr)).unwrap();
    request.headers_mut().insert("Origin", origin);
    let plain = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let handshake = tokio::time::timeout(PATIENCE, tokio_tungstenite::client_async(request, plain))
        .await
        .expect("the relay answered the handshake");
    match handshake {
        Ok((mut socket, _)) => match next_message(&mut socket).await {
            ServerMessage::Hello(hello) => Ok((socket, hello)),
            other => panic!("the first message must be hello, got {other:?}"),
        },
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response.body().as_deref().unwrap_or_default();
            Err((
                response.status().as_u16(),
                String::from_utf8_lossy(body).into_owned(),
            ))
        }
        Err(other) => panic!("handshake failed otherwise: {other}"),
    }
}

/// The host's view of the room, read (once a second) until `wanted` holds;
/// panics if it does not within twice the patience.
async fn room_until(relay: &RunningRelay, wanted: impl Fn(&RoomView) -> bool) -> RoomView {
    room_within(relay, PATIENCE * 2, wanted).await
}

/// The host's view of the room, read (once a second) until `wanted` holds;
/// panics if it does not within `patience`.
async fn room_within(
    relay: &RunningRelay,
    patience: std::time::Duration,
    wanted: impl Fn(&RoomView) -> bool,
) -> RoomView {
    let path = format!("/host/room?token={HOST}");
    let mut views = EventLines::open("127.0.0.1", relay.addr, &path).await;
    let watch = async {
        loop {
            let view: RoomView = views.next().await;
            if wanted(&view) {
                return view;
            }
        }
    };
    tokio::time::timeout(patience, watch)
        .await
        .expect("the room never looked as wanted")
}

async fn host_request(relay: &RunningRelay, method: &str, path: &str, body: &str) -> HttpResponse {
    let bearer = format!("Bearer {HOST}");
    http(
        "127.0.0.1",
        relay.addr,
        method,
        path,
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        body,
    )
    .await
}

#[tokio::test]
async fn only_a_page_with_the_join_token_gets_a_lab() {
    let relay = start_relay(workshop()).await;
    for query in ["", "?token=join-token-43", "?token=", "?tok=join-token-42"] {
        let refused = handshake(&relay, "127.0.0.2", query).await.err();
        let (status, body) = refused.unwrap_or_else(|| panic!("{query:?} was let in"));
        assert_eq!(status, 401, "{query:?}");
        assert!(body.contains("join link"), "{body}");
    }
    let (_socket, hello) = handshake(&relay, "127.0.0.2", &format!("?token={JOIN}"))
        .await
        .expect("the right token opens a lab");
    assert_eq!(hello.lab, 1, "no lab was made for the refused handshakes");
    // The feed of the host's push is behind the same token.
    let feed = http("127.0.0.3", relay.addr, "GET", "/lesson", &[], "").await;
    assert_eq!(feed.status, 401);
    relay.stop.cancel();
}

#[tokio::test]
async fn the_dashboard_and_the_hosts_actions_need_the_host_token() {
    let relay = start_relay(workshop()).await;
    for path in [
        "/host/room".to_owned(),
        format!("/host/room?token={JOIN}"),
        "/host/room?token=host-token-43".to_owned(),
    ] {
        let response = http("127.0.0.2", relay.addr, "GET", &path, &[], "").await;
        assert_eq!(response.status, 401, "{path}");
    }
    let lead = r#"{"link": "?model=blocking"}"#;
    let wrong = http(
        "127.0.0.2",
        relay.addr,
        "PUT",
        "/host/lesson",
        &[("Authorization", &format!("Bearer {JOIN}"))],
        lead,
    )
    .await;
    assert_eq!(wrong.status, 401);
    let view = http(
        "127.0.0.1",
        relay.addr,
        "GET",
        &format!("/host/room?token={HOST}"),
        &[],
        "",
    )
    .await;
    assert_eq!(view.status, 200);
    let view: RoomView = serde_json::from_slice(&view.body).unwrap();
    assert_eq!(view.join_token.as_deref(), Some(JOIN));
    assert_eq!(
        view.budget.labs.cap,
        u64::from(protocol::Limits::default().max_labs)
    );
    let refused = host_request(&relay, "PUT", "/host/lesson", r#"{"link": "?model=<b>"}"#).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    relay.stop.cancel();
}

#[tokio::test]
async fn a_large_body_is_refused_before_it_is_read_whole_with_or_without_the_token() {
    let relay = start_relay(workshop()).await;
    let huge = format!(r#"{{"link": "?model={}"}}"#, "a".repeat(16 * 1024));
    for bearer in ["Bearer nobody-at-all", &format!("Bearer {HOST}")] {
        let refused = http(
            "127.0.0.2",
            relay.addr,
            "PUT",
            "/host/lesson",
            &[
                ("Authorization", bearer),
                ("Content-Type", "application/json"),
            ],
            &huge,
        )
        .await;
        assert_eq!(refused.status, 413, "{}", refused.text());
    }
    // Just over the lesson cap, with the token: refused in words.
    let over = format!(
        r#"{{"link": "?model={}"}}"#,
        "a".repeat(protocol::workshop::MAX_LESSON_BYTES)
    );
    let refused = host_request(&relay, "PUT", "/host/lesson", &over).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(refused.text().contains("2048 bytes"));
    let fine = host_request(
        &relay,
        "PUT",
        "/host/lesson",
        r#"{"link": "?model=selector"}"#,
    )
    .await;
    assert_eq!(fine.status, 200);
    relay.stop.cancel();
}

#[tokio::test]
async fn the_hosts_push_reaches_every_listening_page_and_a_page_that_joins_later() {
    let relay = start_relay(workshop()).await;
    let path = format!("/lesson?token={JOIN}");
    let mut pages = Vec::new();
    for from in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        let mut page = EventLines::open(from, relay.addr, &path).await;
        let first: PushFeed = page.next().await;
        assert_eq!(first.lesson, None, "nobody leads yet");
        pages.push(page);
    }
    let pushed = host_request(
        &relay,
        "PUT",
        "/host/lesson",
        &format!(
            r#"{{"link": "http://{}/?token={JOIN}&model=selector&clients=polite*3"}}"#,
            relay.addr
        ),
    )
    .await;
    assert_eq!(pushed.status, 200, "{}", pushed.text());
    let push: HostPush = serde_json::from_slice(&pushed.body).unwrap();
    assert_eq!(
        push.query, "?model=selector&clients=polite*3",
        "the token stays out"
    );
    for page in &mut pages {
        let feed: PushFeed = page.next().await;
        assert_eq!(feed.lesson.as_ref(), Some(&push));
    }
    let mut late = EventLines::open("127.0.0.5", relay.addr, &path).await;
    let feed: PushFeed = late.next().await;
    assert_eq!(
        feed.lesson.as_ref(),
        Some(&push),
        "a late page starts on it"
    );
    let view = room_until(&relay, |view| view.followers >= 4).await;
    assert_eq!(view.lesson.as_ref(), Some(&push));

    let stopped = host_request(&relay, "DELETE", "/host/lesson", "").await;
    assert_eq!(stopped.status, 204);
    for page in pages.iter_mut().chain([&mut late]) {
        let feed: PushFeed = page.next().await;
        assert_eq!(feed.lesson, None);
    }
    relay.stop.cancel();
}

#[tokio::test]
async fn the_host_sees_every_lab_and_closes_one_whose_page_is_told_why() {
    let relay = start_relay(workshop()).await;
    let token = format!("?token={JOIN}");
    let (mut first, first_hello) = handshake(&relay, "127.0.0.2", &token).await.unwrap();
    let (mut second, second_hello) = handshake(&relay, "127.0.0.3", &token).await.unwrap();
    send_command(
        &mut second,
        &Command::SetModel {
            model: ServerModel::Selector,
            errors: Default::default(),
        },
    )
    .await;
    send_command(
        &mut second,
        &Command::SpawnClients {
            count: 3,
            behaviour: ClientBehaviour::Silent {},
        },
    )
    .await;
    // Its selector loop keeps reporting (an iteration at least each
    // second's select() timeout): a rate the dashboard shows once it has
    // sampled the lab twice.
    let view = room_until(&relay, |view| {
        view.labs.iter().any(|lab| {
            lab.lab == second_hello.lab
                && lab.model == ServerModel::Selector
                && lab.clients == 3
                && lab.events_per_s > 0
        })
    })
    .await;
    assert_eq!(view.labs.len(), 2);
    let listed = |lab: u64| view.labs.iter().find(|view| view.lab == lab).unwrap();
    assert_eq!(listed(first_hello.lab).address, "127.0.0.2");
    assert_eq!(listed(first_hello.lab).model, ServerModel::AsyncTasks);
    assert_eq!(listed(second_hello.lab).address, "127.0.0.3");
    assert_eq!(listed(first_hello.lab).clients, 0);
    assert_eq!(view.clients, 3);
    assert!(view.budget.descriptors.used >= 2 * 10 + 3 * 3);

    let closed = host_request(
        &relay,
        "POST",
        &format!("/host/labs/{}/close", first_hello.lab),
        "",
    )
    .await;
    assert_eq!(closed.status, 204);
    assert_eq!(close_reason(&mut first).await, CLOSED_BY_HOST);
    let view = room_until(&relay, |view| view.labs.len() == 1).await;
    assert_eq!(view.labs[0].lab, second_hello.lab);
    assert_eq!(view.budget.labs.used, 1, "the closed lab's slot is free");
    let unknown = host_request(&relay, "POST", "/host/labs/999/close", "").await;
    assert_eq!(unknown.status, 404);
    // The other page's lab goes on: it carries out a command.
    send_command(&mut second, &Command::Pause {}).await;
    events_until(&mut second, |seen| {
        count(seen, |kind| *kind == EventKind::Stepping { paused: true }) > 0
    })
    .await;
    relay.stop.cancel();
}

/// How long an idle-priority busy poll may wait for a free share of a core.
const BUSY_POLL_PATIENCE: std::time::Duration = std::time::Duration::from_secs(180);

#[tokio::test]
async fn the_dashboard_shows_a_busy_poll_lab_burning_cpu() {
    let relay = start_relay(workshop()).await;
    let (mut socket, hello) = handshake(&relay, "127.0.0.2", &format!("?token={JOIN}"))
        .await
        .unwrap();
    send_command(
        &mut socket,
        &Command::SetModel {
            model: ServerModel::BusyPoll,
            errors: Default::default(),
        },
    )
    .await;
    // The dashboard lists the lab as busy poll, in the budget's one slot.
    let view = room_until(&relay, |view| {
        view.labs
            .iter()
            .any(|lab| lab.lab == hello.lab && lab.model == ServerModel::BusyPoll)
    })
    .await;
    assert_eq!(view.budget.busy_poll_labs.used, 1);
    // CPU is what is measured: a sample shows the spinning thread's share.
    // It spins at idle priority (`SCHED_IDLE`), so it burns only what
    // nothing else wants: on a machine busy with other work (this binary's
    // other tests, another process) that may take a while to show.
    let view = room_within(&relay, BUSY_POLL_PATIENCE, |view| {
        view.labs.iter().any(|lab| {
            lab.lab == hello.lab && lab.model == ServerModel::BusyPoll && lab.cpu_percent >= 10.0
        })
    })
    .await;
    assert!(
        view.budget.cpu_percent >= 10.0,
        "the relay's own CPU includes it"
    );
    assert_eq!(view.budget.busy_poll_labs.used, 1);
    relay.stop.cancel();
}

/// The built app's file whose name ends with `suffix`.
fn built(suffix: &str) -> (String, Vec<u8>) {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist");
    let entry = std::fs::read_dir(&dist)
        .expect("dist/ holds the built app (scripts/test.sh builds it first)")
        .filter_map(Result::ok)
        .find(|entry| entry.file_name().to_string_lossy().ends_with(suffix))
        .unwrap_or_else(|| panic!("no *{suffix} in dist/"));
    let name = entry.file_name().to_string_lossy().into_owned();
    (name, std::fs::read(entry.path()).unwrap())
}

#[tokio::test]
async fn the_app_goes_out_compressed_and_its_hashed_files_are_kept_for_a_year() {
    use std::io::Read;
    let relay = start_relay(Config::default()).await;
    let (wasm, built_wasm) = built("_bg.wasm");
    let path = format!("/{wasm}");
    let get = |encoding: &'static str, path: String| {
        let addr = relay.addr;
        async move {
            http(
                "127.0.0.1",
                addr,
                "GET",
                &path,
                &[("Accept-Encoding", encoding)],
                "",
            )
            .await
        }
    };

    let brotli = get("br, gzip", path.clone()).await;
    assert_eq!(brotli.status, 200);
    assert_eq!(brotli.header("content-encoding"), Some("br"));
    assert_eq!(
        brotli.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let mut unpacked = Vec::new();
    brotli::BrotliDecompress(&mut &brotli.body[..], &mut unpacked).unwrap();
    assert!(unpacked == built_wasm, "brotli gives back the built file");
    assert!(brotli.body.len() < built_wasm.len() / 2);

    let gzip = get("gzip, deflate", path.clone()).await;
    assert_eq!(gzip.header("content-encoding"), Some("gzip"));
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gzip.body[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert!(unzipped == built_wasm, "gzip gives back the built file");

    let plain = get("identity", path.clone()).await;
    assert_eq!(plain.header("content-encoding"), None);
    assert!(plain.body == built_wasm);

    // The page itself is asked about again each time, and costs no body
    // when unchanged.
    let page = get("gzip", "/".to_owned()).await;
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let etag = page.header("etag").expect("an entity tag").to_owned();
    let again = http(
        "127.0.0.1",
        relay.addr,
        "GET",
        "/",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &etag)],
        "",
    )
    .await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    relay.stop.cancel();
}

#[tokio::test]
async fn bound_to_every_address_a_lab_listens_on_the_address_its_page_reached() {
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = tokio_util::sync::CancellationToken::new();
    let config = Config {
        echo_ip: std::net::Ipv4Addr::UNSPECIFIED.into(),
        ..Config::default()
    };
    tokio::spawn(loopscope_relay::serve(listener, config, stop.clone()));
    // A page on 127.0.0.3 that reached the relay at 127.0.0.2 (by the name
    // 127.0.0.1 in its headers, which a relay on every address answers to).
    let reached: std::net::SocketAddr = ([127, 0, 0, 2], port).into();
    let stream = connect_from("127.0.0.3", reached).await.unwrap();
    let mut request = format!("ws://127.0.0.1:{port}/ws")
        .into_client_request()
        .unwrap();
    let origin = HeaderValue::from_str(&format!("http://127.0.0.1:{port}")).unwrap();
    request.headers_mut().insert("Origin", origin);
    let plain = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let (mut socket, _) =
        tokio::time::timeout(PATIENCE, tokio_tungstenite::client_async(request, plain))
            .await
            .expect("the relay answered the handshake")
            .unwrap();
    let ServerMessage::Hello(hello) = next_message(&mut socket).await else {
        panic!("the first message must be hello");
    };
    assert!(
        hello.echo_addr.starts_with("127.0.0.2:"),
        "not 0.0.0.0: {}",
        hello.echo_addr
    );
    // Its clients, and the page's own nc, reach it there.
    send_command(
        &mut socket,
        &Command::SpawnClients {
            count: 2,
            behaviour: ClientBehaviour::Polite {
                messages: 2,
                size: 8,
                interval_ms: 0,
            },
        },
    )
    .await;
    let events = until_clients_finished(&mut socket, 2).await;
    assert_eq!(clients_echoed_in_full(&events, 16), 2);
    // The kernel completes a connection before the lab decides whom it
    // serves: only an echo shows the page's own `nc` was let in.
    let mut own = connect_from("127.0.0.3", hello.echo_addr.parse().unwrap())
        .await
        .unwrap();
    assert_echoes(&mut own, b"my own nc\n").await;
    stop.cancel();
}
