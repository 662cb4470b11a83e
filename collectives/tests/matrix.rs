//! The acceptance matrix: every registered algorithm, forced through
//! `Collective::with_algorithm`, on every communicator size from 1 to 64
//! (every root up to 16 ranks, a sample above), with seeded random
//! delivery order, against a sequential reference; and the default choice
//! through the public constructors. Every schedule built is also run
//! through `Schedule::check_hazards` and checked for tags and peers.
//!
//! Parameters rotate through the matrix rather than multiply out, to keep
//! the run short: for each (algorithm, size, root) cell one count (0, 1,
//! odd, larger), one in-place choice and one operator (commutative sum or
//! non-commutative 2x2 matrix product, where the algorithm supports it)
//! are drawn by a counter, so every combination appears on many sizes.
//! Large messages get their own test on a few sizes.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::*;
use rmpi_collectives::select::{self, CollArgs, CollectiveKind as K, Selection};
use rmpi_collectives::sim::run_collectives;
use rmpi_collectives::{Collective, Layout, Neighbors, ReduceOp, Step, MAX_TAG};

/// The reduction operators of the matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
enum OpKind {
    /// Wrapping i64 sum: commutative.
    Sum,
    /// 2x2 wrapping matrix product: not commutative.
    Mat,
}

impl OpKind {
    fn elem(self) -> usize {
        match self {
            OpKind::Sum => 8,
            OpKind::Mat => 32,
        }
    }
    fn op(self) -> Arc<dyn ReduceOp> {
        match self {
            OpKind::Sum => op::<i64>(|a, b| a.wrapping_add(b), true).0,
            OpKind::Mat => op::<Mat2>(Mat2::mul, false).0,
        }
    }
    fn data(self, elems: usize, g: &mut Gen) -> Vec<u8> {
        match self {
            OpKind::Sum => encode(&(0..elems).map(|_| g.next() as i64).collect::<Vec<_>>()),
            OpKind::Mat => {
                encode(&(0..elems).map(|_| Mat2([g.small(3), g.small(3), g.small(3), g.small(3)])).collect::<Vec<_>>())
            }
        }
    }
    /// `a op b` element-wise, `a` first.
    fn combine(self, a: &[u8], b: &[u8]) -> Vec<u8> {
        match self {
            OpKind::Sum => encode(&reference(&[decode::<i64>(a), decode::<i64>(b)], |x, y| x.wrapping_add(y))),
            OpKind::Mat => encode(&reference(&[decode::<Mat2>(a), decode::<Mat2>(b)], Mat2::mul)),
        }
    }
    /// The reduction of `inputs` in rank order.
    fn fold(self, inputs: &[Vec<u8>]) -> Vec<u8> {
        let mut acc = inputs[0].clone();
        for x in &inputs[1..] {
            acc = self.combine(&acc, x);
        }
        acc
    }
}

/// What one rank must end with.
#[derive(Debug)]
enum Expect {
    /// Exactly these bytes.
    Bytes(Vec<u8>),
    /// These bytes in the layout's blocks (the rest is unspecified).
    Blocks(Layout, Vec<u8>),
}

/// One call on every rank and what each rank must get.
struct Case {
    args: Vec<CollArgs>,
    expect: Vec<Expect>,
}

fn bytes(n: usize, g: &mut Gen) -> Vec<u8> {
    (0..n).map(|_| g.next() as u8).collect()
}

/// Counts with zeros and unevenness, at most `max` each.
fn uneven(n: usize, max: usize, g: &mut Gen) -> Vec<usize> {
    (0..n).map(|_| if g.next() % 4 == 0 { 0 } else { (g.next() % (max as u64 + 1)) as usize }).collect()
}

/// A layout for `counts` with the blocks in a random order and small gaps.
fn scattered(counts: &[usize], g: &mut Gen) -> Layout {
    let mut order: Vec<usize> = (0..counts.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, (g.next() % (i as u64 + 1)) as usize);
    }
    let mut displs = vec![0; counts.len()];
    let mut at = 0;
    for i in order {
        at += (g.next() % 3) as usize;
        displs[i] = at;
        at += counts[i];
    }
    Layout::new(counts.to_vec(), displs).unwrap()
}

/// Writes `blocks[i]` into an image of `layout` filled with `fill`.
fn image(layout: &Layout, blocks: &[Vec<u8>], fill: u8) -> Vec<u8> {
    let mut out = vec![fill; layout.extent()];
    for (i, b) in blocks.iter().enumerate() {
        out[layout.block(i)].copy_from_slice(b);
    }
    out
}

/// A random directed multigraph with self loops: `(sources, destinations)` per rank.
fn topology(size: usize, g: &mut Gen) -> Vec<(Vec<usize>, Vec<usize>)> {
    let mut lists = vec![(Vec::new(), Vec::new()); size];
    for _ in 0..size * 2 + 1 {
        let (u, v) = ((g.next() % size as u64) as usize, (g.next() % size as u64) as usize);
        lists[u].1.push(v);
        lists[v].0.push(u);
    }
    lists
}

/// For every rank `v` and source index `j`, the `(u, i)` destination entry
/// it matches (occurrence labels: k-th u in v's sources is v's k-th in u's destinations).
fn edge_match(topo: &[(Vec<usize>, Vec<usize>)]) -> Vec<Vec<(usize, usize)>> {
    topo.iter()
        .enumerate()
        .map(|(v, (sources, _))| {
            let mut seen: HashMap<usize, usize> = HashMap::new();
            sources
                .iter()
                .map(|&u| {
                    let k = seen.entry(u).or_insert(0);
                    let i = topo[u].1.iter().enumerate().filter(|(_, &d)| d == v).nth(*k).unwrap().0;
                    *k += 1;
                    (u, i)
                })
                .collect()
        })
        .collect()
}

/// Builds the case for `kind` on `size` ranks; `c` is the count parameter
/// (elements for reductions, bytes otherwise). `None` if `in_place` has no
/// meaning for the kind.
#[allow(clippy::too_many_arguments)]
fn case(kind: K, size: usize, root: usize, c: usize, in_place: bool, opk: OpKind, g: &mut Gen) -> Option<Case> {
    let base = |rank: usize| CollArgs { rank, size, root, ..CollArgs::default() };
    let ranks = 0..size;
    let (args, expect): (Vec<CollArgs>, Vec<Expect>) = match kind {
        K::Barrier => (ranks.map(base).collect(), (0..size).map(|_| Expect::Bytes(vec![])).collect()),
        K::Bcast => {
            let p = bytes(c, g);
            let args = ranks.map(|r| CollArgs { data: if r == root { p.clone() } else { vec![0; c] }, ..base(r) });
            (args.collect(), (0..size).map(|_| Expect::Bytes(p.clone())).collect())
        }
        K::Reduce | K::Allreduce | K::Scan | K::Exscan => {
            let xs: Vec<Vec<u8>> = (0..size).map(|_| opk.data(c, g)).collect();
            let args = ranks.map(|r| CollArgs { data: xs[r].clone(), op: Some(opk.op()), ..base(r) }).collect();
            let expect = (0..size)
                .map(|r| {
                    Expect::Bytes(match kind {
                        K::Reduce if r != root => vec![],
                        K::Reduce | K::Allreduce => opk.fold(&xs),
                        K::Scan => opk.fold(&xs[..=r]),
                        _ if r == 0 => vec![],
                        _ => opk.fold(&xs[..r]),
                    })
                })
                .collect();
            (args, expect)
        }
        K::Gather | K::Allgather => {
            let xs: Vec<Vec<u8>> = (0..size).map(|_| bytes(c, g)).collect();
            let all = xs.concat();
            let mut placed = |r: usize| {
                let mut img = bytes(size * c, g);
                img[r * c..(r + 1) * c].copy_from_slice(&xs[r]);
                img
            };
            let args = ranks
                .map(|r| {
                    let ip = in_place && (kind == K::Allgather || r == root);
                    CollArgs { data: if ip { placed(r) } else { xs[r].clone() }, in_place: ip, ..base(r) }
                })
                .collect();
            let expect = (0..size)
                .map(|r| Expect::Bytes(if kind == K::Gather && r != root { vec![] } else { all.clone() }))
                .collect();
            (args, expect)
        }
        K::Gatherv | K::Allgatherv => {
            let counts = uneven(size, c, g);
            let layout = scattered(&counts, g);
            let xs: Vec<Vec<u8>> = counts.iter().map(|&n| bytes(n, g)).collect();
            let full = image(&layout, &xs, 0);
            let args = ranks
                .map(|r| {
                    let ip = in_place && (kind == K::Allgatherv || r == root);
                    let data = if ip {
                        let mut img = bytes(layout.extent(), g);
                        img[layout.block(r)].copy_from_slice(&xs[r]);
                        img
                    } else {
                        xs[r].clone()
                    };
                    let has_layout = kind == K::Allgatherv || r == root;
                    CollArgs { data, in_place: ip, recv_layout: has_layout.then(|| layout.clone()), ..base(r) }
                })
                .collect();
            let expect = (0..size)
                .map(|r| {
                    if kind == K::Gatherv && r != root {
                        Expect::Bytes(vec![])
                    } else {
                        Expect::Blocks(layout.clone(), full.clone())
                    }
                })
                .collect();
            (args, expect)
        }
        K::Scatter | K::Scatterv => {
            let counts = if kind == K::Scatter { vec![c; size] } else { uneven(size, c, g) };
            let layout = if kind == K::Scatter { Layout::uniform(size, c) } else { scattered(&counts, g) };
            let xs: Vec<Vec<u8>> = counts.iter().map(|&n| bytes(n, g)).collect();
            let img = image(&layout, &xs, 0xEE);
            let args = ranks
                .map(|r| {
                    let is_root = r == root;
                    CollArgs {
                        data: if is_root { img.clone() } else { vec![] },
                        block: counts[r],
                        in_place: in_place && is_root,
                        send_layout: (is_root && kind == K::Scatterv).then(|| layout.clone()),
                        ..base(r)
                    }
                })
                .collect();
            let expect =
                (0..size).map(|r| Expect::Bytes(if in_place && r == root { vec![] } else { xs[r].clone() })).collect();
            (args, expect)
        }
        K::Alltoall => {
            let xs: Vec<Vec<u8>> = (0..size).map(|_| bytes(size * c, g)).collect();
            let args = ranks.map(|r| CollArgs { data: xs[r].clone(), ..base(r) }).collect();
            let expect = (0..size)
                .map(|r| Expect::Bytes((0..size).flat_map(|i| xs[i][r * c..(r + 1) * c].to_vec()).collect()))
                .collect();
            (args, expect)
        }
        K::Alltoallv => {
            // cnt[i][j]: bytes from i to j; symmetric in place (MPI requires it).
            let mut cnt: Vec<Vec<usize>> = (0..size).map(|_| uneven(size, c, g)).collect();
            if in_place {
                #[allow(clippy::needless_range_loop)]
                for i in 0..size {
                    for j in 0..i {
                        cnt[i][j] = cnt[j][i];
                    }
                }
            }
            let blocks: Vec<Vec<Vec<u8>>> = cnt.iter().map(|row| row.iter().map(|&n| bytes(n, g)).collect()).collect();
            let recv: Vec<Layout> =
                (0..size).map(|j| scattered(&(0..size).map(|i| cnt[i][j]).collect::<Vec<_>>(), g)).collect();
            let send: Vec<Layout> = (0..size).map(|i| scattered(&cnt[i], g)).collect();
            let args = ranks
                .map(|r| {
                    if in_place {
                        // The receive image holds the outgoing blocks at the receive layout's places.
                        CollArgs {
                            data: image(&recv[r], &blocks[r], 0x11),
                            in_place: true,
                            recv_layout: Some(recv[r].clone()),
                            ..base(r)
                        }
                    } else {
                        CollArgs {
                            data: image(&send[r], &blocks[r], 0x22),
                            send_layout: Some(send[r].clone()),
                            recv_layout: Some(recv[r].clone()),
                            ..base(r)
                        }
                    }
                })
                .collect();
            let expect = (0..size)
                .map(|j| {
                    let got: Vec<Vec<u8>> = (0..size).map(|i| blocks[i][j].clone()).collect();
                    Expect::Blocks(recv[j].clone(), image(&recv[j], &got, 0))
                })
                .collect();
            (args, expect)
        }
        K::ReduceScatter | K::ReduceScatterBlock => {
            let counts: Vec<usize> = if kind == K::ReduceScatterBlock { vec![c; size] } else { uneven(size, c, g) };
            let total: usize = counts.iter().sum();
            let xs: Vec<Vec<u8>> = (0..size).map(|_| opk.data(total, g)).collect();
            let result = opk.fold(&xs);
            let byte_counts: Vec<usize> = counts.iter().map(|n| n * opk.elem()).collect();
            let layout = Layout::contiguous(byte_counts.clone());
            let args = ranks
                .map(|r| CollArgs {
                    data: xs[r].clone(),
                    op: Some(opk.op()),
                    recv_layout: (kind == K::ReduceScatter).then(|| layout.clone()),
                    ..base(r)
                })
                .collect();
            let expect = (0..size).map(|r| Expect::Bytes(result[layout.block(r)].to_vec())).collect();
            (args, expect)
        }
        K::NeighborAllgather | K::NeighborAllgatherv | K::NeighborAlltoall | K::NeighborAlltoallv => {
            let topo = topology(size, g);
            let matches = edge_match(&topo);
            let nbrs: Vec<Neighbors> =
                topo.iter().map(|(s, d)| Neighbors::new(s.clone(), d.clone()).unwrap()).collect();
            // Block sizes: per rank (allgather kinds) or per (rank, destination index).
            let sizes: Vec<Vec<usize>> = match kind {
                K::NeighborAllgather => topo.iter().map(|(_, d)| vec![c; d.len()]).collect(),
                K::NeighborAllgatherv => {
                    let own = uneven(size, c, g);
                    topo.iter().enumerate().map(|(u, (_, d))| vec![own[u]; d.len()]).collect()
                }
                K::NeighborAlltoall => topo.iter().map(|(_, d)| vec![c; d.len()]).collect(),
                _ => topo.iter().map(|(_, d)| uneven(d.len(), c, g)).collect(),
            };
            let gather_like = matches!(kind, K::NeighborAllgather | K::NeighborAllgatherv);
            let own: Vec<Vec<u8>> = (0..size).map(|u| bytes(sizes[u].first().copied().unwrap_or(c), g)).collect();
            let sent: Vec<Vec<Vec<u8>>> = (0..size)
                .map(|u| {
                    (0..topo[u].1.len())
                        .map(|i| if gather_like { own[u].clone() } else { bytes(sizes[u][i], g) })
                        .collect()
                })
                .collect();
            let mut args = Vec::new();
            let mut expect = Vec::new();
            for v in 0..size {
                let got: Vec<Vec<u8>> = matches[v].iter().map(|&(u, i)| sent[u][i].clone()).collect();
                let recv_counts: Vec<usize> = got.iter().map(Vec::len).collect();
                let mut a = CollArgs { neighbors: Some(nbrs[v].clone()), ..base(v) };
                let recv = match kind {
                    K::NeighborAllgather => {
                        // A rank with no destinations still knows the block size.
                        a.data = if topo[v].1.is_empty() { bytes(c, g) } else { own[v].clone() };
                        Layout::uniform(recv_counts.len(), c)
                    }
                    K::NeighborAllgatherv => {
                        a.data = if topo[v].1.is_empty() { vec![] } else { own[v].clone() };
                        let l = scattered(&recv_counts, g);
                        a.recv_layout = Some(l.clone());
                        l
                    }
                    K::NeighborAlltoall => {
                        a.data = sent[v].concat();
                        a.block = c;
                        Layout::uniform(recv_counts.len(), c)
                    }
                    _ => {
                        let send = scattered(&sizes[v], g);
                        a.data = image(&send, &sent[v], 0x33);
                        a.send_layout = Some(send);
                        let l = scattered(&recv_counts, g);
                        a.recv_layout = Some(l.clone());
                        l
                    }
                };
                expect.push(Expect::Blocks(recv.clone(), image(&recv, &got, 0)));
                args.push(a);
            }
            (args, expect)
        }
    };
    if in_place && !in_place_applies(kind) {
        return None;
    }
    Some(Case { args, expect })
}

fn in_place_applies(kind: K) -> bool {
    matches!(kind, K::Gather | K::Gatherv | K::Scatter | K::Scatterv | K::Allgather | K::Allgatherv | K::Alltoallv)
}

/// The public constructor for `kind`, fed from `a` (the default choice).
fn construct(kind: K, a: CollArgs) -> Collective {
    let (r, n, root, d, op) = (a.rank, a.size, a.root, a.data, a.op);
    let res = match kind {
        K::Barrier => Ok(Collective::barrier(r, n)),
        K::Bcast => Collective::bcast(r, n, root, d),
        K::Reduce => Collective::reduce(r, n, root, d, op.unwrap()),
        K::Allreduce => Collective::allreduce(r, n, d, op.unwrap()),
        K::Gather => Collective::gather(r, n, root, d, a.in_place),
        K::Gatherv => Collective::gatherv(r, n, root, d, a.recv_layout, a.in_place),
        K::Scatter => Collective::scatter(r, n, root, d, a.block, a.in_place),
        K::Scatterv => Collective::scatterv(r, n, root, d, a.send_layout, a.block, a.in_place),
        K::Allgather => Collective::allgather(r, n, d, a.in_place),
        K::Allgatherv => Collective::allgatherv(r, n, d, a.recv_layout.unwrap(), a.in_place),
        K::Alltoall => Collective::alltoall(r, n, d),
        K::Alltoallv => Collective::alltoallv(r, n, d, a.send_layout, a.recv_layout.unwrap(), a.in_place),
        K::ReduceScatter => Collective::reduce_scatter(r, n, d, a.recv_layout.unwrap().counts().to_vec(), op.unwrap()),
        K::ReduceScatterBlock => Collective::reduce_scatter_block(r, n, d, op.unwrap()),
        K::Scan => Collective::scan(r, n, d, op.unwrap()),
        K::Exscan => Collective::exscan(r, n, d, op.unwrap()),
        K::NeighborAllgather => Collective::neighbor_allgather(r, n, a.neighbors.unwrap(), d),
        K::NeighborAllgatherv => Collective::neighbor_allgatherv(r, n, a.neighbors.unwrap(), d, a.recv_layout.unwrap()),
        K::NeighborAlltoall => Collective::neighbor_alltoall(r, n, a.neighbors.unwrap(), d, a.block),
        K::NeighborAlltoallv => Collective::neighbor_alltoallv(
            r,
            n,
            a.neighbors.unwrap(),
            d,
            a.send_layout.unwrap(),
            a.recv_layout.unwrap(),
        ),
    };
    res.unwrap_or_else(|e| panic!("{kind:?} rank {r} of {n}: {e}"))
}

/// Structural checks on one rank's schedule.
fn check_schedule(c: &Collective, what: &str) {
    let s = c.executor().schedule();
    s.check_hazards().unwrap_or_else(|e| panic!("{what} rank {}: {e}", s.rank()));
    // Linear algorithms send and receive once per peer; none may be quadratic.
    let log = usize::BITS as usize - s.size().leading_zeros() as usize;
    let comm = s.steps().iter().filter(|st| st.is_communication()).count();
    assert!(comm <= 4 * s.size() + 4 * log + 8, "{what} rank {}: {comm} messages", s.rank());
    for step in s.steps() {
        if let Step::Send { tag, peer, .. } | Step::Recv { tag, peer, .. } = step {
            assert!(*tag <= MAX_TAG, "{what}: tag {tag}");
            assert!(*peer < s.size() && *peer != s.rank(), "{what}: rank {} talks to {peer}", s.rank());
        }
    }
}

fn check_outputs(colls: Vec<Collective>, expect: &[Expect], what: &str) {
    for (r, (c, e)) in colls.iter().zip(expect).enumerate() {
        if let Expect::Blocks(layout, _) = e {
            assert!(c.output().len() >= layout.extent(), "{what} rank {r}: output too short");
        }
    }
    check_outputs_ref(&colls, expect, what);
}

/// Runs `case` with algorithm `key` (or the default through the
/// constructors when `None`).
fn run_case(kind: K, key: Option<&str>, case: &Case, seed: u64, hazards: bool, what: &str) {
    let colls: Vec<Collective> = case
        .args
        .iter()
        .map(|a| match key {
            Some(key) => Collective::with_algorithm(key, a.clone()).unwrap_or_else(|e| panic!("{what}: {e}")),
            None => construct(kind, a.clone()),
        })
        .collect();
    if hazards {
        for c in &colls {
            check_schedule(c, what);
        }
    }
    let colls = run_collectives(colls, seed).unwrap_or_else(|e| panic!("{what}: {e}"));
    check_outputs(colls, &case.expect, what);
}

const COUNTS: [usize; 4] = [0, 1, 7, 20];

/// The matrix for every algorithm of `kinds`.
fn matrix(kinds: &[K]) {
    let mut n = 0usize;
    for &kind in kinds {
        let algs: Vec<Option<&'static str>> =
            select::algorithms(kind).map(|a| Some(a.key)).chain(std::iter::once(None)).collect();
        for key in algs {
            for size in 1..=64 {
                let roots = if kind.rooted() { roots(size) } else { vec![0] };
                for root in roots {
                    n += 1;
                    let c = COUNTS[n % 4];
                    let in_place = (n / 4) % 2 == 1;
                    let supports_nc = key.map_or(true, |k| {
                        let a = select::lookup(k).unwrap();
                        (a.supports)(&Selection::new(kind, size, 8, false))
                    });
                    let opk = if supports_nc && (n / 8) % 2 == 1 { OpKind::Mat } else { OpKind::Sum };
                    let mut g = Gen::new(n as u64 * 7919 + size as u64);
                    let Some(case) = case(kind, size, root, c, in_place && in_place_applies(kind), opk, &mut g) else {
                        continue;
                    };
                    let what = format!(
                        "{} size {size} root {root} count {c} in_place {in_place} {opk:?}",
                        key.unwrap_or(kind.name())
                    );
                    // Hazard checks are quadratic in steps: all ranks below 24, a sample above.
                    let hazards = size < 24 || n % 5 == 0;
                    run_case(kind, key, &case, n as u64, hazards, &what);
                }
            }
        }
    }
}

#[test]
fn matrix_barrier_bcast_reduce_allreduce() {
    matrix(&[K::Barrier, K::Bcast, K::Reduce, K::Allreduce]);
}

#[test]
fn matrix_gather_scatter_and_v_variants() {
    matrix(&[K::Gather, K::Gatherv, K::Scatter, K::Scatterv]);
}

#[test]
fn matrix_allgather_and_allgatherv() {
    matrix(&[K::Allgather, K::Allgatherv]);
}

#[test]
fn matrix_alltoall_and_alltoallv() {
    matrix(&[K::Alltoall, K::Alltoallv]);
}

#[test]
fn matrix_reduce_scatter_scan_exscan() {
    matrix(&[K::ReduceScatter, K::ReduceScatterBlock, K::Scan, K::Exscan]);
}

#[test]
fn matrix_neighbourhood_collectives() {
    matrix(&[K::NeighborAllgather, K::NeighborAllgatherv, K::NeighborAlltoall, K::NeighborAlltoallv]);
}

/// Every algorithm with large messages on a few sizes (powers of two and not).
#[test]
fn large_messages_on_every_algorithm() {
    let mut n = 0u64;
    for alg in select::REGISTRY {
        let kind = alg.kind;
        for size in [2usize, 3, 5, 8, 13] {
            n += 1;
            // Bytes (or elements for reductions) per block or vector; all-to-all
            // kinds move size^2 blocks, so they get less per block.
            let c = match kind {
                K::Bcast | K::Reduce | K::Allreduce | K::Scan | K::Exscan => 6000,
                K::Alltoall | K::Alltoallv | K::ReduceScatter | K::ReduceScatterBlock => 700,
                _ => 3000,
            };
            let nc = (alg.supports)(&Selection::new(kind, size, 8, false));
            let opk = if nc && n % 2 == 0 { OpKind::Mat } else { OpKind::Sum };
            let c = if opk == OpKind::Mat { c / 4 } else { c };
            let in_place = in_place_applies(kind) && n % 3 == 0;
            let root = if kind.rooted() { size / 2 } else { 0 };
            let case = case(kind, size, root, c, in_place, opk, &mut Gen::new(n)).unwrap();
            let what = format!("{} size {size} large count {c} in_place {in_place} {opk:?}", alg.key);
            run_case(kind, Some(alg.key), &case, n, false, &what);
        }
    }
}

/// Kinds whose argument shapes depend only on the count, so a second case
/// with another seed has the same shapes and new data.
fn shape_stable(kind: K) -> bool {
    matches!(
        kind,
        K::Barrier
            | K::Bcast
            | K::Reduce
            | K::Allreduce
            | K::Scan
            | K::Exscan
            | K::Gather
            | K::Scatter
            | K::Allgather
            | K::Alltoall
            | K::ReduceScatterBlock
    )
}

/// The persistent form: every algorithm runs, is restarted with new input
/// (or, where the shapes are random, the same input) and runs again, twice.
#[test]
fn persistent_restart_reruns_every_algorithm() {
    let mut n = 0u64;
    for alg in select::REGISTRY {
        let kind = alg.kind;
        for size in [1usize, 2, 3, 6, 9] {
            n += 1;
            let nc = (alg.supports)(&Selection::new(kind, size, 8, false));
            let opk = if nc { OpKind::Mat } else { OpKind::Sum };
            let in_place = in_place_applies(kind) && n % 2 == 0;
            let root = if kind.rooted() { size - 1 } else { 0 };
            let first = case(kind, size, root, 5, in_place, opk, &mut Gen::new(n)).unwrap();
            let mut colls: Vec<Collective> =
                first.args.iter().map(|a| Collective::with_algorithm(alg.key, a.clone()).unwrap()).collect();
            colls = run_collectives(colls, n).unwrap();
            check_outputs_ref(&colls, &first.expect, &format!("{} size {size} first run", alg.key));
            for round in 1..3u64 {
                let next = if shape_stable(kind) {
                    case(kind, size, root, 5, in_place, opk, &mut Gen::new(n * 1000 + round)).unwrap()
                } else {
                    case(kind, size, root, 5, in_place, opk, &mut Gen::new(n)).unwrap()
                };
                for (c, a) in colls.iter_mut().zip(&next.args) {
                    c.restart(&a.data).unwrap_or_else(|e| panic!("{} size {size}: restart: {e}", alg.key));
                }
                colls = run_collectives(colls, n + round).unwrap();
                check_outputs_ref(&colls, &next.expect, &format!("{} size {size} round {round}", alg.key));
            }
        }
    }
}

fn check_outputs_ref(colls: &[Collective], expect: &[Expect], what: &str) {
    for (r, (c, e)) in colls.iter().zip(expect).enumerate() {
        let out = c.output();
        match e {
            Expect::Bytes(b) => assert_eq!(out, &b[..], "{what} rank {r}"),
            Expect::Blocks(layout, img) => {
                for i in 0..layout.len() {
                    assert_eq!(out[layout.block(i)], img[layout.block(i)], "{what} rank {r} block {i}");
                }
            }
        }
    }
}

/// A periodic 1-D Cartesian topology labelled by direction (see
/// `Neighbors`): with 1 or 2 ranks a peer appears twice, and the block sent
/// rightwards must still land in the receiver's "from the left" slot.
#[test]
fn cartesian_direction_labels_keep_duplicate_neighbours_apart() {
    for size in 1..=4usize {
        let colls: Vec<Collective> = (0..size)
            .map(|r| {
                let (left, right) = ((r + size - 1) % size, (r + 1) % size);
                // Sources: from the left (label 0), from the right (label 1).
                // Destinations in MPI order: to the left (arrives from the receiver's right, label 1),
                // to the right (arrives from the receiver's left, label 0).
                let n = Neighbors::with_labels(vec![(left, 0), (right, 1)], vec![(left, 1), (right, 0)]).unwrap();
                let data = vec![r as u8, b'L', r as u8, b'R'];
                Collective::neighbor_alltoall(r, size, n, data, 2).unwrap()
            })
            .collect();
        let colls = run_collectives(colls, size as u64).unwrap();
        for (r, c) in colls.iter().enumerate() {
            let (left, right) = ((r + size - 1) % size, (r + 1) % size);
            assert_eq!(c.output(), &[left as u8, b'R', right as u8, b'L'], "size {size} rank {r}");
        }
    }
}
