//! Shared test kit: build groups of connected transports, generate and check
//! deterministic packets, pump transports with deadlines.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rmpi_transports::shm::{ShmConfig, ShmTransport};
use rmpi_transports::tcp::{TcpConfig, TcpTransport};
use rmpi_transports::{Rank, Transport, TransportError};

/// A transport per rank, index = rank.
pub type Group = Vec<Box<dyn Transport>>;

/// Generous deadline for anything a test waits on.
pub const DEADLINE: Duration = Duration::from_secs(20);

static NEXT_JOB: AtomicU32 = AtomicU32::new(0);

/// A job id unique to this test process and call.
pub fn unique_job(tag: &str) -> String {
    format!("test-{tag}-{}-{}", std::process::id(), NEXT_JOB.fetch_add(1, Ordering::Relaxed))
}

/// `n` shm transports on one "node", all attached to each other and
/// unlinked.
pub fn shm_group_with(n: usize, ring_bytes: Option<usize>) -> Vec<ShmTransport> {
    let job = unique_job("shm");
    let local: Vec<Rank> = (0..n as Rank).collect();
    let mut ts: Vec<ShmTransport> = local
        .iter()
        .map(|&r| {
            ShmTransport::create_with_ring_bytes(
                ShmConfig { job: job.clone(), rank: r, local_ranks: local.clone() },
                ring_bytes,
            )
            .unwrap()
        })
        .collect();
    let cards: Vec<String> = ts.iter().map(|t| t.card()).collect();
    for (i, t) in ts.iter_mut().enumerate() {
        for (j, c) in cards.iter().enumerate() {
            if i != j {
                t.attach(j as Rank, c).unwrap();
            }
        }
    }
    for t in &mut ts {
        t.unlink().unwrap();
    }
    ts
}

/// A boxed shm group with small rings (back-pressure comes quickly).
pub fn shm_group(n: usize) -> Group {
    shm_group_with(n, Some(64 * 1024)).into_iter().map(|t| Box::new(t) as Box<dyn Transport>).collect()
}

/// 64-bit mix (splitmix64) for deterministic pseudo-random test data.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// How big packet `seq` from `src` is: mostly small, some medium, some
/// exactly `max`, some uniform in `0..=max`; packet 0 is empty and packet 1
/// is `max`.
pub fn random_size(src: Rank, seq: u64, max: usize) -> usize {
    match seq {
        0 => return 0,
        1 => return max,
        _ => {}
    }
    let h = mix((src as u64) << 40 ^ seq);
    let r = (h >> 8) as usize;
    match h % 10 {
        0..=4 => r % 257.min(max + 1),
        5..=7 => r % (16 * 1024 + 1).min(max + 1),
        8 => max,
        _ => r % (max + 1),
    }
}

/// The bytes of packet `seq` from `src` with length `len`.
pub fn packet(src: Rank, seq: u64, len: usize) -> Vec<u8> {
    let seed = mix((src as u64) << 40 ^ seq ^ 0x5555);
    let mut v: Vec<u8> = (0..len).map(|i| (seed.wrapping_add(i as u64 * 0x9e37) >> 5) as u8).collect();
    // The first bytes carry src and seq when there is room, so a misordered
    // packet is reported clearly.
    if len >= 12 {
        v[..4].copy_from_slice(&src.to_le_bytes());
        v[4..12].copy_from_slice(&seq.to_le_bytes());
    }
    v
}

/// Send `p` as up to three parts (exercises the gather path).
pub fn send_parts(t: &mut dyn Transport, peer: Rank, p: &[u8]) -> Result<(), TransportError> {
    let a = p.len() / 3;
    let b = 2 * p.len() / 3;
    t.try_send(peer, &[&p[..a], &p[a..b], &p[b..]])
}

/// Checks per-source sequence and content of received packets.
pub struct Checker {
    pub next: Vec<u64>,
    pub size: fn(Rank, u64, usize) -> usize,
    pub max: usize,
}

impl Checker {
    pub fn new(nsrc: usize, size: fn(Rank, u64, usize) -> usize, max: usize) -> Self {
        Checker { next: vec![0; nsrc], size, max }
    }

    pub fn check(&mut self, src: Rank, got: &[u8]) {
        let seq = self.next[src as usize];
        let want = packet(src, seq, (self.size)(src, seq, self.max));
        assert_eq!(got.len(), want.len(), "length of packet {seq} from {src}");
        assert!(got == &want[..], "content of packet {seq} from {src}");
        self.next[src as usize] += 1;
    }
}

/// Call `f` until it returns true, failing the test after `DEADLINE`.
pub fn until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

/// The secret the TCP test groups share.
pub const SECRET: &[u8] = b"test secret";

/// `n` TCP transports on loopback that know each other's cards.
pub fn tcp_group_raw(n: usize) -> Vec<TcpTransport> {
    let job = unique_job("tcp");
    let mut ts: Vec<TcpTransport> = (0..n as Rank)
        .map(|r| {
            TcpTransport::bind(TcpConfig { rank: r, job: job.clone(), secret: SECRET.to_vec(), loopback_only: true })
                .unwrap()
        })
        .collect();
    let cards: Vec<String> = ts.iter().map(|t| t.card()).collect();
    for (i, t) in ts.iter_mut().enumerate() {
        for (j, c) in cards.iter().enumerate() {
            if i != j {
                t.add_peer(j as Rank, c, true).unwrap();
            }
        }
    }
    ts
}

/// A boxed TCP group.
pub fn tcp_group(n: usize) -> Group {
    tcp_group_raw(n).into_iter().map(|t| Box::new(t) as Box<dyn Transport>).collect()
}

/// `n` ofi transports over `provider` that know each other's cards, or
/// `None` (with a message) when libfabric is not installed.
pub fn ofi_group_raw(n: usize, provider: &str) -> Option<Vec<rmpi_transports::ofi::OfiTransport>> {
    use rmpi_transports::ofi::{OfiConfig, OfiTransport};
    if let Err(why) = rmpi_transports::ofi::library() {
        eprintln!("skipped: {why}");
        return None;
    }
    let mut ts: Vec<OfiTransport> = (0..n as Rank)
        .map(|r| {
            OfiTransport::open(OfiConfig {
                rank: r,
                secret: SECRET.to_vec(),
                fabric_only: false,
                provider: Some(provider.to_string()),
                loopback: true,
            })
            .unwrap()
        })
        .collect();
    let cards: Vec<String> = ts.iter().map(|t| t.card()).collect();
    for (i, t) in ts.iter_mut().enumerate() {
        for (j, c) in cards.iter().enumerate() {
            if i != j {
                t.add_peer(j as Rank, c).unwrap();
            }
        }
    }
    Some(ts)
}
