//! The panels packages ship (docs/panels.md): which ones the pipeline shown
//! has, and each one's document. A panel is someone else's code, so its
//! document is served under a policy that sandboxes it: an opaque origin
//! with no network at all, no way into the page and no cookies; the page
//! hands it data through `postMessage` (assets/panel-frame.js) and nothing
//! else reaches it.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use supervisor::package::panels::{panels_of_runtime, PanelInfo};

use crate::app::App;
use crate::assets::PANEL_FRAME_JS;
use crate::reply::{blocking, ApiError};
use crate::security::generated_token;

/// `/api/panels`: the panels of the pipeline shown, each with the address
/// of its document.
pub async fn list(State(app): State<App>) -> Result<Json<Value>, ApiError> {
    let panels = shown_panels(&app).await?;
    let listed: Vec<Value> = panels
        .iter()
        .map(|p| {
            let mut entry = serde_json::to_value(p).unwrap_or_default();
            entry["url"] = json!(format!("/panels/{}/{}/frame.html", p.package, p.version));
            entry
        })
        .collect();
    Ok(Json(json!({ "panels": listed })))
}

/// `/panels/{package}/{version}/frame.html`: the document a panel runs in.
pub async fn frame(
    State(app): State<App>,
    Path((package, version, file)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "the pipeline shown has no panel of package `{}` version `{}`",
                supervisor::error::excerpt(&package),
                supervisor::error::excerpt(&version)
            ),
        )
    };
    if file != "frame.html" {
        return Err(unknown());
    }
    let panels = shown_panels(&app).await?;
    let panel = panels
        .into_iter()
        .find(|p| p.package == package && p.version == version)
        .ok_or_else(unknown)?;
    let source = blocking(move || {
        panel
            .source()
            .map_err(|e| ApiError::new(StatusCode::CONFLICT, e.to_string()))
    })
    .await?;
    let nonce = generated_token().map_err(|e| ApiError::internal(&e))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            (header::CONTENT_SECURITY_POLICY, policy(&nonce)),
            (header::CACHE_CONTROL, "no-store".to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        document(&nonce, &source),
    )
        .into_response())
}

/// The panels of the runtime shown, from the pipeline its journal names.
async fn shown_panels(app: &App) -> Result<Vec<PanelInfo>, ApiError> {
    let id = app.watch.watched.borrow().id().map(str::to_string);
    let id = id.ok_or_else(ApiError::no_runtime)?;
    blocking(move || {
        panels_of_runtime(&id).map_err(|e| ApiError::new(StatusCode::CONFLICT, e.to_string()))
    })
    .await
}

/// What a panel's document may do: run the two scripts it was given (and
/// the module they import from a blob), style itself and draw images it
/// made. `sandbox` without `allow-same-origin` gives it an opaque origin
/// (no cookies, no access to the page), and `connect-src 'none'` leaves it
/// no request to make, to the dashboard or anywhere else.
fn policy(nonce: &str) -> String {
    format!(
        "sandbox allow-scripts; default-src 'none'; script-src 'nonce-{nonce}' blob:; \
         style-src 'unsafe-inline'; img-src data: blob:; connect-src 'none'; \
         form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
    )
}

/// The document: the bootstrap, and the module as a JSON string it parses
/// and imports. `<` is written `\u003c` in it, so nothing in the module
/// can end its element, and the bootstrap gets it back byte for byte.
fn document(nonce: &str, source: &str) -> String {
    let inert = Value::from(source).to_string().replace('<', "\\u003c");
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">\
         <style>html,body{{margin:0;font:12px system-ui,sans-serif}}</style></head><body>\n\
         <script type=\"application/json\" id=\"plexus-panel\">{inert}</script>\n\
         <script nonce=\"{nonce}\">{PANEL_FRAME_JS}</script>\n</body></html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_cannot_close_its_script_element_and_arrives_whole() {
        let module = "const s = '</script><script>alert(1)</script>';";
        let page = document("n0", module);
        assert_eq!(page.matches("</script>").count(), 2, "{page}");
        let start = page.find("id=\"plexus-panel\">").unwrap() + "id=\"plexus-panel\">".len();
        let end = start + page[start..].find("</script>").unwrap();
        let back: String = serde_json::from_str(&page[start..end]).unwrap();
        assert_eq!(back, module);
    }

    #[test]
    fn the_policy_leaves_a_panel_no_network_and_an_opaque_origin() {
        let policy = policy("abc");
        assert!(policy.starts_with("sandbox allow-scripts;"));
        assert!(!policy.contains("allow-same-origin"));
        assert!(policy.contains("connect-src 'none'"));
        assert!(policy.contains("script-src 'nonce-abc' blob:"));
    }
}
