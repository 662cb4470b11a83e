//! Every predefined reduction operator on every predefined datatype it is
//! defined for (integers of every width, floats, long double, complex,
//! logical, byte, the MINLOC/MAXLOC pair types), as the C ABI resolves
//! them, through every reduction collective and every algorithm that can
//! run it, in the simulator (seeded random delivery order) on several
//! communicator sizes, counts 0, 1, odd and large, every root on small
//! sizes; checked against a sequential fold in rank order. Values are
//! chosen so that every operator is exact (small integers, products of
//! units and twos), so any association order must give the same bytes.

use std::sync::Arc;

use mpi::datatype::{elem_of, is_builtin, Elem};
use rmpi_collectives::select::{self, CollArgs, CollectiveKind as K, Selection};
use rmpi_collectives::sim::run_collectives;
use rmpi_collectives::{Collective, ReduceOp};
use rmpi_datatype::{Basic, ComplexPart, Encoding};

/// MPI_MAX .. MPI_MAXLOC in MPICH's numbering.
const OPS: std::ops::RangeInclusive<i32> = 0x58000001..=0x5800000c;
const PROD: i32 = 0x58000004;
const LOGICAL: [i32; 3] = [0x58000005, 0x58000007, 0x58000009];

fn x87(v: i64) -> [u8; 16] {
    let mut out = [0u8; 16];
    if v == 0 {
        return out;
    }
    let m = v.unsigned_abs();
    let lz = m.leading_zeros();
    out[..8].copy_from_slice(&(m << lz).to_le_bytes());
    let exp = (16383 + 63 - lz) as u16 | if v < 0 { 0x8000 } else { 0 };
    out[8..10].copy_from_slice(&exp.to_le_bytes());
    out
}

fn real(part: Basic, v: i64, out: &mut Vec<u8>) {
    match part.encoding() {
        Encoding::Ieee if part.size() == 4 => out.extend((v as f32).to_le_bytes()),
        Encoding::Ieee => out.extend((v as f64).to_le_bytes()),
        Encoding::X87 => out.extend(x87(v)),
        _ => out.extend(&v.to_le_bytes()[..part.size() as usize]),
    }
}

/// One element of `b`: `v` (and `w` as the imaginary part of a complex).
fn basic(b: Basic, v: i64, w: i64, out: &mut Vec<u8>) {
    match b.encoding() {
        Encoding::Complex(p) => {
            let part = match p {
                ComplexPart::Float => Basic::Float,
                ComplexPart::Double => Basic::Double,
                ComplexPart::LongDouble => Basic::LongDouble,
            };
            real(part, v, out);
            real(part, w, out);
        }
        _ => real(b, v, out),
    }
}

/// Small deterministic numbers.
fn mix(a: u64, b: u64, c: u64) -> u64 {
    let mut x = a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b.wrapping_mul(0xc2b2_ae3d_27d4_eb4f) ^ c.rotate_left(17);
    x ^= x >> 29;
    x.wrapping_mul(0xbf58_476d_1ce4_e5b9) >> 7
}

/// This rank's `n` elements for `op` on `elem`.
fn data(op: i32, elem: &Elem, rank: usize, n: usize, salt: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let r = mix(rank as u64, i as u64, salt);
        let float = |b: Basic| matches!(b.encoding(), Encoding::Ieee | Encoding::X87 | Encoding::Complex(_));
        match elem {
            Elem::Basic(b) => {
                let (v, w) = if LOGICAL.contains(&op) {
                    ((r % 3) as i64 * (r % 2) as i64, 0)
                } else if op == PROD && matches!(b.encoding(), Encoding::Complex(_)) {
                    [(1, 0), (0, 1), (-1, 0), (0, -1), (2, 0)][(r % 5) as usize]
                } else if op == PROD && float(*b) {
                    ([1, 2, -1][(r % 3) as usize], 0)
                } else if float(*b) || matches!(b.encoding(), Encoding::Bytes) {
                    ((r % 7) as i64 - 3, (r / 7 % 5) as i64 - 2)
                } else {
                    (r as i64, 0)
                };
                basic(*b, v, w, &mut out);
            }
            Elem::Pair(p) => {
                basic(p.value(), (r % 4) as i64 - 1, 0, &mut out);
                basic(p.index(), ((rank * 7 + i) % 11) as i64, 0, &mut out);
                // Keep the packed pair's size: nothing else to add.
            }
        }
    }
    out
}

/// `bytes` with negative zeros made positive (association order decides
/// the sign of a zero product), element by element of `elem`.
fn canon(elem: &Elem, bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    let parts: Vec<Basic> = match elem {
        Elem::Basic(b) => match b.encoding() {
            Encoding::Complex(ComplexPart::Float) => vec![Basic::Float, Basic::Float],
            Encoding::Complex(ComplexPart::Double) => vec![Basic::Double, Basic::Double],
            Encoding::Complex(ComplexPart::LongDouble) => vec![Basic::LongDouble, Basic::LongDouble],
            _ => vec![*b],
        },
        Elem::Pair(p) => vec![p.value(), p.index()],
    };
    let esize: usize = parts.iter().map(|b| b.size() as usize).sum();
    for chunk in v.chunks_mut(esize.max(1)) {
        let mut off = 0;
        for b in &parts {
            let n = b.size() as usize;
            let x = &mut chunk[off..off + n];
            let zero = match b.encoding() {
                Encoding::Ieee | Encoding::X87 => {
                    let sign = if n == 4 {
                        3
                    } else if n == 8 {
                        7
                    } else {
                        9
                    };
                    let mut y = x.to_vec();
                    y[sign] &= 0x7f;
                    y.iter().take(if n == 16 { 10 } else { n }).all(|&c| c == 0)
                }
                _ => false,
            };
            if zero {
                x.fill(0);
            }
            off += n;
        }
    }
    v
}

fn same(elem: &Elem, got: &[u8], want: &[u8], what: &str) {
    let (g, w) = (canon(elem, got), canon(elem, want));
    if g != w {
        let i = g.iter().zip(&w).position(|(a, b)| a != b).unwrap_or(g.len().min(w.len()));
        panic!("{what}: {} bytes, expected {}; first difference at byte {i}", g.len(), w.len());
    }
}

fn fold(op: &Arc<dyn ReduceOp>, inputs: &[Vec<u8>]) -> Vec<u8> {
    let mut acc = inputs[0].clone();
    for x in &inputs[1..] {
        // acc = acc (op) x, acc coming first in rank order
        let mut next = x.clone();
        op.apply(&acc, &mut next);
        acc = next;
    }
    acc
}

fn run(key: &str, args: impl Fn(usize) -> CollArgs, size: usize, seed: u64) -> Vec<Vec<u8>> {
    let colls = (0..size).map(|r| Collective::with_algorithm(key, args(r)).unwrap_or_else(|e| panic!("{key}: {e}")));
    run_collectives(colls.collect(), seed)
        .unwrap_or_else(|e| panic!("{key} size {size}: {e}"))
        .into_iter()
        .map(Collective::into_output)
        .collect()
}

fn runnable(kind: K, size: usize, bytes: usize) -> Vec<&'static str> {
    let sel = Selection::new(kind, size, bytes, true);
    select::algorithms(kind).filter(|a| (a.supports)(&sel)).map(|a| a.key).collect()
}

/// The (op, datatype) pairs the ABI defines, with the resolved operator.
fn pairs() -> Vec<(i32, i32, Elem, Arc<dyn ReduceOp>)> {
    let mut v = Vec::new();
    for dt in (0x4c000000..0x4c002000).filter(|&h| is_builtin(h)) {
        for op in OPS {
            let Ok(f) = mpi::op::resolve(op, dt) else { continue };
            let Ok(Some(elem)) = elem_of(dt) else { continue };
            v.push((op, dt, elem, f));
        }
    }
    v
}

#[test]
fn every_predefined_op_on_every_type_through_every_reduction() {
    let all = pairs();
    assert!(all.len() > 150, "only {} (op, type) pairs resolved", all.len());
    eprintln!("{} (op, type) pairs", all.len());
    let mut kinds_seen = std::collections::HashSet::new();
    let mut case = 0u64;
    for (op, dt, elem, f) in &all {
        let esize = f.elem_size();
        for size in [1, 2, 3, 5, 8, 13] {
            case += 1;
            let n = [0, 1, 7, 257][(case % 4) as usize];
            let inputs: Vec<Vec<u8>> = (0..size).map(|r| data(*op, elem, r, n * size, case)).collect();
            assert!(inputs.iter().all(|x| x.len() == n * size * esize), "{op:#x} on {dt:#x}");
            let whole = fold(f, &inputs);
            let first: Vec<Vec<u8>> = inputs.iter().map(|x| x[..n * esize].to_vec()).collect();
            let what = |k: &str| format!("{k} op {op:#x} type {dt:#x} size {size} count {n}");
            // reduce, every root on small sizes
            let want = fold(f, &first);
            let roots: Vec<usize> = if size <= 5 { (0..size).collect() } else { vec![case as usize % size] };
            for key in runnable(K::Reduce, size, n * esize) {
                for &root in &roots {
                    let a = |r: usize| CollArgs {
                        rank: r,
                        size,
                        root,
                        data: first[r].clone(),
                        op: Some(f.clone()),
                        ..CollArgs::default()
                    };
                    same(elem, &run(key, a, size, case)[root], &want, &what(key));
                }
                kinds_seen.insert(key);
            }
            // allreduce
            for key in runnable(K::Allreduce, size, n * esize) {
                let a = |r: usize| CollArgs {
                    rank: r,
                    size,
                    data: first[r].clone(),
                    op: Some(f.clone()),
                    ..CollArgs::default()
                };
                for out in run(key, a, size, case) {
                    same(elem, &out, &want, &what(key));
                }
                kinds_seen.insert(key);
            }
            // reduce_scatter_block over the size*n vector
            for key in runnable(K::ReduceScatterBlock, size, n * esize) {
                let a = |r: usize| CollArgs {
                    rank: r,
                    size,
                    data: inputs[r].clone(),
                    op: Some(f.clone()),
                    ..CollArgs::default()
                };
                for (r, out) in run(key, a, size, case).into_iter().enumerate() {
                    same(elem, &out, &whole[r * n * esize..(r + 1) * n * esize], &what(key));
                }
                kinds_seen.insert(key);
            }
            // reduce_scatter with uneven counts: rank r gets (r % 3) * n / 2 elements... cut the vector
            let counts: Vec<usize> = (0..size).map(|r| ((r + case as usize) % 3) * n / 2).collect();
            let total: usize = counts.iter().sum();
            for key in runnable(K::ReduceScatter, size, total * esize) {
                let a = |r: usize| CollArgs {
                    rank: r,
                    size,
                    data: inputs[r][..total * esize].to_vec(),
                    op: Some(f.clone()),
                    recv_layout: Some(rmpi_collectives::Layout::contiguous(counts.iter().map(|c| c * esize).collect())),
                    ..CollArgs::default()
                };
                let mut off = 0;
                for (r, out) in run(key, a, size, case).into_iter().enumerate() {
                    same(elem, &out, &whole[off..off + counts[r] * esize], &what(key));
                    off += counts[r] * esize;
                }
                kinds_seen.insert(key);
            }
            // scan and exscan
            for (kind, exclusive) in [(K::Scan, false), (K::Exscan, true)] {
                for key in runnable(kind, size, n * esize) {
                    let a = |r: usize| CollArgs {
                        rank: r,
                        size,
                        data: first[r].clone(),
                        op: Some(f.clone()),
                        ..CollArgs::default()
                    };
                    for (r, out) in run(key, a, size, case).into_iter().enumerate() {
                        let upto = if exclusive { r } else { r + 1 };
                        if upto == 0 {
                            continue;
                        }
                        same(elem, &out, &fold(f, &first[..upto]), &what(key));
                    }
                    kinds_seen.insert(key);
                }
            }
        }
    }
    // Every reduction algorithm ran.
    for kind in [K::Reduce, K::Allreduce, K::ReduceScatter, K::ReduceScatterBlock, K::Scan, K::Exscan] {
        for a in select::algorithms(kind) {
            assert!(kinds_seen.contains(a.key), "{} never ran", a.key);
        }
    }
}
