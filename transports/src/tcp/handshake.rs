//! The connection handshake that proves knowledge of the per-job secret.
//!
//! ```text
//! acceptor  -> connector : nonce (32 random bytes)
//! connector -> acceptor  : hello = "RMPT" | version u16 | src u32 | dst u32
//!                          | job_len u16 | job | SHA-256(secret | nonce | src | dst)
//! acceptor  -> connector : ack = SHA-256("rmpi-tcp-ack" | secret | nonce | src | dst)
//! ```
//!
//! All integers are little endian. The acceptor checks magic, version,
//! `dst` (must be itself), the job string and the MAC; anything else closes
//! the connection, and nothing from it is delivered before the hello checks
//! out. The ack proves the secret the other way (the connector will not
//! hand its data to a stranger that took over the port) and tells the
//! connector that its connection was taken: the connector sends frames only
//! after the ack, so a connection closed before it (for instance because the
//! acceptor timed out a connector that was busy computing) lost nothing and
//! is simply retried.

use sha2::{Digest, Sha256};

use crate::Rank;

/// Length of the acceptor's challenge.
pub(crate) const NONCE_LEN: usize = 32;
const MAGIC: [u8; 4] = *b"RMPT";
const VERSION: u16 = 1;
const MAC_LEN: usize = 32;
/// Bytes of the hello before the job string.
const FIXED: usize = 4 + 2 + 4 + 4 + 2;
/// Longest job id carried in a hello.
pub(crate) const MAX_JOB_LEN: usize = 1024;

/// Length of the acceptor's proof.
pub(crate) const ACK_LEN: usize = 32;

/// The acceptor's proof that it knows the secret, for connector `src`.
pub(crate) fn encode_ack(secret: &[u8], nonce: &[u8], src: Rank, dst: Rank) -> [u8; ACK_LEN] {
    let mut h = Sha256::new();
    h.update(b"rmpi-tcp-ack");
    h.update(secret);
    h.update(nonce);
    h.update(src.to_le_bytes());
    h.update(dst.to_le_bytes());
    h.finalize().into()
}

/// Check the acceptor's proof (constant time).
pub(crate) fn check_ack(got: &[u8], secret: &[u8], nonce: &[u8], src: Rank, dst: Rank) -> bool {
    let want = encode_ack(secret, nonce, src, dst);
    got.len() == ACK_LEN && want.iter().zip(got).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// A fresh random challenge.
pub(crate) fn new_nonce() -> [u8; NONCE_LEN] {
    rand::random()
}

fn mac(secret: &[u8], nonce: &[u8], src: Rank, dst: Rank) -> [u8; MAC_LEN] {
    let mut h = Sha256::new();
    h.update(secret);
    h.update(nonce);
    h.update(src.to_le_bytes());
    h.update(dst.to_le_bytes());
    h.finalize().into()
}

/// The connector's answer to `nonce`.
pub(crate) fn encode_hello(src: Rank, dst: Rank, job: &str, secret: &[u8], nonce: &[u8]) -> Vec<u8> {
    let job = &job.as_bytes()[..job.len().min(MAX_JOB_LEN)];
    let mut v = Vec::with_capacity(FIXED + job.len() + MAC_LEN);
    v.extend_from_slice(&MAGIC);
    v.extend_from_slice(&VERSION.to_le_bytes());
    v.extend_from_slice(&src.to_le_bytes());
    v.extend_from_slice(&dst.to_le_bytes());
    v.extend_from_slice(&(job.len() as u16).to_le_bytes());
    v.extend_from_slice(job);
    v.extend_from_slice(&mac(secret, nonce, src, dst));
    v
}

/// What the acceptor made of the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Hello {
    /// Need more bytes.
    Incomplete,
    /// Valid: the connector is `src`; the hello took `len` bytes.
    Valid { src: Rank, len: usize },
    /// Invalid; close the connection.
    Rejected(&'static str),
}

/// Check a hello at the start of `buf` against what this acceptor expects.
pub(crate) fn check_hello(buf: &[u8], me: Rank, job: &str, secret: &[u8], nonce: &[u8]) -> Hello {
    let need_fixed = FIXED.min(buf.len());
    if buf[..need_fixed.min(4)] != MAGIC[..need_fixed.min(4)] {
        return Hello::Rejected("bad magic");
    }
    if buf.len() < FIXED {
        return Hello::Incomplete;
    }
    let u16_at = |i: usize| u16::from_le_bytes([buf[i], buf[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes(buf[i..i + 4].try_into().expect("a 4-byte slice"));
    if u16_at(4) != VERSION {
        return Hello::Rejected("unsupported version");
    }
    let src = u32_at(6);
    let dst = u32_at(10);
    let job_len = u16_at(14) as usize;
    if job_len > MAX_JOB_LEN {
        return Hello::Rejected("job id too long");
    }
    let len = FIXED + job_len + MAC_LEN;
    if buf.len() < len {
        return Hello::Incomplete;
    }
    if dst != me {
        return Hello::Rejected("addressed to another rank");
    }
    let want_job = &job.as_bytes()[..job.len().min(MAX_JOB_LEN)];
    if &buf[FIXED..FIXED + job_len] != want_job {
        return Hello::Rejected("another job");
    }
    let want = mac(secret, nonce, src, dst);
    let got = &buf[FIXED + job_len..len];
    // Constant-time comparison.
    let diff = want.iter().zip(got).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if diff != 0 {
        return Hello::Rejected("wrong secret");
    }
    Hello::Valid { src, len }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_hello_is_accepted_at_any_split() {
        let nonce = new_nonce();
        let h = encode_hello(3, 7, "job-1", b"s3cret", &nonce);
        for cut in 0..h.len() {
            assert_eq!(check_hello(&h[..cut], 7, "job-1", b"s3cret", &nonce), Hello::Incomplete, "cut {cut}");
        }
        let mut with_data = h.clone();
        with_data.extend_from_slice(b"frames follow");
        assert_eq!(check_hello(&with_data, 7, "job-1", b"s3cret", &nonce), Hello::Valid { src: 3, len: h.len() });
    }

    #[test]
    fn ack_proves_the_secret() {
        let nonce = new_nonce();
        let ack = encode_ack(b"k", &nonce, 1, 2);
        assert!(check_ack(&ack, b"k", &nonce, 1, 2));
        assert!(!check_ack(&ack, b"other", &nonce, 1, 2));
        assert!(!check_ack(&ack, b"k", &nonce, 2, 1));
        assert!(!check_ack(&ack[..31], b"k", &nonce, 1, 2));
        let hello = encode_hello(1, 2, "j", b"k", &nonce);
        assert!(!check_ack(&hello[hello.len() - 32..], b"k", &nonce, 1, 2));
    }

    #[test]
    fn wrong_secret_nonce_rank_job_or_magic_are_rejected() {
        let nonce = new_nonce();
        let h = encode_hello(3, 7, "job-1", b"s3cret", &nonce);
        assert_eq!(check_hello(&h, 7, "job-1", b"other", &nonce), Hello::Rejected("wrong secret"));
        assert_eq!(check_hello(&h, 7, "job-1", b"s3cret", &new_nonce()), Hello::Rejected("wrong secret"));
        assert_eq!(check_hello(&h, 8, "job-1", b"s3cret", &nonce), Hello::Rejected("addressed to another rank"));
        assert_eq!(check_hello(&h, 7, "job-2", b"s3cret", &nonce), Hello::Rejected("another job"));
        assert_eq!(check_hello(b"GET / HTTP/1.1", 7, "job-1", b"s3cret", &nonce), Hello::Rejected("bad magic"));
        assert_eq!(check_hello(b"R", 7, "job-1", b"s3cret", &nonce), Hello::Incomplete);
        assert_eq!(check_hello(b"X", 7, "job-1", b"s3cret", &nonce), Hello::Rejected("bad magic"));
    }
}
