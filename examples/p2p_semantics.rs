//! Point-to-point semantics of the runtime, checked across real processes
//! (needs at least 2 ranks; uses rank 2 too when present):
//! synchronous sends, cancel, probe and matched probe, persistent requests,
//! wait/test any/some/all, truncation, MPI_PROC_NULL, MPI_ANY_SOURCE,
//! sendrecv and argument errors. Prints `rank R: p2p ok`.
//!
//! It calls `rmpi_runtime::api` directly: that is the layer the C ABI uses.

use rmpi_runtime::api::{self, ANY_SOURCE, ANY_TAG, PROC_NULL};
use rmpi_runtime::{ErrorClass, SendMode, ThreadLevel, COMM_WORLD as W};

fn check(cond: bool, what: &str) {
    if !cond {
        let rank = api::comm_rank(W).unwrap_or(-1);
        eprintln!("rank {rank}: check failed: {what}");
        api::abort(W, 1, &format!("check failed: {what}"));
    }
}

fn main() {
    api::init(ThreadLevel::Multiple).expect("init");
    let me = api::comm_rank(W).unwrap();
    let n = api::comm_size(W).unwrap();
    check(n >= 2, "needs at least 2 ranks");

    // 1. A synchronous send cannot complete before its receive is posted:
    //    rank 1 posts it only after a barrier rank 0 enters after testing.
    if me == 0 {
        let data = [7u8; 10];
        let r = unsafe { api::isend(data.as_ptr(), data.len(), 1, 11, W, SendMode::Synchronous) }.unwrap();
        for _ in 0..100 {
            check(api::test(r).unwrap().is_none(), "ssend completed before the receive was posted");
        }
        api::barrier(W).unwrap();
        api::wait(r).unwrap();
    } else {
        api::barrier(W).unwrap();
        if me == 1 {
            let mut b = [0u8; 10];
            let st = api::recv(&mut b, 0, 11, W).unwrap();
            check(b == [7u8; 10] && st.source == 0 && st.tag == 11 && st.count == 10, "ssend payload");
        }
    }

    // 2. Cancel of a receive that never matches; a later message still
    //    reaches the next receive.
    if me == 0 {
        let mut b = [0u8; 4];
        let r = unsafe { api::irecv(b.as_mut_ptr(), 4, 1, 99, W) }.unwrap();
        api::cancel(r).unwrap();
        let st = api::wait(r).unwrap();
        check(st.cancelled, "cancelled receive reports cancelled");
        let st = api::recv(&mut b, 1, 98, W).unwrap();
        check(b == [1, 2, 3, 4] && !st.cancelled, "message after a cancel");
    } else if me == 1 {
        api::send(&[1, 2, 3, 4], 0, 98, W, SendMode::Standard).unwrap();
    }

    // 3. Probe sees the envelope; matched probe takes exactly that message.
    if me == 1 {
        api::send(&[5, 6, 7], 0, 5, W, SendMode::Standard).unwrap();
        api::send(&[8; 100_000], 0, 6, W, SendMode::Standard).unwrap();
    } else if me == 0 {
        let st = api::probe(1, 5, W).unwrap();
        check(st.count == 3 && st.tag == 5, "probe envelope");
        let (msg, st) = api::mprobe(ANY_SOURCE, 6, W).unwrap();
        check(st.count == 100_000 && st.source == 1, "mprobe of a rendezvous message");
        // A wildcard receive posted now must not steal the probed message.
        // (Tag 5, not ANY_TAG: rank 2 may already have sent its step-8 message.)
        let mut w = [0u8; 3];
        let wr = unsafe { api::irecv(w.as_mut_ptr(), 3, ANY_SOURCE, 5, W) }.unwrap();
        let mut big = vec![0u8; 100_000];
        let st = api::mrecv(&mut big, msg).unwrap();
        check(st.count == 100_000 && big.iter().all(|&x| x == 8), "mrecv payload");
        let st = api::wait(wr).unwrap();
        check(w == [5, 6, 7] && st.tag == 5, "wildcard receive got the unprobed message");
    }

    // 4. Persistent requests, started three times.
    if me == 0 {
        let mut v = [0u32; 1];
        let r = unsafe { api::recv_init(v.as_mut_ptr().cast(), 4, 1, 21, W) }.unwrap();
        for i in 0..3u32 {
            api::start(r).unwrap();
            api::wait(r).unwrap();
            check(v[0] == 100 + i, "persistent receive value");
        }
        api::request_free(r).unwrap();
    } else if me == 1 {
        let mut v = [0u32; 1];
        let r = unsafe { api::send_init(v.as_ptr().cast(), 4, 0, 21, W, SendMode::Standard) }.unwrap();
        for i in 0..3u32 {
            v[0] = 100 + i;
            api::start(r).unwrap();
            api::wait(r).unwrap();
        }
        api::request_free(r).unwrap();
    }

    // 5. Waitany / testsome / waitall over receives completed out of order.
    if me == 0 {
        let mut bufs = [[0u8; 1]; 3];
        let reqs: Vec<_> = bufs
            .iter_mut()
            .enumerate()
            .map(|(i, b)| Some(unsafe { api::irecv(b.as_mut_ptr(), 1, 1, 30 + i as i32, W) }.unwrap()))
            .collect();
        api::send(&[1], 1, 39, W, SendMode::Standard).unwrap(); // go
        let (idx, st) = api::wait_any(&reqs).unwrap().unwrap();
        check(idx == 2 && st.tag == 32, "waitany returns the one message sent first");
        api::send(&[1], 1, 38, W, SendMode::Standard).unwrap(); // ack: send the others
        let rest = [reqs[0], reqs[1]];
        let sts = api::wait_all(&rest).unwrap();
        check(sts[0].tag == 30 && sts[1].tag == 31, "waitall statuses in order");
        check(bufs == [[30], [31], [32]], "waitany/waitall payloads");
        check(api::wait_any(&[None, None]).unwrap().is_none(), "waitany of null requests");
    } else if me == 1 {
        let mut go = [0u8; 1];
        api::recv(&mut go, 0, 39, W).unwrap();
        api::send(&[32], 0, 32, W, SendMode::Standard).unwrap();
        api::recv(&mut go, 0, 38, W).unwrap(); // rank 0 has seen tag 32 alone
        api::send(&[30], 0, 30, W, SendMode::Standard).unwrap();
        api::send(&[31], 0, 31, W, SendMode::Ready).unwrap();
    }

    // 6. Truncation is reported; the sender completes normally.
    if me == 0 {
        let mut small = [0u8; 4];
        let st = api::recv(&mut small, 1, 40, W).unwrap();
        check(st.truncated && st.count == 4 && small == [9; 4], "eager truncation");
        let mut small = vec![0u8; 1000];
        let st = api::recv(&mut small, 1, 41, W).unwrap();
        check(st.truncated && st.count == 1000 && small.iter().all(|&x| x == 9), "rendezvous truncation");
    } else if me == 1 {
        api::send(&[9; 8], 0, 40, W, SendMode::Standard).unwrap();
        api::send(&vec![9u8; 1 << 20], 0, 41, W, SendMode::Standard).unwrap();
    }

    // 7. MPI_PROC_NULL completes at once with the null status.
    let st = api::sendrecv(&[1], PROC_NULL, 1, &mut [0u8; 1], PROC_NULL, 1, W).unwrap();
    check(st.source == PROC_NULL && st.tag == ANY_TAG && st.count == 0, "PROC_NULL status");

    // 8. ANY_SOURCE receives everyone's message.
    if me == 0 {
        let mut seen = vec![false; n as usize];
        for _ in 1..n {
            let mut b = [0u8; 4];
            let st = api::recv(&mut b, ANY_SOURCE, 50, W).unwrap();
            check(i32::from_ne_bytes(b) == st.source, "payload names its source");
            seen[st.source as usize] = true;
        }
        check(seen[1..].iter().all(|&s| s), "every rank was heard");
    } else {
        api::send(&me.to_ne_bytes(), 0, 50, W, SendMode::Standard).unwrap();
    }

    // 9. Sendrecv around a ring.
    let (right, left) = ((me + 1) % n, (me + n - 1) % n);
    let mut got = [0u8; 4];
    let st = api::sendrecv(&me.to_ne_bytes(), right, 60, &mut got, left, 60, W).unwrap();
    check(i32::from_ne_bytes(got) == left && st.source == left, "sendrecv ring");

    // 10. Bad arguments are errors with the right class, not crashes.
    let e = api::send(&[0], n, 0, W, SendMode::Standard).unwrap_err();
    check(e.class == ErrorClass::Rank, "invalid rank");
    let e = api::send(&[0], 0, -5, W, SendMode::Standard).unwrap_err();
    check(e.class == ErrorClass::Tag, "invalid tag");
    let e = api::comm_size(rmpi_runtime::CommId(999)).unwrap_err();
    check(e.class == ErrorClass::Comm, "invalid communicator");
    let e = api::wait(rmpi_runtime::RequestId(12345)).unwrap_err();
    check(e.class == ErrorClass::Request, "invalid request");
    let e = api::bcast(&mut [0u8; 1], n, W).unwrap_err();
    check(e.class == ErrorClass::Root, "invalid root");

    // 11. Flow control: a flood of eager messages nobody receives yet holds
    //     at most the eager window (1 MiB by default) at the receiver; the
    //     rest waits at the sender as rendezvous requests. All arrive in order.
    const FLOOD: usize = 3000;
    if me == 1 {
        let msgs: Vec<Vec<u8>> = (0..FLOOD).map(|i| vec![(i % 251) as u8; 1024]).collect();
        let reqs: Vec<_> = msgs
            .iter()
            .map(|m| Some(unsafe { api::isend(m.as_ptr(), m.len(), 0, 70, W, SendMode::Standard) }.unwrap()))
            .collect();
        api::barrier(W).unwrap();
        api::wait_all(&reqs).unwrap();
    } else {
        api::barrier(W).unwrap();
        if me == 0 {
            let window = std::env::var("RMPI_EAGER_WINDOW").ok().and_then(|v| v.parse().ok()).unwrap_or(1u64 << 20);
            let mut b = vec![0u8; 1024];
            for i in 0..FLOOD {
                let held = api::unexpected_bytes().unwrap();
                check(held <= window, &format!("unexpected bytes {held} exceed the eager window {window}"));
                let st = api::recv(&mut b, 1, 70, W).unwrap();
                check(st.count == 1024 && b.iter().all(|&x| x == (i % 251) as u8), "flood message order and payload");
            }
        }
    }

    println!("rank {me}: p2p ok");
    api::finalize().expect("finalize");
}
