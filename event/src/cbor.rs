//! Deterministic CBOR (RFC 8949 §4.2.1) on top of `minicbor`.
//!
//! `minicbor` reads and writes the items; this module adds what "deterministic" asks of a
//! reader: every head in its shortest form, no indefinite lengths, map keys in ascending
//! order without repeats, nothing after the top-level item. The writer needs no extra care:
//! `minicbor` always writes the shortest head, and the event encoder writes keys in order.

use minicbor::Decoder;
use minicbor::data::Type;
use minicbor::encode::write::Cursor;

/// What is wrong with bytes that should be CBOR. Positions are byte offsets into the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    /// The input ends inside an item.
    #[error("CBOR ends early (at byte {at})")]
    Truncated {
        /// Where more bytes were needed.
        at: usize,
    },
    /// An item of another type stands where the format wants `expected`.
    #[error("expected {expected} at byte {at}")]
    UnexpectedType {
        /// What the format wants here.
        expected: &'static str,
        /// Where the item starts.
        at: usize,
    },
    /// A head that has a shorter encoding (RFC 8949 §4.2.1, "preferred serialization").
    #[error("non-shortest CBOR head at byte {at}")]
    NotShortest {
        /// Where the head starts.
        at: usize,
    },
    /// An indefinite-length string, array or map.
    #[error("indefinite-length item at byte {at}")]
    Indefinite {
        /// Where the item starts.
        at: usize,
    },
    /// A map key that is not greater than the key before it.
    #[error("map key out of order or repeated at byte {at}")]
    KeyOrder {
        /// Where the offending key starts.
        at: usize,
    },
    /// A number that does not fit the field.
    #[error("integer out of range at byte {at}")]
    OutOfRange {
        /// Where the number starts.
        at: usize,
    },
    /// Bytes left over after the item.
    #[error("{extra} trailing byte(s) after the CBOR item")]
    Trailing {
        /// How many bytes are left over.
        extra: usize,
    },
    /// A text string that is not UTF-8, or other malformed CBOR.
    #[error("malformed CBOR at byte {at}")]
    Malformed {
        /// Where the problem was found.
        at: usize,
    },
}

/// The length of the shortest CBOR head carrying `arg` (RFC 8949 §3).
pub(crate) const fn head_len(arg: u64) -> usize {
    match arg {
        0..=23 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Writes a CBOR head (major type and argument) in its shortest form into `out`, returning its
/// length. `out` must hold at least 9 bytes.
pub(crate) fn write_head(major: u8, arg: u64, out: &mut [u8]) -> usize {
    let m = major << 5;
    let len = head_len(arg);
    // The `as` casts below only narrow values that the match arm has bounded.
    match len {
        1 => out[0] = m | arg as u8,
        2 => {
            out[0] = m | 24;
            out[1] = arg as u8;
        }
        3 => {
            out[0] = m | 25;
            out[1..3].copy_from_slice(&(arg as u16).to_be_bytes());
        }
        5 => {
            out[0] = m | 26;
            out[1..5].copy_from_slice(&(arg as u32).to_be_bytes());
        }
        _ => {
            out[0] = m | 27;
            out[1..9].copy_from_slice(&arg.to_be_bytes());
        }
    }
    len
}

/// Major type 2 (byte string).
pub(crate) const MAJOR_BYTES: u8 = 2;
/// Major type 3 (text string).
pub(crate) const MAJOR_TEXT: u8 = 3;
/// Major type 4 (array).
pub(crate) const MAJOR_ARRAY: u8 = 4;

/// A reader that accepts only deterministic CBOR and never reads past its input.
///
/// It neither recurses nor allocates: callers read a fixed shape, and anything they do not
/// know is skipped by `minicbor`'s iterative skip.
pub(crate) struct Reader<'b> {
    d: Decoder<'b>,
}

impl<'b> Reader<'b> {
    pub(crate) fn new(bytes: &'b [u8]) -> Self {
        Self {
            d: Decoder::new(bytes),
        }
    }

    pub(crate) fn position(&self) -> usize {
        self.d.position()
    }

    /// The bytes this reader reads.
    pub(crate) fn input(&self) -> &'b [u8] {
        self.d.input()
    }

    fn err(&self, e: minicbor::decode::Error, at: usize, expected: &'static str) -> CborError {
        if e.is_end_of_input() {
            CborError::Truncated {
                at: self.d.input().len(),
            }
        } else if e.is_type_mismatch() {
            CborError::UnexpectedType { expected, at }
        } else {
            CborError::Malformed { at }
        }
    }

    /// The type of the next item, without consuming it.
    pub(crate) fn peek(&self) -> Result<Type, CborError> {
        let at = self.position();
        self.d.datatype().map_err(|e| self.err(e, at, "an item"))
    }

    fn check_head(&self, start: usize, arg: u64, body: usize) -> Result<(), CborError> {
        if self.position() - start == head_len(arg) + body {
            Ok(())
        } else {
            Err(CborError::NotShortest { at: start })
        }
    }

    pub(crate) fn u64(&mut self) -> Result<u64, CborError> {
        let at = self.position();
        let v = self
            .d
            .u64()
            .map_err(|e| self.err(e, at, "an unsigned integer"))?;
        self.check_head(at, v, 0)?;
        Ok(v)
    }

    pub(crate) fn i64(&mut self) -> Result<i64, CborError> {
        let at = self.position();
        match self.peek()? {
            Type::U8 | Type::U16 | Type::U32 | Type::U64 => {
                let v = self.u64()?;
                i64::try_from(v).map_err(|_| CborError::OutOfRange { at })
            }
            Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int => {
                let v = self.d.i64().map_err(|e| {
                    if e.is_end_of_input() || e.is_type_mismatch() {
                        self.err(e, at, "an integer")
                    } else {
                        CborError::OutOfRange { at }
                    }
                })?;
                // A negative integer n is encoded with argument -1 - n.
                let arg = if v < 0 { (-1 - v) as u64 } else { v as u64 };
                self.check_head(at, arg, 0)?;
                Ok(v)
            }
            _ => Err(CborError::UnexpectedType {
                expected: "an integer",
                at,
            }),
        }
    }

    pub(crate) fn bytes(&mut self) -> Result<&'b [u8], CborError> {
        let at = self.position();
        if self.peek()? == Type::BytesIndef {
            return Err(CborError::Indefinite { at });
        }
        let b = self
            .d
            .bytes()
            .map_err(|e| self.err(e, at, "a byte string"))?;
        self.check_head(at, b.len() as u64, b.len())?;
        Ok(b)
    }

    pub(crate) fn str(&mut self) -> Result<&'b str, CborError> {
        let at = self.position();
        if self.peek()? == Type::StringIndef {
            return Err(CborError::Indefinite { at });
        }
        let s = self.d.str().map_err(|e| self.err(e, at, "a text string"))?;
        self.check_head(at, s.len() as u64, s.len())?;
        Ok(s)
    }

    pub(crate) fn array(&mut self) -> Result<u64, CborError> {
        let at = self.position();
        match self.d.array().map_err(|e| self.err(e, at, "an array"))? {
            Some(n) => {
                self.check_head(at, n, 0)?;
                Ok(n)
            }
            None => Err(CborError::Indefinite { at }),
        }
    }

    pub(crate) fn map(&mut self) -> Result<u64, CborError> {
        let at = self.position();
        match self.d.map().map_err(|e| self.err(e, at, "a map"))? {
            Some(n) => {
                self.check_head(at, n, 0)?;
                Ok(n)
            }
            None => Err(CborError::Indefinite { at }),
        }
    }

    pub(crate) fn tag(&mut self) -> Result<u64, CborError> {
        let at = self.position();
        let t = self.d.tag().map_err(|e| self.err(e, at, "a tag"))?.as_u64();
        self.check_head(at, t, 0)?;
        Ok(t)
    }

    pub(crate) fn null(&mut self) -> Result<(), CborError> {
        let at = self.position();
        self.d.null().map_err(|e| self.err(e, at, "null"))
    }

    /// Skips one item of any shape, without recursion.
    pub(crate) fn skip(&mut self) -> Result<(), CborError> {
        let at = self.position();
        self.d.skip().map_err(|e| self.err(e, at, "an item"))
    }

    /// Reads a map key and checks it is above the previous one (`None` for the first key).
    pub(crate) fn key_after(&mut self, previous: Option<u64>) -> Result<u64, CborError> {
        let at = self.position();
        let k = self.u64()?;
        match previous {
            Some(p) if k <= p => Err(CborError::KeyOrder { at }),
            _ => Ok(k),
        }
    }

    /// Ends reading: there must be nothing after the item.
    pub(crate) fn finish(&self) -> Result<(), CborError> {
        let extra = self.d.input().len() - self.position();
        if extra == 0 {
            Ok(())
        } else {
            Err(CborError::Trailing { extra })
        }
    }
}

/// A `minicbor` encoder over a caller's fixed buffer.
pub(crate) type SliceEncoder<'a> = minicbor::Encoder<Cursor<&'a mut [u8]>>;

pub(crate) fn encoder(buf: &mut [u8]) -> SliceEncoder<'_> {
    minicbor::Encoder::new(Cursor::new(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_shortest_and_rejects_longer_heads() {
        assert_eq!(Reader::new(&[0x17]).u64(), Ok(23));
        assert_eq!(Reader::new(&[0x18, 0x18]).u64(), Ok(24));
        assert_eq!(
            Reader::new(&[0x18, 0x17]).u64(),
            Err(CborError::NotShortest { at: 0 })
        );
        assert_eq!(
            Reader::new(&[0x19, 0x00, 0x01]).u64(),
            Err(CborError::NotShortest { at: 0 })
        );
        assert_eq!(Reader::new(&[0x20]).i64(), Ok(-1));
        assert_eq!(
            Reader::new(&[0x38, 0x00]).i64(),
            Err(CborError::NotShortest { at: 0 })
        );
        assert_eq!(
            Reader::new(&[0x58, 0x01, 0xaa]).bytes(),
            Err(CborError::NotShortest { at: 0 })
        );
    }

    #[test]
    fn rejects_indefinite_lengths() {
        assert_eq!(
            Reader::new(&[0x9f, 0xff]).array(),
            Err(CborError::Indefinite { at: 0 })
        );
        assert_eq!(
            Reader::new(&[0x5f, 0x41, 0x00, 0xff]).bytes(),
            Err(CborError::Indefinite { at: 0 })
        );
    }

    #[test]
    fn heads_written_are_shortest() {
        for arg in [
            0u64,
            23,
            24,
            255,
            256,
            65535,
            65536,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut buf = [0u8; 9];
            // Major type 0 so that the head alone is a whole item.
            let n = write_head(0, arg, &mut buf);
            assert_eq!(n, head_len(arg));
            assert_eq!(Reader::new(&buf[..n]).u64(), Ok(arg));
        }
    }

    #[test]
    fn never_panics_on_truncated_input() {
        let bytes = [0x1b, 0, 0, 0];
        assert!(matches!(
            Reader::new(&bytes).u64(),
            Err(CborError::Truncated { .. })
        ));
        assert!(matches!(
            Reader::new(&[0x5a, 0xff, 0xff, 0xff, 0xff]).bytes(),
            Err(CborError::Truncated { .. })
        ));
    }
}
