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
    let p = match what % 16 {
        0..=4 => ProgOp::Send { to: peer, ctx, tag, len, mode: SendMode::Standard },
        5 => ProgOp::Send { to: peer, ctx, tag, len, mode: SendMode::Synchronous },
        6 => ProgOp::Send { to: peer, ctx, tag, len, mode: SendMode::Ready },
        7..=11 => ProgOp::Recv { ctx, src, tag: tsel, cap: len },
        12 => ProgOp::CancelOldest,
        13 => ProgOp::Iprobe { ctx, src, tag: tsel },
        14 => ProgOp::Improbe { ctx, src, tag: tsel },
        _ => ProgOp::Mrecv { cap: len },
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

fn run_program(n: usize, ops: &[RawOp], seed: u64, single_copy: bool, read_fail_pct: u32) -> Net {
    let mut cfg = NetConfig::small(n).with_single_copy(single_copy);
    cfg.read_fail_pct = read_fail_pct;
    let mut net = Net::new(cfg, seed);
    for &op in ops {
        let (r, p) = to_prog(n, op);
        net.program[r].push_back(p);
    }
    net.run();
    let m = net.replay_model();
    net.check_against_model(&m, true);
    net.drain_and_check(&CONTEXTS, 512);
    net
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_what_the_reference_model_says_mpi_requires(
        n in 2usize..=4,
        ops in prop::collection::vec(raw_op(), 1..80),
        seed in any::<u64>(),
        single_copy in any::<bool>(),
        read_fail in prop_oneof![Just(0u32), Just(30u32)],
    ) {
        run_program(n, &ops, seed, single_copy, read_fail);
    }
}

/// Longer programs than proptest generates, over fixed seeds.
#[test]
fn long_random_programs_match_the_reference_model() {
    for seed in 0..40u64 {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
        let n = 2 + (seed as usize % 3);
        let ops: Vec<RawOp> = (0..400)
            .map(|_| {
                let len = if rng.gen_bool(0.5) { rng.gen_range(0..=70) } else { rng.gen_range(60..=450) };
                (rng.gen(), rng.gen(), rng.gen(), rng.gen(), rng.gen(), len, rng.gen_bool(0.3), rng.gen_bool(0.3))
            })
            .collect();
        let net = run_program(n, &ops, seed, seed % 2 == 0, if seed % 4 == 1 { 25 } else { 0 });
        let sends = net.ops.iter().filter(|o| o.is_send()).count();
        assert!(sends > 50, "seed {seed}: program too small to mean much");
    }
}
