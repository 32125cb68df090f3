//! Generates the gRPC code with protox (a protobuf compiler in Rust), so building needs no
//! `protoc` on the machine, and keeps the descriptor set for server reflection.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/provenance/v1/ledger.proto",
        "proto/provenance/v1/admin.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("provenance_descriptor.bin"),
        protox::prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
