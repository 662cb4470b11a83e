//! Windows of many outstanding large messages, as a bandwidth benchmark
//! sends them: rank 0 starts `--window` nonblocking sends of one tag and
//! waits for them all, rank 1 has as many receives posted (each into a
//! buffer of its own) and answers with a short message once they are all
//! complete (in odd rounds rank 0 waits for that answer before it waits
//! for its sends); `--rounds` times. Sizes cycle through a list around the
//! protocol thresholds (eager limit, the TCP transport's packet size and
//! read sizes), shifted by one per round, so every window mixes eager and
//! rendezvous messages and several packets go out together. Every
//! message's length and every byte are checked, and the i-th receive must
//! get the i-th send (MPI's order for one source and tag). Needs 2 ranks.
//! Prints `rank R: window ok`.
//!
//! `--window W` (default 64), `--rounds K` (default 6), `--sizes a,b,...`
//! (default: the list below).

use rmpi_runtime::api;
use rmpi_runtime::{SendMode, ThreadLevel, COMM_WORLD as W};

fn check(cond: bool, what: &str) {
    if !cond {
        let rank = api::comm_rank(W).unwrap_or(-1);
        eprintln!("rank {rank}: check failed: {what}");
        api::abort(W, 1, &format!("check failed: {what}"));
    }
}

/// Around 64 KiB (the TCP eager limit and read size), 256 KiB (the TCP
/// low-water mark), 1 MiB (a TCP packet: one byte more needs two chunks),
/// and short control-sized ones between them.
const SIZES: [usize; 12] = [65_535, 65_536, 65_537, 262_143, 262_144, 262_145, 1_048_528, 1_048_577, 1, 52, 300_000, 0];

fn byte(round: usize, seq: usize, i: usize) -> u8 {
    (i as u32).wrapping_mul(2_654_435_761).wrapping_add((round * 1000 + seq) as u32 * 97).to_le_bytes()[1]
}

fn main() {
    api::init(ThreadLevel::Single).expect("init");
    let me = api::comm_rank(W).unwrap();
    check(api::comm_size(W).unwrap() == 2, "needs 2 ranks");
    let (mut window, mut rounds, mut sizes) = (64usize, 6usize, SIZES.to_vec());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--window" => window = v.parse().expect("--window W"),
            "--rounds" => rounds = v.parse().expect("--rounds K"),
            "--sizes" => sizes = v.split(',').map(|s| s.parse().expect("--sizes a,b,...")).collect(),
            _ => panic!("unknown argument {a}"),
        }
    }
    for round in 0..rounds {
        let size_of = |seq: usize| sizes[(seq + round) % sizes.len()];
        if me == 0 {
            let bufs: Vec<Vec<u8>> =
                (0..window).map(|seq| (0..size_of(seq)).map(|i| byte(round, seq, i)).collect()).collect();
            let reqs: Vec<_> = bufs
                .iter()
                .map(|b| unsafe { api::isend(b.as_ptr(), b.len(), 1, 2, W, SendMode::Standard) }.expect("isend"))
                .collect();
            // Odd rounds: the answer is awaited first, so the sends must
            // progress inside a receive from the same peer.
            let mut ack = [0u8; 4];
            if round % 2 == 1 {
                api::recv(&mut ack, 1, 3, W).expect("ack");
            }
            for r in reqs {
                api::wait(r).expect("wait send");
            }
            if round % 2 == 0 {
                api::recv(&mut ack, 1, 3, W).expect("ack");
            }
            check(ack == (round as u32).to_le_bytes(), "the answer names the round");
        } else {
            // One byte of room more than the largest message, so a message
            // longer than its sender meant would show.
            let cap = sizes.iter().max().copied().unwrap_or(0) + 1;
            let mut bufs: Vec<Vec<u8>> = (0..window).map(|_| vec![0xA5u8; cap]).collect();
            let reqs: Vec<_> = bufs
                .iter_mut()
                .map(|b| unsafe { api::irecv(b.as_mut_ptr(), b.len(), 0, 2, W) }.expect("irecv"))
                .collect();
            for (seq, r) in reqs.into_iter().enumerate() {
                let st = api::wait(r).expect("wait recv");
                check(st.count == size_of(seq), &format!("round {round} message {seq}: length {}", st.count));
            }
            for (seq, b) in bufs.iter().enumerate() {
                let n = size_of(seq);
                let bad = (0..n).find(|&i| b[i] != byte(round, seq, i));
                check(bad.is_none(), &format!("round {round} message {seq} ({n} B): byte {bad:?} differs"));
                check(b[n] == 0xA5, &format!("round {round} message {seq}: written past its end"));
            }
            api::send(&(round as u32).to_le_bytes(), 0, 3, W, SendMode::Standard).expect("ack");
        }
    }
    println!("rank {me}: window ok");
    api::finalize().expect("finalize");
}
