//! The benchmark's TCP protocol between the guest workload (`calgary-bench
//! net`) and the host peer (`calgary-bench-host peer`).
//!
//! The client sends a 16-byte header `mode:u32 size:u32 secs:u32 0`
//! (little endian), then
//! - stream: client writes `size`-byte messages for `secs`, shuts down its
//!   write side; the peer answers with the byte count it received (u64 LE).
//! - maerts: the peer writes `size`-byte messages for `secs`, then closes.
//! - rr: client writes `size` bytes, peer echoes `size` bytes, repeat.

/// Default TCP port of the peer.
pub const PORT: u16 = 5001;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Stream,
    Maerts,
    Rr,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s {
            "stream" => Ok(Mode::Stream),
            "maerts" => Ok(Mode::Maerts),
            "rr" => Ok(Mode::Rr),
            _ => Err(format!("unknown mode '{s}' (stream, maerts, rr)")),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Mode::Stream => "stream",
            Mode::Maerts => "maerts",
            Mode::Rr => "rr",
        }
    }
    fn code(self) -> u32 {
        match self {
            Mode::Stream => 1,
            Mode::Maerts => 2,
            Mode::Rr => 3,
        }
    }
    fn from_code(c: u32) -> Option<Mode> {
        match c {
            1 => Some(Mode::Stream),
            2 => Some(Mode::Maerts),
            3 => Some(Mode::Rr),
            _ => None,
        }
    }
}

/// The request header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub mode: Mode,
    pub size: u32,
    pub secs: u32,
}

impl Header {
    pub const LEN: usize = 16;

    pub fn encode(&self) -> [u8; Header::LEN] {
        let mut h = [0u8; Header::LEN];
        h[0..4].copy_from_slice(&self.mode.code().to_le_bytes());
        h[4..8].copy_from_slice(&self.size.to_le_bytes());
        h[8..12].copy_from_slice(&self.secs.to_le_bytes());
        h
    }

    /// None for an unknown mode.
    pub fn decode(h: &[u8; Header::LEN]) -> Option<Header> {
        let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        Some(Header {
            mode: Mode::from_code(word(0))?,
            size: word(4),
            secs: word(8),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_layout() {
        let h = Header {
            mode: Mode::Rr,
            size: 65536,
            secs: 2,
        };
        let b = h.encode();
        assert_eq!(&b[..12], &[3, 0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0]);
        assert_eq!(Header::decode(&b), Some(h));
        let mut bad = b;
        bad[0] = 9;
        assert_eq!(Header::decode(&bad), None);
    }

    #[test]
    fn modes() {
        for m in [Mode::Stream, Mode::Maerts, Mode::Rr] {
            assert_eq!(Mode::parse(m.name()), Ok(m));
        }
        assert!(Mode::parse("udp").is_err());
    }
}
