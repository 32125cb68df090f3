//! A `#![no_std]`, `#![no_main]` program that signs an event, parses it back and verifies it,
//! so that everything the firmware would use of `provenance-event` is linked. It runs on the
//! host through the C runtime's `main`, and its exit status says whether the round trip held.
#![no_std]
#![no_main]

use core::panic::PanicInfo;

use ed25519_dalek::SigningKey;
use provenance_event::{DeviceId, Draft, Epc, Kind, Location, MAX_MESSAGE, Quantity, SignedEvent, sign_event};

#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    loop {}
}

// The C runtime of the host provides `_start`, which calls `main`; on a microcontroller the
// firmware's reset handler takes that role.
#[link(name = "c")]
unsafe extern "C" {}

/// One event in flight, as on the board: a static buffer, no heap.
static mut MESSAGE: [u8; MAX_MESSAGE] = [0; MAX_MESSAGE];

fn round_trip(buf: &mut [u8]) -> Option<()> {
    let key = SigningKey::from_bytes(&[7; 32]);
    let device = DeviceId::new("station-1").ok()?;
    let items = [Epc::parse("urn:epc:id:sgtin:4012345.012345.1001").ok()?];
    let place = Location::fix(519_244_000, 41_400_000);
    let mut draft = Draft::new(1, [0; 32], 1_763_719_200_000, Kind::Measured, &items);
    draft.location = Some(&place);
    draft.readings.set(Quantity::Voltage, 3_712).ok()?;
    draft.readings.set(Quantity::Temperature, 23_250).ok()?;
    let n = sign_event(&key, &device, &draft, buf).ok()?;
    let event = SignedEvent::parse(&buf[..n]).ok()?.verify(&key.verifying_key()).ok()?.decode().ok()?;
    (event.event().readings.get(Quantity::Voltage) == Some(3_712)).then_some(())
}

// SAFETY: `main` is the C entry point; the attribute is required for the C runtime to find it
// and nothing else in the program defines that symbol.
#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    // SAFETY: `main` runs once on one thread, so this is the only reference to MESSAGE.
    let buf = unsafe { &mut *core::ptr::addr_of_mut!(MESSAGE) };
    match round_trip(buf) {
        Some(()) => 0,
        None => 1,
    }
}
