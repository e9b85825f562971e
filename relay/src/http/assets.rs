//! The app's files, as a room downloads them: compressed (brotli or gzip,
//! whichever the browser prefers) once per file rather than once per
//! attendee, cached for a year when the name carries a content hash (Trunk
//! names `loopscope-<hash>_bg.wasm`), revalidated with an `ETag` otherwise
//! (`index.html`, whose names change with each build).
//!
//! The compressed copies are made off the async threads, the first time a
//! file is asked for in an encoding (or ahead of time by [`warm`]), and
//! kept by content hash: a rebuilt app (debug builds read `dist/` at run
//! time) gets new copies, and concurrent first requests wait for one
//! compression instead of starting one each.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, LazyLock, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;
use tokio::sync::OnceCell;

/// The built app (`trunk build` writes it to `dist/`).
#[derive(Embed)]
#[folder = "../dist"]
#[allow_missing = true]
struct AppFiles;

/// How a response body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// As built.
    Identity,
    /// `gzip`, at its best compression.
    Gzip,
    /// `br`, at its best compression.
    Brotli,
}

impl Encoding {
    fn token(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some("gzip"),
            Encoding::Brotli => Some("br"),
        }
    }
}

/// The encoding to send, from an `Accept-Encoding` header: brotli, then
/// gzip, among those the browser accepts (`q=0` refuses one); identity when
/// it accepts neither.
pub fn preferred_encoding(accept_encoding: Option<&str>) -> Encoding {
    let Some(accept) = accept_encoding else {
        return Encoding::Identity;
    };
    let mut accepted = HashMap::new();
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let name = pieces
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let quality = pieces
            .find_map(|piece| piece.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        accepted.insert(name, quality);
    }
    let quality = |name: &str| {
        accepted
            .get(name)
            .or_else(|| accepted.get("*"))
            .copied()
            .unwrap_or(0.0)
    };
    let (brotli, gzip) = (quality("br"), quality("gzip"));
    if brotli > 0.0 && brotli >= gzip {
        Encoding::Brotli
    } else if gzip > 0.0 {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// Whether a file name carries a content hash, as Trunk writes them: `-`,
/// a 64-bit hash in hex, then `.` or `_` (`style-0123456789abcdef.css`).
/// Trunk leaves out leading zeros, so one build in sixteen has 15 digits
/// (`loopscope-d465038de3fb766_bg.wasm`); 12 at least tell a hash from a
/// word.
pub fn has_content_hash(name: &str) -> bool {
    name.match_indices('-').any(|(at, _)| {
        let rest = &name.as_bytes()[at + 1..];
        let digits = rest
            .iter()
            .take_while(|byte| byte.is_ascii_hexdigit())
            .count();
        (12..=16).contains(&digits) && matches!(rest.get(digits), Some(b'.' | b'_'))
    })
}

/// The `Cache-Control` of a file.
pub fn cache_policy(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    if has_content_hash(name) {
        "public, max-age=31536000, immutable"
    } else {
        // Kept, but asked about again each time (a 304 costs no body).
        "no-cache"
    }
}

/// Whether a type is worth compressing.
fn compressible(mime: &str) -> bool {
    mime.starts_with("text/")
        || matches!(
            mime,
            "application/javascript" | "application/wasm" | "application/json" | "image/svg+xml"
        )
}

/// Files smaller than this go out as they are.
const COMPRESS_FROM_BYTES: usize = 1024;

type Compressed = Arc<OnceCell<Bytes>>;

type CompressedCopies = Mutex<HashMap<([u8; 32], Encoding), Compressed>>;

/// Compressed copies by content hash and encoding.
static COMPRESSED: LazyLock<CompressedCopies> = LazyLock::new(Mutex::default);

async fn compressed(hash: [u8; 32], data: &[u8], encoding: Encoding) -> Option<Bytes> {
    let cell = Arc::clone(
        COMPRESSED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry((hash, encoding))
            .or_default(),
    );
    cell.get_or_try_init(|| async move {
        let data = data.to_vec();
        tokio::task::spawn_blocking(move || compress(&data, encoding).map(Bytes::from))
            .await
            .map_err(|_| ())?
            .map_err(|_| ())
    })
    .await
    .ok()
    .cloned()
}

/// `data` encoded as `encoding`, at the best compression (made once per
/// build of the app, so the slowest level pays).
pub fn compress(data: &[u8], encoding: Encoding) -> std::io::Result<Vec<u8>> {
    match encoding {
        Encoding::Identity => Ok(data.to_vec()),
        Encoding::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            encoder.write_all(data)?;
            encoder.finish()
        }
        Encoding::Brotli => {
            let mut out = Vec::new();
            let params = brotli::enc::BrotliEncoderParams {
                quality: 11,
                lgwin: 22,
                ..Default::default()
            };
            brotli::BrotliCompress(&mut &data[..], &mut out, &params)?;
            Ok(out)
        }
    }
}

/// Compresses every compressible file of the app in every encoding, so the
/// first attendee does not wait for it (a release relay calls this at
/// start, in the background).
pub async fn warm() {
    for path in AppFiles::iter() {
        if let Some(file) = AppFiles::get(&path)
            && compressible(file.metadata.mimetype())
            && file.data.len() >= COMPRESS_FROM_BYTES
        {
            for encoding in [Encoding::Gzip, Encoding::Brotli] {
                compressed(file.metadata.sha256_hash(), &file.data, encoding).await;
            }
        }
    }
}

/// The page that shows a route of the app (a path without an extension):
/// the host's dashboard at `/host` and under it, the playground anywhere
/// else. Each is its own page with its own WebAssembly (Trunk builds the
/// host's into `host/`), so that an attendee never downloads the host's.
pub fn page_of(route: &str) -> &'static str {
    let route = route.trim_matches('/');
    if route == "host" || route.starts_with("host/") {
        "host/index.html"
    } else {
        "index.html"
    }
}

/// A file of the app at `path` (the page of a route, such as `/` and
/// `/host`: see [`page_of`]), encoded as `request_headers` prefer.
pub async fn app_file(path: &str, request_headers: &HeaderMap) -> Response {
    let path = path.trim_start_matches('/');
    // Paths without an extension are the app's own routes; a missing file
    // with one is a real 404.
    let looks_like_a_file = path
        .rsplit('/')
        .next()
        .is_some_and(|name| name.contains('.'));
    let (path, file) = match AppFiles::get(path).filter(|_| looks_like_a_file) {
        None if looks_like_a_file && AppFiles::get("index.html").is_some() => {
            return (StatusCode::NOT_FOUND, "no such file").into_response();
        }
        None => (page_of(path), AppFiles::get(page_of(path))),
        found => (path, found),
    };
    let Some(file) = file else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "The Loopscope app is not built. Run scripts/run.sh, which builds it and starts the relay.",
        )
            .into_response();
    };
    let mime = file.metadata.mimetype().to_owned();
    let hash = file.metadata.sha256_hash();
    let worth_compressing = compressible(&mime) && file.data.len() >= COMPRESS_FROM_BYTES;
    let wanted = if worth_compressing {
        preferred_encoding(
            request_headers
                .get(header::ACCEPT_ENCODING)
                .and_then(|value| value.to_str().ok()),
        )
    } else {
        Encoding::Identity
    };
    let as_built = || match &file.data {
        Cow::Borrowed(data) => Bytes::from_static(data),
        Cow::Owned(data) => Bytes::from(data.clone()),
    };
    let (encoding, body) = match wanted {
        Encoding::Identity => (Encoding::Identity, as_built()),
        encoding => match compressed(hash, &file.data, encoding).await {
            Some(body) => (encoding, body),
            None => (Encoding::Identity, as_built()),
        },
    };
    let etag = entity_tag(&hash, encoding);
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, header_value(&mime));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_policy(path)),
    );
    headers.insert(header::ETAG, header_value(&etag));
    if worth_compressing {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    let not_modified = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    if not_modified {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    if let Some(token) = encoding.token() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(token));
    }
    (headers, Body::from(body)).into_response()
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// A strong entity tag per file content and encoding.
fn entity_tag(hash: &[u8; 32], encoding: Encoding) -> String {
    let hex: String = hash[..12]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    match encoding.token() {
        Some(token) => format!("\"{hex}-{token}\""),
        None => format!("\"{hex}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brotli_is_preferred_then_gzip_and_q0_refuses() {
        assert_eq!(
            preferred_encoding(Some("gzip, deflate, br")),
            Encoding::Brotli
        );
        assert_eq!(preferred_encoding(Some("br;q=0, gzip")), Encoding::Gzip);
        assert_eq!(
            preferred_encoding(Some("gzip;q=0.8, br;q=0.5")),
            Encoding::Gzip
        );
        assert_eq!(preferred_encoding(Some("identity")), Encoding::Identity);
        assert_eq!(preferred_encoding(Some("*")), Encoding::Brotli);
        assert_eq!(preferred_encoding(Some("*;q=0")), Encoding::Identity);
        assert_eq!(preferred_encoding(None), Encoding::Identity);
    }

    #[test]
    fn trunks_hashed_names_are_cached_for_a_year_and_the_page_is_revalidated() {
        assert!(has_content_hash("loopscope-0123456789abcdef_bg.wasm"));
        assert!(has_content_hash("style-0123456789abcdef.css"));
        assert!(has_content_hash("loopscope-d465038de3fb766_bg.wasm"));
        assert!(!has_content_hash("loopscope-0123456789abcdef0_bg.wasm"));
        assert!(!has_content_hash("my-beefcafe.css"));
        assert!(!has_content_hash("index.html"));
        assert!(!has_content_hash("loopscope_bg.wasm"));
        assert!(!has_content_hash("my-file.css"));
        assert_eq!(
            cache_policy("loopscope-0123456789abcdef.js"),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(cache_policy("index.html"), "no-cache");
    }

    #[test]
    fn the_host_s_routes_get_the_host_s_page_and_every_other_route_the_playground() {
        assert_eq!(page_of("/host"), "host/index.html");
        assert_eq!(page_of("/host/"), "host/index.html");
        assert_eq!(page_of("host/anything"), "host/index.html");
        assert_eq!(page_of("/"), "index.html");
        assert_eq!(page_of(""), "index.html");
        assert_eq!(page_of("/hosted"), "index.html");
        assert_eq!(page_of("/some/route"), "index.html");
    }

    #[test]
    fn both_encodings_give_back_the_bytes() {
        use std::io::Read;
        let data: Vec<u8> = (0..50_000_u32)
            .flat_map(|n| (n % 251).to_le_bytes())
            .collect();
        let gzip = compress(&data, Encoding::Gzip).unwrap();
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_end(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, data);
        let brotli = compress(&data, Encoding::Brotli).unwrap();
        let mut unbrotli = Vec::new();
        brotli::BrotliDecompress(&mut &brotli[..], &mut unbrotli).unwrap();
        assert_eq!(unbrotli, data);
        assert!(brotli.len() < data.len() / 4 && gzip.len() < data.len() / 2);
    }
}
