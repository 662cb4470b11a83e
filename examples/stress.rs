//! Point-to-point under load.
//!
//! `stress --messages M --max-size BYTES --seed S [--window W]`
//!
//! The job exchanges M messages in total (message g is sent by rank g mod N,
//! so each rank sends about M/N and receives about as many). Every rank
//! derives the whole schedule from the seed: for each message its
//! destination (a random other rank), its size (log-uniform in
//! 0..=BYTES), its tag (random), and whether its receive is specific or a
//! wildcard. Specific receives name (source, tag) on one duplicate of the
//! world; wildcard messages travel on another duplicate and are received
//! with ANY_SOURCE / ANY_TAG into buffers large enough for any of them
//! (wildcard messages are at least 16 bytes, for their header).
//!
//! A payload is a deterministic function of (source, destination, per-pair
//! sequence number): a 16-byte header (seq, length, source, destination)
//! then bytes from a seeded table. The receiver checks every byte, the
//! length, source and tag; specific receives must get exactly the message
//! they were posted for, and wildcard receives from one source must get
//! that source's messages in increasing sequence order (MPI's
//! non-overtaking rule).
//!
//! `--corrupt K` is a self-test of the checks: rank 0 flips the last byte of
//! its K-th send (counting from 0; skipped if that message is empty), and
//! the job must then fail.
//!
//! Each rank keeps at most W sends, W specific receives and W wildcard
//! receives outstanding (default 8). Sends and specific receives are posted
//! in the schedule's global order; wildcard receives are kept posted while
//! wildcard messages remain. Then the earliest unfinished message always has
//! both its send and a receive that can match it posted: no deadlock.
//! Prints `stress ok: rank R sent S received Q` on success; exits non-zero
//! with a message on the first failed check.

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rmpi::prelude::*;
use rmpi::request::OwnedRequest;

mod common;

const HEADER: usize = 16;

/// One scheduled message as one rank sees it: `peer` is the destination
/// (for sends) or the source (for receives).
#[derive(Clone, Copy, Debug)]
struct Msg {
    peer: i32,
    size: usize,
    tag: i32,
    wild: bool,
    seq: u32,
}

struct Schedule {
    sends: Vec<Msg>,
    recvs: Vec<Msg>,
}

fn schedule(n: usize, me: usize, messages: usize, max_size: usize, seed: u64) -> Schedule {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut seq = vec![0u32; n * n];
    let (mut sends, mut recvs) = (Vec::new(), Vec::new());
    let ln_span = ((max_size + 1) as f64).ln();
    for g in 0..messages {
        let src = g % n;
        let dst = if n == 1 {
            0
        } else {
            let d = rng.gen_range(0..n - 1);
            if d >= src {
                d + 1
            } else {
                d
            }
        };
        let u: f64 = rng.gen();
        let mut size = ((u * ln_span).exp().floor() as usize).saturating_sub(1).min(max_size);
        let wild = rng.gen_bool(0.5);
        if wild {
            size = size.max(HEADER);
        }
        let tag = rng.gen_range(0..=32767);
        let s = &mut seq[src * n + dst];
        let m = Msg { peer: 0, size, tag, wild, seq: *s };
        *s += 1;
        if src == me {
            sends.push(Msg { peer: dst as i32, ..m });
        }
        if dst == me {
            recvs.push(Msg { peer: src as i32, ..m });
        }
    }
    Schedule { sends, recvs }
}

/// The payload table and the per-message key.
struct Payload {
    table: Vec<u8>,
}

fn mix(src: u32, dst: u32, seq: u32) -> u64 {
    let mut x = ((src as u64) << 40) ^ ((dst as u64) << 20) ^ seq as u64 ^ 0x9e37_79b9_7f4a_7c15;
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Payload {
    fn new(max_size: usize, seed: u64) -> Payload {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed);
        let mut table = vec![0u8; max_size + 256];
        rng.fill(&mut table[..]);
        Payload { table }
    }

    fn header(src: u32, dst: u32, seq: u32, len: usize) -> [u8; HEADER] {
        let mut h = [0u8; HEADER];
        h[0..4].copy_from_slice(&seq.to_le_bytes());
        h[4..8].copy_from_slice(&(len as u32).to_le_bytes());
        h[8..12].copy_from_slice(&src.to_le_bytes());
        h[12..16].copy_from_slice(&dst.to_le_bytes());
        h
    }

    /// (offset into the table, xor key) of a message's body.
    fn body_key(src: u32, dst: u32, seq: u32) -> (usize, u8) {
        let k = mix(src, dst, seq);
        ((k % 241) as usize, (k >> 32) as u8)
    }

    fn fill(&self, buf: &mut [u8], src: u32, dst: u32, seq: u32) {
        let h = Self::header(src, dst, seq, buf.len());
        let hl = HEADER.min(buf.len());
        buf[..hl].copy_from_slice(&h[..hl]);
        let (off, key) = Self::body_key(src, dst, seq);
        let body = &mut buf[hl..];
        let n = body.len();
        for (b, t) in body.iter_mut().zip(&self.table[off..off + n]) {
            *b = t ^ key;
        }
    }

    /// Index of the first wrong byte, if any.
    fn check(&self, buf: &[u8], src: u32, dst: u32, seq: u32) -> Option<usize> {
        let h = Self::header(src, dst, seq, buf.len());
        let hl = HEADER.min(buf.len());
        if let Some(i) = (0..hl).find(|&i| buf[i] != h[i]) {
            return Some(i);
        }
        let (off, key) = Self::body_key(src, dst, seq);
        let body = &buf[hl..];
        let table = &self.table[off..off + body.len()];
        let bad = body.iter().zip(table).any(|(b, t)| *b != t ^ key);
        if bad {
            body.iter().zip(table).position(|(b, t)| *b != t ^ key).map(|i| i + hl)
        } else {
            None
        }
    }
}

enum Slot {
    Send,
    Specific(usize),
    Wild(usize),
}

fn main() {
    let args = common::Args::parse();
    let messages: usize = args.get("messages", 10_000);
    let max_size: usize = args.get("max-size", 65536);
    let seed: u64 = args.get("seed", 1);
    let window: usize = args.get("window", 8).max(1);
    let corrupt: Option<usize> = Some(args.get("corrupt", usize::MAX)).filter(|&k| k != usize::MAX);

    let universe = rmpi::initialize().expect("MPI is initialized once");
    let world = universe.world();
    let (me, n) = (world.rank(), world.size() as usize);
    let specific = world.duplicate();
    let wildcard = world.duplicate();
    let sched = schedule(n, me as usize, messages, max_size, seed);
    let payload = Payload::new(max_size.max(HEADER), seed);
    let wild_cap = sched.recvs.iter().filter(|m| m.wild).map(|m| m.size).max().unwrap_or(0);
    let mut wild_expected: HashMap<(i32, u32), (usize, i32)> =
        sched.recvs.iter().filter(|m| m.wild).map(|m| ((m.peer, m.seq), (m.size, m.tag))).collect();
    // (post index, source, seq) of every wildcard receive, for the order check.
    let mut wild_got: Vec<(usize, i32, u32)> = Vec::new();
    let mut wild_pool: Vec<Vec<u8>> = Vec::new();

    let mut reqs: RequestCollection<OwnedRequest<Vec<u8>>> = RequestCollection::new();
    let mut slots: HashMap<usize, Slot> = HashMap::new();
    let (mut next_send, mut sends_out) = (0, 0);
    // Specific receives are posted in the schedule's order; wildcard
    // receives have their own window, kept full while wildcard messages
    // remain. (A wildcard receive posted "for" one message may take another:
    // sharing one window, the receiver could move on to specific receives
    // while a rendezvous wildcard message waits with no receive posted.)
    let specific_recvs: Vec<usize> = (0..sched.recvs.len()).filter(|&k| !sched.recvs[k].wild).collect();
    let wild_total = sched.recvs.len() - specific_recvs.len();
    let (mut next_spec, mut spec_out, mut wild_out) = (0, 0, 0);
    let (mut sent, mut received) = (0usize, 0usize);
    let mut wild_posted = 0usize;

    while next_send < sched.sends.len()
        || next_spec < specific_recvs.len()
        || wild_posted < wild_total
        || !reqs.is_empty()
    {
        while sends_out < window && next_send < sched.sends.len() {
            let m = sched.sends[next_send];
            let mut buf = vec![0u8; m.size];
            payload.fill(&mut buf, me as u32, m.peer as u32, m.seq);
            if me == 0 && corrupt == Some(next_send) {
                if let Some(b) = buf.last_mut() {
                    *b ^= 0x40;
                }
            }
            let comm = if m.wild { &wildcard } else { &specific };
            let r = comm.process_at_rank(m.peer).immediate_send_owned(buf, m.tag);
            slots.insert(reqs.push(r), Slot::Send);
            next_send += 1;
            sends_out += 1;
        }
        while spec_out < window && next_spec < specific_recvs.len() {
            let k = specific_recvs[next_spec];
            let m = sched.recvs[k];
            let r = specific.process_at_rank(m.peer).immediate_receive_owned(vec![0u8; m.size], m.tag);
            slots.insert(reqs.push(r), Slot::Specific(k));
            next_spec += 1;
            spec_out += 1;
        }
        while wild_out < window && wild_posted < wild_total {
            let buf = wild_pool.pop().unwrap_or_else(|| vec![0u8; wild_cap]);
            let r = wildcard.any_process().immediate_receive_owned(buf, ANY_TAG);
            slots.insert(reqs.push(r), Slot::Wild(wild_posted));
            wild_posted += 1;
            wild_out += 1;
        }
        for (i, (buf, st)) in reqs.wait_some() {
            match slots.remove(&i).expect("every slot is tracked") {
                Slot::Send => {
                    sends_out -= 1;
                    sent += 1;
                }
                Slot::Specific(k) => {
                    spec_out -= 1;
                    received += 1;
                    let m = sched.recvs[k];
                    if st.source_rank() != m.peer || st.tag() != m.tag || st.count_bytes() != m.size {
                        common::fail(
                            &world,
                            &format!(
                                "specific receive #{k} expected (src {}, tag {}, {} bytes), got (src {}, tag {}, {} bytes)",
                                m.peer,
                                m.tag,
                                m.size,
                                st.source_rank(),
                                st.tag(),
                                st.count_bytes()
                            ),
                        );
                    }
                    if let Some(at) = payload.check(&buf, m.peer as u32, me as u32, m.seq) {
                        common::fail(
                            &world,
                            &format!(
                                "message seq {} from rank {} ({} bytes) wrong at byte {at}",
                                m.seq, m.peer, m.size
                            ),
                        );
                    }
                }
                Slot::Wild(post) => {
                    wild_out -= 1;
                    received += 1;
                    let len = st.count_bytes();
                    if len < HEADER {
                        common::fail(&world, &format!("wildcard message of {len} bytes has no header"));
                    }
                    let field = |i: usize| u32::from_le_bytes(buf[i..i + 4].try_into().expect("4 bytes"));
                    let (seq, hlen, src, dst) = (field(0), field(4) as usize, field(8) as i32, field(12) as i32);
                    if src != st.source_rank() || dst != me || hlen != len {
                        common::fail(
                            &world,
                            &format!(
                                "wildcard message header (src {src}, dst {dst}, len {hlen}) disagrees with status (src {}, dst {me}, len {len})",
                                st.source_rank()
                            ),
                        );
                    }
                    match wild_expected.remove(&(src, seq)) {
                        Some((size, tag)) if size == len && tag == st.tag() => {}
                        Some((size, tag)) => common::fail(
                            &world,
                            &format!(
                                "wildcard message seq {seq} from {src}: expected {size} bytes tag {tag}, got {len} bytes tag {}",
                                st.tag()
                            ),
                        ),
                        None => common::fail(&world, &format!("unexpected or repeated wildcard message seq {seq} from {src}")),
                    }
                    if let Some(at) = payload.check(&buf[..len], src as u32, me as u32, seq) {
                        common::fail(
                            &world,
                            &format!("message seq {seq} from rank {src} ({len} bytes) wrong at byte {at}"),
                        );
                    }
                    wild_got.push((post, src, seq));
                    wild_pool.push(buf);
                }
            }
        }
    }

    if !wild_expected.is_empty() {
        common::fail(&world, &format!("{} wildcard messages never arrived", wild_expected.len()));
    }
    wild_got.sort_unstable();
    let mut last: HashMap<i32, u32> = HashMap::new();
    for &(post, src, seq) in &wild_got {
        if let Some(&prev) = last.get(&src) {
            if seq <= prev {
                common::fail(
                    &world,
                    &format!(
                        "wildcard receive #{post} got seq {seq} from {src} after an earlier receive got seq {prev}"
                    ),
                );
            }
        }
        last.insert(src, seq);
    }
    if sent != sched.sends.len() || received != sched.recvs.len() {
        common::fail(&world, "operation counts disagree with the schedule");
    }
    println!("stress ok: rank {me} sent {sent} received {received}");
}
