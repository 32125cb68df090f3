//! A blocking adapter between a [`Board`] and an `embedded-io` byte stream to the broker
//! (a TCP socket of embassy-net or smoltcp, a cellular modem's transparent mode, …). The
//! main loop of a real board calls [`Link::pump`] and [`Board::poll`] in turn.

use embedded_io::{Read, ReadReady, Write};
use embedded_storage::nor_flash::NorFlash;

use crate::board::{Board, BoardError};
use crate::keys::KeyStore;
use crate::policy::Policy;
use crate::sensors::Sensors;

/// Opens a connection to the broker.
pub trait Connect {
    /// The byte stream.
    type Connection: Read + Write + ReadReady;
    /// Why it could not be opened.
    type Error: core::fmt::Debug;

    /// Opens it (blocking).
    fn connect(&mut self) -> Result<Self::Connection, Self::Error>;
}

/// The board's connection, opened and closed as the MQTT session asks.
pub struct Link<C: Connect> {
    connector: C,
    connection: Option<C::Connection>,
}

impl<C: Connect> Link<C> {
    /// Not connected yet.
    pub fn new(connector: C) -> Self {
        Self {
            connector,
            connection: None,
        }
    }

    /// Whether a connection is open.
    pub fn is_open(&self) -> bool {
        self.connection.is_some()
    }

    /// Connects if the session wants to, writes what the board has to send, hands it what
    /// has arrived, and closes the connection when the session gives up on it. Never blocks
    /// on reading.
    pub fn pump<F: NorFlash, K: KeyStore, S: Sensors, P: Policy>(
        &mut self,
        board: &mut Board<F, K, S, P>,
        now_ms: u64,
    ) -> Result<(), BoardError> {
        if self.connection.is_none() && board.net_wants_connection(now_ms) {
            match self.connector.connect() {
                Ok(c) => {
                    self.connection = Some(c);
                    board.net_connected(now_ms);
                }
                Err(_) => board.net_connect_failed(now_ms),
            }
        }
        let Some(conn) = self.connection.as_mut() else {
            return Ok(());
        };
        let mut alive = true;
        while alive && !board.net_transmit().is_empty() {
            match conn.write(board.net_transmit()) {
                Ok(0) | Err(_) => alive = false,
                Ok(n) => board.net_transmitted(n, now_ms)?,
            }
        }
        let mut buf = [0u8; 256];
        while alive && matches!(conn.read_ready(), Ok(true)) {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => alive = false,
                Ok(n) => {
                    let mut at = 0;
                    while at < n {
                        let used = board.net_receive(&buf[at..n], now_ms)?;
                        at += used;
                        // A full send buffer holds up reading: write it out.
                        if used == 0 {
                            match conn.write(board.net_transmit()) {
                                Ok(0) | Err(_) => {
                                    alive = false;
                                    break;
                                }
                                Ok(w) => board.net_transmitted(w, now_ms)?,
                            }
                        }
                    }
                }
            }
        }
        if !alive || board.net_wants_close() {
            let _ = conn.flush();
            self.connection = None;
            board.net_disconnected(now_ms);
        }
        Ok(())
    }
}
