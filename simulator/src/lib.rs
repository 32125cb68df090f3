//! The board simulator behind `provenance simulate`: a fleet of sensor boards running the
//! real firmware (`provenance-firmware`, unchanged) on simulated chips whose readings follow
//! physical models, over real TCP to a real MQTT broker.
//!
//! - [`model`]: the world, as pure functions of simulated time: the route from a cell plant
//!   through Hamburg, the North Sea and Felixstowe to a warehouse; a container's temperature;
//!   shocks; a cell's discharge curve.
//! - [`scenario`]: each shipment's plan — production steps, tracker commands, customs and
//!   carrier events — and the faults injected into it.
//! - [`nmea`]: the GNSS receiver's sentences.
//! - [`fleet`]: registration, the worker threads that drive the boards, operator signing,
//!   fault injection (offline spells, power cuts mid-write, broken seals, heat, drops).
//! - [`report`]: the summary.
//!
//! It must never bypass the firmware: every device event is signed, stored and sent by
//! `provenance-firmware` code; the simulator only plays the chips, the network and the people.

pub mod fleet;
pub mod model;
pub mod nmea;
pub mod report;
pub mod scenario;

pub use fleet::{Backend, Config, Progress, run};
pub use report::Summary;
pub use scenario::FaultRates;
