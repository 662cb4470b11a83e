//! The engine's packet header: one fixed layout for every packet kind.
//!
//! Every packet starts with a [`Header`] of [`HEADER_LEN`] bytes (little
//! endian), followed by payload for `Eager` and `Data` packets. Transports
//! keep per-peer FIFO order, so the header carries no sequence number: the
//! order of arrival is the order of sending.
//!
//! An `Eager` packet whose other fields are all zero (not synchronous: the
//! common small message) goes with the short header instead: the first
//! [`SHORT_HEADER_LEN`] bytes of the full one (kind, flags, context id,
//! source, tag) with kind [`KIND_EAGER_SHORT`], its length implied by the
//! packet's. So a small message and its envelope fit one 64-byte cache
//! line of the shared-memory ring up to 40 bytes, not 8. It decodes as an
//! ordinary `Eager` header.

/// Length of the encoded header.
pub const HEADER_LEN: usize = 48;
/// Length of the short header of a plain eager packet.
pub const SHORT_HEADER_LEN: usize = 16;
/// Kind byte of the short eager header.
pub const KIND_EAGER_SHORT: u8 = 8;

/// What a packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A whole message: envelope and payload. `a` = sender request id when
    /// the send is synchronous (an acknowledgement is wanted), else 0.
    Eager = 1,
    /// Request to send a large message. `a` = sender request id,
    /// `b` = sender pid, `c` = sender buffer address (single copy).
    Rts = 2,
    /// Clear to send. `a` = sender request id, `b` = receiver request id,
    /// `len` = bytes the receiver accepts (it may truncate).
    Cts = 3,
    /// A chunk of a rendezvous message. `a` = receiver request id,
    /// `b` = offset of this chunk.
    Data = 4,
    /// The receiver copied the data itself (single copy). `a` = sender
    /// request id.
    Fin = 5,
    /// A synchronous eager send was matched. `a` = sender request id.
    SyncAck = 6,
    /// Eager credit returned to the sender. `len` = bytes of credit.
    Credit = 7,
    /// Split copy (receiver to sender, answering an `Rts` that carried
    /// [`FLAG_SPLIT_OK`]): write bytes `[k, k + len)` of the message into
    /// the receiver's memory by single copy, then answer `Wrote`; the
    /// receiver reads `[0, k)` itself meanwhile and sends `Fin` once both
    /// parts are in. `a` = sender request id, `b` = receiver request id,
    /// `c` = address in the receiver where byte `k` goes, `len` = bytes to
    /// write, `ctx` = the receiver's pid, `src` and `tag` = low and high 32
    /// bits of `k`. (Added after the first seven kinds; a peer that never
    /// sets the flag never sees it.)
    Split = 9,
    /// The sender's answer to `Split`. `a` = receiver request id, `len` =
    /// bytes written (anything but the asked length means the write failed
    /// and the receiver copies that part itself).
    Wrote = 10,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        Some(match v {
            1 => Kind::Eager,
            2 => Kind::Rts,
            3 => Kind::Cts,
            4 => Kind::Data,
            5 => Kind::Fin,
            6 => Kind::SyncAck,
            7 => Kind::Credit,
            9 => Kind::Split,
            10 => Kind::Wrote,
            _ => return None,
        })
    }
}

/// Flag: the Rts sender offers single-copy reads of its buffer.
pub const FLAG_SINGLE_COPY: u8 = 1;
/// Flag (with [`FLAG_SINGLE_COPY`]): the Rts sender can also write into the
/// receiver's memory, so the receiver may answer `Split` and share the copy.
pub const FLAG_SPLIT_OK: u8 = 2;

/// The decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub flags: u8,
    /// Context id of the communicator (matching key).
    pub ctx: u32,
    /// Sender's rank in that communicator.
    pub src: i32,
    pub tag: i32,
    /// Total message length (Eager, Rts), accepted length (Cts), chunk
    /// length (Data), or credit bytes (Credit).
    pub len: u64,
    pub a: u64,
    pub b: u64,
    pub c: u64,
}

impl Header {
    /// A header of `kind` with every other field zero.
    pub fn new(kind: Kind) -> Header {
        Header { kind, flags: 0, ctx: 0, src: 0, tag: 0, len: 0, a: 0, b: 0, c: 0 }
    }

    /// Encode into the fixed layout.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = self.kind as u8;
        out[1] = self.flags;
        out[4..8].copy_from_slice(&self.ctx.to_le_bytes());
        out[8..12].copy_from_slice(&self.src.to_le_bytes());
        out[12..16].copy_from_slice(&self.tag.to_le_bytes());
        out[16..24].copy_from_slice(&self.len.to_le_bytes());
        out[24..32].copy_from_slice(&self.a.to_le_bytes());
        out[32..40].copy_from_slice(&self.b.to_le_bytes());
        out[40..48].copy_from_slice(&self.c.to_le_bytes());
        out
    }

    /// Whether this header may go short (see the module docs).
    pub fn is_short(&self) -> bool {
        self.kind == Kind::Eager && self.flags == 0 && self.a == 0 && self.b == 0 && self.c == 0
    }

    /// Encode for the wire: the short form when it applies. Returns the
    /// buffer and the header's length in it.
    pub fn encode_wire(&self) -> ([u8; HEADER_LEN], usize) {
        if self.is_short() {
            let mut out = [0u8; HEADER_LEN];
            out[..SHORT_HEADER_LEN].copy_from_slice(&Header::encode_short(self.ctx, self.src, self.tag));
            (out, SHORT_HEADER_LEN)
        } else {
            (self.encode(), HEADER_LEN)
        }
    }

    /// The short header of a plain eager packet.
    #[inline]
    pub fn encode_short(ctx: u32, src: i32, tag: i32) -> [u8; SHORT_HEADER_LEN] {
        let mut out = [0u8; SHORT_HEADER_LEN];
        out[0] = KIND_EAGER_SHORT;
        out[4..8].copy_from_slice(&ctx.to_le_bytes());
        out[8..12].copy_from_slice(&src.to_le_bytes());
        out[12..16].copy_from_slice(&tag.to_le_bytes());
        out
    }

    /// Decode the header at the start of `pkt`; `None` if it is malformed.
    pub fn decode(pkt: &[u8]) -> Option<Header> {
        Header::decode_with_len(pkt).map(|(h, _)| h)
    }

    /// [`Header::decode`], also returning the header's length (where the
    /// payload starts).
    #[inline]
    pub fn decode_with_len(pkt: &[u8]) -> Option<(Header, usize)> {
        let u32_at = |i: usize| u32::from_le_bytes(pkt[i..i + 4].try_into().expect("4 bytes"));
        if pkt.len() >= SHORT_HEADER_LEN && pkt[0] == KIND_EAGER_SHORT {
            let h = Header {
                kind: Kind::Eager,
                flags: pkt[1],
                ctx: u32_at(4),
                src: u32_at(8) as i32,
                tag: u32_at(12) as i32,
                len: (pkt.len() - SHORT_HEADER_LEN) as u64,
                a: 0,
                b: 0,
                c: 0,
            };
            return Some((h, SHORT_HEADER_LEN));
        }
        if pkt.len() < HEADER_LEN {
            return None;
        }
        let u64_at = |i: usize| u64::from_le_bytes(pkt[i..i + 8].try_into().expect("8 bytes"));
        let h = Header {
            kind: Kind::from_u8(pkt[0])?,
            flags: pkt[1],
            ctx: u32_at(4),
            src: u32_at(8) as i32,
            tag: u32_at(12) as i32,
            len: u64_at(16),
            a: u64_at(24),
            b: u64_at(32),
            c: u64_at(40),
        };
        Some((h, HEADER_LEN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_every_field() {
        let h = Header {
            kind: Kind::Rts,
            flags: FLAG_SINGLE_COPY,
            ctx: 0xdead_beef,
            src: -2,
            tag: 12345,
            len: 1 << 40,
            a: 7,
            b: u64::MAX,
            c: 0x1234_5678_9abc,
        };
        assert_eq!(Header::decode(&h.encode()), Some(h));
    }

    #[test]
    fn plain_eager_goes_short_and_decodes_as_eager() {
        let mut h = Header::new(Kind::Eager);
        h.ctx = 6;
        h.src = 3;
        h.tag = -7;
        let (buf, n) = h.encode_wire();
        assert_eq!(n, SHORT_HEADER_LEN);
        let mut pkt = buf[..n].to_vec();
        pkt.extend_from_slice(b"hello");
        h.len = 5;
        assert_eq!(Header::decode_with_len(&pkt), Some((h, SHORT_HEADER_LEN)));
        // Synchronous sends (an id in `a`) keep the full header.
        h.a = 9;
        let (buf, n) = h.encode_wire();
        assert_eq!(n, HEADER_LEN);
        assert_eq!(Header::decode(&buf[..n]), Some(h));
    }

    #[test]
    fn short_or_unknown_packets_are_rejected() {
        assert_eq!(Header::decode(&[1u8; 10]), None);
        let mut raw = Header::new(Kind::Eager).encode();
        raw[0] = 99;
        assert_eq!(Header::decode(&raw), None);
    }
}
