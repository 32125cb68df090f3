//! The program of a Provenance sensor board (SPEC §2), written once for a microcontroller
//! and run unchanged by the host simulator.
//!
//! # What it owns
//!
//! - **Drivers** ([`drivers`]) for the MAX17048 fuel gauge, TMP117 temperature sensor,
//!   LIS3DH accelerometer, the tamper-seal loop and a GNSS receiver's NMEA 0183, over
//!   `embedded-hal` 1.0 and `embedded-io` only;
//! - **the two roles** as pure policies ([`policy`]): a [`Station`] on the production line and
//!   a [`Tracker`] on a shipment, each a state machine from a [`Sample`] to the next
//!   [`EventIntent`];
//! - **the seq and hash chain and the store-and-forward queue** in NOR flash ([`store`]),
//!   safe against a power cut at any instant;
//! - **MQTT 3.1.1 at QoS 1** ([`mqtt`]), sans I/O, with a blocking adapter ([`net`]);
//! - **the [`Board`]** tying them together, one [`Board::poll`] at a time.
//!
//! # What it must never do
//!
//! - **drop an event silently**: an event leaves flash only when the ingest's `ack` covers
//!   it, or when the queue is full and it is the oldest, and then the next event's `dropped`
//!   field says so;
//! - **reuse a seq or break the chain**, across any reboot or power cut (see [`store`] for
//!   the precise guarantee);
//! - **allocate or use `std`**: it is `#![no_std]` without `alloc`, and
//!   `firmware/link-check` proves it links into a `#![no_main]` binary. No `unsafe` either.
//!
//! The event format itself (CBOR, COSE_Sign1, EPC URIs) is `provenance-event`'s.
//!
//! # For the simulator
//!
//! A board has no thread, clock or socket of its own: [`Board::poll`] takes `now_ms`, network
//! bytes go through [`Board::net_receive`] / [`Board::net_transmit`], and [`Board::report`]
//! gives the counters for a summary. [`sim::RamFlash`] (a NOR flash in RAM with power-cut
//! injection) and [`sim::SimUart`] are the simulated parts the tests use too.
#![no_std]

#[cfg(test)]
extern crate std;

pub mod board;
pub mod drivers;
pub mod flash;
mod journal;
pub mod keys;
pub mod mqtt;
pub mod net;
pub mod policy;
mod queue;
pub mod sensors;
pub mod sim;
pub mod store;

pub use board::{Board, BoardConfig, BoardError, Counters, Report};
pub use flash::{FlashError, Region};
pub use keys::{KeyStore, StaticKey};
pub use mqtt::{LinkState, MqttConfig};
pub use policy::{
    EventIntent, Policy, Sample, Station, StationCommand, StationConfig, Tracker, TrackerCommand,
    TrackerConfig, Wants,
};
pub use sensors::{Sensors, StationSensors, TrackerSensors};
pub use store::{Layout, Pending, Reservation, Store, StoreError, StoreStatus};
