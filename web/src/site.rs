//! The whole HTTP site: the pages people read (`pages`) and the JSON API (`api`).

use axum::Router;

use crate::api::{AppState, router};
use crate::pages;

/// The whole HTTP site: pages and API.
pub fn site(state: AppState) -> Router {
    pages::routes(state.clone()).merge(router(state))
}
