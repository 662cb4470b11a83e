//! Packets a peer should never send (garbled, replayed, or aimed at the
//! wrong request) must come back as errors or be ignored, never panic the
//! engine: in the runtime a panic here would take the whole rank down
//! instead of reporting a protocol error against the peer.

mod harness;

use std::panic::{catch_unwind, AssertUnwindSafe};

use harness::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn random_header(rng: &mut StdRng, ids: &[u64]) -> Header {
    let kinds = [
        Kind::Eager,
        Kind::Rts,
        Kind::Cts,
        Kind::Data,
        Kind::Fin,
        Kind::SyncAck,
        Kind::Credit,
        Kind::Split,
        Kind::Wrote,
    ];
    let mut h = Header::new(kinds[rng.gen_range(0..kinds.len())]);
    let pick = |rng: &mut StdRng| -> u64 {
        match rng.gen_range(0..4) {
            0 if !ids.is_empty() => ids[rng.gen_range(0..ids.len())],
            1 => rng.gen_range(0..600),
            2 => u64::MAX - rng.gen_range(0..3),
            _ => rng.gen(),
        }
    };
    h.flags = rng.gen();
    h.ctx = rng.gen_range(0..3);
    h.src = rng.gen_range(-2..3);
    h.tag = rng.gen_range(-1..3);
    h.len = pick(rng);
    h.a = pick(rng);
    h.b = pick(rng);
    h.c = pick(rng);
    h
}

#[test]
fn garbled_packets_are_rejected_or_ignored_without_panicking() {
    for seed in 0..300u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        // Live requests of every kind on rank 1, so that ids in garbage
        // packets hit real sends and receives.
        // Every other seed with split copies on (Split and Wrote then meet
        // sends and receives in the states they expect).
        let cfg = if seed % 2 == 0 { NetConfig::small(2).with_split(1) } else { NetConfig::small(2) };
        let mut net = Net::new(cfg, seed);
        for i in 0..3 {
            let d = net.payload(300);
            net.send(1, 0, 0, i, d, SendMode::Standard);
            let d = net.payload(20);
            net.send(1, 0, 0, i, d, SendMode::Synchronous);
            net.recv(1, 0, SrcSel::Any, TagSel::Any, 50);
        }
        net.pump(1);
        let ids: Vec<u64> = net.ops.iter().map(|o| o.rid.0).collect();
        let e = &mut net.eng[1];
        for _ in 0..40 {
            let h = random_header(&mut rng, &ids);
            let mut pkt = h.encode().to_vec();
            let plen = if rng.gen_bool(0.5) { (h.len as usize).min(400) } else { rng.gen_range(0..200) };
            pkt.extend((0..plen).map(|_| rng.gen::<u8>()));
            if rng.gen_range(0..10) == 0 {
                pkt.truncate(rng.gen_range(0..HEADER_LEN));
            }
            let from = rng.gen_range(0..3u32);
            let r = catch_unwind(AssertUnwindSafe(|| {
                let _ = e.on_packet(from, &pkt);
                // Drain whatever the engine now wants to send.
                for p in 0..2 {
                    while let Some(t) = e.next_transmit(p) {
                        let _ = (t.header().len(), t.payload().len());
                        e.transmit_done(p);
                    }
                }
                while e.next_action().is_some() {}
            }));
            assert!(r.is_ok(), "seed {seed}: engine panicked on a packet from {from}: {h:?} + {plen} bytes");
        }
    }
}

#[test]
fn credit_beyond_the_window_is_a_protocol_error() {
    let mut net = Net::new(NetConfig::small(2), 0);
    let mut h = Header::new(Kind::Credit);
    h.len = 1;
    let err = net.eng[0].on_packet(1, &h.encode());
    assert!(matches!(err, Err(EngineError::Protocol { peer: 1, .. })), "{err:?}");
    h.len = u64::MAX;
    let err = net.eng[0].on_packet(1, &h.encode());
    assert!(matches!(err, Err(EngineError::Protocol { peer: 1, .. })), "{err:?}");
}

#[test]
fn packets_from_outside_the_job_or_malformed_are_protocol_errors() {
    let mut e = Engine::new(0, 2, EngineConfig::default());
    let h = Header::new(Kind::Credit);
    assert!(matches!(e.on_packet(2, &h.encode()), Err(EngineError::Protocol { peer: 2, .. })));
    assert!(matches!(e.on_packet(1, &[7u8; 10]), Err(EngineError::Protocol { peer: 1, .. })));
    let mut h = Header::new(Kind::Eager);
    h.len = 5;
    let mut pkt = h.encode().to_vec();
    pkt.extend([1, 2, 3]);
    assert!(matches!(e.on_packet(1, &pkt), Err(EngineError::Protocol { .. })), "eager length mismatch");
    assert_eq!(e.unexpected_bytes(), 0);
}

/// Find the receive request id a sender's Data packets name, by running a
/// rendezvous to completion and reading the trace.
fn completed_rendezvous(single_copy: bool) -> (Net, usize, usize) {
    let mut net = Net::new(NetConfig::small(2).with_single_copy(single_copy), 3);
    let d = net.payload(250);
    let s = net.send(0, 1, 0, 0, d, SendMode::Standard);
    let r = net.recv(1, 0, SrcSel::Any, TagSel::Any, 250);
    net.run();
    assert!(net.status(s).is_some() && net.status(r).is_some());
    (net, s, r)
}

#[test]
fn data_for_a_completed_receive_is_rejected_and_never_written() {
    let (mut net, _, r) = completed_rendezvous(false);
    let before = net.recv_buffer(r).to_vec();
    let mut h = Header::new(Kind::Data);
    h.a = net.ops[r].rid.0;
    h.b = 0;
    h.len = 10;
    let mut pkt = h.encode().to_vec();
    pkt.extend([0u8; 10]);
    // The user owns the buffer again once the receive completed.
    let res = net.eng[1].on_packet(0, &pkt);
    assert!(matches!(res, Err(EngineError::Protocol { peer: 0, .. })), "{res:?}");
    assert_eq!(net.recv_buffer(r), &before[..], "engine wrote into a completed receive's buffer");
}

#[test]
fn cts_for_a_completed_send_is_rejected_and_streams_nothing() {
    for single_copy in [false, true] {
        let (mut net, s, _) = completed_rendezvous(single_copy);
        let mut h = Header::new(Kind::Cts);
        h.a = net.ops[s].rid.0;
        h.b = 12345;
        h.len = 250;
        let res = net.eng[0].on_packet(1, &h.encode());
        assert!(matches!(res, Err(EngineError::Protocol { peer: 1, .. })), "single_copy={single_copy}: {res:?}");
        assert!(!net.eng[0].has_output(), "single_copy={single_copy}: engine would read a completed send's buffer");
    }
}

#[test]
fn single_copy_done_after_completion_changes_nothing() {
    for late_ok in [false, true] {
        let mut net = Net::new(NetConfig::small(2).with_single_copy(true), 3);
        let d = net.payload(250);
        net.send(0, 1, 0, 0, d, SendMode::Standard);
        let r = net.recv(1, 0, SrcSel::Any, TagSel::Any, 250);
        net.run();
        assert_eq!(net.reads.len(), 1);
        assert!(net.status(r).is_some());
        let packets = net.trace.len();
        // A driver reporting the same read twice must not make the engine
        // ask for the data again (it would be written into a buffer the
        // user owns) nor acknowledge twice.
        net.eng[1].single_copy_done(net.ops[r].rid, late_ok);
        net.run();
        assert_eq!(net.trace.len(), packets, "late_ok={late_ok}: a second report sent packets");
        assert_eq!(net.status(r).map(|s| s.count), Some(250));
    }
}
