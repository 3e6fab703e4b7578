//! What the routes share, and how a route asks for only its part of it
//! (`State<Arc<Previews>>` and the like), so that the modules which own
//! those parts need not know the whole.

use std::sync::Arc;

use axum::extract::FromRef;
use tokio::sync::watch;

use crate::preview::Previews;
use crate::security::Security;
use crate::watch::Watch;

/// Everything the routes share; cloned into each request, so only handles.
#[derive(Clone)]
pub struct App {
    pub security: Arc<Security>,
    pub watch: Arc<Watch>,
    pub previews: Arc<Previews>,
    /// Set once the dashboard is ending, so live feeds close.
    pub closing: watch::Sender<bool>,
}

impl FromRef<App> for Arc<Security> {
    fn from_ref(app: &App) -> Self {
        app.security.clone()
    }
}

impl FromRef<App> for Arc<Watch> {
    fn from_ref(app: &App) -> Self {
        app.watch.clone()
    }
}

impl FromRef<App> for Arc<Previews> {
    fn from_ref(app: &App) -> Self {
        app.previews.clone()
    }
}
