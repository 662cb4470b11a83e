//! Walking the layout tree directly, for types whose flattened form would be
//! too large to build (a vector of a billion blocks packs without a
//! billion-entry list).
//!
//! The walk visits packed-stream bytes `[first, first + len)` of one element,
//! seeking by sizes: a strided node skips whole blocks by division, block and
//! struct nodes by binary search over their pieces' stream ends, and any
//! dense subtree (its data one block in stream order) is a single callback.

use crate::basic::Basic;
use crate::error::{DatatypeError, Result};
use crate::layout::{Datatype, Node};

/// Receives `(memory offset from base, position in the window, length)`.
pub(crate) type Sink<'a> = dyn FnMut(i64, usize, usize) -> Result<()> + 'a;

fn to_i64(v: i128) -> Result<i64> {
    i64::try_from(v).map_err(|_| DatatypeError::Overflow)
}

/// Visits stream bytes `[first, first + len)` of one element of `t` placed at `base`.
pub(crate) fn walk_element(t: &Datatype, base: i128, first: u64, len: u64, at: &mut usize, f: &mut Sink) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    let b = &t.0.bounds;
    if b.dense {
        f(to_i64(base + b.true_lb as i128 + first as i128)?, *at, len as usize)?;
        *at += len as usize;
        return Ok(());
    }
    match &t.0.node {
        Node::Basic(_) => unreachable!("basic types are dense"),
        Node::Wrap { child } => walk_element(child, base, first, len, at, f),
        Node::Strided { child, blocklen, stride, .. } => {
            let block = blocklen * child.size();
            let (mut i, mut within, mut rem) = (first / block, first % block, len);
            while rem > 0 {
                let n = (block - within).min(rem);
                walk_run(child, base + i as i128 * *stride as i128, within, n, at, f)?;
                (i, within, rem) = (i + 1, 0, rem - n);
            }
            Ok(())
        }
        Node::Blocks { child, blocks } => {
            walk_pieces(t, first, len, at, f, |k| (blocks[k].0, child), |k| blocks[k].1 * child.size(), base)
        }
        Node::Struct { fields } => walk_pieces(
            t,
            first,
            len,
            at,
            f,
            |k| (fields[k].0, &fields[k].2),
            |k| fields[k].1 * fields[k].2.size(),
            base,
        ),
    }
}

/// Pieces of a `Blocks` or `Struct` node: `piece(k)` gives displacement and child.
#[allow(clippy::too_many_arguments)]
fn walk_pieces<'d>(
    t: &Datatype,
    first: u64,
    len: u64,
    at: &mut usize,
    f: &mut Sink,
    piece: impl Fn(usize) -> (i64, &'d Datatype),
    bytes: impl Fn(usize) -> u64,
    base: i128,
) -> Result<()> {
    let ends = t.piece_ends();
    let mut k = ends.partition_point(|&e| e <= first);
    let mut within = first - (ends[k] - bytes(k));
    let mut rem = len;
    while rem > 0 {
        let n = (bytes(k) - within).min(rem);
        let (d, child) = piece(k);
        walk_run(child, base + d as i128, within, n, at, f)?;
        (k, within, rem) = (k + 1, 0, rem - n);
    }
    Ok(())
}

/// Visits stream bytes `[within, within + len)` of consecutive copies of `child` starting at `base`.
fn walk_run(child: &Datatype, base: i128, within: u64, len: u64, at: &mut usize, f: &mut Sink) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    let (cs, ext) = (child.size(), child.extent() as i128);
    if child.0.bounds.dense && ext == cs as i128 {
        f(to_i64(base + child.true_lb() as i128 + within as i128)?, *at, len as usize)?;
        *at += len as usize;
        return Ok(());
    }
    let (mut j, mut w, mut rem) = (within / cs, within % cs, len);
    while rem > 0 {
        let n = (cs - w).min(rem);
        walk_element(child, base + j as i128 * ext, w, n, at, f)?;
        (j, w, rem) = (j + 1, 0, rem - n);
    }
    Ok(())
}

/// Calls `f(memory offset, basic type, number of consecutive values)` for the
/// typed runs of one element of `t` placed at `base`, in type-map order,
/// without flattening (a dense single-type subtree is one call).
pub(crate) fn walk_runs(t: &Datatype, base: i128, f: &mut dyn FnMut(i128, Basic, u64) -> Result<()>) -> Result<()> {
    let b = &t.0.bounds;
    if b.size == 0 {
        return Ok(());
    }
    if let (true, Some(k)) = (b.dense, b.uniform) {
        return f(base + b.true_lb as i128, k, b.n_basic);
    }
    let mut copies = |child: &Datatype, at: i128, n: u64| -> Result<()> {
        let c = &child.0.bounds;
        if let (true, Some(k), true) = (c.dense, c.uniform, c.ub - c.lb == c.size as i64) {
            return f(at + c.true_lb as i128, k, n * c.n_basic);
        }
        for j in 0..n {
            walk_runs(child, at + j as i128 * (c.ub - c.lb) as i128, f)?;
        }
        Ok(())
    };
    match &t.0.node {
        Node::Basic(k) => f(base, *k, 1),
        Node::Wrap { child } => walk_runs(child, base, f),
        Node::Strided { child, count, blocklen, stride } => {
            for i in 0..*count {
                copies(child, base + i as i128 * *stride as i128, *blocklen)?;
            }
            Ok(())
        }
        Node::Blocks { child, blocks } => {
            for &(d, n) in blocks {
                copies(child, base + d as i128, n)?;
            }
            Ok(())
        }
        Node::Struct { fields } => {
            for (d, n, child) in fields {
                copies(child, base + *d as i128, *n)?;
            }
            Ok(())
        }
    }
}
