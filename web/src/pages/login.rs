//! `GET /login`, `POST /login`, `POST /logout`: a reader's token kept in a cookie, so the
//! pages show what the reader's tier allows (issue #14). The cookie is HttpOnly (no script
//! reads it) and SameSite=Strict (no other site's page sends it); the token is checked before
//! it is kept, and on every request after.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::layout::page;
use crate::access::{self, COOKIE};
use crate::api::AppState;

/// How long a login lasts, seconds (the token itself lasts until revoked).
const MAX_AGE_S: u32 = 8 * 3600;

/// `GET /login`.
pub async fn form() -> Response {
    let reader = access::current();
    page(
        "Log in",
        true,
        None,
        html! {
            main #content {
                section.panel aria-labelledby="login-h" {
                    h2 #login-h { "Read with your organisation's token" }
                    @match &reader {
                        Some(r) => {
                            p.reader-tier { "You read as " strong { (r.tier.name()) }
                                @if let Some(o) = &r.org { " for " (o) } "." }
                            form action="/logout" method="post" { button type="submit" { "Log out" } }
                        }
                        None => {
                            p { "Without a token you see each item's public facts: who made it, where and when. Partners (repairers, recyclers, carriers, buyers) see everything about the items they are involved in; authorities see everything. The operator gives tokens with " code { "provenance access grant" } "." }
                        }
                    }
                    form.login action="/login" method="post" {
                        label for="token" { "Token" }
                        input #token name="token" type="password" autocomplete="off" required;
                        button type="submit" { "Log in" }
                    }
                }
            }
        },
    )
    .into_response()
}

#[derive(Deserialize)]
pub struct Login {
    token: String,
}

/// `POST /login`: checks the token, keeps it in the cookie, back to the home page.
pub async fn login(State(s): State<AppState>, Form(l): Form<Login>) -> Response {
    let token = l.token.trim();
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, {
        let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) else {
            return (StatusCode::BAD_REQUEST, "a token is printable ASCII").into_response();
        };
        v
    });
    match access::reader(&s, &headers).await {
        Ok(Some(_)) => {}
        Ok(None) => return (StatusCode::BAD_REQUEST, "give a token").into_response(),
        Err(answer) => return answer,
    }
    let cookie =
        format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={MAX_AGE_S}");
    let Ok(cookie) = HeaderValue::from_str(&cookie) else {
        return (StatusCode::BAD_REQUEST, "a token is printable ASCII").into_response();
    };
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, HeaderValue::from_static("/login")),
        ],
    )
        .into_response()
}

/// `POST /logout`: forgets the cookie.
pub async fn logout() -> Response {
    let gone = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                HeaderValue::from_str(&gone).unwrap_or(HeaderValue::from_static("")),
            ),
            (header::LOCATION, HeaderValue::from_static("/login")),
        ],
    )
        .into_response()
}
