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
                let sel = Selection { kind: alg.kind, size, bytes: 64, commutative };
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
    let sel = Selection { kind: CollectiveKind::Allreduce, size: 8, bytes: 64, commutative: true };
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
    let sel = Selection { kind: CollectiveKind::Allreduce, size: 8, bytes: 64, commutative: false };
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
