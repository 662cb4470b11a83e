//! Message ordering: per (sender, context, tag) FIFO and MPI's
//! non-overtaking rule under wildcard receives, with message sizes on both
//! sides of the eager / rendezvous boundary and random interleavings.

mod harness;

use harness::*;
use rand::seq::SliceRandom;
use rand::Rng;

/// Send op index a payload carries in its first 8 bytes (see `Net::payload`).
fn id_of(bytes: &[u8]) -> usize {
    u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
}

/// A size on either side of the eager limit (64), including the edges, up
/// to four Data chunks; at least 8 so the payload carries its send's id.
fn size_across_boundary(rng: &mut impl Rng) -> usize {
    match rng.gen_range(0..6) {
        0 => 64,
        1 => 65,
        2 | 3 => rng.gen_range(8..=64),
        _ => rng.gen_range(65..=400),
    }
}

/// For every completed receive, check its status and bytes against the send
/// its payload names; return, per receiving rank, (receive op, send op) in
/// receive posting order.
fn check_payloads(net: &mut Net) -> Vec<Vec<(usize, usize)>> {
    let mut per_rank = vec![Vec::new(); net.cfg.n];
    for op in 0..net.ops.len() {
        if net.ops[op].is_send() {
            continue;
        }
        let st = net.status(op).unwrap_or_else(|| panic!("seed {}: receive op {op} never completed", net.seed));
        let OpKind::Recv { cap, .. } = net.ops[op].kind else { unreachable!() };
        assert!(st.count >= 8, "seed {}: receive op {op} got {} bytes", net.seed, st.count);
        let s = id_of(net.recv_bytes(op, 8));
        assert!(s < net.ops.len() && net.ops[s].is_send(), "seed {}: receive op {op} names no send", net.seed);
        let OpKind::Send { to, tag, data, .. } = net.ops[s].kind.clone() else { unreachable!() };
        assert_eq!(to, net.ops[op].rank, "seed {}: message delivered to the wrong rank", net.seed);
        let count = data.len().min(cap);
        assert_eq!(
            st,
            Status { source: net.ops[s].rank as i32, tag, count, truncated: data.len() > cap, cancelled: false },
            "seed {}: status of receive op {op}",
            net.seed
        );
        assert_eq!(net.recv_bytes(op, count), &data[..count], "seed {}: payload of receive op {op}", net.seed);
        per_rank[net.ops[op].rank].push((op, s));
    }
    for (r, list) in per_rank.iter().enumerate() {
        let mut seen = std::collections::HashSet::new();
        for &(_, s) in list {
            assert!(seen.insert(s), "seed {}: send op {s} received twice at rank {r}", net.seed);
        }
    }
    per_rank
}

fn accepts(net: &Net, recv: usize, send: usize) -> bool {
    let OpKind::Recv { ctx, src, tag, .. } = net.ops[recv].kind else { unreachable!() };
    let OpKind::Send { ctx: sctx, tag: stag, .. } = net.ops[send].kind else { unreachable!() };
    ctx == sctx
        && match src {
            SrcSel::Any => true,
            SrcSel::Rank(s) => s == net.ops[send].rank as i32,
        }
        && match tag {
            TagSel::Any => true,
            TagSel::Tag(t) => t == stag,
        }
}

/// MPI's non-overtaking rule, checked from the outcome alone: if receives
/// r1 then r2 (posting order) got sends s_b and s_a of one sender, and each
/// receive would also have accepted the other's message, the earlier
/// receive must hold the earlier send.
fn check_non_overtaking(net: &Net, per_rank: &[Vec<(usize, usize)>]) {
    for list in per_rank {
        for (i, &(r1, s1)) in list.iter().enumerate() {
            for &(r2, s2) in &list[i + 1..] {
                if net.ops[s1].rank != net.ops[s2].rank {
                    continue;
                }
                if accepts(net, r1, s2) && accepts(net, r2, s1) {
                    assert!(
                        s1 < s2,
                        "seed {}: receive op {r1} (posted before op {r2}) got send op {s1}, posted after send op {s2}",
                        net.seed
                    );
                }
            }
        }
    }
}

/// Each rank sends `per_pair` messages to every rank (itself included), on
/// two contexts and three tags. Returns the sends as (from, to, ctx, tag).
fn all_to_all_program(net: &mut Net, per_pair: usize) -> Vec<(usize, usize, u32, i32)> {
    let n = net.cfg.n;
    let mut sends = Vec::new();
    for from in 0..n {
        let mut mine = Vec::new();
        for to in 0..n {
            for _ in 0..per_pair {
                mine.push(to);
            }
        }
        mine.shuffle(net.rng());
        for to in mine {
            let ctx = net.rng().gen_range(0..2);
            let tag = net.rng().gen_range(0..3);
            let len = size_across_boundary(net.rng());
            let mode = if net.rng().gen_range(0..5) == 0 { SendMode::Synchronous } else { SendMode::Standard };
            net.program[from].push_back(ProgOp::Send { to, ctx, tag, len, mode });
            sends.push((from, to, ctx, tag));
        }
    }
    sends
}

#[test]
fn messages_with_the_same_sender_context_and_tag_are_received_in_send_order() {
    for seed in 0..80 {
        let n = 2 + (seed as usize % 3);
        let cfg = NetConfig::small(n).with_single_copy(seed % 2 == 1);
        let mut net = Net::new(cfg, seed);
        let sends = all_to_all_program(&mut net, 12);
        // Each receiver posts exactly one receive per message, naming its
        // sender, context and tag, in an order shuffled across groups.
        for to in 0..n {
            let mut recvs: Vec<ProgOp> = sends
                .iter()
                .filter(|s| s.1 == to)
                .map(|&(from, _, ctx, tag)| ProgOp::Recv {
                    ctx,
                    src: SrcSel::Rank(from as i32),
                    tag: TagSel::Tag(tag),
                    cap: 400,
                })
                .collect();
            recvs.shuffle(net.rng());
            net.program[to].extend(recvs);
        }
        net.run();
        assert!(net.is_quiet());
        let per_rank = check_payloads(&mut net);
        for list in &per_rank {
            for (i, &(r1, s1)) in list.iter().enumerate() {
                for &(r2, s2) in &list[i + 1..] {
                    let a = &net.ops[s1];
                    let b = &net.ops[s2];
                    let (OpKind::Send { ctx: c1, tag: t1, .. }, OpKind::Send { ctx: c2, tag: t2, .. }) =
                        (&a.kind, &b.kind)
                    else {
                        unreachable!()
                    };
                    if a.rank == b.rank && c1 == c2 && t1 == t2 {
                        assert!(s1 < s2, "seed {seed}: receive ops {r1} < {r2} got sends {s1} > {s2} of one stream");
                    }
                }
            }
        }
        assert_eq!(per_rank.iter().map(Vec::len).sum::<usize>(), sends.len(), "seed {seed}: messages lost");
        for (i, op) in net.ops.iter().enumerate() {
            assert!(op.done.is_some(), "seed {seed}: op {i} never completed");
        }
        // Both protocols were exercised.
        let kinds: Vec<Kind> = net.trace.iter().map(|t| t.2.kind).collect();
        assert!(kinds.contains(&Kind::Eager) && kinds.contains(&Kind::Rts), "seed {seed}: a protocol went unused");
    }
}

#[test]
fn wildcard_receives_never_let_a_later_message_overtake_an_earlier_one() {
    for seed in 0..80 {
        let n = 2 + (seed as usize % 3);
        let cfg = NetConfig::small(n).with_single_copy(seed % 3 == 0);
        let mut net = Net::new(cfg, 1000 + seed);
        let sends = all_to_all_program(&mut net, 10);
        // Receives mix ANY_SOURCE / ANY_TAG / specific selectors. Per
        // context, one receive per message; every selector names an
        // existing (sender, tag) pair so the mix stays satisfiable often,
        // and the leftovers are drained with full wildcards.
        for to in 0..n {
            let mut mine: Vec<(usize, u32, i32)> =
                sends.iter().filter(|s| s.1 == to).map(|&(f, _, c, t)| (f, c, t)).collect();
            mine.shuffle(net.rng());
            for (from, ctx, tag) in mine {
                let src = if net.rng().gen_bool(0.5) { SrcSel::Any } else { SrcSel::Rank(from as i32) };
                let tag = if net.rng().gen_bool(0.5) { TagSel::Any } else { TagSel::Tag(tag) };
                net.program[to].push_back(ProgOp::Recv { ctx, src, tag, cap: 400 });
            }
        }
        net.run();
        let matched = net.drain_and_check(&[0, 1], 400);
        // Keep only receives that completed with data for the rule check.
        let mut per_rank = vec![Vec::new(); n];
        for op in 0..net.ops.len() {
            if net.ops[op].is_send() || net.ops[op].done.is_some_and(|s| s.cancelled) {
                continue;
            }
            let s = id_of(net.recv_bytes(op, 8));
            assert_eq!(matched.get(&op).map(|m| m.0), Some(s), "seed {seed}: model and payload disagree");
            per_rank[net.ops[op].rank].push((op, s));
        }
        check_non_overtaking(&net, &per_rank);
        let delivered: usize = per_rank.iter().map(Vec::len).sum();
        assert_eq!(delivered, sends.len(), "seed {seed}: messages lost");
    }
}
