//! The tamper-seal loop: a wire through the seal that ties a GPIO to ground while the seal is
//! whole; cut, the pull-up makes it read high. Debounced, so a glitch is not a break.

use embedded_hal::digital::InputPin;

/// Consecutive equal readings before a change counts.
pub const DEBOUNCE: u8 = 3;

/// The seal loop on an input pin (pull-up enabled by the board).
pub struct SealLoop<P> {
    pin: P,
    closed: Option<bool>,
    candidate: bool,
    count: u8,
}

impl<P: InputPin> SealLoop<P> {
    /// Takes the pin; the state is unknown until the first [`SealLoop::poll`].
    pub fn new(pin: P) -> Self {
        Self {
            pin,
            closed: None,
            candidate: false,
            count: 0,
        }
    }

    /// Samples the pin; the debounced state (`true`: loop closed, seal whole). The first
    /// reading counts at once.
    pub fn poll(&mut self) -> Result<bool, P::Error> {
        let closed = self.pin.is_low()?;
        match self.closed {
            None => self.closed = Some(closed),
            Some(current) if current == closed => self.count = 0,
            Some(_) => {
                if self.count > 0 && self.candidate == closed {
                    self.count += 1;
                } else {
                    self.candidate = closed;
                    self.count = 1;
                }
                if self.count >= DEBOUNCE {
                    self.closed = Some(closed);
                    self.count = 0;
                }
            }
        }
        Ok(self.closed.unwrap_or(closed))
    }

    /// The pin (a simulator opens the loop through it).
    pub fn pin_mut(&mut self) -> &mut P {
        &mut self.pin
    }

    /// Gives the pin back.
    pub fn release(self) -> P {
        self.pin
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal_mock::eh1::digital::{Mock, State, Transaction as T};

    use super::*;

    #[test]
    fn a_glitch_is_not_a_break() {
        let mut pin = Mock::new(&[
            T::get(State::Low),
            T::get(State::High),
            T::get(State::Low),
            T::get(State::High),
            T::get(State::High),
            T::get(State::High),
        ]);
        let mut seal = SealLoop::new(pin.clone());
        let seen: std::vec::Vec<bool> = (0..6).map(|_| seal.poll().unwrap()).collect();
        assert_eq!(seen, [true, true, true, true, true, false]);
        pin.done();
    }
}
