//! Who may use the dashboard. On a loopback address anyone on the machine
//! may read, but the Host header must name the loopback (so a page of
//! another site, rebound by DNS to 127.0.0.1, is refused), and every POST
//! carries the token in a header (which another site's page cannot read
//! from ours, nor set on a simple request). Bound to any other address,
//! every request needs the token: as a header, `?token=` (which then
//! sets a cookie, so the page's own requests carry it) or that cookie. A
//! POST or a WebSocket whose Origin is not this host is refused.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN, SET_COOKIE, UPGRADE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use supervisor::error::UserError;

use crate::reply::ApiError;

/// The header actions carry the token in.
pub const TOKEN_HEADER: &str = "x-plexus-token";
const COOKIE_NAME: &str = "plexus_token";

/// Who can reach the address the dashboard listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exposure {
    /// 127.0.0.0/8 or ::1: this machine only.
    Loopback,
    /// Any other address: whoever can reach it, so the token is required.
    Network,
}

pub struct Security {
    token: String,
    exposure: Exposure,
    port: u16,
}

impl Security {
    pub fn new(token: String, bound: SocketAddr) -> Self {
        let exposure = match bound.ip().is_loopback() {
            true => Exposure::Loopback,
            false => Exposure::Network,
        };
        Self {
            token,
            exposure,
            port: bound.port(),
        }
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Whether every request, reading included, needs the token.
    pub fn token_required(&self) -> bool {
        self.exposure == Exposure::Network
    }

    fn matches(&self, given: &str) -> bool {
        constant_time_eq(given.as_bytes(), self.token.as_bytes())
    }

    /// The Host headers a loopback dashboard answers.
    fn host_allowed(&self, host: &str) -> bool {
        let port = self.port;
        [
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
        ]
        .iter()
        .any(|h| h == host)
    }
}

/// A token given with --token, if it is one.
pub fn checked_token(token: String) -> Result<String, UserError> {
    let fits = (16..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b));
    match fits {
        true => Ok(token),
        false => Err(UserError::Plain(
            "--token must be 16 to 128 letters, digits, `-`, `_`, `.` or `~`".into(),
        )),
    }
}

/// 32 hex digits from the kernel's random source.
pub fn generated_token() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| anyhow::anyhow!("reading /dev/urandom for a token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares without stopping at the first difference, so the time taken
/// tells nothing about how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether a request proved it holds the token. The page hands the token
/// (and with it the actions) only to a holder: on the loopback anyone on
/// the machine may read, but only whoever was given the address printed at
/// start may act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Holder,
    Reader,
}

/// Where a request carried the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carried {
    /// `X-Plexus-Token` or `Authorization: Bearer`.
    Header,
    /// `?token=`: the answer sets the cookie.
    Query,
    Cookie,
    Nowhere,
}

/// The token a request carries, and where; a wrong one counts as none.
fn carried(security: &Security, request: &Request) -> Carried {
    let headers = request.headers();
    let header = headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        });
    if header.is_some_and(|t| security.matches(t)) {
        return Carried::Header;
    }
    let query = request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="));
    if query.is_some_and(|t| security.matches(t)) {
        return Carried::Query;
    }
    let cookie = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix(&format!("{COOKIE_NAME}="))
                .map(str::to_string)
        });
    if cookie.is_some_and(|t| security.matches(&t)) {
        return Carried::Cookie;
    }
    Carried::Nowhere
}

/// Whether the request's Origin is this very host (`http://{Host}`).
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
    matches!((host, origin), (Some(host), Some(origin)) if origin == format!("http://{host}"))
}

/// Every request passes here before its route.
pub async fn guard(
    State(security): State<Arc<Security>>,
    mut request: Request,
    next: Next,
) -> Response {
    let security = &*security;
    let refuse = |status, message: &str| ApiError::new(status, message).into_response();
    let headers = request.headers();
    if security.exposure == Exposure::Loopback {
        let host = headers
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !security.host_allowed(host) {
            return refuse(
                StatusCode::FORBIDDEN,
                "this dashboard answers only requests for localhost, 127.0.0.1 or [::1] at its own port",
            );
        }
    }
    let carried = carried(security, &request);
    if security.token_required() && carried == Carried::Nowhere {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "this dashboard needs its token: open the address it printed at start, with ?token=",
        );
    }
    // A browser always sends Origin with a WebSocket and with a POST from a
    // page; a POST without one comes from a script, which the token covers.
    let websocket = headers.contains_key(UPGRADE);
    let posted_from_page = request.method() == Method::POST && headers.contains_key(ORIGIN);
    let origin_needed = websocket || posted_from_page;
    if origin_needed && !same_origin(headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "a request from a page of another origin is refused",
        );
    }
    if request.method() == Method::POST && carried != Carried::Header {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "an action needs the dashboard's token in the X-Plexus-Token header",
        );
    }
    request.extensions_mut().insert(match carried {
        Carried::Nowhere => Caller::Reader,
        _ => Caller::Holder,
    });
    let mut response = next.run(request).await;
    if carried == Carried::Query {
        let cookie = format!(
            "{COOKIE_NAME}={}; HttpOnly; SameSite=Strict; Path=/",
            security.token
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abcd", b"abcd"));
        assert!(!constant_time_eq(b"abcd", b"abce"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn given_tokens_are_checked_and_generated_ones_are_hex() {
        assert!(checked_token("0123456789abcdef".into()).is_ok());
        assert!(checked_token("short".into()).is_err());
        assert!(checked_token("has a space in it, long".into()).is_err());
        let generated = generated_token().unwrap();
        assert_eq!(generated.len(), 32);
        assert!(generated.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn loopback_hosts_are_the_loopback_at_our_port() {
        let security = Security::new("t".repeat(16), "127.0.0.1:8080".parse().unwrap());
        assert!(security.host_allowed("localhost:8080"));
        assert!(security.host_allowed("[::1]:8080"));
        assert!(!security.host_allowed("evil.example:8080"));
        assert!(!security.host_allowed("localhost:9090"));
        assert!(!security.token_required());
        let open = Security::new("t".repeat(16), "0.0.0.0:8080".parse().unwrap());
        assert!(open.token_required());
    }
}
