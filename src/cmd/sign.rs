//! `provenance sign`: one operator event, signed with the operator's key.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use provenance_event::{
    DeviceId, DigitalLink, Draft, Epc, Kind, Location, MAX_MESSAGE, Quantity, Readings,
    message_hash, sign_event,
};

/// Sign an operator event and write it as a COSE_Sign1 file for `provenance submit`.
///
/// The operator's device ID, sequence number and previous-event hash form a chain just like a
/// board's: seq starts at 1 (with no --prev) and goes up by one; --prev is the SHA-256 this
/// command printed for the previous event (or give that event's file with --prev-file).
#[derive(clap::Args)]
#[command(after_help = "\
Kinds: commissioned packed unpacked measured departed located excursion sealed seal_broken
       arrived handed_over inspected held cleared decommissioned
Readings (NAME=VALUE, integers): voltage (mV) current (mA) soc (‰) soh (‰) temperature (m°C)
       cycles humidity (‰) shock (milli-g) seal (1 closed / 0 open)
Master data (NAME=VALUE, commissioned only; docs/PASSPORT.md): category (lmt ev industrial
       stationary) chemistry (e.g. NMC811) rated_capacity_mah nominal_voltage_mv
       minimum_voltage_mv maximum_voltage_mv mass_g carbon_footprint_g_per_kwh
       carbon_class (A-E) expected_cycles

Example: a battery maker commissions a pack with its passport data
  provenance sign --key plant.key --device plant-op --seq 1 --kind commissioned \\
      --item urn:epc:id:sgtin:4012345.022345.7001 --sgln urn:epc:id:sgln:4012345.00001.0 \\
      --master category=ev --master chemistry=NMC811 --master rated_capacity_mah=5000 \\
      --master nominal_voltage_mv=14520 --master carbon_class=B --out commissioned.cose

Example: customs inspects a container at the port of Rotterdam
  provenance sign --key customs.key --device customs-rotterdam --seq 1 --kind inspected \\
      --item urn:epc:id:sscc:4012345.0000000017 --sgln urn:epc:id:sgln:8712345.00001.0 \\
      --doc MRN-24NL0000000000001 --out inspected.cose")]
pub struct Args {
    /// The operator's private key (from `provenance keygen`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The operator's registered ID: 1–64 characters of a-z 0-9 . _ -
    #[arg(long, value_name = "ID", value_parser = parse_device)]
    device: DeviceId,
    /// This event's sequence number: 1 for the operator's first event, then +1 each time.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    seq: u64,
    /// SHA-256 (64 hex digits) of the operator's previous event. Not needed for --seq 1.
    #[arg(long, value_name = "HEX", value_parser = parse_hash, conflicts_with = "prev_file")]
    prev: Option<[u8; 32]>,
    /// The operator's previous event file; its SHA-256 becomes --prev.
    #[arg(long, value_name = "FILE")]
    prev_file: Option<PathBuf>,
    /// What happened (see the list below).
    #[arg(long, value_name = "NAME", value_parser = parse_kind)]
    kind: Kind,
    /// An item the event is about: an SGTIN or SSCC EPC URI. Repeat for several.
    #[arg(long = "item", value_name = "URI", required = true)]
    items: Vec<String>,
    /// The aggregate the items go into or come out of (packed, unpacked).
    #[arg(long, value_name = "URI")]
    parent: Option<String>,
    /// Who receives custody (handed_over): an SGLN or PGLN EPC URI.
    #[arg(long, value_name = "URI")]
    party: Option<String>,
    /// A business document reference: bill of lading, customs declaration (MRN) …
    #[arg(long, value_name = "TEXT")]
    doc: Option<String>,
    /// Latitude in decimal degrees (WGS 84), with --lon.
    #[arg(
        long,
        value_name = "DEG",
        requires = "lon",
        allow_negative_numbers = true
    )]
    lat: Option<f64>,
    /// Longitude in decimal degrees (WGS 84), with --lat.
    #[arg(
        long,
        value_name = "DEG",
        requires = "lat",
        allow_negative_numbers = true
    )]
    lon: Option<f64>,
    /// The place as an SGLN EPC URI (instead of, or as well as, --lat/--lon).
    #[arg(long, value_name = "URI")]
    sgln: Option<String>,
    /// A reading, NAME=VALUE (see the list below). Repeat for several.
    #[arg(long = "reading", value_name = "NAME=VALUE", value_parser = parse_reading)]
    readings: Vec<(Quantity, i64)>,
    /// A battery's master data for its passport, NAME=VALUE (commissioned only; see the
    /// list below and docs/PASSPORT.md). Repeat for several.
    #[arg(long = "master", value_name = "NAME=VALUE", value_parser = parse_master)]
    master: Vec<(String, String)>,
    /// Event time as Unix milliseconds or RFC 3339 (2026-11-21T10:00:00Z). Default: now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    time: Option<i64>,
    /// GS1 company prefix length (6–12), to accept Digital Link URIs where EPC URIs are asked.
    #[arg(long, value_name = "DIGITS", value_parser = clap::value_parser!(u8).range(6..=12))]
    company_prefix_length: Option<u8>,
    /// Where to write the signed event.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

fn parse_master(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once('=').ok_or_else(|| {
        format!("expected NAME=VALUE, e.g. chemistry=NMC811 or rated_capacity_mah=5000, not {s:?}")
    })?;
    // Checked now, so a typo is reported before the key is read.
    provenance_event::Master::default()
        .set(name.trim(), value.trim())
        .map_err(|e| e.to_string())?;
    Ok((name.trim().to_string(), value.trim().to_string()))
}

fn parse_device(s: &str) -> Result<DeviceId, String> {
    DeviceId::new(s).map_err(|e| e.to_string())
}

fn parse_hash(s: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(s.trim()).map_err(|_| {
        "expected 64 hex digits, the SHA-256 that `provenance sign` printed for the previous event"
            .to_string()
    })?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        format!(
            "expected 64 hex digits (32 bytes), got {} digits",
            2 * b.len()
        )
    })
}

fn parse_kind(s: &str) -> Result<Kind, String> {
    Kind::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        let hint = Kind::ALL
            .iter()
            .find(|k| {
                k.name()
                    .starts_with(&s.to_ascii_lowercase()[..s.len().min(4)])
            })
            .map(|k| format!(" Did you mean `{}`?", k.name()))
            .unwrap_or_default();
        format!("unknown kind `{s}`.{hint} Kinds: {}", names.join(", "))
    })
}

fn parse_reading(s: &str) -> Result<(Quantity, i64), String> {
    let names = || {
        Quantity::ALL
            .iter()
            .map(|q| format!("{} ({})", q.name(), q.unit()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (name, value) = s.split_once('=').ok_or_else(|| {
        format!(
            "write a reading as NAME=VALUE, e.g. temperature=21500; names: {}",
            names()
        )
    })?;
    let q = Quantity::from_name(name.trim())
        .ok_or_else(|| format!("unknown reading `{name}`; names: {}", names()))?;
    let v: i64 = value.trim().parse().map_err(|_| {
        format!(
            "{} takes a whole number in {}, e.g. {}={}",
            q.name(),
            q.unit(),
            q.name(),
            q.range().end() / 2
        )
    })?;
    let mut r = Readings::new();
    r.set(q, v).map_err(|e| e.to_string())?;
    Ok((q, v))
}

fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let t = humantime::parse_rfc3339_weak(s).map_err(|_| {
        "expected Unix milliseconds (1763719200000) or RFC 3339 (2026-11-21T10:00:00Z)".to_string()
    })?;
    let ms = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| "times before 1970 are not accepted".to_string())?
        .as_millis();
    i64::try_from(ms).map_err(|_| "time too far in the future".to_string())
}

/// Parses an EPC URI, or a Digital Link when the company prefix length is known.
fn parse_epc(flag: &str, s: &str, cp_len: Option<u8>) -> anyhow::Result<Epc> {
    match Epc::parse(s) {
        Ok(e) => Ok(e),
        Err(epc_err) => match (DigitalLink::parse(s), cp_len) {
            (Ok(dl), Some(n)) => dl
                .to_epc(usize::from(n))
                .with_context(|| format!("--{flag} {s}: converting the Digital Link")),
            (Ok(_), None) => bail!(
                "--{flag} {s} is a GS1 Digital Link; events name items by EPC URI. Add \
                 --company-prefix-length N (the length of your GS1 company prefix) to convert it, \
                 or write the EPC URI, e.g. urn:epc:id:sgtin:4012345.012345.1001"
            ),
            (Err(dl_err), _) if s.starts_with("http") || s.starts_with('/') => {
                bail!("--{flag} {s}: {dl_err}")
            }
            (Err(_), _) => bail!("--{flag} {s}: {epc_err}"),
        },
    }
}

fn degrees_to_e7(flag: &str, deg: f64, limit: f64) -> anyhow::Result<i32> {
    if !deg.is_finite() || deg.abs() > limit {
        bail!("--{flag} {deg} is outside -{limit}..={limit} degrees");
    }
    // |deg| <= 180 so the product fits an i32.
    Ok((deg * 1e7).round() as i32)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let key = crate::keyfile::read(&args.key)?;
    let cp = args.company_prefix_length;
    let prev = match (args.prev, &args.prev_file, args.seq) {
        (Some(p), _, _) => p,
        (None, Some(f), _) => {
            let bytes =
                std::fs::read(f).with_context(|| format!("reading --prev-file {}", f.display()))?;
            message_hash(&bytes)
        }
        (None, None, 1) => [0u8; 32],
        (None, None, n) => bail!(
            "--seq {n} needs the hash of event {}: add --prev HEX (printed when you signed it) or \
             --prev-file FILE (that event's file)",
            n - 1
        ),
    };
    let items = args
        .items
        .iter()
        .map(|s| parse_epc("item", s, cp))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let parent = args
        .parent
        .as_deref()
        .map(|s| parse_epc("parent", s, cp))
        .transpose()?;
    let party = args
        .party
        .as_deref()
        .map(|s| parse_epc("party", s, cp))
        .transpose()?;
    let sgln = args
        .sgln
        .as_deref()
        .map(|s| parse_epc("sgln", s, cp))
        .transpose()?;
    let lat_lon = match (args.lat, args.lon) {
        (Some(lat), Some(lon)) => Some((
            degrees_to_e7("lat", lat, 90.0)?,
            degrees_to_e7("lon", lon, 180.0)?,
        )),
        _ => None,
    };
    let location = (lat_lon.is_some() || sgln.is_some()).then(|| Location { lat_lon, sgln });
    let mut readings = Readings::new();
    for (q, v) in &args.readings {
        readings.set(*q, *v)?;
    }
    let time = match args.time {
        Some(t) => t,
        None => i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the system clock is before 1970")?
                .as_millis(),
        )?,
    };
    let mut draft = Draft::new(args.seq, prev, time, args.kind, &items);
    draft.parent = parent.as_ref();
    draft.party = party.as_ref();
    draft.location = location.as_ref();
    draft.readings = readings;
    draft.doc = args.doc.as_deref();
    let mut master = provenance_event::Master::default();
    for (name, value) in &args.master {
        master.set(name, value)?;
    }
    draft.master = (!master.is_empty()).then_some(&master);

    let mut buf = vec![0u8; MAX_MESSAGE + 128];
    let n = sign_event(&key, &args.device, &draft, &mut buf).context("the event was not signed")?;
    let message = &buf[..n];
    std::fs::write(&args.out, message)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let hash = hex::encode(message_hash(message));
    println!("{hash}");
    eprintln!(
        "signed {} event seq {} by {} -> {} ({n} bytes).\nFor the next event use --seq {} --prev {hash}",
        args.kind,
        args.seq,
        args.device,
        args.out.display(),
        args.seq + 1
    );
    Ok(())
}
