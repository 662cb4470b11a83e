//! Randomized cases (proptest): sizes, counts, roots and seeds drawn at
//! random, results checked against the sequential reference; plus a run
//! at 1,000 virtual ranks.

mod common;

use std::sync::Arc;

use common::*;
use proptest::prelude::*;
use rmpi_collectives::select::CollArgs;
use rmpi_collectives::sim::run_collectives;
use rmpi_collectives::Collective;

fn outputs(colls: Vec<Collective>, seed: u64) -> Vec<Vec<u8>> {
    run_collectives(colls, seed).unwrap().into_iter().map(Collective::into_output).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_non_commutative_reductions_keep_rank_order(
        size in 1usize..40, count in 0usize..20, root_pick in any::<usize>(), seed in any::<u64>(),
    ) {
        let (mat, f) = op::<Mat2>(Mat2::mul, false);
        let root = root_pick % size;
        let data = {
            let mut g = Gen::new(seed);
            (0..size).map(|_| (0..count).map(|_| Mat2([g.small(4), g.small(4), g.small(4), g.small(4)])).collect::<Vec<_>>()).collect::<Vec<_>>()
        };
        let expected = reference(&data, f);
        let colls = (0..size).map(|r| Collective::reduce(r, size, root, encode(&data[r]), Arc::clone(&mat)).unwrap()).collect();
        let out = outputs(colls, seed);
        prop_assert_eq!(decode::<Mat2>(&out[root]), expected.clone());
        for key in ["allreduce:recursive_doubling", "allreduce:reduce_bcast"] {
            let colls = (0..size).map(|r| Collective::with_algorithm(key, CollArgs {
                rank: r, size, root: 0, data: encode(&data[r]), op: Some(Arc::clone(&mat)),
            ..CollArgs::default()
            }).unwrap()).collect();
            for out in outputs(colls, seed.rotate_left(7)) {
                prop_assert_eq!(decode::<Mat2>(&out), expected.clone());
            }
        }
    }

    #[test]
    fn random_commutative_allreduces_match_on_every_algorithm(
        size in 1usize..40, count in 0usize..100, seed in any::<u64>(),
    ) {
        let (sum, f) = op::<i64>(|a, b| a.wrapping_add(b), true);
        let data = {
            let mut g = Gen::new(seed);
            (0..size).map(|_| (0..count).map(|_| g.next() as i64).collect::<Vec<_>>()).collect::<Vec<_>>()
        };
        let expected = reference(&data, f);
        for key in ["allreduce:recursive_doubling", "allreduce:reduce_bcast", "allreduce:ring"] {
            let colls = (0..size).map(|r| Collective::with_algorithm(key, CollArgs {
                rank: r, size, root: 0, data: encode(&data[r]), op: Some(Arc::clone(&sum)),
            ..CollArgs::default()
            }).unwrap()).collect();
            for out in outputs(colls, seed ^ 3) {
                prop_assert_eq!(decode::<i64>(&out), expected.clone());
            }
        }
    }

    #[test]
    fn random_broadcasts_deliver_the_payload(
        size in 1usize..48, len in 0usize..300, root_pick in any::<usize>(), seed in any::<u64>(),
    ) {
        let root = root_pick % size;
        let payload: Vec<u8> = (0..len).map(|i| (i as u64 ^ seed) as u8).collect();
        let colls = (0..size).map(|r| {
            let data = if r == root { payload.clone() } else { vec![0; len] };
            Collective::bcast(r, size, root, data).unwrap()
        }).collect();
        for out in outputs(colls, seed) {
            prop_assert_eq!(&out, &payload);
        }
    }
}

#[test]
fn thousand_ranks_allreduce_and_barrier() {
    let size = 1000;
    let (sum, _) = op::<i64>(|a, b| a.wrapping_add(b), true);
    let colls =
        (0..size).map(|r| Collective::allreduce(r, size, encode(&[r as i64, 1]), Arc::clone(&sum)).unwrap()).collect();
    let expected = vec![(size * (size - 1) / 2) as i64, size as i64];
    for out in outputs(colls, 1) {
        assert_eq!(decode::<i64>(&out), expected);
    }
    let colls = (0..size).map(|r| Collective::barrier(r, size)).collect();
    outputs(colls, 2);
}
