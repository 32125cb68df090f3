//! A scripted broker talks to the session byte by byte.

use std::vec::Vec;

use super::packet::{self, Incoming};
use super::*;

fn session() -> Session {
    Session::new(
        &DeviceId::new("tracker-7").unwrap(),
        "s3cret",
        MqttConfig::default(),
    )
    .unwrap()
}

/// Takes everything the session wants to send, as packets.
fn sent(s: &mut Session) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut bytes = s.transmit();
    while !bytes.is_empty() {
        let len = packet::packet_len(bytes).unwrap().unwrap();
        out.push(bytes[..len].to_vec());
        bytes = &bytes[len..];
    }
    let n = s.transmit().len();
    s.transmitted(n);
    out
}

/// Feeds bytes one at a time, as a slow link would, collecting events.
fn feed(s: &mut Session, bytes: &[u8], now: u64) -> Vec<SessionEvent> {
    let mut events = Vec::new();
    for b in bytes {
        assert_eq!(s.receive(core::slice::from_ref(b)), 1);
        while let Some(e) = s.poll_event(now) {
            events.push(e);
        }
    }
    events
}

fn publish_to(topic: &str, packet_id: u16, payload: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let mut w = packet::Writer::new(&mut buf);
    packet::publish_header(&mut w, topic, packet_id, payload.len()).unwrap();
    w.bytes(payload).unwrap();
    let n = w.len();
    buf[..n].to_vec()
}

/// Connects and subscribes; returns the session in `Ready`.
fn ready() -> Session {
    let mut s = session();
    assert!(s.wants_connection(0));
    s.connected(0);
    let connect = sent(&mut s);
    assert_eq!(connect.len(), 1);
    assert_eq!(connect[0][0], 0x10);
    assert!(feed(&mut s, &[0x20, 2, 0, 0], 10).is_empty());
    assert_eq!(s.state(), LinkState::Subscribing);
    let sub = sent(&mut s);
    assert_eq!(sub.len(), 1);
    let mut expect = std::vec![0x82, 2 + 2 + 25 + 1 + 2 + 25 + 1, 0, 1];
    for t in ["prov/v1/dev/tracker-7/ack", "prov/v1/dev/tracker-7/rej"] {
        expect.extend_from_slice(&[0, t.len() as u8]);
        expect.extend_from_slice(t.as_bytes());
        expect.push(1);
    }
    assert_eq!(sub[0], expect);
    assert_eq!(
        feed(&mut s, &[0x90, 4, 0, 1, 1, 1], 20),
        [SessionEvent::Connected]
    );
    assert_eq!(s.state(), LinkState::Ready);
    s
}

#[test]
fn connect_carries_device_id_and_password() {
    let mut s = session();
    s.connected(0);
    let p = &sent(&mut s)[0];
    let mut expect = std::vec![0x10, 0, 0, 4, b'M', b'Q', b'T', b'T', 4, 0xC2, 0, 60];
    for field in ["tracker-7", "tracker-7", "s3cret"] {
        expect.extend_from_slice(&[0, field.len() as u8]);
        expect.extend_from_slice(field.as_bytes());
    }
    expect[1] = (expect.len() - 2) as u8;
    assert_eq!(p, &expect);
}

#[test]
fn publish_puback_ack_and_rej() {
    let mut s = ready();
    let event = [0xD2u8; 300];
    assert!(s.can_publish(event.len()));
    assert!(s.publish(42, event.len(), 30, |buf| {
        buf.copy_from_slice(&event);
        true
    }));
    let p = sent(&mut s);
    let Incoming::Publish {
        topic,
        qos,
        packet_id,
        payload,
    } = packet::decode(&p[0]).unwrap()
    else {
        panic!("not a publish");
    };
    assert_eq!(
        (topic, qos, payload),
        ("prov/v1/dev/tracker-7/ev", 1, &event[..])
    );
    assert_eq!(p[0][0], 0x32, "QoS 1, no DUP, no retain");
    let id = packet_id.unwrap();
    assert_eq!(s.in_flight().collect::<Vec<_>>(), [42]);
    assert_eq!(
        feed(&mut s, &[0x40, 2, (id >> 8) as u8, id as u8], 40),
        [SessionEvent::Delivered { seq: 42 }]
    );
    assert_eq!(s.in_flight().count(), 0);

    let mut ack = [0u8; 32];
    let n = AckPayload {
        seq: 42,
        tree_size: 1000,
    }
    .encode(&mut ack)
    .unwrap();
    let events = feed(
        &mut s,
        &publish_to("prov/v1/dev/tracker-7/ack", 77, &ack[..n]),
        50,
    );
    assert_eq!(
        events,
        [SessionEvent::Ack(AckPayload {
            seq: 42,
            tree_size: 1000
        })]
    );
    assert_eq!(
        sent(&mut s),
        [std::vec![0x40, 2, 0, 77]],
        "PUBACK for the ack"
    );

    let n = RejPayload {
        seq: Some(43),
        reason: "invalid_event",
    }
    .encode(&mut ack)
    .unwrap();
    let events = feed(
        &mut s,
        &publish_to("prov/v1/dev/tracker-7/rej", 78, &ack[..n]),
        60,
    );
    assert_eq!(
        events,
        [SessionEvent::Rejected {
            seq: Some(43),
            reason: String::try_from("invalid_event").unwrap()
        }]
    );
    assert_eq!(s.stats().acks, 1);
    assert_eq!(s.stats().rejections, 1);
}

#[test]
fn in_flight_window_and_a_failed_fill() {
    let mut s = ready();
    assert!(
        !s.publish(1, 10, 0, |_| false),
        "a fill that fails publishes nothing"
    );
    assert!(s.transmit().is_empty());
    for seq in 1..=MAX_IN_FLIGHT as u64 {
        assert!(s.publish(seq, 10, 0, |_| true));
    }
    assert!(!s.can_publish(10), "the window is full");
    // A 4 KiB event does not fit behind what is still unsent.
    s.transmitted(s.transmit().len());
    assert!(!s.can_publish(4096));
}

#[test]
fn keep_alive_then_dead_link_then_backoff() {
    let mut s = ready();
    // The SUBSCRIBE went out at 10 ms.
    assert_eq!(s.next_timeout(), Some(45_010));
    assert_eq!(s.handle_timeout(45_009), None);
    assert!(s.transmit().is_empty());
    assert_eq!(s.handle_timeout(45_010), None);
    assert_eq!(sent(&mut s), [std::vec![0xC0, 0]]);
    // The answer comes: all is well.
    assert!(feed(&mut s, &[0xD0, 0], 45_100).is_empty());
    assert_eq!(s.handle_timeout(60_000), None);
    // The next ping is never answered.
    assert_eq!(s.handle_timeout(90_010), None);
    assert_eq!(sent(&mut s), [std::vec![0xC0, 0]]);
    assert_eq!(s.handle_timeout(150_009), None);
    assert_eq!(
        s.handle_timeout(150_010),
        Some(SessionEvent::Closed(LinkError::Timeout))
    );
    assert!(s.wants_close());
    s.disconnected(150_000);
    let LinkState::Offline { retry_at } = s.state() else {
        panic!()
    };
    assert!((150_750..=151_250).contains(&retry_at), "{retry_at}");
    // Failed attempts double the delay up to the maximum.
    let mut last = 0;
    for _ in 0..12 {
        s.connected(retry_at);
        s.disconnected(retry_at);
        let LinkState::Offline { retry_at: next } = s.state() else {
            panic!()
        };
        last = next - retry_at;
    }
    assert!((90_000..=150_000).contains(&last), "{last}");
}

#[test]
fn refusals_and_protocol_errors_close() {
    let mut s = session();
    s.connected(0);
    assert_eq!(
        feed(&mut s, &[0x20, 2, 0, 5], 1),
        [SessionEvent::Closed(LinkError::Refused(5))]
    );

    let mut s = session();
    s.connected(0);
    feed(&mut s, &[0x20, 2, 0, 0], 1);
    assert_eq!(
        feed(&mut s, &[0x90, 4, 0, 1, 1, 0x80], 2),
        [SessionEvent::Closed(LinkError::SubscriptionRefused)]
    );

    let mut s = session();
    s.connected(0);
    assert_eq!(
        s.handle_timeout(10_000),
        Some(SessionEvent::Closed(LinkError::Timeout))
    );

    let mut s = ready();
    let events = feed(&mut s, &[0x30, 0xFF, 0x7F], 0);
    assert!(
        matches!(events[..], [SessionEvent::Closed(LinkError::Protocol(_))]),
        "{events:?}"
    );

    let mut s = ready();
    let events = feed(&mut s, &[0x50, 2, 0, 1], 0);
    assert!(
        matches!(events[..], [SessionEvent::Closed(LinkError::Protocol(_))]),
        "QoS 2 flow"
    );
}

#[test]
fn reconnect_forgets_what_was_in_flight() {
    let mut s = ready();
    assert!(s.publish(5, 10, 0, |_| true));
    s.disconnected(100);
    assert_eq!(s.in_flight().count(), 0);
    assert!(s.transmit().is_empty());
    assert!(!s.wants_connection(100));
}
