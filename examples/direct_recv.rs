//! The direct receive (a blocking receive from a shared-memory peer that
//! takes a plain eager message straight from the ring) mixed with every
//! path that must keep working beside it: per-source order across eager,
//! synchronous and rendezvous messages and across blocking, nonblocking
//! and wildcard receives; a receive posted earlier keeps its claim; an
//! older unexpected message is matched first; truncation, ANY_TAG, empty
//! messages. Needs 2 or 3 ranks (rank 2, if present, sends a second
//! stream that rank 0 drains with ANY_SOURCE receives). Prints
//! `rank R: direct ok`.
//!
//! `--messages N` sets the length of rank 1's stream (default 3000).

use rmpi_runtime::api::{self, ANY_SOURCE, ANY_TAG};
use rmpi_runtime::{SendMode, ThreadLevel, COMM_WORLD as W};

fn check(cond: bool, what: &str) {
    if !cond {
        let rank = api::comm_rank(W).unwrap_or(-1);
        eprintln!("rank {rank}: check failed: {what}");
        api::abort(W, 1, &format!("check failed: {what}"));
    }
}

/// Sizes of the stream's messages: short eager (one ring line), longer
/// eager, and rendezvous.
const SIZES: [usize; 7] = [4, 8, 40, 41, 100, 4000, 70_000];

fn payload(seq: u32, from: i32) -> Vec<u8> {
    let n = SIZES[seq as usize % SIZES.len()];
    let mut v: Vec<u8> = (0..n).map(|i| (i as u32).wrapping_mul(31).wrapping_add(seq) as u8 ^ from as u8).collect();
    v[..4].copy_from_slice(&seq.to_le_bytes());
    v
}

fn send_stream(me: i32, n: u32) {
    for seq in 0..n {
        let p = payload(seq, me);
        let mode = if seq % 11 == 5 { SendMode::Synchronous } else { SendMode::Standard };
        if seq % 13 == 3 {
            let r = unsafe { api::isend(p.as_ptr(), p.len(), 0, 7, W, mode) }.unwrap();
            api::wait(r).unwrap();
        } else {
            api::send(&p, 0, 7, W, mode).unwrap();
        }
    }
}

fn main() {
    api::init(ThreadLevel::Multiple).expect("init");
    let me = api::comm_rank(W).unwrap();
    let n = api::comm_size(W).unwrap();
    check(n == 2 || n == 3, "needs 2 or 3 ranks");
    let mut args = std::env::args().skip(1);
    let mut stream = 3000u32;
    while let Some(a) = args.next() {
        if a == "--messages" {
            stream = args.next().and_then(|v| v.parse().ok()).expect("--messages N");
        }
    }
    let second = if n == 3 { stream / 2 } else { 0 };

    // 1. Per-source order across paths. Rank 0 mixes blocking receives from
    //    a named source, ANY_SOURCE / ANY_TAG receives and irecv + wait.
    if me == 0 {
        let mut next = [0u32; 3];
        let total = [0, stream, second];
        let mut buf = vec![0u8; 70_000];
        for i in 0..stream + second {
            let left = |s: usize| next[s] < total[s];
            let (src, tag) = if i % 3 == 0 {
                (ANY_SOURCE, if i % 2 == 0 { ANY_TAG } else { 7 })
            } else if left(1) {
                (1, if i % 5 == 1 { ANY_TAG } else { 7 })
            } else {
                (2, 7)
            };
            let st = if i % 7 == 4 {
                let r = unsafe { api::irecv(buf.as_mut_ptr(), buf.len(), src, tag, W) }.unwrap();
                api::wait(r).unwrap()
            } else {
                api::recv(&mut buf, src, tag, W).unwrap()
            };
            let s = st.source as usize;
            check(s == 1 || s == 2, "a stream message's source");
            check(st.tag == 7 && !st.truncated, "a stream message's status");
            let want = payload(next[s], st.source);
            check(
                st.count == want.len(),
                &format!("message {} from {s}: length {} of {}", next[s], st.count, want.len()),
            );
            check(buf[..st.count] == want[..], &format!("message {} from {s} out of order or damaged", next[s]));
            next[s] += 1;
        }
    } else if me == 1 {
        send_stream(me, stream);
    } else {
        send_stream(me, second);
    }
    api::barrier(W).unwrap();

    // 2. A receive posted before the messages came keeps its claim on the
    //    first; the blocking receive after it gets the second.
    if me == 0 {
        let mut first = [0u8; 8];
        let r = unsafe { api::irecv(first.as_mut_ptr(), first.len(), 1, 9, W) }.unwrap();
        api::barrier(W).unwrap();
        let mut second = [0u8; 8];
        let st = api::recv(&mut second, 1, 9, W).unwrap();
        check(second == [2; 8] && st.count == 8, "blocking receive after a posted one gets the second message");
        let st = api::wait(r).unwrap();
        check(first == [1; 8] && st.count == 8, "posted receive gets the first message");
    } else {
        api::barrier(W).unwrap();
        if me == 1 {
            api::send(&[1; 8], 0, 9, W, SendMode::Standard).unwrap();
            api::send(&[2; 8], 0, 9, W, SendMode::Standard).unwrap();
        }
    }
    api::barrier(W).unwrap();

    // 3. Tags out of order: the message at the ring's head is not the one
    //    asked for, then older unexpected messages come first.
    if me == 1 {
        api::send(b"one", 0, 10, W, SendMode::Standard).unwrap();
        api::send(b"yes", 0, 11, W, SendMode::Standard).unwrap();
        api::send(b"two", 0, 10, W, SendMode::Standard).unwrap();
    } else if me == 0 {
        let mut b = [0u8; 3];
        let st = api::recv(&mut b, 1, 11, W).unwrap();
        check(&b == b"yes" && st.tag == 11, "receive by tag skips the older message");
        api::recv(&mut b, 1, 10, W).unwrap();
        check(&b == b"one", "the older message first");
        api::recv(&mut b, 1, 10, W).unwrap();
        check(&b == b"two", "then the newer");
    }
    api::barrier(W).unwrap();

    // 4. Truncation, ANY_TAG and an empty message, then more traffic (the
    //    credit of the truncated message came back).
    if me == 1 {
        api::send(&[5, 6, 7, 8, 9, 10, 11, 12], 0, 12, W, SendMode::Standard).unwrap();
        api::send(&[3; 20], 0, 14, W, SendMode::Standard).unwrap();
        api::send(&[], 0, 13, W, SendMode::Standard).unwrap();
        for i in 0..2000u32 {
            api::send(&i.to_le_bytes(), 0, 15, W, SendMode::Standard).unwrap();
        }
    } else if me == 0 {
        let mut small = [0u8; 4];
        let st = api::recv(&mut small, 1, 12, W).unwrap();
        check(st.truncated && st.count == 4 && small == [5, 6, 7, 8], "truncated message: status and prefix");
        let mut b = [0u8; 32];
        let st = api::recv(&mut b, 1, ANY_TAG, W).unwrap();
        check(st.tag == 14 && st.count == 20 && b[..20] == [3; 20] && !st.truncated, "ANY_TAG receive");
        let st = api::recv(&mut b, 1, 13, W).unwrap();
        check(st.count == 0 && st.tag == 13 && st.source == 1, "empty message");
        for i in 0..2000u32 {
            let st = api::recv(&mut b, 1, 15, W).unwrap();
            check(st.count == 4 && b[..4] == i.to_le_bytes(), "traffic after truncation");
        }
    }

    println!("rank {me}: direct ok");
    api::finalize().expect("finalize");
}
