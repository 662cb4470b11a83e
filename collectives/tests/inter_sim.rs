//! Intercommunicator collectives in the simulator: every pair of group
//! sizes up to 6 and a few larger ones, every root on both sides, a
//! commutative and a non-commutative operator, counts 0, 1 and odd,
//! against a sequential reference.

mod common;

use common::*;
use rmpi_collectives::inter::{Role, Sides};
use rmpi_collectives::sim::run_collectives;
use rmpi_collectives::{Collective, Layout};

fn pairs() -> Vec<(usize, usize)> {
    let mut v: Vec<(usize, usize)> = (1..=6).flat_map(|a| (1..=6).map(move |b| (a, b))).collect();
    v.extend([(9, 4), (3, 17), (16, 16), (1, 33)]);
    v
}

/// Runs one collective per combined rank; returns the outputs.
fn run(low: usize, high: usize, seed: u64, mut make: impl FnMut(Sides) -> Collective) -> Vec<Vec<u8>> {
    let colls: Vec<Collective> = (0..low + high).map(|r| make(Sides::new(r, low, high).unwrap())).collect();
    for c in &colls {
        c.executor().schedule().check_hazards().unwrap();
        assert!(c.algorithm().starts_with("inter_"));
    }
    run_collectives(colls, seed)
        .unwrap_or_else(|e| panic!("{low}+{high}: simulation failed: {e}"))
        .into_iter()
        .map(Collective::into_output)
        .collect()
}

/// A block of `len` bytes that names its owner.
fn block(rank: usize, len: usize, salt: usize) -> Vec<u8> {
    (0..len).map(|i| (rank * 37 + i * 11 + salt) as u8).collect()
}

fn mat_op() -> OpAndFn<Mat2> {
    op::<Mat2>(Mat2::mul, false)
}

fn mats(rank: usize, n: usize) -> Vec<Mat2> {
    let mut g = Gen::new(rank as u64 * 7919 + n as u64);
    (0..n).map(|_| Mat2([g.small(3), g.small(3), g.small(3), g.small(3)])).collect()
}

#[test]
fn barrier_completes() {
    for (l, h) in pairs() {
        let out = run(l, h, 3, |s| Collective::inter_barrier(s).unwrap());
        assert!(out.iter().all(Vec::is_empty));
    }
}

#[test]
fn bcast_reaches_the_other_group_from_every_root() {
    for (l, h) in pairs() {
        for root_low in [true, false] {
            let n_root = if root_low { l } else { h };
            for root in 0..n_root.min(5) {
                for len in [0, 1, 13, 20_000] {
                    let payload = block(root, len, 5);
                    let out = run(l, h, (l * 10 + h + len) as u64, |s| {
                        let mine = s.in_low() == root_low;
                        let role = match (mine, s.local_rank() == root) {
                            (true, true) => Role::Root,
                            (true, false) => Role::Idle,
                            _ => Role::Remote(root),
                        };
                        let data = if role == Role::Root { payload.clone() } else { vec![0xee; len] };
                        let data = if role == Role::Idle { Vec::new() } else { data };
                        Collective::inter_bcast(s, role, data).unwrap()
                    });
                    for (r, o) in out.iter().enumerate() {
                        let receiver = (r < l) != root_low;
                        if receiver {
                            assert_eq!(o, &payload, "{l}+{h} root {root} low {root_low} rank {r}");
                        } else {
                            assert!(o.is_empty());
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn reductions_combine_the_other_group_in_rank_order() {
    let (op, f) = mat_op();
    for (l, h) in pairs() {
        for n in [0, 1, 3] {
            let inputs: Vec<Vec<Mat2>> = (0..l + h).map(|r| mats(r, n)).collect();
            let of_low = encode(&reference(&inputs[..l], f));
            let of_high = encode(&reference(&inputs[l..], f));
            // allreduce
            let out = run(l, h, 11, |s| Collective::inter_allreduce(s, encode(&inputs[s.rank]), op.clone()).unwrap());
            for (r, o) in out.iter().enumerate() {
                assert_eq!(o, if r < l { &of_high } else { &of_low }, "allreduce {l}+{h} n {n} rank {r}");
            }
            // reduce to every root of both groups (first few)
            for root_low in [true, false] {
                for root in 0..(if root_low { l } else { h }).min(3) {
                    let out = run(l, h, 17, |s| {
                        let mine = s.in_low() == root_low;
                        let (role, data) = match (mine, s.local_rank() == root) {
                            (true, true) => (Role::Root, vec![0; n * 32]),
                            (true, false) => (Role::Idle, Vec::new()),
                            _ => (Role::Remote(root), encode(&inputs[s.rank])),
                        };
                        Collective::inter_reduce(s, role, data, op.clone()).unwrap()
                    });
                    let at = if root_low { root } else { l + root };
                    assert_eq!(out[at], if root_low { of_high.clone() } else { of_low.clone() }, "reduce {l}+{h}");
                }
            }
        }
    }
}

#[test]
fn reduce_scatter_splits_the_other_groups_reduction() {
    let (op, f) = mat_op();
    for (l, h) in pairs() {
        // Both sides' vectors have the same length: l*h elements, cut into
        // h blocks on the low side... each side cuts by its own counts.
        let total = l * h;
        let inputs: Vec<Vec<Mat2>> = (0..l + h).map(|r| mats(r, total)).collect();
        let of_low = encode(&reference(&inputs[..l], f));
        let of_high = encode(&reference(&inputs[l..], f));
        let counts = |low: bool| -> Vec<usize> {
            let n = if low { l } else { h };
            (0..n).map(|i| 32 * (total / n + usize::from(i < total % n))).collect::<Vec<_>>()
        };
        let out = run(l, h, 23, |s| {
            Collective::inter_reduce_scatter(s, encode(&inputs[s.rank]), counts(s.in_low()), op.clone()).unwrap()
        });
        for (r, o) in out.iter().enumerate() {
            let low = r < l;
            let c = counts(low);
            let i = if low { r } else { r - l };
            let off: usize = c[..i].iter().sum();
            let src = if low { &of_high } else { &of_low };
            assert_eq!(o[..], src[off..off + c[i]], "reduce_scatter {l}+{h} rank {r}");
        }
    }
}

#[test]
fn gathers_and_scatters_move_every_block() {
    for (l, h) in pairs() {
        for (root_low, root) in
            [true, false].into_iter().flat_map(|low| roots(if low { l } else { h }).into_iter().map(move |r| (low, r)))
        {
            let at = if root_low { root } else { l + root };
            let senders: Vec<usize> = if root_low { (l..l + h).collect() } else { (0..l).collect() };
            let role_of = |s: &Sides| match (s.in_low() == root_low, s.local_rank() == root) {
                (true, true) => Role::Root,
                (true, false) => Role::Idle,
                _ => Role::Remote(root),
            };
            for len in [0, 1, 7] {
                // gather
                let out = run(l, h, 29, |s| {
                    let role = role_of(&s);
                    let data = if matches!(role, Role::Remote(_)) { block(s.rank, len, 1) } else { Vec::new() };
                    Collective::inter_gather(s, role, data, len).unwrap()
                });
                let want: Vec<u8> = senders.iter().flat_map(|&r| block(r, len, 1)).collect();
                assert_eq!(out[at], want, "gather {l}+{h}");
                // gatherv: sender j gives j+len bytes, placed in reverse order with gaps
                let counts: Vec<usize> = (0..senders.len()).map(|j| j + len).collect();
                let mut displs = vec![0; senders.len()];
                let mut off = 3;
                for j in (0..senders.len()).rev() {
                    displs[j] = off;
                    off += counts[j] + 2;
                }
                let layout = Layout::new(counts.clone(), displs.clone()).unwrap();
                let out = run(l, h, 31, |s| {
                    let role = role_of(&s);
                    let (data, recv) = match role {
                        Role::Root => (Vec::new(), Some(layout.clone())),
                        Role::Idle => (Vec::new(), None),
                        Role::Remote(_) => (block(s.rank, s.local_rank() + len, 2), None),
                    };
                    Collective::inter_gatherv(s, role, data, recv).unwrap()
                });
                for (j, &r) in senders.iter().enumerate() {
                    assert_eq!(out[at][layout.block(j)], block(r, j + len, 2)[..], "gatherv {l}+{h} from {r}");
                }
                // scatter
                let image: Vec<u8> = (0..senders.len()).flat_map(|j| block(j, len, 3)).collect();
                let out = run(l, h, 37, |s| {
                    let role = role_of(&s);
                    let data = if role == Role::Root { image.clone() } else { Vec::new() };
                    Collective::inter_scatter(s, role, data, len).unwrap()
                });
                for (j, &r) in senders.iter().enumerate() {
                    assert_eq!(out[r], block(j, len, 3), "scatter {l}+{h} to {r}");
                }
                // scatterv with the gatherv layout
                let simage: Vec<u8> = {
                    let mut v = vec![0u8; layout.extent()];
                    for j in 0..senders.len() {
                        v[layout.block(j)].copy_from_slice(&block(j, j + len, 4));
                    }
                    v
                };
                let out = run(l, h, 41, |s| {
                    let role = role_of(&s);
                    match role {
                        Role::Root => {
                            Collective::inter_scatterv(s, role, simage.clone(), Some(layout.clone()), 0).unwrap()
                        }
                        Role::Idle => Collective::inter_scatterv(s, role, Vec::new(), None, 0).unwrap(),
                        Role::Remote(_) => {
                            let j = s.local_rank();
                            Collective::inter_scatterv(s, role, Vec::new(), None, j + len).unwrap()
                        }
                    }
                });
                for (j, &r) in senders.iter().enumerate() {
                    assert_eq!(out[r], block(j, j + len, 4), "scatterv {l}+{h} to {r}");
                }
            }
        }
    }
}

#[test]
fn allgathers_and_alltoalls_cross_between_groups() {
    for (l, h) in pairs() {
        for len in [0, 1, 5] {
            let blen = |low: bool| if low { len } else { len + 2 };
            let out = run(l, h, 43, |s| {
                Collective::inter_allgather(s, block(s.rank, blen(s.in_low()), 6), blen(!s.in_low())).unwrap()
            });
            for (r, o) in out.iter().enumerate() {
                let others: Vec<usize> = if r < l { (l..l + h).collect() } else { (0..l).collect() };
                let want: Vec<u8> = others.iter().flat_map(|&q| block(q, blen(q < l), 6)).collect();
                assert_eq!(o, &want, "allgather {l}+{h} rank {r}");
            }
            // allgatherv: process q gives q % 3 + len bytes; receivers place them reversed
            let size_of = |q: usize| q % 3 + len;
            let layout_for = |others: &[usize]| {
                let counts: Vec<usize> = others.iter().map(|&q| size_of(q)).collect();
                let mut displs = vec![0; counts.len()];
                let mut off = 1;
                for j in (0..counts.len()).rev() {
                    displs[j] = off;
                    off += counts[j] + 1;
                }
                Layout::new(counts, displs).unwrap()
            };
            let out = run(l, h, 47, |s| {
                let others: Vec<usize> = s.remote();
                Collective::inter_allgatherv(s, block(s.rank, size_of(s.rank), 7), layout_for(&others)).unwrap()
            });
            for (r, o) in out.iter().enumerate() {
                let others: Vec<usize> = if r < l { (l..l + h).collect() } else { (0..l).collect() };
                let lay = layout_for(&others);
                for (j, &q) in others.iter().enumerate() {
                    assert_eq!(o[lay.block(j)], block(q, size_of(q), 7)[..], "allgatherv {l}+{h} rank {r} from {q}");
                }
            }
            // alltoallv: p sends q (p + q) % 4 + len bytes
            let cnt = |p: usize, q: usize| (p + q) % 4 + len;
            let out = run(l, h, 53, |s| {
                let others = s.remote();
                let send = Layout::contiguous(others.iter().map(|&q| cnt(s.rank, q)).collect());
                let recv = Layout::contiguous(others.iter().map(|&q| cnt(q, s.rank)).collect());
                let data: Vec<u8> = others.iter().flat_map(|&q| block(s.rank * 100 + q, cnt(s.rank, q), 8)).collect();
                Collective::inter_alltoallv(s, data, send, recv).unwrap()
            });
            for (r, o) in out.iter().enumerate() {
                let others: Vec<usize> = if r < l { (l..l + h).collect() } else { (0..l).collect() };
                let want: Vec<u8> = others.iter().flat_map(|&q| block(q * 100 + r, cnt(q, r), 8)).collect();
                assert_eq!(o, &want, "alltoallv {l}+{h} rank {r}");
            }
        }
    }
}

#[test]
fn persistent_restart_reruns_an_inter_allreduce() {
    let (op, f) = mat_op();
    let (l, h) = (3, 4);
    let mut colls: Vec<Collective> = (0..l + h)
        .map(|r| Collective::inter_allreduce(Sides::new(r, l, h).unwrap(), encode(&mats(r, 2)), op.clone()).unwrap())
        .collect();
    for round in 0..3 {
        let inputs: Vec<Vec<Mat2>> = (0..l + h).map(|r| mats(r + round * 10, 2)).collect();
        for (r, c) in colls.iter_mut().enumerate() {
            c.restart(&encode(&inputs[r])).unwrap();
        }
        colls = run_collectives(colls, round as u64).unwrap();
        for (r, c) in colls.iter().enumerate() {
            let want = if r < l { reference(&inputs[l..], f) } else { reference(&inputs[..l], f) };
            assert_eq!(c.output(), &encode(&want)[..], "round {round} rank {r}");
        }
    }
}
