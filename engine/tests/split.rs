//! Split copy: the receiver of a large single-copy message reads its head
//! while the sender writes its tail. Directed tests of the protocol under
//! random interleavings: contents, truncation, failed writes and reads,
//! the threshold, and many messages in flight at once.

mod harness;

use harness::*;

const CTX: u32 = 0;

fn split_net(min: u64, seed: u64) -> Net {
    Net::new(NetConfig::small(2).with_split(min), seed)
}

fn bytes_moved(v: &[(usize, usize)]) -> usize {
    v.iter().map(|&(_, n)| n).sum()
}

#[test]
fn a_split_message_arrives_whole_with_the_copy_shared() {
    for len in [130usize, 199, 256, 350, 449] {
        for recv_first in [true, false] {
            for seed in 0..12 {
                let mut net = split_net(1, seed);
                let data = net.payload(len);
                let r = recv_first.then(|| net.recv(1, CTX, SrcSel::Rank(0), TagSel::Tag(3), 512));
                let s = net.send(0, 1, CTX, 3, data.clone(), SendMode::Standard);
                net.run();
                let r = r.unwrap_or_else(|| net.recv(1, CTX, SrcSel::Rank(0), TagSel::Tag(3), 512));
                net.run();
                let ctxt = format!("len={len} recv_first={recv_first} seed={seed}");
                assert_eq!(
                    net.status(r),
                    Some(Status { source: 0, tag: 3, count: len, truncated: false, cancelled: false }),
                    "{ctxt}"
                );
                assert_eq!(net.recv_bytes(r, len), &data[..], "{ctxt}");
                assert!(net.recv_buffer(r)[len..].iter().all(|&b| b == SENTINEL), "{ctxt}: wrote past the message");
                assert!(net.status(s).is_some(), "{ctxt}: send complete");
                // Whether a cut on a cache line exists depends on the
                // buffer's address; when it does, both sides copied.
                let splits = net.count_kind(1, 0, Kind::Split);
                assert!(splits <= 1, "{ctxt}");
                if splits == 1 {
                    assert_eq!(net.reads.len(), 1, "{ctxt}: the receiver reads the head once");
                    assert_eq!(net.writes.len(), 1, "{ctxt}: the sender writes the tail once");
                    assert!(net.reads[0].1 > 0 && net.writes[0].1 > 0, "{ctxt}: both parts non-empty");
                    assert_eq!(net.count_kind(0, 1, Kind::Wrote), 1, "{ctxt}");
                } else {
                    assert!(net.writes.is_empty(), "{ctxt}");
                }
                assert_eq!(bytes_moved(&net.reads) + bytes_moved(&net.writes), len, "{ctxt}: every byte copied once");
                assert_eq!(net.count_kind(1, 0, Kind::Fin), 1, "{ctxt}");
                assert_eq!(net.count_kind(0, 1, Kind::Data), 0, "{ctxt}");
                assert_eq!(net.eng[0].live_requests() + net.eng[1].live_requests(), 2, "{ctxt}");
            }
        }
    }
}

#[test]
fn most_large_messages_split() {
    // 64-byte cuts: a 350-byte message nearly always has one.
    let mut split = 0;
    for seed in 0..40 {
        let mut net = split_net(1, seed);
        let data = net.payload(350);
        let r = net.recv(1, CTX, SrcSel::Any, TagSel::Any, 400);
        net.send(0, 1, CTX, 0, data.clone(), SendMode::Standard);
        net.run();
        assert_eq!(net.recv_bytes(r, 350), &data[..]);
        split += net.count_kind(1, 0, Kind::Split);
    }
    assert!(split >= 30, "only {split} of 40 messages split");
}

#[test]
fn truncated_split_copies_only_the_accepted_bytes() {
    for cap in [129usize, 200, 300] {
        for seed in 0..12 {
            let mut net = split_net(1, seed);
            let data = net.payload(350);
            let r = net.recv(1, CTX, SrcSel::Any, TagSel::Any, cap);
            let s = net.send(0, 1, CTX, 9, data.clone(), SendMode::Standard);
            net.run();
            let ctxt = format!("cap={cap} seed={seed}");
            assert_eq!(
                net.status(r),
                Some(Status { source: 0, tag: 9, count: cap, truncated: true, cancelled: false }),
                "{ctxt}"
            );
            assert_eq!(net.recv_bytes(r, cap), &data[..cap], "{ctxt}");
            assert!(net.recv_buffer(r)[cap..].iter().all(|&b| b == SENTINEL), "{ctxt}: wrote past the buffer");
            assert_eq!(bytes_moved(&net.reads) + bytes_moved(&net.writes), cap, "{ctxt}");
            assert_eq!(
                net.status(s),
                Some(Status { source: 0, tag: 9, count: 350, truncated: false, cancelled: false }),
                "{ctxt}: the sender completes normally"
            );
        }
    }
}

#[test]
fn a_failed_write_makes_the_receiver_read_the_tail() {
    for seed in 0..16 {
        let mut cfg = NetConfig::small(2).with_split(1);
        cfg.write_fail_pct = 100;
        let mut net = Net::new(cfg, seed);
        let data = net.payload(350);
        let r = net.recv(1, CTX, SrcSel::Any, TagSel::Any, 350);
        let s = net.send(0, 1, CTX, 2, data.clone(), SendMode::Standard);
        net.run();
        assert_eq!(net.recv_bytes(r, 350), &data[..], "seed {seed}");
        assert_eq!(net.status(r).map(|st| st.count), Some(350));
        assert!(net.status(s).is_some());
        if net.count_kind(1, 0, Kind::Split) == 1 {
            assert_eq!(net.reads.len(), 2, "seed {seed}: head, then the tail the sender failed to write");
            assert_eq!(bytes_moved(&net.reads), 350, "seed {seed}");
        }
        assert_eq!(net.count_kind(0, 1, Kind::Data), 0, "seed {seed}: no streaming");
    }
}

#[test]
fn failed_reads_fall_back_to_streaming_whatever_the_write_did() {
    for write_fail_pct in [0, 100] {
        for seed in 0..16 {
            let mut cfg = NetConfig::small(2).with_split(1);
            cfg.read_fail_pct = 100;
            cfg.write_fail_pct = write_fail_pct;
            let mut net = Net::new(cfg, seed);
            let data = net.payload(350);
            let r = net.recv(1, CTX, SrcSel::Any, TagSel::Any, 300);
            let s = net.send(0, 1, CTX, 2, data.clone(), SendMode::Standard);
            net.run();
            let ctxt = format!("write_fail_pct={write_fail_pct} seed={seed}");
            assert_eq!(
                net.status(r),
                Some(Status { source: 0, tag: 2, count: 300, truncated: true, cancelled: false }),
                "{ctxt}"
            );
            assert_eq!(net.recv_bytes(r, 300), &data[..300], "{ctxt}");
            assert!(net.recv_buffer(r)[300..].iter().all(|&b| b == SENTINEL), "{ctxt}");
            assert!(net.status(s).is_some(), "{ctxt}");
            assert_eq!(net.count_kind(1, 0, Kind::Cts), 1, "{ctxt}");
            assert!(net.count_kind(0, 1, Kind::Data) > 0, "{ctxt}");
            assert_eq!(net.count_kind(1, 0, Kind::Fin), 0, "{ctxt}: streamed, not copied");
        }
    }
}

#[test]
fn the_threshold_and_the_switch_decide_which_messages_split() {
    for seed in 0..8 {
        // Off: whole single copies only.
        let mut net = Net::new(NetConfig::small(2).with_single_copy(true), seed);
        let data = net.payload(400);
        let r = net.recv(1, CTX, SrcSel::Any, TagSel::Any, 400);
        net.send(0, 1, CTX, 0, data.clone(), SendMode::Standard);
        net.run();
        assert_eq!(net.recv_bytes(r, 400), &data[..]);
        assert_eq!(net.count_kind(1, 0, Kind::Split), 0);
        assert_eq!(net.reads, vec![(1, 400)]);

        // Threshold 300: 299 bytes go whole, 300 may split.
        let mut net = split_net(300, seed);
        let small = net.payload(299);
        let big = net.payload(300);
        let r1 = net.recv(1, CTX, SrcSel::Any, TagSel::Tag(1), 512);
        let r2 = net.recv(1, CTX, SrcSel::Any, TagSel::Tag(2), 512);
        net.send(0, 1, CTX, 1, small.clone(), SendMode::Standard);
        net.send(0, 1, CTX, 2, big.clone(), SendMode::Standard);
        net.run();
        assert_eq!(net.recv_bytes(r1, 299), &small[..]);
        assert_eq!(net.recv_bytes(r2, 300), &big[..]);
        let rts_split: Vec<bool> = net
            .packets(0, 1)
            .iter()
            .filter(|h| h.kind == Kind::Rts)
            .map(|h| h.flags & rmpi_engine::wire::FLAG_SPLIT_OK != 0)
            .collect();
        assert_eq!(rts_split, vec![false, true], "seed {seed}: only the message at the threshold offers a split");
        // A receive buffer shorter than the threshold takes it whole too.
        let mut net = split_net(300, seed);
        let data = net.payload(400);
        let r = net.recv(1, CTX, SrcSel::Any, TagSel::Any, 250);
        net.send(0, 1, CTX, 0, data.clone(), SendMode::Standard);
        net.run();
        assert_eq!(net.recv_bytes(r, 250), &data[..250]);
        assert_eq!(net.count_kind(1, 0, Kind::Split), 0, "seed {seed}");
    }
}

#[test]
fn a_window_of_many_split_messages_arrives_in_order_with_every_byte_right() {
    for seed in 0..20 {
        let mut cfg = NetConfig::small(2).with_split(100);
        cfg.write_fail_pct = if seed % 4 == 3 { 30 } else { 0 };
        cfg.read_fail_pct = if seed % 5 == 4 { 20 } else { 0 };
        let mut net = Net::new(cfg, seed);
        let lens: Vec<usize> = (0..48).map(|i| 60 + (i * 37 + seed as usize * 11) % 400).collect();
        let datas: Vec<Vec<u8>> = lens.iter().map(|&l| net.payload(l)).collect();
        // Half the receives before the sends, half after (unexpected Rts).
        let mut recvs: Vec<usize> = (0..24).map(|_| net.recv(1, CTX, SrcSel::Rank(0), TagSel::Tag(5), 512)).collect();
        let sends: Vec<usize> = datas.iter().map(|d| net.send(0, 1, CTX, 5, d.clone(), SendMode::Standard)).collect();
        net.run();
        recvs.extend((0..24).map(|_| net.recv(1, CTX, SrcSel::Rank(0), TagSel::Tag(5), 512)));
        net.run();
        for (i, (&r, d)) in recvs.iter().zip(&datas).enumerate() {
            assert_eq!(net.status(r).map(|s| s.count), Some(d.len()), "seed {seed} message {i}");
            assert_eq!(net.recv_bytes(r, d.len()), &d[..], "seed {seed} message {i}: non-overtaking and contents");
        }
        assert!(sends.iter().all(|&s| net.status(s).is_some()), "seed {seed}");
        assert!(net.count_kind(1, 0, Kind::Split) > 10, "seed {seed}: splits happened");
        assert!(net.is_quiet(), "seed {seed}");
    }
}

#[test]
fn crossing_split_messages_in_both_directions_complete() {
    for seed in 0..20 {
        let mut net = split_net(1, seed);
        let a = net.payload(400);
        let b = net.payload(333);
        let r0 = net.recv(0, CTX, SrcSel::Rank(1), TagSel::Any, 400);
        let r1 = net.recv(1, CTX, SrcSel::Rank(0), TagSel::Any, 400);
        let s0 = net.send(0, 1, CTX, 1, a.clone(), SendMode::Synchronous);
        let s1 = net.send(1, 0, CTX, 1, b.clone(), SendMode::Standard);
        net.run();
        assert_eq!(net.recv_bytes(r1, 400), &a[..]);
        assert_eq!(net.recv_bytes(r0, 333), &b[..]);
        assert!(net.status(s0).is_some() && net.status(s1).is_some(), "seed {seed}");
    }
}

#[test]
fn a_sender_with_receives_posted_or_splitting_with_another_peer_does_not_offer() {
    for seed in 0..8 {
        // A receive posted on the sender: no offer (busy_min is unlimited).
        let mut net = split_net(1, seed);
        let data = net.payload(350);
        let mine = net.recv(0, CTX, SrcSel::Rank(1), TagSel::Tag(7), 64);
        let r = net.recv(1, CTX, SrcSel::Any, TagSel::Tag(1), 400);
        net.send(0, 1, CTX, 1, data.clone(), SendMode::Standard);
        net.run();
        assert_eq!(net.recv_bytes(r, 350), &data[..]);
        assert_eq!(net.count_kind(1, 0, Kind::Split), 0, "seed {seed}: a busy sender offered");
        assert!(net.status(mine).is_none());

        // Unless the message reaches busy_min.
        let mut cfg = NetConfig::small(2).with_split(1);
        cfg.split_busy_min = 300;
        let mut net = Net::new(cfg, seed);
        let data = net.payload(350);
        net.recv(0, CTX, SrcSel::Rank(1), TagSel::Tag(7), 64);
        let r = net.recv(1, CTX, SrcSel::Any, TagSel::Tag(1), 400);
        net.send(0, 1, CTX, 1, data.clone(), SendMode::Standard);
        net.run();
        assert_eq!(net.recv_bytes(r, 350), &data[..]);
        let offered = net.packets(0, 1).iter().any(|h| h.flags & rmpi_engine::wire::FLAG_SPLIT_OK != 0);
        assert!(offered, "seed {seed}");

        // One peer at a time: sends to rank 1 and rank 2 pending together,
        // only those to rank 1 (the first) offer; once they are done, rank 2's may.
        let mut net = Net::new(NetConfig::small(3).with_split(1), seed);
        let a = net.payload(350);
        let b = net.payload(350);
        let c = net.payload(350);
        let s1 = net.send(0, 1, CTX, 1, a.clone(), SendMode::Standard);
        net.send(0, 2, CTX, 1, b.clone(), SendMode::Standard);
        let offers = |net: &Net, to: usize| {
            net.packets(0, to).iter().filter(|h| h.flags & rmpi_engine::wire::FLAG_SPLIT_OK != 0).count()
        };
        let r1 = net.recv(1, CTX, SrcSel::Any, TagSel::Any, 400);
        let r2 = net.recv(2, CTX, SrcSel::Any, TagSel::Any, 400);
        net.run();
        assert_eq!(net.recv_bytes(r1, 350), &a[..]);
        assert_eq!(net.recv_bytes(r2, 350), &b[..]);
        assert_eq!((offers(&net, 1), offers(&net, 2)), (1, 0), "seed {seed}");
        assert!(net.status(s1).is_some());
        let r3 = net.recv(2, CTX, SrcSel::Any, TagSel::Any, 400);
        net.send(0, 2, CTX, 2, c.clone(), SendMode::Standard);
        net.run();
        assert_eq!(net.recv_bytes(r3, 350), &c[..]);
        assert_eq!(offers(&net, 2), 1, "seed {seed}: the count went back to zero");
    }
}

#[test]
fn split_and_wrote_out_of_turn_are_protocol_errors() {
    let mut net = split_net(1, 3);
    let data = net.payload(350);
    let s = net.send(0, 1, CTX, 1, data, SendMode::Standard);
    let r = net.recv(1, CTX, SrcSel::Any, TagSel::Tag(99), 400);
    net.pump(0);
    let sreq = net.ops[s].rid.0;
    let rreq = net.ops[r].rid.0;
    let split = |offset: u64, len: u64| {
        let mut h = Header::new(Kind::Split);
        h.a = sreq;
        h.b = rreq;
        h.len = len;
        h.src = offset as u32 as i32;
        h.tag = (offset >> 32) as u32 as i32;
        h.encode().to_vec()
    };
    // Past the end of the send buffer, empty, or from the wrong rank.
    assert!(net.eng[0].on_packet(1, &split(300, 51)).is_err());
    assert!(net.eng[0].on_packet(1, &split(1 << 32, 1)).is_err());
    assert!(net.eng[0].on_packet(1, &split(100, 0)).is_err());
    assert!(net.eng[0].on_packet(0, &split(100, 10)).is_err());
    // A Wrote for a receive that is still posted (no split started).
    let mut w = Header::new(Kind::Wrote);
    w.a = rreq;
    w.len = 10;
    assert!(net.eng[1].on_packet(0, &w.encode()).is_err());
    // An in-bounds Split is taken once; a second is out of turn, and so is
    // a Fin while the write is under way.
    assert!(net.eng[0].on_packet(1, &split(100, 250)).is_ok());
    assert!(net.eng[0].on_packet(1, &split(100, 250)).is_err());
    let mut fin = Header::new(Kind::Fin);
    fin.a = sreq;
    assert!(net.eng[0].on_packet(1, &fin.encode()).is_err());
    assert_eq!(net.status(s), None, "the send is not complete while its buffer is being written from");
}

#[test]
fn a_split_taken_back_before_its_split_leaves_is_a_whole_single_copy() {
    let mut taken_back = 0;
    for seed in 0..16 {
        let mut net = split_net(1, seed);
        let data = net.payload(350);
        let r = net.recv(1, CTX, SrcSel::Any, TagSel::Any, 400);
        let s = net.send(0, 1, CTX, 1, data.clone(), SendMode::Standard);
        net.pump(0);
        net.deliver_all(0, 1);
        let rid = net.ops[r].rid;
        // The head's read, as the driver takes it.
        let Some(Action::SingleCopyRead { len: head, .. }) = net.eng[1].next_action() else {
            panic!("seed {seed}: no read asked for")
        };
        let Some(Action::SingleCopyRead { req, offset, len, addr, .. }) = net.eng[1].unsplit(rid) else {
            // No cut on a cache line for this buffer: a whole copy already.
            assert_eq!(head, 350, "seed {seed}");
            continue;
        };
        taken_back += 1;
        assert!(head < 350, "seed {seed}");
        assert_eq!((req, offset, len), (rid, 0, 350), "seed {seed}: the whole message instead");
        assert_eq!(net.eng[1].unsplit(rid), None, "seed {seed}: only once");
        let mut rb = net.eng[1].recv_buffer(rid).expect("receive");
        // SAFETY: addr is the pending send's live buffer of 350 bytes.
        unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, rb.range_mut(0, 350).as_mut_ptr(), 350) };
        net.eng[1].single_copy_done(rid, true);
        net.run();
        assert_eq!(net.recv_bytes(r, 350), &data[..], "seed {seed}");
        assert!(net.status(s).is_some(), "seed {seed}");
        assert_eq!(net.count_kind(1, 0, Kind::Split), 0, "seed {seed}: the Split never left");
        assert_eq!(net.count_kind(1, 0, Kind::Fin), 1, "seed {seed}");
        assert!(net.writes.is_empty(), "seed {seed}");
        assert_eq!(net.eng[1].split_copies(), 0, "seed {seed}");
    }
    assert!(taken_back >= 8, "only {taken_back} of 16 taken back");
}
