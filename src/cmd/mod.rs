//! One module per subcommand: its flags (`Args`) and what it does (`run`).

pub mod access;
pub mod bench;
pub mod bench_pipeline;
pub mod demo;
pub mod device;
pub mod follow;
pub mod keygen;
pub mod places;
pub mod rejections;
pub mod serve;
pub mod sign;
pub mod simulate;
pub mod verify;
pub mod witness;
