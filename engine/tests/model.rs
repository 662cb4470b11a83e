//! Random programs of sends, receives, probes and cancels on 2–4 engines,
//! run under random delivery interleavings and compared with a reference
//! matcher written from MPI's rules (see `harness::Net::replay_model`).

mod harness;

use harness::*;
use proptest::prelude::*;
use rand::Rng;

/// One generated operation: (rank, what, peer, ctx, tag, len, wild src, wild tag).
type RawOp = (u8, u8, u8, u8, u8, u16, bool, bool);

const CONTEXTS: [u32; 3] = [0, 1, 7];

fn to_prog(n: usize, op: RawOp) -> (usize, ProgOp) {
    let (rank, what, peer, ctx, tag, len, wsrc, wtag) = op;
    let rank = rank as usize % n;
    let peer = peer as usize % n;
    let ctx = CONTEXTS[ctx as usize % CONTEXTS.len()];
    let tag = (tag % 3) as i32;
    let len = len as usize;
    let src = if wsrc { SrcSel::Any } else { SrcSel::Rank(peer as i32) };
    let tsel = if wtag { TagSel::Any } else { TagSel::Tag(tag) };
    let p = match what % 17 {
        0..=4 => ProgOp::Send { to: peer, ctx, tag, len, mode: SendMode::Standard },
        5 => ProgOp::Send { to: peer, ctx, tag, len, mode: SendMode::Synchronous },
        6 => ProgOp::Send { to: peer, ctx, tag, len, mode: SendMode::Ready },
        7..=11 => ProgOp::Recv { ctx, src, tag: tsel, cap: len },
        12 => ProgOp::CancelOldest,
        13 => ProgOp::Iprobe { ctx, src, tag: tsel },
        14 => ProgOp::Improbe { ctx, src, tag: tsel },
        15 => ProgOp::Mrecv { cap: len },
        _ => ProgOp::FreeNewest,
    };
    (rank, p)
}

fn raw_op() -> impl Strategy<Value = RawOp> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        prop_oneof![0u16..=70, 60u16..=450],
        any::<bool>(),
        any::<bool>(),
    )
}

fn run_program(cfg: NetConfig, ops: &[RawOp], seed: u64) -> Net {
    let mut net = Net::new(cfg, seed);
    for &op in ops {
        let (r, p) = to_prog(cfg.n, op);
        net.program[r].push_back(p);
    }
    net.run();
    let m = net.replay_model();
    net.check_against_model(&m, true);
    net.drain_and_check(&CONTEXTS, 512);
    net
}

/// A network shape: ranks, eager window, Data chunk, eager limit, refusal
/// percent, wire capacity, single copy, failure percent of single-copy
/// reads and split writes, split copies from this length (0: off).
type Shape = (usize, u64, usize, usize, u32, usize, bool, u32, u64);

/// Network shapes from degenerate (no eager credit at all, 13-byte Data
/// chunks, a one-packet wire) to roomy.
fn net_config() -> impl Strategy<Value = Shape> {
    (
        2usize..=4,
        prop_oneof![Just(0u64), Just(128), Just(300), Just(1024), Just(4096)],
        prop_oneof![Just(13usize), Just(100), Just(1000)],
        prop_oneof![Just(0usize), Just(8), Just(64), Just(500)],
        prop_oneof![Just(0u32), Just(15), Just(60)],
        prop_oneof![Just(1usize), Just(6), Just(100)],
        any::<bool>(),
        prop_oneof![Just(0u32), Just(30)],
        prop_oneof![Just(0u64), Just(1), Just(200)],
    )
}

fn make_cfg(c: Shape) -> NetConfig {
    let (n, eager_window, chunk, eager_limit, refuse_pct, wire_cap, single_copy, read_fail_pct, split_min) = c;
    NetConfig {
        n,
        eager_window,
        max_packet: HEADER_LEN + chunk,
        eager_limit,
        single_copy,
        refuse_pct,
        read_fail_pct,
        split_min,
        split_share: 512,
        // Busy senders offer too, except in one shape of three.
        split_busy_min: if split_min == 200 { u64::MAX } else { 0 },
        write_fail_pct: read_fail_pct,
        wire_cap,
    }
}

proptest! {
    // 256 cases by default; PROPTEST_CASES=n runs more.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn engine_matches_what_the_reference_model_says_mpi_requires(
        cfg in net_config(),
        ops in prop::collection::vec(raw_op(), 1..80),
        seed in any::<u64>(),
    ) {
        run_program(make_cfg(cfg), &ops, seed);
    }

    /// MPI makes a program without ANY_SOURCE receives (and without cancel
    /// or probes) deterministic: whatever the interleaving and whichever
    /// protocol carries each message, every receive gets the same send.
    #[test]
    fn matching_without_any_source_is_the_same_under_every_interleaving_and_protocol(
        cfgs in prop::collection::vec(net_config(), 4),
        ops in prop::collection::vec(raw_op(), 1..80),
        seeds in prop::collection::vec(any::<u64>(), 4),
    ) {
        let ops: Vec<RawOp> = ops
            .into_iter()
            .map(|mut o| {
                o.1 %= 12; // sends and receives only
                o.6 = false; // no ANY_SOURCE
                o
            })
            .collect();
        let n = cfgs[0].0;
        let mut outcomes = Vec::new();
        for (c, seed) in cfgs.into_iter().zip(seeds) {
            let mut cfg = make_cfg(c);
            cfg.n = n;
            let mut net = Net::new(cfg, seed);
            for &op in &ops {
                let (r, p) = to_prog(n, op);
                net.program[r].push_back(p);
            }
            net.run();
            let m = net.replay_model();
            net.check_against_model(&m, true);
            let mut by_label: Vec<((usize, usize), (usize, usize))> =
                m.iter().map(|(&r, &(s, _))| (net.ops[r].label, net.ops[s].label)).collect();
            by_label.sort();
            outcomes.push(by_label);
        }
        for o in &outcomes[1..] {
            prop_assert_eq!(o, &outcomes[0]);
        }
    }
}

/// Longer programs than proptest generates, over fixed seeds.
#[test]
fn long_random_programs_match_the_reference_model() {
    for seed in 0..150u64 {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
        let n = 2 + (seed as usize % 3);
        let ops: Vec<RawOp> = (0..400)
            .map(|_| {
                let len = if rng.gen_bool(0.5) { rng.gen_range(0..=70) } else { rng.gen_range(60..=450) };
                (rng.gen(), rng.gen(), rng.gen(), rng.gen(), rng.gen(), len, rng.gen_bool(0.3), rng.gen_bool(0.3))
            })
            .collect();
        let mut cfg = NetConfig::small(n).with_single_copy(seed % 2 == 0);
        cfg.read_fail_pct = if seed % 4 == 1 { 25 } else { 0 };
        let net = run_program(cfg, &ops, seed);
        let sends = net.ops.iter().filter(|o| o.is_send()).count();
        assert!(sends > 50, "seed {seed}: program too small to mean much");
    }
}
