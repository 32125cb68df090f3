//! The Digital Link an item page prints and encodes in its QR code comes from the server's
//! configuration (`serve --public-url`), never from the request: a request with
//! `Host: evil.example` must not put that domain on a label.

mod support;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use support::delivery::{deliver, register, signed};
use support::{Device, Server, sgtin};

async fn page_with_host(s: &Server, path: &str, host: &str) -> String {
    let r = s
        .http()
        .get(format!("{}{path}", s.http))
        .header("host", host)
        .send()
        .await
        .expect("page");
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.expect("html")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_host_header_never_reaches_the_digital_link() {
    for (flags, expected) in [
        (
            vec!["--public-url", "https://trace.example.com/"],
            "https://trace.example.com/01/".to_string(),
        ),
        (vec![], String::new()),
    ] {
        let s = tokio::task::block_in_place(|| Server::start(&flags));
        let expected = if expected.is_empty() {
            format!("{}/01/", s.http)
        } else {
            expected
        };
        let http = s.http();
        let mut d = Device::new("public-url-1", 61);
        let password = register(&http, &s, &d).await;
        deliver(
            s.mqtt_port,
            d.id.as_str().to_string(),
            Some(password),
            signed(&mut d, 1),
            Arc::new(AtomicU64::new(0)),
            Duration::from_secs(2),
        )
        .await;
        let item = sgtin(5000);
        let html = page_with_host(&s, &format!("/items/{item}"), "evil.example").await;
        assert!(html.contains(&expected), "the link is {expected}…");
        assert!(
            !html.contains("evil.example"),
            "the request's host is not printed"
        );
    }
}
