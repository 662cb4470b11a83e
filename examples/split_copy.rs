//! Large messages between two ranks, the path the split copy takes (the
//! receiver reads the head of a single-copy message while the sender
//! writes its tail): sizes around its 32 KiB default threshold and 64 KiB,
//! odd sizes up to 4 MiB, a window of many nonblocking sends and receives
//! at once, both directions at once, truncation, ANY_SOURCE and matched
//! probes. Every
//! byte is checked, and the bytes just past each receive buffer stay as
//! they were. Needs 2 ranks. Rank 1 prints `rank 1: split ok splits=N`
//! (receives whose copy the sender shared), rank 0 `rank 0: split ok`.

use rmpi_runtime::api::{self, ANY_SOURCE};
use rmpi_runtime::{SendMode, ThreadLevel, COMM_WORLD as W};

fn check(cond: bool, what: &str) {
    if !cond {
        let rank = api::comm_rank(W).unwrap_or(-1);
        eprintln!("rank {rank}: check failed: {what}");
        api::abort(W, 1, &format!("check failed: {what}"));
    }
}

/// Byte `i` of message `seq`.
fn byte(seq: usize, i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 7) as u8 ^ (seq as u8).wrapping_mul(37)
}

fn payload(seq: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| byte(seq, i)).collect()
}

const GUARD: usize = 4096;
const FILL: u8 = 0x5A;

/// A receive buffer of `cap` bytes followed by guard bytes.
fn recv_buf(cap: usize) -> Vec<u8> {
    vec![FILL; cap + GUARD]
}

fn check_recv(buf: &[u8], cap: usize, seq: usize, got: usize, what: &str) {
    if let Some(i) = (0..got).find(|&i| buf[i] != byte(seq, i)) {
        check(false, &format!("{what}: message {seq} byte {i} of {got} wrong"));
    }
    check(buf[got..cap + GUARD].iter().all(|&b| b == FILL), &format!("{what}: message {seq} wrote past its bytes"));
}

const SIZES: [usize; 15] = [
    32_767, 32_768, 32_769, 65_535, 65_536, 65_537, 69_631, 100_003, 131_072, 262_161, 524_287, 1_048_577, 2_097_152,
    3_000_001, 4_194_301,
];

fn main() {
    api::init(ThreadLevel::Single).expect("init");
    let me = api::comm_rank(W).unwrap();
    check(api::comm_size(W).unwrap() == 2, "needs 2 ranks");
    let peer = 1 - me;

    // 1. One message at a time, every size, blocking on both sides.
    for (seq, &len) in SIZES.iter().enumerate() {
        if me == 0 {
            api::send(&payload(seq, len), 1, 1, W, SendMode::Standard).unwrap();
        } else {
            let mut b = recv_buf(len);
            let st = api::recv(&mut b[..len], 0, 1, W).unwrap();
            check(st.count == len && !st.truncated, &format!("size {len}: status"));
            check_recv(&b, len, seq, len, "one at a time");
        }
    }
    api::barrier(W).unwrap();

    // 2. A window of 48 nonblocking messages of mixed sizes; half the
    //    receives posted before the sends start, half after.
    let lens: Vec<usize> = (0..48).map(|i| SIZES[(i * 5) % SIZES.len()] / (1 + i % 3)).collect();
    if me == 0 {
        let msgs: Vec<Vec<u8>> = lens.iter().enumerate().map(|(i, &l)| payload(100 + i, l)).collect();
        api::barrier(W).unwrap();
        let reqs: Vec<_> = msgs
            .iter()
            .map(|m| Some(unsafe { api::isend(m.as_ptr(), m.len(), 1, 2, W, SendMode::Standard) }.unwrap()))
            .collect();
        api::wait_all(&reqs).unwrap();
    } else {
        let mut bufs: Vec<Vec<u8>> = lens.iter().map(|&l| recv_buf(l)).collect();
        let mut reqs = Vec::new();
        for (i, b) in bufs.iter_mut().enumerate().take(24) {
            reqs.push(Some(unsafe { api::irecv(b.as_mut_ptr(), lens[i], 0, 2, W) }.unwrap()));
        }
        api::barrier(W).unwrap();
        for (i, b) in bufs.iter_mut().enumerate().skip(24) {
            reqs.push(Some(unsafe { api::irecv(b.as_mut_ptr(), lens[i], 0, 2, W) }.unwrap()));
        }
        let sts = api::wait_all(&reqs).unwrap();
        for (i, st) in sts.iter().enumerate() {
            check(st.count == lens[i], &format!("window message {i}: count {} of {}", st.count, lens[i]));
            check_recv(&bufs[i], lens[i], 100 + i, lens[i], "window");
        }
    }
    api::barrier(W).unwrap();

    // 3. Both directions at once: 16 each way, receives posted first (the
    //    senders are busy, so they offer no split) and then sends first.
    for receives_first in [true, false] {
        let n = 16;
        let len = 300_007;
        let out: Vec<Vec<u8>> = (0..n).map(|i| payload(200 + 2 * i + me as usize, len)).collect();
        let mut inb: Vec<Vec<u8>> = (0..n).map(|_| recv_buf(len)).collect();
        let mut reqs = Vec::new();
        let post_recvs = |inb: &mut Vec<Vec<u8>>, reqs: &mut Vec<_>| {
            for b in inb.iter_mut() {
                reqs.push(Some(unsafe { api::irecv(b.as_mut_ptr(), len, peer, 3, W) }.unwrap()));
            }
        };
        if receives_first {
            post_recvs(&mut inb, &mut reqs);
        }
        for m in &out {
            reqs.push(Some(unsafe { api::isend(m.as_ptr(), len, peer, 3, W, SendMode::Standard) }.unwrap()));
        }
        if !receives_first {
            post_recvs(&mut inb, &mut reqs);
        }
        api::wait_all(&reqs).unwrap();
        for (i, b) in inb.iter().enumerate() {
            check_recv(b, len, 200 + 2 * i + peer as usize, len, "both directions");
        }
        api::barrier(W).unwrap();
    }

    // 4. Truncation: 1 MiB + 3 into buffers of 700,001 and 65,536 bytes;
    //    ANY_SOURCE; a matched probe; a synchronous send.
    if me == 0 {
        for (seq, len) in [(300, 1_048_579), (301, 1_048_579), (302, 500_001), (303, 777_777), (304, 262_144)] {
            let mode = if seq == 304 { SendMode::Synchronous } else { SendMode::Standard };
            api::send(&payload(seq, len), 1, 4, W, mode).unwrap();
        }
    } else {
        let mut b = recv_buf(700_001);
        let st = api::recv(&mut b[..700_001], 0, 4, W).unwrap();
        check(st.truncated && st.count == 700_001, "truncated to 700,001: status");
        check_recv(&b, 700_001, 300, 700_001, "truncated to 700,001");
        let mut b = recv_buf(65_536);
        let st = api::recv(&mut b[..65_536], 0, 4, W).unwrap();
        check(st.truncated && st.count == 65_536, "truncated to 65,536: status");
        check_recv(&b, 65_536, 301, 65_536, "truncated to 65,536");
        let mut b = recv_buf(600_000);
        let st = api::recv(&mut b[..600_000], ANY_SOURCE, 4, W).unwrap();
        check(st.source == 0 && st.count == 500_001 && !st.truncated, "ANY_SOURCE: status");
        check_recv(&b, 600_000, 302, 500_001, "ANY_SOURCE");
        let (msg, st) = api::mprobe(0, 4, W).unwrap();
        check(st.count == 777_777, "matched probe: length");
        let mut b = recv_buf(777_777);
        let st = api::mrecv(&mut b[..777_777], msg).unwrap();
        check(st.count == 777_777, "matched receive: status");
        check_recv(&b, 777_777, 303, 777_777, "matched receive");
        let mut b = recv_buf(262_144);
        api::recv(&mut b[..262_144], 0, 4, W).unwrap();
        check_recv(&b, 262_144, 304, 262_144, "synchronous");
    }
    api::barrier(W).unwrap();

    if me == 1 {
        println!("rank 1: split ok splits={}", api::split_copies().unwrap());
    } else {
        println!("rank 0: split ok");
    }
    api::finalize().expect("finalize");
}
