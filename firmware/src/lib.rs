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
//! A board has no thread, clock or socket of its own, so a host can run thousands:
//!
//! - **Build** one with [`Board::new`] from a [`BoardConfig`], a [`StaticKey`], sensors
//!   ([`StationSensors`] or [`TrackerSensors`] over the simulated chips of [`sim`]:
//!   [`sim::SimI2c`] with `set_cell`, `set_temperature_mc`, `set_acceleration_mg`,
//!   [`sim::SimUart`] for NMEA, [`sim::SimPin`] for the seal, [`sim::SimBms`]), a policy
//!   ([`Station`] or [`Tracker`]) and a flash ([`sim::RamFlash`], or `&mut` one kept in a `Box`).
//! - **Drive** it with [`Board::poll`]`(now_ms)` (the simulated clock, Unix ms) and give the
//!   policy commands through [`Board::policy_mut`] ([`StationCommand`], [`TrackerCommand`]).
//!   Change what the chips read through [`Board::sensors_mut`].
//! - **Network**: when [`Board::net_wants_connection`], open a TCP connection to the broker and
//!   call [`Board::net_connected`] (or [`Board::net_connect_failed`]); write
//!   [`Board::net_transmit`] to the socket and report it with [`Board::net_transmitted`]; hand
//!   what the socket reads to [`Board::net_receive`]; when [`Board::net_wants_close`], or the
//!   socket closes, call [`Board::net_disconnected`]. [`Board::next_wakeup`] says when the
//!   board next needs a poll by itself (a sample, a session timer, a re-send); otherwise poll
//!   after bytes or a command. An offline spell is just not connecting.
//! - **Faults**: a reboot in the middle of a flash write is `cut_power_at(ops() + k)` on
//!   [`Board::flash_mut`]; the poll that hits it fails, then [`Board::into_parts`],
//!   `restore_power()` on the flash, and [`Board::new`] again. A broken seal is
//!   `seal_mut().pin_mut().high = true` on the tracker's sensors; an excursion is a
//!   temperature set on the chip.
//! - **Summary**: [`Board::report`] gives signed events (per kind), what the store holds,
//!   acknowledged and dropped, and the MQTT counters (published, PUBACKed, acks, rejections,
//!   reconnects).
//!
//! ```ignore
//! // One board of a fleet on a tokio runtime (sketch).
//! loop {
//!     let now = clock.now_ms();
//!     board.poll(now)?;
//!     if socket.is_none() && board.net_wants_connection(now) {
//!         match TcpStream::connect(broker).await {
//!             Ok(s) => { socket = Some(s); board.net_connected(now) }
//!             Err(_) => board.net_connect_failed(now),
//!         }
//!     }
//!     if let Some(s) = socket.as_mut() {
//!         let out = board.net_transmit();
//!         if !out.is_empty() { let n = s.write(out).await?; board.net_transmitted(n, now)?; }
//!         if let Ok(n) = s.try_read(&mut buf) { /* n == 0: closed */ board.net_receive(&buf[..n], now)?; }
//!         if board.net_wants_close() { socket = None; board.net_disconnected(now); }
//!     }
//!     sleep_until(board.next_wakeup()).await; // or until the socket is readable
//! }
//! ```
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
