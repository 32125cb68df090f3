//! The ledger (SPEC §6): an append-only transparency log stored through sqlx (SQLite or
//! PostgreSQL), with RFC 9162 proofs, C2SP signed checkpoints, the device registry and the
//! item and device indexes.
//!
//! It must never rewrite or delete an entry, nor publish a checkpoint before its entries are
//! durable.
//!
//! Status: the crate is laid out; its contents are issue #3.
