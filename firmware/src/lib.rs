//! The program of a Provenance sensor board (SPEC §2): drivers for the fuel gauge, temperature
//! sensor, GNSS receiver, seal loop and accelerometer behind `embedded-hal` 1.0 traits; seq and
//! hash chain kept in flash across reboots; a store-and-forward queue; MQTT QoS 1 publishing.
//!
//! It must never allocate, use `std`, or drop an event from flash before the ingest has
//! acknowledged it. The event format itself lives in `provenance-event`.
#![no_std]

#[cfg(test)]
extern crate std;

pub mod drivers;
pub mod flash;
mod journal;
pub mod mqtt;
mod queue;
pub mod sim;
pub mod store;

pub use flash::{FlashError, Region};
pub use store::{Layout, Pending, Reservation, Store, StoreError, StoreStatus};
