//! Every collective of the runtime across real processes, checked against
//! values each rank can compute: blocking forms, several nonblocking ones in
//! flight at once on one communicator, and persistent ones started three
//! times. Prints `rank R: collectives_all ok`.
//!
//! Calls `rmpi_runtime::api` directly (the layer the C ABI uses).

use std::sync::Arc;

use rmpi_runtime::api::{self, coll_blocking, coll_init, coll_start};
use rmpi_runtime::engine::buffer::{RecvBuf, SendBuf};
use rmpi_runtime::ops::{PredefOp, Prim};
use rmpi_runtime::{CollOut, Collective, Layout, ReduceOp, ThreadLevel, COMM_WORLD as W};

fn check(cond: bool, what: &str) {
    if !cond {
        let rank = api::comm_rank(W).unwrap_or(-1);
        eprintln!("rank {rank}: check failed: {what}");
        api::abort(W, 1, &format!("check failed: {what}"));
    }
}

fn i32s(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

fn from_i32s(b: &[u8]) -> Vec<i32> {
    b.chunks_exact(4).map(|c| i32::from_ne_bytes(c.try_into().unwrap())).collect()
}

fn sum() -> Arc<dyn ReduceOp> {
    api::predefined_op(PredefOp::Sum, Prim::I32).unwrap()
}

fn main() {
    api::init(ThreadLevel::Single).unwrap();
    let r = api::comm_rank(W).unwrap() as usize;
    let n = api::comm_size(W).unwrap() as usize;

    // gather / allgather of 3 bytes per rank.
    let mine = vec![r as u8; 3];
    let all: Vec<u8> = (0..n).flat_map(|i| vec![i as u8; 3]).collect();
    let out = coll_blocking(W, |rk, sz| Collective::gather(rk, sz, 0, mine.clone(), false)).unwrap();
    if r == 0 {
        check(out == all, "gather");
    }
    let out = coll_blocking(W, |rk, sz| Collective::allgather(rk, sz, mine.clone(), false)).unwrap();
    check(out == all, "allgather");

    // scatter of 2-byte blocks from the last rank.
    let root = n - 1;
    let src: Vec<u8> = if r == root { (0..n).flat_map(|i| [i as u8, 100]).collect() } else { Vec::new() };
    let out = coll_blocking(W, |rk, sz| Collective::scatter(rk, sz, root, src.clone(), 2, false)).unwrap();
    check(out == [r as u8, 100], "scatter");

    // alltoall: block j from rank i is i*16+j.
    let send: Vec<u8> = (0..n).map(|j| (r * 16 + j) as u8).collect();
    let out = coll_blocking(W, |rk, sz| Collective::alltoall(rk, sz, send.clone())).unwrap();
    check(out == (0..n).map(|i| (i * 16 + r) as u8).collect::<Vec<_>>(), "alltoall");

    // allgatherv: rank i gives i+1 bytes of value i.
    let counts: Vec<usize> = (1..=n).collect();
    let layout = Layout::contiguous(counts.clone());
    let out =
        coll_blocking(W, |rk, sz| Collective::allgatherv(rk, sz, vec![r as u8; r + 1], layout.clone(), false)).unwrap();
    let want: Vec<u8> = (0..n).flat_map(|i| vec![i as u8; i + 1]).collect();
    check(out[..want.len()] == want[..], "allgatherv");

    // reduce_scatter_block, scan, exscan with i32 sums.
    let data = i32s(&(0..n).map(|i| (r + i) as i32).collect::<Vec<_>>());
    let out = coll_blocking(W, |rk, sz| Collective::reduce_scatter_block(rk, sz, data.clone(), sum())).unwrap();
    let ranks_sum = (n * (n - 1) / 2) as i32;
    check(from_i32s(&out) == vec![ranks_sum + (n * r) as i32], "reduce_scatter_block");
    let v = i32s(&[(r + 1) as i32]);
    let out = coll_blocking(W, |rk, sz| Collective::scan(rk, sz, v.clone(), sum())).unwrap();
    check(from_i32s(&out) == vec![((r + 1) * (r + 2) / 2) as i32], "scan");
    let out = coll_blocking(W, |rk, sz| Collective::exscan(rk, sz, v.clone(), sum())).unwrap();
    if r > 0 {
        check(from_i32s(&out) == vec![(r * (r + 1) / 2) as i32], "exscan");
    }

    // Large bcast and allreduce (the large-message algorithms).
    let big: Vec<u8> = if r == 0 { (0..(1usize << 20)).map(|i| (i % 253) as u8).collect() } else { vec![0; 1 << 20] };
    let out = coll_blocking(W, |rk, sz| Collective::bcast(rk, sz, 0, big.clone())).unwrap();
    check(out.iter().enumerate().all(|(i, &b)| b == (i % 253) as u8), "large bcast");
    let vals = i32s(&vec![r as i32 + 1; 1 << 18]);
    let out = coll_blocking(W, |rk, sz| Collective::allreduce(rk, sz, vals.clone(), sum())).unwrap();
    check(from_i32s(&out).iter().all(|&x| x == (n * (n + 1) / 2) as i32), "large allreduce");

    // Several nonblocking collectives in flight at once on one communicator.
    let mut ar = vec![0u8; 4 * 1000];
    let mut bc = vec![0u8; 5000];
    let mut a2a = vec![0u8; n];
    let ar_in = i32s(&vec![r as i32; 1000]);
    let bc_in: Vec<u8> = if r == 0 { vec![7; 5000] } else { vec![0; 5000] };
    let reqs = unsafe {
        let out_ar = CollOut::whole(RecvBuf::new(ar.as_mut_ptr(), ar.len()));
        let out_bc = CollOut::whole(RecvBuf::new(bc.as_mut_ptr(), bc.len()));
        let out_a2a = CollOut::whole(RecvBuf::new(a2a.as_mut_ptr(), a2a.len()));
        vec![
            Some(coll_start(W, Some(out_ar), |rk, sz| Collective::allreduce(rk, sz, ar_in.clone(), sum())).unwrap()),
            Some(coll_start(W, Some(out_bc), |rk, sz| Collective::bcast(rk, sz, 0, bc_in.clone())).unwrap()),
            Some(coll_start(W, Some(out_a2a), |rk, sz| Collective::alltoall(rk, sz, send.clone())).unwrap()),
            Some(api::ibarrier(W).unwrap()),
        ]
    };
    api::wait_all(&reqs).unwrap();
    check(from_i32s(&ar).iter().all(|&x| x == ranks_sum), "iallreduce");
    check(bc.iter().all(|&x| x == 7), "ibcast");
    check(a2a == (0..n).map(|i| (i * 16 + r) as u8).collect::<Vec<_>>(), "ialltoall");

    // A persistent allreduce started three times with new input each time.
    let mut input = vec![0u8; 4];
    let mut output = vec![0u8; 4];
    let req = unsafe {
        let sbuf = SendBuf::new(input.as_ptr(), 4);
        let out = CollOut::whole(RecvBuf::new(output.as_mut_ptr(), 4));
        coll_init(W, sbuf, Some(out), |rk, sz| Collective::allreduce(rk, sz, vec![0; 4], sum())).unwrap()
    };
    for round in 0..3i32 {
        // SAFETY: the request is not active while we write the input.
        unsafe { std::ptr::copy_nonoverlapping((r as i32 * 10 + round).to_ne_bytes().as_ptr(), input.as_mut_ptr(), 4) };
        api::start(req).unwrap();
        api::wait(req).unwrap();
        let want = (ranks_sum * 10) + round * n as i32;
        check(i32::from_ne_bytes(output[..4].try_into().unwrap()) == want, "persistent allreduce");
    }
    api::request_free(req).unwrap();

    println!("rank {r}: collectives_all ok");
    api::finalize().unwrap();
}
