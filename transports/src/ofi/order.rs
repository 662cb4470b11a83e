//! The ofi transport's packet prefix and per-peer ordering.
//!
//! Every packet goes out behind a 16-byte prefix: the job token (8 bytes,
//! derived from the job secret: a packet without it is dropped), the
//! sender's rank and the sender's per-destination sequence number. The
//! receiver delivers each sender's packets in sequence order, holding early
//! ones back, so per-peer FIFO order holds even on a provider that does not
//! promise send-after-send ordering (`FI_ORDER_SAS`) or reports receive
//! completions out of order. On providers that do keep order nothing is
//! ever held back.

use std::collections::BTreeMap;

/// Bytes of the prefix.
pub const PREFIX: usize = 16;

/// Encode the prefix of a packet.
pub fn encode(token: u64, src: u32, seq: u32) -> [u8; PREFIX] {
    let mut p = [0u8; PREFIX];
    p[..8].copy_from_slice(&token.to_le_bytes());
    p[8..12].copy_from_slice(&src.to_le_bytes());
    p[12..].copy_from_slice(&seq.to_le_bytes());
    p
}

/// Decode a prefix: `(token, src, seq)`, or `None` if the packet is short.
pub fn decode(pkt: &[u8]) -> Option<(u64, u32, u32)> {
    if pkt.len() < PREFIX {
        return None;
    }
    let token = u64::from_le_bytes(pkt[..8].try_into().expect("8 bytes"));
    let src = u32::from_le_bytes(pkt[8..12].try_into().expect("4 bytes"));
    let seq = u32::from_le_bytes(pkt[12..16].try_into().expect("4 bytes"));
    Some((token, src, seq))
}

/// Receive order of one sender.
#[derive(Debug, Default)]
pub struct Inbound {
    expect: u32,
    early: BTreeMap<u32, Vec<u8>>,
}

impl Inbound {
    /// A packet with sequence `seq` arrived: `true` if it is the next one
    /// (deliver it now, then call [`Inbound::next_ready`] until `None`);
    /// otherwise the caller hands a copy to [`Inbound::hold`].
    pub fn accept(&mut self, seq: u32) -> bool {
        if seq == self.expect {
            self.expect = self.expect.wrapping_add(1);
            true
        } else {
            false
        }
    }

    /// Keep an early packet until its turn.
    pub fn hold(&mut self, seq: u32, body: Vec<u8>) {
        self.early.insert(seq, body);
    }

    /// The next held packet, if it is now in turn.
    pub fn next_ready(&mut self) -> Option<Vec<u8>> {
        let body = self.early.remove(&self.expect)?;
        self.expect = self.expect.wrapping_add(1);
        Some(body)
    }

    /// Packets held back.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.early.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_round_trips() {
        let p = encode(0x1122_3344_5566_7788, 7, 42);
        assert_eq!(decode(&p), Some((0x1122_3344_5566_7788, 7, 42)));
        assert_eq!(decode(&p[..15]), None);
    }

    #[test]
    fn early_packets_wait_for_their_turn() {
        let mut r = Inbound::default();
        let mut out = Vec::new();
        for seq in [2u32, 0, 3, 1, 4] {
            if r.accept(seq) {
                out.push(seq);
                while let Some(b) = r.next_ready() {
                    out.push(b[0] as u32);
                }
            } else {
                r.hold(seq, vec![seq as u8]);
            }
        }
        assert_eq!(out, vec![0, 1, 2, 3, 4]);
        assert_eq!(r.held(), 0);
    }
}
