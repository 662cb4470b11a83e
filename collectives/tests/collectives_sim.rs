//! Every collective, on every size from 1 to 64, run by the simulator with
//! several seeds and checked against a sequential reference.

mod common;

use std::sync::Arc;

use common::*;
use rmpi_collectives::select::{self, CollArgs, CollectiveKind};
use rmpi_collectives::sim::{run_collectives, SimError, Simulation};
use rmpi_collectives::{CollError, Collective, ReduceOp};

const SEEDS: [u64; 3] = [1, 42, 0xdead_beef];

fn run(colls: Vec<Collective>, seed: u64) -> Vec<Vec<u8>> {
    run_collectives(colls, seed)
        .unwrap_or_else(|e| panic!("simulation failed: {e}"))
        .into_iter()
        .map(Collective::into_output)
        .collect()
}

#[test]
fn barrier_completes_on_every_size() {
    for size in 1..=64 {
        for seed in SEEDS {
            let colls = (0..size).map(|r| Collective::barrier(r, size)).collect();
            let out = run(colls, seed);
            assert!(out.iter().all(Vec::is_empty));
        }
    }
}

#[test]
fn barrier_does_not_complete_before_every_rank_entered() {
    for size in 2..=24 {
        for late in [0, size / 2, size - 1] {
            let colls = (0..size).map(|r| Collective::barrier(r, size)).collect();
            let mut sim = Simulation::new(colls, late as u64 + 7);
            let all_done = sim.run_ranks(&|r| r != late).expect("no error");
            assert!(!all_done, "size {size}: barrier completed without rank {late}");
            assert_eq!(sim.unfinished(), (0..size).collect::<Vec<_>>(), "size {size}, late {late}");
            sim.run().expect("completes once the late rank enters");
        }
    }
}

fn check_bcast(size: usize, root: usize, len: usize, seed: u64) {
    let payload: Vec<u8> = (0..len).map(|i| (i * 31 + root * 7 + 1) as u8).collect();
    let colls = (0..size)
        .map(|r| {
            let data = if r == root { payload.clone() } else { vec![0xAA; len] };
            let c = Collective::bcast(r, size, root, data).unwrap();
            assert!(c.algorithm().starts_with("bcast:"));
            c
        })
        .collect();
    for (r, out) in run(colls, seed).into_iter().enumerate() {
        assert_eq!(out, payload, "size {size} root {root} len {len} rank {r}");
    }
}

#[test]
fn bcast_delivers_root_payload_everywhere() {
    for size in 1..=64 {
        for root in roots(size) {
            for (i, seed) in SEEDS.iter().enumerate() {
                check_bcast(size, root, [0, 1, 13][i], *seed);
            }
        }
    }
}

#[test]
fn bcast_large_payload() {
    for size in [2, 7, 16, 33] {
        check_bcast(size, size / 3, 80_000, 5);
    }
}

/// Runs reduce on every root of `roots` and allreduce with every
/// registered algorithm, checking against the sequential reference.
fn check_reductions<T: Elem>(
    size: usize,
    inputs: &[Vec<T>],
    op: &Arc<dyn ReduceOp>,
    f: fn(T, T) -> T,
    roots: &[usize],
    seed: u64,
) {
    let expected = reference(inputs, f);
    for &root in roots {
        let colls =
            (0..size).map(|r| Collective::reduce(r, size, root, encode(&inputs[r]), Arc::clone(op)).unwrap()).collect();
        for (r, out) in run(colls, seed).into_iter().enumerate() {
            if r == root {
                assert_eq!(decode::<T>(&out), expected, "reduce size {size} root {root}");
            }
        }
    }
    // One forced algorithm per call, rotating with the size and seed (the
    // matrix test forces every algorithm on every size); all of them for
    // the few sizes of `large_vectors`.
    let runnable: Vec<_> = select::algorithms(CollectiveKind::Allreduce)
        .filter(|alg| op.commutative() || (alg.supports)(&non_commutative(CollectiveKind::Allreduce)))
        .collect();
    let pick = (size + seed as usize) % runnable.len();
    let chosen: Vec<_> = if inputs.first().map_or(0, Vec::len) >= 1000 { runnable } else { vec![runnable[pick]] };
    for alg in chosen {
        let key = alg.key;
        let colls = (0..size)
            .map(|r| {
                let args = CollArgs {
                    rank: r,
                    size,
                    root: 0,
                    data: encode(&inputs[r]),
                    op: Some(Arc::clone(op)),
                    ..CollArgs::default()
                };
                Collective::with_algorithm(key, args).unwrap()
            })
            .collect();
        for (r, out) in run(colls, seed).into_iter().enumerate() {
            assert_eq!(decode::<T>(&out), expected, "{key} size {size} rank {r}");
        }
    }
    // The default choice too.
    let colls =
        (0..size).map(|r| Collective::allreduce(r, size, encode(&inputs[r]), Arc::clone(op)).unwrap()).collect();
    for out in run(colls, seed ^ 1) {
        assert_eq!(decode::<T>(&out), expected, "default allreduce size {size}");
    }
}

/// A selection with a non-commutative operator (to ask `supports`).
fn non_commutative(kind: CollectiveKind) -> select::Selection {
    select::Selection::new(kind, 4, 64, false)
}

fn inputs<T>(size: usize, count: usize, seed: u64, mut make: impl FnMut(&mut Gen) -> T) -> Vec<Vec<T>> {
    let mut g = Gen::new(seed);
    (0..size).map(|_| (0..count).map(|_| make(&mut g)).collect()).collect()
}

const COUNTS: [usize; 3] = [0, 1, 7];

#[test]
fn sums_match_reference() {
    let (sum32, f32_) = op::<i32>(|a, b| a.wrapping_add(b), true);
    let (sum64, f64_) = op::<i64>(|a, b| a.wrapping_add(b), true);
    let (sumf, ff) = op::<f64>(|a, b| a + b, true);
    for size in 1..=64 {
        let roots = roots(size);
        for (i, seed) in SEEDS.iter().enumerate() {
            let count = COUNTS[i];
            let a = inputs(size, count, *seed, |g| g.next() as i32);
            check_reductions(size, &a, &sum32, f32_, &roots[i % roots.len()..][..1], *seed);
            let b = inputs(size, count, *seed + 1, |g| g.small(1 << 40));
            // Every root of every reduce algorithm is covered by the matrix test; two here.
            let two = [roots[i % roots.len()], roots[roots.len() - 1 - i % roots.len()]];
            check_reductions(size, &b, &sum64, f64_, &two, *seed);
            // Integers (and halves) below 2^40: every partial sum is exact in f64.
            let c = inputs(size, count, *seed + 2, |g| g.small(1 << 40) as f64 / 2.0);
            check_reductions(size, &c, &sumf, ff, &roots[..1], *seed);
        }
    }
}

#[test]
fn max_and_min_match_reference() {
    let (max, fmax) = op::<i32>(|a, b| a.max(b), true);
    let (min, fmin) = op::<i64>(|a, b| a.min(b), true);
    for size in 1..=64 {
        let roots = roots(size);
        for (i, seed) in SEEDS.iter().enumerate() {
            let a = inputs(size, COUNTS[i], *seed, |g| g.next() as i32);
            check_reductions(size, &a, &max, fmax, &roots[..1], *seed);
            let b = inputs(size, COUNTS[(i + 1) % 3], *seed, |g| g.next() as i64);
            check_reductions(size, &b, &min, fmin, &roots[roots.len() - 1..], *seed);
        }
    }
}

#[test]
fn non_commutative_matrix_product_keeps_rank_order() {
    let (mat, fmat) = op::<Mat2>(Mat2::mul, false);
    for size in 1..=64 {
        let roots = roots(size);
        for (i, seed) in SEEDS.iter().enumerate() {
            let m = inputs(size, COUNTS[i] + 1, *seed, |g| Mat2([g.small(5), g.small(5), g.small(5), g.small(5)]));
            check_reductions(size, &m, &mat, fmat, &roots, *seed);
        }
    }
}

#[test]
fn non_commutative_default_allreduce_is_reduce_bcast() {
    let (mat, _) = op::<Mat2>(Mat2::mul, false);
    let (sum, _) = op::<i32>(|a, b| a.wrapping_add(b), true);
    let c = Collective::allreduce(0, 4, vec![0; 32], mat).unwrap();
    assert_eq!(c.algorithm(), "allreduce:reduce_bcast");
    let c = Collective::allreduce(0, 4, vec![0; 32], sum).unwrap();
    assert_eq!(c.algorithm(), "allreduce:recursive_doubling");
}

#[test]
fn large_vectors() {
    let (sum, f) = op::<i64>(|a, b| a.wrapping_add(b), true);
    let (mat, fmat) = op::<Mat2>(Mat2::mul, false);
    for size in [1, 2, 3, 5, 8, 13, 33] {
        let a = inputs(size, 10_000, size as u64, |g| g.next() as i64);
        check_reductions(size, &a, &sum, f, &[0, size - 1], 3);
        let m = inputs(size, 2_000, size as u64, |g| Mat2([g.small(3), g.small(3), g.small(3), g.small(3)]));
        check_reductions(size, &m, &mat, fmat, &[size / 2], 4);
    }
}

#[test]
fn allreduce_results_are_bitwise_identical_on_all_ranks() {
    // Inexact float sums: ranks must still agree bit for bit.
    let (sumf, _) = op::<f64>(|a, b| a + b, true);
    for size in [3, 6, 12, 29, 64] {
        let data = inputs(size, 50, size as u64, |g| (g.next() % 1_000_000) as f64 / 7.0);
        for alg in select::algorithms(CollectiveKind::Allreduce) {
            let colls = (0..size)
                .map(|r| {
                    let args = CollArgs {
                        rank: r,
                        size,
                        root: 0,
                        data: encode(&data[r]),
                        op: Some(Arc::clone(&sumf)),
                        ..CollArgs::default()
                    };
                    Collective::with_algorithm(alg.key, args).unwrap()
                })
                .collect();
            let outs = run(colls, 11);
            assert!(outs.windows(2).all(|w| w[0] == w[1]), "{} size {size}", alg.key);
        }
    }
}

#[test]
fn lengths_that_are_not_whole_elements_are_rejected() {
    let (sum, _) = op::<i32>(|a, b| a.wrapping_add(b), true);
    assert!(matches!(Collective::allreduce(0, 2, vec![0; 6], Arc::clone(&sum)), Err(CollError::Invalid(_))));
    assert!(matches!(Collective::reduce(0, 2, 0, vec![0; 3], sum), Err(CollError::Invalid(_))));
}

#[test]
fn bad_roots_and_ranks_are_rejected() {
    let (sum, _) = op::<i32>(|a, b| a.wrapping_add(b), true);
    assert!(Collective::bcast(0, 3, 3, vec![]).is_err());
    assert!(Collective::reduce(0, 3, 5, vec![], sum).is_err());
    assert!(Collective::bcast(3, 3, 0, vec![]).is_err());
    let mut sim = Simulation::new(vec![Collective::barrier(4, 1)], 0);
    assert!(matches!(sim.run(), Err(SimError::Rank { rank: 0, .. })));
}

#[test]
fn mismatched_collectives_deadlock_is_reported() {
    // Each rank believes the other is the root: both wait forever.
    let colls = vec![Collective::bcast(0, 2, 1, vec![0; 4]).unwrap(), Collective::bcast(1, 2, 0, vec![0; 4]).unwrap()];
    match run_collectives(colls, 9) {
        Err(SimError::Deadlock { unfinished }) => assert_eq!(unfinished, vec![0, 1]),
        other => panic!("expected a deadlock, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn mismatched_lengths_are_reported() {
    let colls = vec![Collective::bcast(0, 2, 0, vec![1; 8]).unwrap(), Collective::bcast(1, 2, 0, vec![0; 4]).unwrap()];
    assert!(matches!(run_collectives(colls, 9), Err(SimError::Rank { rank: 1, .. })));
}

#[test]
fn collective_driven_by_wrong_rank_fails() {
    let mut net = rmpi_collectives::sim::SimNet::new(2, 0);
    let mut c = Collective::barrier(0, 2);
    assert!(c.progress(&mut net.endpoint(1)).is_err());
}

#[test]
fn persistent_collectives_restart_with_new_data() {
    let (sum, f) = op::<i64>(|a, b| a.wrapping_add(b), true);
    let (mat, fmat) = op::<Mat2>(Mat2::mul, false);
    for size in [1, 2, 3, 6, 9, 16] {
        // Every algorithm of every collective, three runs each.
        let mut sets: Vec<(Vec<Collective>, usize)> = Vec::new();
        let original =
            [CollectiveKind::Barrier, CollectiveKind::Bcast, CollectiveKind::Reduce, CollectiveKind::Allreduce];
        for alg in select::REGISTRY.iter().filter(|a| original.contains(&a.kind)) {
            let (o, elem) = if !(alg.supports)(&non_commutative(alg.kind)) { (&sum, 8) } else { (&mat, 32) };
            let len = if alg.kind == CollectiveKind::Barrier { 0 } else { 3 * elem };
            let colls = (0..size)
                .map(|r| {
                    let args = CollArgs {
                        rank: r,
                        size,
                        root: size / 2,
                        data: vec![0; len],
                        op: Some(Arc::clone(o)),
                        ..CollArgs::default()
                    };
                    Collective::with_algorithm(alg.key, args).unwrap()
                })
                .collect();
            sets.push((colls, len));
        }
        for (mut colls, len) in sets {
            let key = colls[0].algorithm();
            for round in 0..3u64 {
                let mut g = Gen::new(round * 100 + size as u64);
                let inputs: Vec<Vec<u8>> = (0..size)
                    .map(|_| {
                        if len % 32 == 0 && !commutative_only(key) {
                            encode(
                                &(0..len / 32)
                                    .map(|_| Mat2([g.small(4), g.small(4), g.small(4), g.small(4)]))
                                    .collect::<Vec<_>>(),
                            )
                        } else {
                            encode(&(0..len / 8).map(|_| g.next() as i64).collect::<Vec<_>>())
                        }
                    })
                    .collect();
                // Round 0 restarts collectives that never ran (built with
                // zeros): like a first MPI_Start, that takes the new input.
                for (c, data) in colls.iter_mut().zip(&inputs) {
                    c.restart(data).unwrap();
                }
                colls = run_collectives(colls, round).unwrap();
                let root = size / 2;
                for (r, c) in colls.iter().enumerate() {
                    let out = c.output();
                    if key.starts_with("barrier") {
                        assert!(out.is_empty());
                    } else if key.starts_with("bcast") {
                        assert_eq!(out, &inputs[root][..], "{key} size {size} round {round}");
                    } else if key.starts_with("reduce") && r != root {
                        assert!(out.is_empty());
                    } else if commutative_only(key) {
                        let v: Vec<Vec<i64>> = inputs.iter().map(|d| decode(d)).collect();
                        assert_eq!(decode::<i64>(out), reference(&v, f), "{key} size {size} round {round}");
                    } else {
                        let v: Vec<Vec<Mat2>> = inputs.iter().map(|d| decode(d)).collect();
                        assert_eq!(decode::<Mat2>(out), reference(&v, fmat), "{key} size {size} round {round}");
                    }
                }
            }
        }
    }
}

fn commutative_only(key: &str) -> bool {
    let alg = select::lookup(key).unwrap();
    !(alg.supports)(&non_commutative(alg.kind))
}

#[test]
fn restart_rejects_wrong_lengths() {
    let mut colls =
        run_collectives((0..2).map(|r| Collective::bcast(r, 2, 0, vec![1; 4]).unwrap()).collect(), 1).unwrap();
    assert!(colls[0].restart(&[0; 3]).is_err());
    assert!(colls[1].restart(&[0; 4]).is_ok());
    let mut b = run_collectives(vec![Collective::barrier(0, 1)], 1).unwrap();
    assert!(b[0].restart(&[1]).is_err());
    assert!(b[0].restart(&[]).is_ok());
}
