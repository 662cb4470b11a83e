//! Properties of the schedules themselves, independent of a run: every
//! algorithm's schedule is hazard-free on every rank, uses tags within
//! `MAX_TAG`, and selection follows the registry.

mod common;

use std::sync::Arc;

use common::*;
use rmpi_collectives::select::{self, CollArgs, CollectiveKind, Selection};
use rmpi_collectives::{Collective, Step, MAX_TAG};

fn args(rank: usize, size: usize, root: usize, len: usize, commutative: bool) -> CollArgs {
    let op = if commutative { op::<i32>(|a, b| a.wrapping_add(b), true).0 } else { op::<Mat2>(Mat2::mul, false).0 };
    let elems = len.div_ceil(op.elem_size());
    CollArgs { rank, size, root, data: vec![0; elems * op.elem_size()], op: Some(op), ..CollArgs::default() }
}

#[test]
fn vector_collective_schedules_are_hazard_free_and_within_tag_space() {
    // The collectives that take a plain vector; the matrix test covers the others.
    for alg in select::REGISTRY.iter().filter(|a| ORIGINAL.contains(&a.kind)) {
        for size in 1..=64 {
            for commutative in [true, false] {
                let sel = Selection::new(alg.kind, size, 64, commutative);
                if !(alg.supports)(&sel) {
                    continue;
                }
                for rank in 0..size {
                    let root = (size * 5 / 7) % size;
                    let c = Collective::with_algorithm(alg.key, args(rank, size, root, 64, commutative)).unwrap();
                    let s = c.executor().schedule();
                    s.check_hazards().unwrap_or_else(|e| panic!("{} size {size} rank {rank}: {e}", alg.key));
                    for step in s.steps() {
                        if let Step::Send { tag, peer, .. } | Step::Recv { tag, peer, .. } = step {
                            assert!(*tag <= MAX_TAG);
                            assert!(*peer < size && *peer != rank, "{} sends to itself", alg.key);
                        }
                    }
                }
            }
        }
    }
}

const ORIGINAL: [CollectiveKind; 4] =
    [CollectiveKind::Barrier, CollectiveKind::Bcast, CollectiveKind::Reduce, CollectiveKind::Allreduce];

#[test]
fn message_counts_are_logarithmic() {
    // A guard against accidentally quadratic schedules.
    for size in [2usize, 5, 16, 63, 64] {
        let log = usize::BITS as usize - (size - 1).leading_zeros() as usize; // ceil(log2)
        for alg in select::REGISTRY.iter().filter(|a| ORIGINAL.contains(&a.kind)) {
            let max_comm = (0..size)
                .map(|r| {
                    let c = Collective::with_algorithm(alg.key, args(r, size, 0, 8, true)).unwrap();
                    c.executor().schedule().steps().iter().filter(|s| s.is_communication()).count()
                })
                .max()
                .unwrap();
            let bound = if alg.key == "allreduce:ring" || alg.key == "bcast:scatter_allgather" {
                4 * (size - 1)
            } else {
                4 * log + 4
            };
            assert!(max_comm <= bound, "{} size {size}: {max_comm} messages", alg.key);
        }
    }
}

#[test]
fn overrides_accept_short_and_full_names_and_reject_unknown_ones() {
    let sel = Selection::new(CollectiveKind::Allreduce, 8, 64, true);
    assert_eq!(select::choose_with(&sel, None).unwrap().key, "allreduce:recursive_doubling");
    assert_eq!(select::choose_with(&sel, Some("reduce_bcast")).unwrap().key, "allreduce:reduce_bcast");
    assert_eq!(select::choose_with(&sel, Some("allreduce:reduce_bcast")).unwrap().key, "allreduce:reduce_bcast");
    assert!(select::choose_with(&sel, Some("nope")).is_err());
    assert!(select::choose_with(&sel, Some("bcast:binomial")).is_err(), "wrong collective");
    assert_eq!(CollectiveKind::Allreduce.env_var(), "RMPI_COLL_ALLREDUCE");
}

#[test]
fn registry_keys_are_unique_and_prefixed_by_their_collective() {
    let mut keys: Vec<_> = select::REGISTRY.iter().map(|a| a.key).collect();
    for a in select::REGISTRY {
        assert!(a.key.starts_with(&format!("{}:", a.kind.name())), "{}", a.key);
    }
    keys.sort_unstable();
    let n = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), n);
    for kind in CollectiveKind::ALL {
        assert!(select::algorithms(kind).next().is_some(), "{kind:?} has no algorithm");
    }
}

#[test]
fn ring_refuses_non_commutative_operators() {
    let sel = Selection::new(CollectiveKind::Allreduce, 8, 64, false);
    assert!(select::choose_with(&sel, Some("ring")).is_err());
    assert!(Collective::with_algorithm("allreduce:ring", args(0, 4, 0, 64, false)).is_err());
}

#[test]
fn with_algorithm_rejects_unknown_keys_and_missing_operators() {
    let mut a = args(0, 2, 0, 8, true);
    assert!(Collective::with_algorithm("allreduce:nope", a.clone()).is_err());
    a.op = None;
    assert!(Collective::with_algorithm("allreduce:recursive_doubling", a).is_err());
}

#[test]
fn collectives_can_move_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Collective>();
    let (sum, _) = op::<i32>(|a, b| a.wrapping_add(b), true);
    let c = Collective::allreduce(0, 2, vec![0; 4], Arc::clone(&sum)).unwrap();
    std::thread::spawn(move || drop(c)).join().unwrap();
}

fn sel(kind: CollectiveKind, size: usize, bytes: usize, commutative: bool) -> Selection {
    Selection::new(kind, size, bytes, commutative)
}

#[test]
fn default_choice_can_always_run_the_call() {
    for kind in CollectiveKind::ALL {
        for size in 1..=64 {
            for bytes in [0, 8, 1000, 16 << 10, 100 << 10, 4 << 20] {
                for commutative in [true, false] {
                    let s = sel(kind, size, bytes, commutative);
                    let alg = select::default_for(&s);
                    assert_eq!(alg.kind, kind, "{s:?}");
                    assert!((alg.supports)(&s), "{s:?} chose {}", alg.key);
                }
            }
        }
    }
}

#[test]
fn non_commutative_operators_get_only_order_preserving_algorithms() {
    let order_preserving = [
        "reduce:binomial",
        "allreduce:reduce_bcast",
        "allreduce:recursive_doubling",
        "reduce_scatter:reduce_scatterv",
        "reduce_scatter_block:reduce_scatter",
        "scan:recursive_doubling",
        "exscan:recursive_doubling",
    ];
    for kind in CollectiveKind::ALL.into_iter().filter(|k| k.reduces()) {
        for size in 1..=64 {
            for bytes in [8, 16 << 10, 4 << 20] {
                let key = select::default_for(&sel(kind, size, bytes, false)).key;
                assert!(order_preserving.contains(&key), "{kind:?} size {size} bytes {bytes}: {key}");
            }
        }
    }
    for key in ["allreduce:ring", "allreduce:rabenseifner", "reduce:rabenseifner", "reduce_scatter:recursive_halving"] {
        let alg = select::lookup(key).unwrap();
        assert!(!(alg.supports)(&sel(alg.kind, 8, 64, false)), "{key} must refuse non-commutative operators");
    }
}

#[test]
fn selection_table_follows_message_and_communicator_size() {
    use CollectiveKind as K;
    let cases = [
        (K::Bcast, 8, 8, true, "bcast:binomial"),
        (K::Bcast, 8, 4 << 20, true, "bcast:scatter_allgather"),
        (K::Bcast, 2, 4 << 20, true, "bcast:binomial"),
        (K::Allreduce, 8, 8, true, "allreduce:recursive_doubling"),
        (K::Allreduce, 8, 8 << 10, true, "allreduce:recursive_doubling"),
        (K::Allreduce, 8, 4 << 20, true, "allreduce:rabenseifner"),
        (K::Allreduce, 7, 4 << 20, true, "allreduce:ring"),
        (K::Allreduce, 7, 64 << 10, true, "allreduce:rabenseifner"),
        (K::Allreduce, 8, 4 << 20, false, "allreduce:reduce_bcast"),
        (K::Reduce, 8, 4 << 20, true, "reduce:rabenseifner"),
        (K::Reduce, 8, 8, true, "reduce:binomial"),
        (K::Alltoall, 8, 8, true, "alltoall:bruck"),
        (K::Alltoall, 4, 8, true, "alltoall:linear"),
        (K::Alltoall, 8, 64 << 10, true, "alltoall:pairwise"),
        (K::Allgather, 6, 8, true, "allgather:bruck"),
        (K::Allgather, 8, 8, true, "allgather:recursive_doubling"),
        (K::Allgather, 8, 1 << 20, true, "allgather:ring"),
        (K::Allgatherv, 16, 100, true, "allgatherv:gather_bcast"),
        (K::Allgatherv, 4, 100, true, "allgatherv:ring"),
        (K::Gather, 8, 8, true, "gather:binomial"),
        (K::Gather, 8, 1 << 20, true, "gather:linear"),
        (K::Barrier, 8, 0, true, "barrier:dissemination"),
        (K::ReduceScatter, 8, 64, true, "reduce_scatter:recursive_halving"),
        (K::ReduceScatterBlock, 8, 64, false, "reduce_scatter_block:reduce_scatter"),
    ];
    for (kind, size, bytes, commutative, key) in cases {
        assert_eq!(select::default_for(&sel(kind, size, bytes, commutative)).key, key, "{kind:?} {size} {bytes}");
    }
}

#[test]
fn overrides_work_for_every_collective() {
    for alg in select::REGISTRY {
        let s = sel(alg.kind, 8, 64, true);
        let short = alg.key.split_once(':').unwrap().1;
        assert_eq!(select::choose_with(&s, Some(short)).unwrap().key, alg.key);
        assert_eq!(select::choose_with(&s, Some(alg.key)).unwrap().key, alg.key);
        assert!(alg.kind.env_var().starts_with("RMPI_COLL_"));
    }
    assert_eq!(CollectiveKind::ReduceScatterBlock.env_var(), "RMPI_COLL_REDUCE_SCATTER_BLOCK");
    let nc = sel(CollectiveKind::ReduceScatter, 8, 64, false);
    assert!(select::choose_with(&nc, Some("recursive_halving")).is_err());
}

#[test]
fn invalid_arguments_are_typed_errors() {
    use rmpi_collectives::{CollError, Layout, Neighbors};
    let (sum, _) = op::<i32>(|a, b| a.wrapping_add(b), true);
    let bad = |r: Result<Collective, CollError>| matches!(r, Err(CollError::Invalid(_)));
    assert!(bad(Collective::gather(1, 4, 0, vec![0; 4], true)), "in place off the root");
    assert!(bad(Collective::gather(0, 4, 0, vec![0; 6], true)), "image not whole blocks");
    assert!(bad(Collective::gatherv(0, 2, 0, vec![0; 2], None, false)), "root without layout");
    let overlap = Layout::new(vec![2, 2], vec![0, 1]).unwrap();
    assert!(bad(Collective::gatherv(0, 2, 0, vec![0; 2], Some(overlap.clone()), false)), "overlapping blocks");
    assert!(bad(Collective::allgatherv(0, 2, vec![0; 3], Layout::uniform(2, 2), false)), "own count");
    assert!(bad(Collective::scatter(0, 3, 0, vec![0; 5], 2, false)), "root send size");
    assert!(bad(Collective::alltoall(0, 3, vec![0; 4])), "not whole blocks");
    assert!(bad(Collective::alltoallv(0, 2, vec![0; 4], Some(Layout::uniform(2, 2)), Layout::uniform(2, 1), false)));
    assert!(bad(Collective::alltoallv(0, 2, vec![0; 4], None, Layout::uniform(2, 2), false)), "send layout");
    assert!(bad(Collective::reduce_scatter(0, 2, vec![0; 8], vec![4, 3], Arc::clone(&sum))), "counts vs vector");
    assert!(bad(Collective::reduce_scatter(0, 2, vec![0; 8], vec![6, 2], Arc::clone(&sum))), "partial elements");
    assert!(bad(Collective::reduce_scatter_block(0, 3, vec![0; 8], Arc::clone(&sum))));
    assert!(bad(Collective::scan(0, 2, vec![0; 3], Arc::clone(&sum))));
    let n = Neighbors::new(vec![5], vec![]).unwrap();
    assert!(bad(Collective::neighbor_allgather(0, 2, n, vec![1])), "neighbour out of range");
    let n = Neighbors::new(vec![1], vec![1]).unwrap();
    assert!(bad(Collective::neighbor_alltoall(0, 2, n, vec![0; 3], 2)), "alltoall bytes");
    let mut a = args(0, 4, 0, 64, false);
    a.op = Some(op::<Mat2>(Mat2::mul, false).0);
    assert!(Collective::with_algorithm("reduce:rabenseifner", a).is_err());
}
