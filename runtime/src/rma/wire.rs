//! The RMA active messages: one request format from origin to target.
//!
//! Every request travels on the window's private context with tag
//! [`TAG_REQ`], so a target sees one origin's requests in the order they
//! were issued. A request is a fixed header, the target's byte blocks and
//! the payload:
//!
//! ```text
//! kind u8 | flags u8 | pad u16 | reply i32 | op i32 | elem i32 | disp i64 | nblocks u32 | pad u32
//! nblocks x (offset i64, len u64)      target blocks, relative to the target address
//! payload                              packed origin data (put, accumulate, CAS)
//! ```
//!
//! Answers (fetched data, acknowledgements) go back on tag `reply`, which
//! the origin chose fresh (at least [`FIRST_REPLY_TAG`]) and posted a
//! receive for before sending.
//!
//! A put of at least [`ZCOPY_MIN`] bytes carries no payload: its header has
//! [`FLAG_DATA_FOLLOWS`] and the data follows as its own message on
//! [`TAG_DATA`], sent straight from the origin's memory, which the target
//! receives straight into its window (no copy on either side when both are
//! one block; one single-copy transfer on shared memory). Likewise a large
//! get is answered straight from the window.

/// Tag of every request.
pub(crate) const TAG_REQ: i32 = 0;
/// Tag of the data of a put sent apart from its header.
pub(crate) const TAG_DATA: i32 = 1;
/// Reply tags are this and above.
pub(crate) const FIRST_REPLY_TAG: i32 = 2;
/// Puts and gets of this many bytes or more move without intermediate copies.
pub(crate) const ZCOPY_MIN: usize = 32 * 1024;

/// Bytes of the fixed header.
pub(crate) const HEADER: usize = 32;

/// What a request asks the target to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    Put = 1,
    Get = 2,
    Acc = 3,
    GetAcc = 4,
    Cas = 5,
    Lock = 6,
    Unlock = 7,
    Flush = 8,
    /// PSCW: the origin ended its access epoch (after its operations).
    Complete = 9,
    /// PSCW: the sender exposed its window to the receiver.
    Post = 10,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Put,
            2 => Kind::Get,
            3 => Kind::Acc,
            4 => Kind::GetAcc,
            5 => Kind::Cas,
            6 => Kind::Lock,
            7 => Kind::Unlock,
            8 => Kind::Flush,
            9 => Kind::Complete,
            10 => Kind::Post,
            _ => return None,
        })
    }
}

/// `flags` bit of a lock request: exclusive (else shared).
pub(crate) const FLAG_EXCLUSIVE: u8 = 1;
/// `flags` bit of an unlock: the lock was taken with MPI_MODE_NOCHECK (nothing to release).
pub(crate) const FLAG_NOCHECK: u8 = 2;
/// `flags` bit of a put: the data follows on [`TAG_DATA`].
pub(crate) const FLAG_DATA_FOLLOWS: u8 = 4;

/// A decoded request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub kind: Kind,
    pub flags: u8,
    /// Tag of the answer (0: none).
    pub reply: i32,
    /// Accumulate operator and element type, as the ABI names them.
    pub op: i32,
    pub elem: i32,
    /// Byte displacement at the target (absolute address for dynamic windows).
    pub disp: i64,
}

impl Header {
    pub fn new(kind: Kind) -> Header {
        Header { kind, flags: 0, reply: 0, op: 0, elem: 0, disp: 0 }
    }
}

/// Encode a request.
pub(crate) fn encode(h: &Header, blocks: &[(i64, u64)], payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER + 16 * blocks.len() + payload.len());
    v.push(h.kind as u8);
    v.push(h.flags);
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&h.reply.to_le_bytes());
    v.extend_from_slice(&h.op.to_le_bytes());
    v.extend_from_slice(&h.elem.to_le_bytes());
    v.extend_from_slice(&h.disp.to_le_bytes());
    v.extend_from_slice(&(blocks.len() as u32).to_le_bytes());
    v.extend_from_slice(&[0, 0, 0, 0]);
    debug_assert_eq!(v.len(), HEADER);
    for &(off, len) in blocks {
        v.extend_from_slice(&off.to_le_bytes());
        v.extend_from_slice(&len.to_le_bytes());
    }
    v.extend_from_slice(payload);
    v
}

/// A decoded request: header, target blocks, payload.
pub(crate) struct Request<'a> {
    pub h: Header,
    pub blocks: Vec<(i64, u64)>,
    pub payload: &'a [u8],
}

fn le<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b[at..at + N].try_into().expect("range of N bytes")
}

/// Decode a request (`None` if malformed).
pub(crate) fn decode(b: &[u8]) -> Option<Request<'_>> {
    if b.len() < HEADER {
        return None;
    }
    let h = Header {
        kind: Kind::from_u8(b[0])?,
        flags: b[1],
        reply: i32::from_le_bytes(le(b, 4)),
        op: i32::from_le_bytes(le(b, 8)),
        elem: i32::from_le_bytes(le(b, 12)),
        disp: i64::from_le_bytes(le(b, 16)),
    };
    let n = u32::from_le_bytes(le(b, 24)) as usize;
    let end = HEADER.checked_add(n.checked_mul(16)?)?;
    if b.len() < end {
        return None;
    }
    let blocks = (0..n)
        .map(|i| {
            let at = HEADER + 16 * i;
            (i64::from_le_bytes(le(b, at)), u64::from_le_bytes(le(b, at + 8)))
        })
        .collect();
    Some(Request { h, blocks, payload: &b[end..] })
}

/// The answer to a lock, unlock or flush: errors the target found in this
/// origin's operations since the previous answer.
pub(crate) fn encode_ack(errors: u32) -> Vec<u8> {
    errors.to_le_bytes().to_vec()
}

/// Errors carried by an acknowledgement.
pub(crate) fn decode_ack(b: &[u8]) -> u32 {
    if b.len() < 4 {
        return 0;
    }
    u32::from_le_bytes(le(b, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let h = Header { kind: Kind::GetAcc, flags: FLAG_EXCLUSIVE, reply: 7, op: 3, elem: -5, disp: -12 };
        assert_eq!(encode(&h, &[], &[]).len(), HEADER);
        let v = encode(&h, &[(0, 8), (16, 4)], b"abcdefghijkl");
        let r = decode(&v).expect("decodes");
        assert_eq!(r.h, h);
        assert_eq!(r.blocks, vec![(0, 8), (16, 4)]);
        assert_eq!(r.payload, b"abcdefghijkl");
    }

    #[test]
    fn truncated_or_unknown_requests_are_rejected() {
        let v = encode(&Header::new(Kind::Put), &[(0, 8)], b"12345678");
        assert!(decode(&v[..HEADER + 8]).is_none());
        let mut w = v.clone();
        w[0] = 99;
        assert!(decode(&w).is_none());
        assert_eq!(decode_ack(&encode_ack(3)), 3);
    }
}
