//! The node-aware (two-level) algorithms in the simulator, with node maps
//! of every kind (consecutive blocks, round-robin, uneven, one rank per
//! node, one node), every root on small sizes, a commutative sum and (where
//! each node's ranks are consecutive) a non-commutative matrix product,
//! counts 0, 1 and odd, allgather in place and not; and the default choice picking them when a
//! communicator spans several nodes.

mod common;

use std::sync::Arc;

use common::*;
use rmpi_collectives::locality::{shape, with_nodes};
use rmpi_collectives::select::CollArgs;
use rmpi_collectives::sim::run_collectives;
use rmpi_collectives::{Collective, ReduceOp};

fn maps(size: usize) -> Vec<Vec<usize>> {
    let mut v = vec![
        (0..size).map(|r| r / 2).collect(),
        (0..size).map(|r| r / 3).collect(),
        (0..size).map(|r| r % 2).collect(),
        (0..size).map(|r| (r * 7 + 3) % 4).collect(),
        (0..size).map(|r| if r < size / 3 { 5 } else { 1 }).collect(),
        (0..size).collect(),
        vec![0; size],
    ];
    v.dedup();
    v
}

fn run(key: &str, size: usize, seed: u64, args: impl Fn(usize) -> CollArgs) -> Vec<Vec<u8>> {
    let colls: Vec<Collective> = (0..size)
        .map(|r| {
            let c = Collective::with_algorithm(key, args(r)).unwrap_or_else(|e| panic!("{key}: {e}"));
            c.executor().schedule().check_hazards().unwrap();
            c
        })
        .collect();
    run_collectives(colls, seed)
        .unwrap_or_else(|e| panic!("{key} size {size}: {e}"))
        .into_iter()
        .map(Collective::into_output)
        .collect()
}

#[test]
fn two_level_forms_are_right_on_every_node_map() {
    let sum: Arc<dyn ReduceOp> = op::<i64>(|a, b| a.wrapping_add(b), true).0;
    let (mat, matf) = op::<Mat2>(Mat2::mul, false);
    let mut case = 0u64;
    for size in 1..=20 {
        for map in maps(size) {
            case += 1;
            let nodes: Arc<[usize]> = map.clone().into();
            let (_, contiguous) = shape(&map);
            let base = |r: usize| CollArgs { rank: r, size, nodes: Some(nodes.clone()), ..CollArgs::default() };
            let outs = run("barrier:two_level", size, case, base);
            assert!(outs.iter().all(Vec::is_empty));
            let n = [0, 1, 7][(case % 3) as usize];
            let ints: Vec<Vec<i64>> = (0..size).map(|r| (0..n).map(|i| (r * 100 + i) as i64).collect()).collect();
            let total = encode(&reference(&ints, |a, b| a.wrapping_add(b)));
            let roots: Vec<usize> = if size <= 8 { (0..size).collect() } else { vec![0, size / 2, size - 1] };
            for &root in &roots {
                let payload = encode(&ints[root]);
                let out = run("bcast:two_level", size, case, |r| CollArgs {
                    root,
                    data: if r == root { payload.clone() } else { vec![0; payload.len()] },
                    ..base(r)
                });
                assert!(out.iter().all(|o| *o == payload), "bcast size {size} map {map:?} root {root}");
                let out = run("reduce:two_level", size, case, |r| CollArgs {
                    root,
                    data: encode(&ints[r]),
                    op: Some(sum.clone()),
                    ..base(r)
                });
                assert_eq!(out[root], total, "reduce size {size} map {map:?} root {root}");
            }
            for in_place in [false, true] {
                let blk = n + 2;
                let blocks: Vec<Vec<u8>> = (0..size).map(|r| (0..blk).map(|i| (r * 31 + i) as u8).collect()).collect();
                let want: Vec<u8> = blocks.concat();
                let out = run("allgather:two_level", size, case, |r| CollArgs {
                    data: if in_place {
                        let mut v = vec![0xee; size * blk];
                        v[r * blk..(r + 1) * blk].copy_from_slice(&blocks[r]);
                        v
                    } else {
                        blocks[r].clone()
                    },
                    in_place,
                    ..base(r)
                });
                assert!(out.iter().all(|o| *o == want), "allgather size {size} map {map:?} in place {in_place}");
            }
            let out = run("allreduce:two_level", size, case, |r| CollArgs {
                data: encode(&ints[r]),
                op: Some(sum.clone()),
                ..base(r)
            });
            assert!(out.iter().all(|o| *o == total), "allreduce size {size} map {map:?}");
            if contiguous {
                let ms: Vec<Vec<Mat2>> = (0..size)
                    .map(|r| (0..3).map(|k| Mat2([(r % 3) as i64, 1, k as i64 - 1, (r + k) as i64 % 2])).collect())
                    .collect();
                let want = encode(&reference(&ms, matf));
                let out = run("allreduce:two_level", size, case, |r| CollArgs {
                    data: encode(&ms[r]),
                    op: Some(mat.clone()),
                    ..base(r)
                });
                assert!(out.iter().all(|o| *o == want), "mat allreduce size {size} map {map:?}");
                let root = size - 1;
                let out = run("reduce:two_level", size, case, |r| CollArgs {
                    root,
                    data: encode(&ms[r]),
                    op: Some(mat.clone()),
                    ..base(r)
                });
                assert_eq!(out[root], want, "mat reduce size {size} map {map:?}");
            } else {
                let r = Collective::with_algorithm(
                    "allreduce:two_level",
                    CollArgs { data: vec![0; 32], op: Some(mat.clone()), ..base(0) },
                );
                assert!(r.is_err(), "a non-commutative operator over interleaved nodes must be refused");
            }
        }
    }
}

#[test]
fn default_choice_is_two_level_across_nodes_only() {
    let sum: Arc<dyn ReduceOp> = op::<i64>(|a, b| a.wrapping_add(b), true).0;
    let spread = [0, 0, 1, 1, 2, 2];
    let one_each = [0, 1, 2, 3, 4, 5];
    let algo = |map: &[usize], f: &dyn Fn() -> Collective| with_nodes(map, f).algorithm();
    for (map, expect_two_level) in [(&spread[..], true), (&one_each[..], false), (&[0; 6][..], false)] {
        let keys = [
            algo(map, &|| Collective::barrier(1, 6)),
            algo(map, &|| Collective::bcast(1, 6, 0, vec![0; 8]).unwrap()),
            algo(map, &|| Collective::reduce(1, 6, 0, vec![0; 8], sum.clone()).unwrap()),
            algo(map, &|| Collective::allreduce(1, 6, vec![0; 8], sum.clone()).unwrap()),
            algo(map, &|| Collective::allgather(1, 6, vec![0; 8], false).unwrap()),
        ];
        for k in keys {
            assert_eq!(k.ends_with(":two_level"), expect_two_level, "{k} on {map:?}");
        }
    }
    // Outside with_nodes: one node.
    assert!(!Collective::allreduce(0, 6, vec![0; 8], sum).unwrap().algorithm().ends_with("two_level"));
}
