//! The runtime's blocking bcast, allreduce and alltoall at the sizes where
//! they run straight between the callers' buffers (around the threshold,
//! odd element counts, several MiB), checked against values each rank can
//! compute: every root, in place and not, element sizes 1, 4 and 8, sizes
//! changing from call to call (the kept scratch memory is reused), with
//! nonblocking collectives in flight across the blocking ones, and many
//! nonblocking alltoalls outstanding at once. Prints `rank R: big_collectives ok`.

use std::sync::Arc;

use rmpi_runtime::api::{self, coll_start};
use rmpi_runtime::engine::buffer::RecvBuf;
use rmpi_runtime::ops::{PredefOp, Prim};
use rmpi_runtime::{CollOut, Collective, ReduceOp, ThreadLevel, COMM_WORLD as W};

fn check(cond: bool, what: &str) {
    if !cond {
        let rank = api::comm_rank(W).unwrap_or(-1);
        eprintln!("rank {rank}: check failed: {what}");
        api::abort(W, 1, &format!("check failed: {what}"));
    }
}

fn op(o: PredefOp, p: Prim) -> Arc<dyn ReduceOp> {
    api::predefined_op(o, p).unwrap()
}

fn i64s(v: impl Iterator<Item = i64>) -> Vec<u8> {
    v.flat_map(|x| x.to_ne_bytes()).collect()
}

fn i32s(v: impl Iterator<Item = i32>) -> Vec<u8> {
    v.flat_map(|x| x.to_ne_bytes()).collect()
}

/// Byte `k` of the alltoall block rank `src` sends to rank `dst`.
fn a2a_byte(src: usize, dst: usize, k: usize) -> u8 {
    ((src * 31 + dst * 7 + k) % 251) as u8
}

fn alltoall_round(r: usize, n: usize, block: usize) {
    let send: Vec<u8> = (0..n).flat_map(|d| (0..block).map(move |k| a2a_byte(r, d, k))).collect();
    let mut recv = vec![0xeeu8; n * block];
    api::alltoall(&send, &mut recv, W).unwrap();
    let want: Vec<u8> = (0..n).flat_map(|s| (0..block).map(move |k| a2a_byte(s, r, k))).collect();
    check(recv == want, &format!("alltoall of {block}-byte blocks"));
}

fn main() {
    api::init(ThreadLevel::Single).unwrap();
    let r = api::comm_rank(W).unwrap() as usize;
    let n = api::comm_size(W).unwrap() as usize;
    let tri = (n * (n + 1) / 2) as i64;

    // Nonblocking collectives started before the blocking ones and finished
    // after them: their traffic must not match the blocking calls'.
    let mut nb_ar = vec![0u8; 8 * 5000];
    let nb_in = i64s((0..5000).map(|k| (r as i64 + 1) * k));
    let mut nb_a2a = vec![0u8; n * 3000];
    let nb_a2a_in: Vec<u8> = (0..n).flat_map(|d| (0..3000).map(move |k| a2a_byte(r, d, k))).collect();
    // SAFETY: the buffers outlive the requests, waited for below.
    let early = unsafe {
        let o1 = CollOut::whole(RecvBuf::new(nb_ar.as_mut_ptr(), nb_ar.len()));
        let o2 = CollOut::whole(RecvBuf::new(nb_a2a.as_mut_ptr(), nb_a2a.len()));
        let sum = op(PredefOp::Sum, Prim::I64);
        vec![
            Some(coll_start(W, Some(o1), |rk, sz| Collective::allreduce(rk, sz, nb_in.clone(), sum)).unwrap()),
            Some(coll_start(W, Some(o2), |rk, sz| Collective::alltoall(rk, sz, nb_a2a_in.clone())).unwrap()),
        ]
    };

    // Allreduce of i64 sums, sizes around the threshold and large, in place and not.
    for (i, count) in [2047usize, 2048, 2051, 100_003, 3, (1 << 19) + 7, 16_000, 1001].into_iter().enumerate() {
        let input = i64s((0..count).map(|k| (r as i64 + 1) * (k % 1000) as i64));
        let want = i64s((0..count).map(|k| tri * (k % 1000) as i64));
        let sum = op(PredefOp::Sum, Prim::I64);
        if i % 2 == 0 {
            let mut out = vec![0u8; input.len()];
            api::allreduce(&input, &mut out, sum, W).unwrap();
            check(out == want, &format!("allreduce of {count} i64"));
        } else {
            let mut buf = input;
            api::allreduce_in_place(&mut buf, sum, W).unwrap();
            check(buf == want, &format!("in-place allreduce of {count} i64"));
        }
    }
    // i32 max and u8 bitwise or: other element sizes.
    for count in [40_001usize, 5000] {
        let input = i32s((0..count).map(|k| ((k + r * 7) % 97) as i32));
        let want = i32s((0..count).map(|k| (0..n).map(|s| ((k + s * 7) % 97) as i32).max().unwrap()));
        let mut out = vec![0u8; input.len()];
        api::allreduce(&input, &mut out, op(PredefOp::Max, Prim::I32), W).unwrap();
        check(out == want, &format!("allreduce max of {count} i32"));
    }
    let input: Vec<u8> = (0..70_001).map(|k| 1u8 << ((k + r) % 8)).collect();
    let want: Vec<u8> = (0..70_001).map(|k| (0..n).fold(0u8, |a, s| a | 1u8 << ((k + s) % 8))).collect();
    let mut out = vec![0u8; input.len()];
    api::allreduce(&input, &mut out, op(PredefOp::Bor, Prim::U8), W).unwrap();
    check(out == want, "allreduce bor of 70001 u8");

    // Bcast from every root, sizes around the threshold and large.
    for (i, len) in [16 * 1024 - 1, 16 * 1024, 40_000, 65_536, 65_537, 4 << 20].into_iter().enumerate() {
        let root = (i * 3) % n;
        let pattern = |k: usize| ((k * 13 + root) % 241) as u8;
        let mut buf: Vec<u8> = if r == root { (0..len).map(pattern).collect() } else { vec![0; len] };
        api::bcast(&mut buf, root as i32, W).unwrap();
        check(buf.iter().enumerate().all(|(k, &b)| b == pattern(k)), &format!("bcast of {len} from {root}"));
    }

    // Alltoall, block sizes changing from call to call.
    for block in [1, 8, 0, 4099, 65_539, 16 * 1024, 7] {
        alltoall_round(r, n, block);
    }

    api::wait_all(&early).unwrap();
    check(nb_ar == i64s((0..5000).map(|k| tri * k)), "iallreduce across blocking calls");
    let want: Vec<u8> = (0..n).flat_map(|s| (0..3000).map(move |k| a2a_byte(s, r, k))).collect();
    check(nb_a2a == want, "ialltoall across blocking calls");

    // Many nonblocking alltoalls outstanding at once.
    const MANY: usize = 24;
    let ins: Vec<Vec<u8>> =
        (0..MANY).map(|m| (0..n).flat_map(|d| (0..1000).map(move |k| a2a_byte(r + m, d, k))).collect()).collect();
    let mut outs: Vec<Vec<u8>> = (0..MANY).map(|_| vec![0u8; n * 1000]).collect();
    let reqs: Vec<_> = outs
        .iter_mut()
        .zip(&ins)
        .map(|(o, i)| {
            // SAFETY: `outs` outlives the requests, waited for below.
            let out = unsafe { CollOut::whole(RecvBuf::new(o.as_mut_ptr(), o.len())) };
            Some(coll_start(W, Some(out), |rk, sz| Collective::alltoall(rk, sz, i.clone())).unwrap())
        })
        .collect();
    api::wait_all(&reqs).unwrap();
    for (m, o) in outs.iter().enumerate() {
        let want: Vec<u8> = (0..n).flat_map(|s| (0..1000).map(move |k| a2a_byte(s + m, r, k))).collect();
        check(*o == want, &format!("outstanding ialltoall {m}"));
    }

    api::finalize().unwrap();
    println!("rank {r}: big_collectives ok");
}
