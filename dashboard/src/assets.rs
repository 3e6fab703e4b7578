//! The page and its files, embedded in the binary: nothing is ever read
//! from the file system, so no path can reach outside them. A page opened
//! with the token gets it in its `plexus-token` meta tag, for its actions
//! (another site's page cannot read our HTML; another user of the machine
//! has no token to show), and every page a Content-Security-Policy that
//! allows our own scripts, styles and connections only.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use crate::app::App;
use crate::reply::ApiError;
use crate::security::Caller;

const INDEX: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const STYLE_CSS: &str = include_str!("../assets/style.css");
pub const PANEL_FRAME_JS: &str = include_str!("../assets/panel-frame.js");

/// The page's own tag, which the token fills in.
const TOKEN_TAG: &str = r#"<meta name="plexus-token" content="">"#;

const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// `index.html` with the token in its `plexus-token` meta tag: the page's
/// empty tag filled in, or, on a page without one, a tag put first.
fn page(token: &str) -> String {
    let filled = format!(r#"<meta name="plexus-token" content="{token}">"#);
    match INDEX.contains(TOKEN_TAG) {
        true => INDEX.replacen(TOKEN_TAG, &filled, 1),
        false => format!("{filled}\n{INDEX}"),
    }
}

/// The page; with the token only for a caller that showed it (see
/// `security::Caller`).
pub async fn index(State(app): State<App>, Extension(caller): Extension<Caller>) -> Response {
    let token = match caller {
        Caller::Holder => app.security.token(),
        Caller::Reader => "",
    };
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        page(token),
    )
        .into_response()
}

pub async fn asset(Path(name): Path<String>) -> Response {
    let (kind, body) = match name.as_str() {
        "app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "panel-frame.js" => ("text/javascript; charset=utf-8", PANEL_FRAME_JS),
        "style.css" => ("text/css; charset=utf-8", STYLE_CSS),
        _ => return not_found().await,
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// Anything not a route or an embedded file.
pub async fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "there is no such page").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_carries_the_token_once() {
        let page = page("0123456789abcdef0123456789abcdef");
        assert_eq!(
            page.matches(
                r#"<meta name="plexus-token" content="0123456789abcdef0123456789abcdef">"#
            )
            .count(),
            1
        );
        assert!(!page.contains(TOKEN_TAG));
    }
}
