//! Directed protocol tests: truncation, cancel, probe and matched probe,
//! eager credit, synchronous sends, zero-byte and self messages, request
//! freeing, and deadlock freedom of crossing large sends.

mod harness;

use harness::*;

const CTX: u32 = 0;

/// The three ways a message can travel in the small network: eager,
/// rendezvous with Cts + Data streaming, rendezvous by single copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Eager,
    Streaming,
    SingleCopy,
}

const PATHS: [Path; 3] = [Path::Eager, Path::Streaming, Path::SingleCopy];

impl Path {
    fn cfg(self, n: usize) -> NetConfig {
        NetConfig::small(n).with_single_copy(self == Path::SingleCopy)
    }
    /// A message length that takes this path (eager limit 64, chunks of 100).
    fn len(self) -> usize {
        match self {
            Path::Eager => 60,
            _ => 350,
        }
    }
}

fn sum_data_bytes(net: &Net, from: usize, to: usize) -> u64 {
    net.packets(from, to).iter().filter(|h| h.kind == Kind::Data).map(|h| h.len).sum()
}

// ---- 3. truncation ----

#[test]
fn message_longer_than_the_receive_buffer_is_truncated_to_the_buffer_on_every_path() {
    for path in PATHS {
        for recv_first in [true, false] {
            for seed in 0..8 {
                let mut net = Net::new(path.cfg(2), seed);
                let len = path.len();
                let cap = if path == Path::Eager { 25 } else { 130 };
                let data = net.payload(len);
                let r = if recv_first { Some(net.recv(1, CTX, SrcSel::Rank(0), TagSel::Tag(4), cap)) } else { None };
                let s = net.send(0, 1, CTX, 4, data.clone(), SendMode::Standard);
                net.run();
                let r = r.unwrap_or_else(|| net.recv(1, CTX, SrcSel::Rank(0), TagSel::Tag(4), cap));
                net.run();
                let ctxt = format!("{path:?} recv_first={recv_first} seed={seed}");
                assert_eq!(
                    net.status(r),
                    Some(Status { source: 0, tag: 4, count: cap, truncated: true, cancelled: false }),
                    "{ctxt}"
                );
                assert_eq!(net.recv_bytes(r, cap), &data[..cap], "{ctxt}");
                assert!(net.recv_buffer(r)[cap..].iter().all(|&b| b == SENTINEL), "{ctxt}: wrote past the buffer");
                assert_eq!(
                    net.status(s),
                    Some(Status { source: 0, tag: 4, count: len, truncated: false, cancelled: false }),
                    "{ctxt}: sender completes normally"
                );
                match path {
                    Path::Eager => assert_eq!(net.count_kind(0, 1, Kind::Eager), 1, "{ctxt}"),
                    Path::Streaming => {
                        assert_eq!(net.count_kind(0, 1, Kind::Rts), 1, "{ctxt}");
                        assert_eq!(sum_data_bytes(&net, 0, 1), cap as u64, "{ctxt}: only accepted bytes are streamed");
                    }
                    Path::SingleCopy => {
                        assert_eq!(net.reads, vec![(1, cap)], "{ctxt}: one read of the accepted bytes");
                        assert_eq!(net.count_kind(0, 1, Kind::Data), 0, "{ctxt}");
                        assert_eq!(net.count_kind(1, 0, Kind::Fin), 1, "{ctxt}");
                    }
                }
                assert_eq!(net.eng[0].live_requests() + net.eng[1].live_requests(), 2, "{ctxt}");
            }
        }
    }
}

#[test]
fn failed_single_copy_read_falls_back_to_streaming_and_still_truncates() {
    for seed in 0..8 {
        let mut cfg = NetConfig::small(2).with_single_copy(true);
        cfg.read_fail_pct = 100;
        let mut net = Net::new(cfg, seed);
        let data = net.payload(350);
        let r = net.recv(1, CTX, SrcSel::Any, TagSel::Any, 220);
        let s = net.send(0, 1, CTX, 1, data.clone(), SendMode::Standard);
        net.run();
        assert_eq!(net.reads.len(), 1);
        assert_eq!(sum_data_bytes(&net, 0, 1), 220);
        assert_eq!(net.status(r), Some(Status { source: 0, tag: 1, count: 220, truncated: true, cancelled: false }));
        assert_eq!(net.recv_bytes(r, 220), &data[..220]);
        assert!(net.status(s).is_some());
    }
}

// ---- 4. cancel ----

#[test]
fn cancelled_receive_completes_cancelled_and_never_gets_data() {
    for path in PATHS {
        let mut net = Net::new(path.cfg(2), 7);
        let a = net.recv(1, CTX, SrcSel::Any, TagSel::Any, 400);
        assert!(net.cancel(a), "{path:?}: an unmatched receive cancels");
        let st = net.status(a).expect("a cancelled receive is complete");
        assert!(st.cancelled, "{path:?}");
        assert!(!net.cancel(a), "{path:?}: cancelling twice reports nothing to cancel");
        let data = net.payload(path.len());
        let s = net.send(0, 1, CTX, 3, data.clone(), SendMode::Standard);
        net.run();
        assert!(net.recv_buffer(a).iter().all(|&b| b == SENTINEL), "{path:?}: cancelled receive got data");
        let b = net.recv(1, CTX, SrcSel::Any, TagSel::Any, 400);
        net.run();
        let st = net.status(b).expect("later receive gets the message");
        assert_eq!((st.source, st.tag, st.count, st.cancelled), (0, 3, data.len(), false), "{path:?}");
        assert_eq!(net.recv_bytes(b, data.len()), &data[..], "{path:?}");
        assert!(net.recv_buffer(a).iter().all(|&b| b == SENTINEL), "{path:?}");
        assert!(net.status(s).is_some());
    }
}

#[test]
fn matched_receive_cannot_be_cancelled_and_completes_normally() {
    for path in PATHS {
        let mut net = Net::new(path.cfg(2), 3);
        let r = net.recv(1, CTX, SrcSel::Rank(0), TagSel::Tag(9), 400);
        let data = net.payload(path.len());
        net.send(0, 1, CTX, 9, data.clone(), SendMode::Standard);
        // Deliver only the envelope: an eager receive is then complete, a
        // rendezvous one matched but still waiting for its data.
        net.pump(0);
        let h = net.deliver(0, 1).expect("envelope in flight");
        assert!(matches!(h.kind, Kind::Eager | Kind::Rts));
        assert!(!net.cancel(r), "{path:?}: a matched receive must not cancel");
        net.run();
        let st = net.status(r).expect("matched receive completes");
        assert!(!st.cancelled, "{path:?}");
        assert_eq!(st.count, data.len(), "{path:?}");
        assert_eq!(net.recv_bytes(r, data.len()), &data[..], "{path:?}");
    }
}

#[test]
fn messages_after_a_cancel_go_to_the_receives_posted_later() {
    for path in PATHS {
        for seed in 0..6 {
            let mut net = Net::new(path.cfg(2), seed);
            let r1 = net.recv(1, CTX, SrcSel::Any, TagSel::Any, 400);
            let r2 = net.recv(1, CTX, SrcSel::Rank(0), TagSel::Any, 400);
            assert!(net.cancel(r1));
            let m1 = net.payload(path.len());
            let m2 = net.payload(path.len() + 1);
            net.send(0, 1, CTX, 1, m1.clone(), SendMode::Standard);
            net.send(0, 1, CTX, 2, m2.clone(), SendMode::Standard);
            net.run();
            let r3 = net.recv(1, CTX, SrcSel::Any, TagSel::Any, 400);
            net.run();
            assert!(net.status(r1).unwrap().cancelled);
            assert!(net.recv_buffer(r1).iter().all(|&b| b == SENTINEL));
            assert_eq!(net.status(r2).map(|s| (s.tag, s.count)), Some((1, m1.len())), "{path:?} seed {seed}");
            assert_eq!(net.recv_bytes(r2, m1.len()), &m1[..]);
            assert_eq!(net.status(r3).map(|s| (s.tag, s.count)), Some((2, m2.len())), "{path:?} seed {seed}");
            assert_eq!(net.recv_bytes(r3, m2.len()), &m2[..]);
            let m = net.replay_model();
            net.check_against_model(&m, true);
        }
    }
}

#[test]
fn cancelling_a_send_request_is_refused() {
    let mut net = Net::new(NetConfig::small(2), 1);
    let data = net.payload(300);
    let s = net.send(0, 1, CTX, 0, data, SendMode::Standard);
    assert!(!net.eng[0].cancel_recv(net.ops[s].rid));
    assert_eq!(net.status(s), None);
}

// ---- 5. probe and matched probe ----

#[test]
fn iprobe_sees_the_earliest_matching_envelope_without_consuming_it() {
    for path in PATHS {
        let mut net = Net::new(path.cfg(3), 5);
        assert_eq!(net.iprobe(2, CTX, SrcSel::Any, TagSel::Any), None);
        let a = net.payload(path.len());
        let b = net.payload(path.len() + 3);
        net.send(0, 2, CTX, 7, a.clone(), SendMode::Standard);
        net.run();
        net.send(1, 2, CTX, 8, b.clone(), SendMode::Standard);
        net.run();
        let want_a = Status { source: 0, tag: 7, count: a.len(), truncated: false, cancelled: false };
        let want_b = Status { source: 1, tag: 8, count: b.len(), truncated: false, cancelled: false };
        for _ in 0..2 {
            assert_eq!(net.iprobe(2, CTX, SrcSel::Any, TagSel::Any), Some(want_a), "{path:?}");
        }
        assert_eq!(net.iprobe(2, CTX, SrcSel::Any, TagSel::Tag(8)), Some(want_b), "{path:?}");
        assert_eq!(net.iprobe(2, CTX, SrcSel::Rank(1), TagSel::Any), Some(want_b), "{path:?}");
        assert_eq!(net.iprobe(2, CTX, SrcSel::Rank(0), TagSel::Tag(8)), None, "{path:?}");
        assert_eq!(net.iprobe(2, CTX + 1, SrcSel::Any, TagSel::Any), None, "{path:?}: other context");
        let r = net.recv(2, CTX, SrcSel::Any, TagSel::Any, 400);
        net.run();
        assert_eq!(net.status(r).map(|s| s.source), Some(0), "{path:?}");
        assert_eq!(net.recv_bytes(r, a.len()), &a[..]);
        assert_eq!(net.iprobe(2, CTX, SrcSel::Any, TagSel::Any), Some(want_b), "{path:?}");
        let m = net.replay_model();
        net.check_against_model(&m, true);
    }
}

#[test]
fn matched_probe_message_goes_only_to_its_mrecv_even_with_a_wildcard_receive_posted_between() {
    for path in PATHS {
        for seed in 0..6 {
            let mut net = Net::new(path.cfg(2), seed);
            let x = net.payload(path.len());
            let y = net.payload(path.len() + 2);
            net.send(0, 1, CTX, 1, x.clone(), SendMode::Standard);
            net.send(0, 1, CTX, 2, y.clone(), SendMode::Standard);
            net.run();
            let (msg, st) = net.improbe(1, CTX, SrcSel::Any, TagSel::Any).expect("a message to probe");
            assert_eq!((st.source, st.tag, st.count), (0, 1, x.len()), "{path:?}");
            // The probed message is gone for everyone else.
            assert_eq!(net.iprobe(1, CTX, SrcSel::Any, TagSel::Tag(1)), None, "{path:?}");
            let w = net.recv(1, CTX, SrcSel::Any, TagSel::Any, 400);
            let w2 = net.recv(1, CTX, SrcSel::Any, TagSel::Any, 400);
            net.run();
            assert_eq!(net.status(w).map(|s| (s.tag, s.count)), Some((2, y.len())), "{path:?} seed {seed}");
            assert_eq!(net.recv_bytes(w, y.len()), &y[..]);
            assert_eq!(net.status(w2), None, "{path:?}: the probed message is not for a plain receive");
            let m = net.mrecv(1, msg, 400).expect("mrecv of the probed message");
            net.run();
            assert_eq!(
                net.status(m),
                Some(Status { source: 0, tag: 1, count: x.len(), truncated: false, cancelled: false }),
                "{path:?}"
            );
            assert_eq!(net.recv_bytes(m, x.len()), &x[..]);
            assert_eq!(
                net.mrecv(1, msg, 400).err(),
                Some(EngineError::UnknownMessage),
                "{path:?}: one mrecv per message"
            );
            assert!(net.cancel(w2));
            let model = net.replay_model();
            net.check_against_model(&model, true);
        }
    }
}

// ---- 6. flow control ----

const WINDOW: u64 = 1024;
const ENVELOPE: u64 = rmpi_engine::ENVELOPE_COST;

#[test]
fn unexpected_eager_bytes_stay_within_the_window_and_excess_sends_go_rendezvous() {
    for seed in 0..8 {
        let mut net = Net::new(NetConfig::small(2), seed);
        let len = 50usize;
        let cost = len as u64 + ENVELOPE;
        let fit = (WINDOW / cost) as usize;
        let total = 40;
        let mut sends = Vec::new();
        for i in 0..total {
            let d = net.payload(len);
            sends.push(net.send(0, 1, CTX, i as i32, d, SendMode::Standard));
            if i % 5 == 0 {
                net.run();
            }
        }
        net.run();
        assert!(net.max_unexpected[1] <= WINDOW, "seed {seed}: receiver buffered {} bytes", net.max_unexpected[1]);
        assert_eq!(net.count_kind(0, 1, Kind::Eager), fit, "seed {seed}: eager while credit lasts");
        assert_eq!(net.count_kind(0, 1, Kind::Rts), total - fit, "seed {seed}: the rest as rendezvous");
        for (i, &s) in sends.iter().enumerate() {
            // Eager standard sends complete locally; rendezvous ones wait.
            assert_eq!(net.status(s).is_some(), i < fit, "seed {seed}: send {i}");
        }
        // Receives posted now get every message, in order.
        let recvs: Vec<usize> = (0..total).map(|_| net.recv(1, CTX, SrcSel::Rank(0), TagSel::Any, 64)).collect();
        net.run();
        for (i, (&r, &s)) in recvs.iter().zip(&sends).enumerate() {
            let st = net.status(r).unwrap_or_else(|| panic!("seed {seed}: receive {i} incomplete"));
            assert_eq!((st.tag, st.count), (i as i32, len), "seed {seed}");
            assert_eq!(net.recv_bytes(r, len), net.send_data(s), "seed {seed}");
            assert!(net.status(s).is_some());
        }
        assert!(net.count_kind(1, 0, Kind::Credit) > 0, "seed {seed}: credit never returned");
        assert_eq!(net.eng[1].unexpected_bytes(), 0);

        // Credit is back: unexpected eager sends resume, minus at most the
        // credit the receiver still holds back for batching (< window / 4).
        let eager_before = net.count_kind(0, 1, Kind::Eager);
        for i in 0..total {
            let d = net.payload(len);
            net.send(0, 1, CTX, 100 + i as i32, d, SendMode::Standard);
        }
        net.run();
        let resumed = net.count_kind(0, 1, Kind::Eager) - eager_before;
        let at_least = ((WINDOW - WINDOW / 4) / cost) as usize;
        assert!(resumed >= at_least && resumed <= fit, "seed {seed}: {resumed} eager sends after credit returned");
        assert!(net.max_unexpected[1] <= WINDOW, "seed {seed}");
        net.drain_and_check(&[CTX], 64);
    }
}

#[test]
fn rendezvous_traffic_does_not_inflate_eager_credit() {
    for single_copy in [false, true] {
        let mut net = Net::new(NetConfig::small(2).with_single_copy(single_copy), 11);
        // Many rendezvous messages, all received.
        for i in 0..64 {
            let d = net.payload(300);
            net.send(0, 1, CTX, i, d, SendMode::Standard);
            net.recv(1, CTX, SrcSel::Rank(0), TagSel::Tag(i), 300);
            net.run();
        }
        assert_eq!(net.count_kind(0, 1, Kind::Eager), 0);
        // Then eager-sized messages nobody receives yet.
        for i in 0..40 {
            let d = net.payload(50);
            net.send(0, 1, CTX, 1000 + i, d, SendMode::Standard);
        }
        net.run();
        assert!(
            net.max_unexpected[1] <= WINDOW,
            "single_copy={single_copy}: receiver holds {} unexpected bytes, window {WINDOW}",
            net.max_unexpected[1]
        );
        assert!(net.count_kind(0, 1, Kind::Eager) <= (WINDOW / (50 + ENVELOPE)) as usize);
        net.drain_and_check(&[CTX], 64);
    }
}

#[test]
fn many_senders_each_stay_within_their_own_window() {
    for seed in 0..6 {
        let mut net = Net::new(NetConfig::small(4), seed);
        for from in 0..3 {
            for i in 0..30 {
                let len = [0usize, 10, 40, 64][i % 4];
                net.program[from].push_back(ProgOp::Send {
                    to: 3,
                    ctx: CTX,
                    tag: i as i32,
                    len,
                    mode: SendMode::Standard,
                });
            }
        }
        net.run();
        assert!(net.max_unexpected[3] <= 3 * WINDOW, "seed {seed}: {} bytes", net.max_unexpected[3]);
        for from in 0..3 {
            let eager_bytes: u64 =
                net.packets(from, 3).iter().filter(|h| h.kind == Kind::Eager).map(|h| h.len + ENVELOPE).sum();
            assert!(eager_bytes <= WINDOW, "seed {seed}: rank {from} sent {eager_bytes} bytes of eager credit");
        }
        net.drain_and_check(&[CTX], 64);
    }
}

#[test]
#[ignore = "engine limitation, not fixed here: a sender starts with credit equal to its own \
            EngineConfig::eager_window and assumes the receiver's is the same; a receiver configured \
            with a smaller window is overrun. Fixing it needs the receiver's window advertised per \
            peer (e.g. a PeerCaps field), an API change for the engine author to decide."]
fn receiver_with_a_smaller_window_is_not_overrun_by_a_sender_with_a_larger_one() {
    let mut net = Net::new(NetConfig::small(2), 0);
    // Rank 0 is configured with an 8x larger window than rank 1 (the
    // harness's 1024, which its credit check holds rank 0 to).
    let cfg = NetConfig::small(2);
    net.eng[0] = Engine::new(0, 2, EngineConfig { eager_window: 8 * WINDOW, pid: PID_BASE, single_copy_ok: false });
    for p in 0..2 {
        net.eng[0].set_peer_caps(
            p,
            PeerCaps { max_packet: cfg.max_packet, eager_limit: cfg.eager_limit, single_copy: false },
        );
    }
    for i in 0..60 {
        let d = net.payload(50);
        net.send(0, 1, CTX, i, d, SendMode::Standard);
    }
    net.run();
    assert!(
        net.max_unexpected[1] <= WINDOW,
        "receiver buffered {} bytes with a {WINDOW}-byte window",
        net.max_unexpected[1]
    );
}

// ---- 7. synchronous sends ----

#[test]
fn synchronous_send_completes_only_after_the_receive_matches() {
    for path in PATHS {
        for seed in 0..6 {
            let mut net = Net::new(path.cfg(2), seed);
            let data = net.payload(path.len());
            let s = net.send(0, 1, CTX, 5, data.clone(), SendMode::Synchronous);
            net.run();
            assert!(net.is_quiet());
            assert_eq!(net.status(s), None, "{path:?}: completed with no receive posted");
            assert!(net.iprobe(1, CTX, SrcSel::Any, TagSel::Any).is_some(), "{path:?}: the message did arrive");
            let r = net.recv(1, CTX, SrcSel::Rank(0), TagSel::Tag(5), 400);
            net.run();
            assert_eq!(net.status(r).map(|s| s.count), Some(data.len()), "{path:?}");
            assert_eq!(net.recv_bytes(r, data.len()), &data[..]);
            assert!(net.status(s).is_some(), "{path:?}: synchronous send never completed");
            if path == Path::Eager {
                assert_eq!(net.count_kind(1, 0, Kind::SyncAck), 1);
            }
            let m = net.replay_model();
            net.check_against_model(&m, true);
        }
    }
}

#[test]
fn synchronous_eager_send_waits_for_a_matched_probe_receive() {
    let mut net = Net::new(NetConfig::small(2), 2);
    let data = net.payload(20);
    let s = net.send(0, 1, CTX, 5, data, SendMode::Synchronous);
    net.run();
    let (msg, _) = net.improbe(1, CTX, SrcSel::Any, TagSel::Any).unwrap();
    net.run();
    assert_eq!(net.status(s), None, "a matched probe alone does not complete the receive");
    net.mrecv(1, msg, 20).unwrap();
    net.run();
    assert!(net.status(s).is_some());
}

// ---- 8. zero bytes, self sends, free, stale ids ----

#[test]
fn zero_byte_messages_match_and_complete_eager_and_rendezvous() {
    for single_copy in [false, true] {
        let mut net = Net::new(NetConfig::small(2).with_single_copy(single_copy), 4);
        // Zero-byte messages cost only the envelope; past the window they go
        // by Rts with a zero length.
        let total = (WINDOW / ENVELOPE) as usize + 3;
        let sends: Vec<usize> =
            (0..total).map(|i| net.send(0, 1, CTX, i as i32, Vec::new(), SendMode::Standard)).collect();
        net.run();
        assert_eq!(net.count_kind(0, 1, Kind::Rts), 3);
        let recvs: Vec<usize> =
            (0..total).map(|i| net.recv(1, CTX, SrcSel::Any, TagSel::Any, if i % 2 == 0 { 0 } else { 10 })).collect();
        net.run();
        for (i, &r) in recvs.iter().enumerate() {
            assert_eq!(
                net.status(r),
                Some(Status { source: 0, tag: i as i32, count: 0, truncated: false, cancelled: false }),
                "single_copy={single_copy}: receive {i}"
            );
            assert!(net.recv_buffer(r).iter().all(|&b| b == SENTINEL));
        }
        for &s in &sends {
            assert_eq!(net.status(s).map(|s| s.count), Some(0));
        }
        assert!(net.reads.is_empty(), "nothing to read for zero bytes");
    }
}

#[test]
fn nonempty_message_into_a_zero_byte_buffer_is_truncated_to_nothing() {
    for path in PATHS {
        let mut net = Net::new(path.cfg(2), 8);
        let data = net.payload(path.len());
        let s = net.send(0, 1, CTX, 0, data.clone(), SendMode::Standard);
        let r = net.recv(1, CTX, SrcSel::Any, TagSel::Any, 0);
        net.run();
        assert_eq!(
            net.status(r),
            Some(Status { source: 0, tag: 0, count: 0, truncated: true, cancelled: false }),
            "{path:?}"
        );
        assert!(net.recv_buffer(r).iter().all(|&b| b == SENTINEL));
        assert_eq!(net.status(s).map(|s| s.count), Some(data.len()), "{path:?}");
    }
}

#[test]
fn self_sends_travel_through_the_network_on_every_path() {
    for path in PATHS {
        for recv_first in [false, true] {
            let mut net = Net::new(path.cfg(1), 9);
            let data = net.payload(path.len());
            let r0 = recv_first.then(|| net.recv(0, CTX, SrcSel::Rank(0), TagSel::Tag(3), 400));
            let s = net.send(0, 0, CTX, 3, data.clone(), SendMode::Synchronous);
            net.run();
            let r = r0.unwrap_or_else(|| net.recv(0, CTX, SrcSel::Rank(0), TagSel::Tag(3), 400));
            net.run();
            assert_eq!(net.status(r).map(|s| (s.source, s.count)), Some((0, data.len())), "{path:?}");
            assert_eq!(net.recv_bytes(r, data.len()), &data[..]);
            assert!(net.status(s).is_some(), "{path:?}");
            assert!(!net.packets(0, 0).is_empty());
            if path == Path::SingleCopy {
                assert_eq!(net.reads.len(), 1);
            }
        }
    }
}

#[test]
fn freed_pending_requests_run_to_completion_and_are_dropped() {
    for path in PATHS {
        let mut net = Net::new(path.cfg(2), 6);
        let data = net.payload(path.len());
        let s = net.send(0, 1, CTX, 0, data.clone(), SendMode::Synchronous);
        net.free(s);
        assert_eq!(net.eng[0].live_requests(), 1, "{path:?}: a freed pending send keeps running");
        let r = net.recv(1, CTX, SrcSel::Any, TagSel::Any, 400);
        net.free(r);
        net.run();
        assert_eq!(net.recv_bytes(r, data.len()), &data[..], "{path:?}: a freed receive still gets its data");
        assert_eq!(net.eng[0].live_requests(), 0, "{path:?}: detached send dropped at completion");
        assert_eq!(net.eng[1].live_requests(), 0, "{path:?}: detached receive dropped at completion");
        assert_eq!(net.eng[0].status(net.ops[s].rid), Err(EngineError::UnknownRequest));
        assert_eq!(net.eng[1].status(net.ops[r].rid), Err(EngineError::UnknownRequest));
        assert!(net.is_quiet());
    }
}

#[test]
fn stale_request_id_is_rejected_after_free_even_when_its_slot_is_reused() {
    let mut net = Net::new(NetConfig::small(2), 0);
    let data = net.payload(10);
    net.send(0, 1, CTX, 0, data, SendMode::Standard);
    let r = net.recv(1, CTX, SrcSel::Any, TagSel::Any, 10);
    net.run();
    assert!(net.status(r).is_some());
    let old = net.ops[r].rid;
    net.free(r);
    let e = &mut net.eng[1];
    assert_eq!(e.status(old), Err(EngineError::UnknownRequest));
    assert_eq!(e.free(old), Err(EngineError::UnknownRequest));
    assert!(!e.cancel_recv(old));
    assert!(e.recv_buffer(old).is_none());
    let fresh = net.recv(1, CTX, SrcSel::Any, TagSel::Any, 10);
    let new = net.ops[fresh].rid;
    assert_ne!(new, old);
    assert_eq!(new.0 & 0xffff_ffff, old.0 & 0xffff_ffff, "the slab reuses the slot (the case under test)");
    let e = &mut net.eng[1];
    assert_eq!(e.status(old), Err(EngineError::UnknownRequest), "stale id must not see the new request");
    assert!(!e.cancel_recv(old), "stale id must not cancel the new request");
    assert_eq!(e.status(new), Ok(None));
    assert!(net.cancel(fresh));
}

#[test]
fn sends_to_an_unknown_route_are_refused() {
    let mut e = Engine::new(0, 2, EngineConfig::default());
    let err = e.post_send(1, 0, 0, 0, rmpi_engine::buffer::SendBuf::empty(), SendMode::Standard).unwrap_err();
    assert_eq!(err, EngineError::NoRoute(1));
    let err = e.post_send(5, 0, 0, 0, rmpi_engine::buffer::SendBuf::empty(), SendMode::Standard).unwrap_err();
    assert_eq!(err, EngineError::NoRoute(5));
    assert_eq!(e.live_requests(), 0);
}

// ---- 9. deadlock freedom ----

#[test]
fn crossing_large_sends_complete_under_every_interleaving_tried() {
    for seed in 0..150u64 {
        for send_first in [true, false] {
            let mut cfg = NetConfig::small(2).with_single_copy(seed % 3 == 0);
            cfg.refuse_pct = 40;
            cfg.wire_cap = 2;
            cfg.read_fail_pct = if seed % 6 == 3 { 50 } else { 0 };
            let mut net = Net::new(cfg, seed);
            let mode = if seed % 2 == 0 { SendMode::Standard } else { SendMode::Synchronous };
            for me in 0..2 {
                let other = 1 - me;
                let send = ProgOp::Send { to: other, ctx: CTX, tag: 1, len: 1000, mode };
                let recv = ProgOp::Recv { ctx: CTX, src: SrcSel::Rank(other as i32), tag: TagSel::Tag(1), cap: 1000 };
                if send_first {
                    net.program[me].extend([send, recv]);
                } else {
                    net.program[me].extend([recv, send]);
                }
            }
            net.run();
            assert!(net.is_quiet());
            for (i, op) in net.ops.iter().enumerate() {
                assert!(op.done.is_some(), "seed {seed} send_first={send_first}: op {i} stuck");
            }
            let m = net.replay_model();
            assert_eq!(m.len(), 2);
            net.check_against_model(&m, true);
        }
    }
}

#[test]
fn crossing_large_sends_complete_while_eager_credit_is_exhausted_both_ways() {
    for seed in 0..60u64 {
        let mut cfg = NetConfig::small(2).with_single_copy(seed % 2 == 0);
        cfg.refuse_pct = 30;
        cfg.wire_cap = 3;
        let mut net = Net::new(cfg, seed);
        for me in 0..2 {
            let other = 1 - me;
            // Fill the peer's window with messages it receives only at the end.
            for i in 0..20 {
                net.program[me].push_back(ProgOp::Send {
                    to: other,
                    ctx: CTX,
                    tag: 10 + i,
                    len: 60,
                    mode: SendMode::Standard,
                });
            }
            net.program[me].push_back(ProgOp::Send {
                to: other,
                ctx: CTX,
                tag: 1,
                len: 900,
                mode: SendMode::Synchronous,
            });
            net.program[me].push_back(ProgOp::Recv {
                ctx: CTX,
                src: SrcSel::Rank(other as i32),
                tag: TagSel::Tag(1),
                cap: 900,
            });
            for i in 0..20 {
                net.program[me].push_back(ProgOp::Recv {
                    ctx: CTX,
                    src: SrcSel::Any,
                    tag: TagSel::Tag(10 + i),
                    cap: 60,
                });
            }
        }
        net.run();
        for (i, op) in net.ops.iter().enumerate() {
            assert!(op.done.is_some(), "seed {seed}: op {i} stuck");
        }
        for r in 0..2 {
            assert!(net.max_unexpected[r] <= WINDOW, "seed {seed}");
        }
        let m = net.replay_model();
        net.check_against_model(&m, true);
    }
}
