//! Byte layouts of per-rank blocks and neighbourhood topologies.
//!
//! Every collective of this crate works on bytes. The `v` variants
//! (`gatherv`, `allgatherv`, `alltoallv`, ...) describe where each rank's
//! block sits in a buffer with a [`Layout`]: one byte count and one byte
//! displacement per rank (or per neighbour). The C ABI converts element
//! counts and displacements (times the datatype extent) into bytes, and
//! packs non-contiguous datatypes first, so the same layouts also serve
//! `MPI_Alltoallw` (per-peer byte counts and byte displacements).
//!
//! [`Neighbors`] is one rank's view of a process topology: its sources (in
//! the order of its receive blocks) and its destinations (in the order of
//! its send blocks), each edge labelled so that the two ends agree on which
//! message is which even when an edge is repeated.

use std::ops::Range;

use crate::{CollError, MAX_TAG};

/// Per-block byte counts and byte displacements into one buffer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layout {
    counts: Vec<usize>,
    displs: Vec<usize>,
}

impl Layout {
    /// Block `i` is `counts[i]` bytes at byte offset `displs[i]`. Fails if
    /// the lengths differ or a block ends past `usize::MAX`. Blocks may
    /// overlap here; collectives that write through a layout reject overlaps.
    pub fn new(counts: Vec<usize>, displs: Vec<usize>) -> Result<Layout, CollError> {
        if counts.len() != displs.len() {
            return Err(CollError::Invalid(format!(
                "layout has {} counts and {} displacements",
                counts.len(),
                displs.len()
            )));
        }
        for (c, d) in counts.iter().zip(&displs) {
            if d.checked_add(*c).is_none() {
                return Err(CollError::Invalid("layout block ends past usize::MAX".into()));
            }
        }
        Ok(Layout { counts, displs })
    }

    /// Blocks of `counts` bytes packed one after another from offset 0.
    pub fn contiguous(counts: Vec<usize>) -> Layout {
        let mut displs = Vec::with_capacity(counts.len());
        let mut at = 0usize;
        for c in &counts {
            displs.push(at);
            at += c;
        }
        Layout { counts, displs }
    }

    /// `n` blocks of `block` bytes packed from offset 0.
    pub fn uniform(n: usize, block: usize) -> Layout {
        Layout::contiguous(vec![block; n])
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether there are no blocks.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Byte count of block `i`.
    pub fn count(&self, i: usize) -> usize {
        self.counts[i]
    }

    /// Byte counts of all blocks.
    pub fn counts(&self) -> &[usize] {
        &self.counts
    }

    /// Byte range of block `i`. An empty block is `0..0` whatever its
    /// displacement (MPI lets empty blocks point anywhere; they touch nothing).
    pub fn block(&self, i: usize) -> Range<usize> {
        if self.counts[i] == 0 {
            0..0
        } else {
            self.displs[i]..self.displs[i] + self.counts[i]
        }
    }

    /// Sum of the counts.
    pub fn total(&self) -> usize {
        self.counts.iter().sum()
    }

    /// Bytes a buffer needs to hold every non-empty block.
    pub fn extent(&self) -> usize {
        (0..self.len()).filter(|&i| self.counts[i] > 0).map(|i| self.block(i).end).max().unwrap_or(0)
    }

    /// Fails if two non-empty blocks overlap (a buffer written through the
    /// layout would be ambiguous).
    pub fn check_disjoint(&self) -> Result<(), CollError> {
        let mut blocks: Vec<Range<usize>> = (0..self.len()).map(|i| self.block(i)).filter(|r| !r.is_empty()).collect();
        blocks.sort_unstable_by_key(|r| r.start);
        for w in blocks.windows(2) {
            if w[0].end > w[1].start {
                return Err(CollError::Invalid(format!("layout blocks {:?} and {:?} overlap", w[0], w[1])));
            }
        }
        Ok(())
    }
}

/// Byte range of chunk `i` when `count` elements of `elem` bytes are cut
/// into `n` chunks whose sizes differ by at most one element (the first
/// `count % n` chunks get the extra one). `i == n` gives the empty range at
/// the end, so `chunk(lo).start..chunk(hi).start` spans chunks `lo..hi`.
pub(crate) fn chunk(i: usize, n: usize, count: usize, elem: usize) -> Range<usize> {
    let (base, extra) = (count / n, count % n);
    let start = i * base + i.min(extra);
    let len = if i < n { base + usize::from(i < extra) } else { 0 };
    start * elem..(start + len) * elem
}

/// One rank's neighbourhood in a process topology: `(rank, label)` per
/// source, in receive-block order, and per destination, in send-block order.
///
/// Matching rule: the block this rank sends to destination entry
/// `(d, label)` lands, on rank `d`, in the receive block of its source
/// entry `(this rank, label)`. Within each list a `(rank, label)` pair is
/// unique. [`Neighbors::new`] labels the k-th occurrence of a peer in a list
/// with `k`, which is right for graph and distributed-graph topologies
/// (the k-th edge a→b on a's side is the k-th edge a→b on b's side). For a
/// Cartesian topology the runtime should label by direction instead: the
/// source in direction `-1` of dimension `d` gets label `2d`, the one in
/// direction `+1` label `2d + 1`; the destination in direction `+1` of
/// dimension `d` gets label `2d` (it arrives from the receiver's `-1` side)
/// and the one in direction `-1` label `2d + 1`. This keeps periodic
/// dimensions of size 1 or 2, where a peer appears twice, correct.
/// `MPI_PROC_NULL` neighbours are left out by the runtime (their blocks are
/// not transferred); it keeps its own map from block index to entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Neighbors {
    sources: Vec<(usize, u32)>,
    destinations: Vec<(usize, u32)>,
}

impl Neighbors {
    /// Sources and destinations labelled by occurrence (graph topologies).
    pub fn new(sources: Vec<usize>, destinations: Vec<usize>) -> Result<Neighbors, CollError> {
        fn label(list: Vec<usize>) -> Vec<(usize, u32)> {
            let mut seen = std::collections::HashMap::new();
            list.into_iter()
                .map(|p| {
                    let k = seen.entry(p).or_insert(0u32);
                    *k += 1;
                    (p, *k - 1)
                })
                .collect()
        }
        Neighbors::with_labels(label(sources), label(destinations))
    }

    /// Sources and destinations with explicit labels (see the type doc);
    /// labels are at most [`MAX_TAG`] and `(rank, label)` pairs are unique
    /// within each list.
    pub fn with_labels(sources: Vec<(usize, u32)>, destinations: Vec<(usize, u32)>) -> Result<Neighbors, CollError> {
        for list in [&sources, &destinations] {
            let mut seen = std::collections::HashSet::new();
            for e in list {
                if e.1 > MAX_TAG {
                    return Err(CollError::Invalid(format!("neighbour label {} above {MAX_TAG}", e.1)));
                }
                if !seen.insert(*e) {
                    return Err(CollError::Invalid(format!("neighbour {} with label {} appears twice", e.0, e.1)));
                }
            }
        }
        Ok(Neighbors { sources, destinations })
    }

    /// `(rank, label)` per source, in receive-block order.
    pub fn sources(&self) -> &[(usize, u32)] {
        &self.sources
    }

    /// `(rank, label)` per destination, in send-block order.
    pub fn destinations(&self) -> &[(usize, u32)] {
        &self.destinations
    }
}

/// Folding a communicator onto the largest power of two `p2 <= size`.
///
/// With `rem = size - p2`, ranks below `2 * rem` pair up: each even one
/// ("extra") hands its data to the odd one above it and sits out; the `p2`
/// members get new numbers (`rank / 2` below `2 * rem`, `rank - rem`
/// above). New numbers increase with real ranks and new rank `j` stands for
/// the real ranks `first_rank(j)..first_rank(j + 1)`, so a run of new ranks
/// stands for a contiguous run of real ranks: algorithms that move
/// contiguous groups of blocks work on the folded communicator unchanged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fold {
    pub p2: usize,
    pub rem: usize,
}

/// A rank's part in a [`Fold`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum FoldRole {
    /// Hands its data to `partner` and waits for the result.
    Extra { partner: usize },
    /// Takes part as new rank `new`; `extra` is the rank it stands in for too.
    Member { new: usize, extra: Option<usize> },
}

impl Fold {
    pub fn new(size: usize) -> Fold {
        let p2 = if size.is_power_of_two() { size } else { size.next_power_of_two() / 2 };
        Fold { p2, rem: size - p2 }
    }

    pub fn role(&self, rank: usize) -> FoldRole {
        if rank < 2 * self.rem {
            if rank % 2 == 0 {
                FoldRole::Extra { partner: rank + 1 }
            } else {
                FoldRole::Member { new: rank / 2, extra: Some(rank - 1) }
            }
        } else {
            FoldRole::Member { new: rank - self.rem, extra: None }
        }
    }

    /// The real rank of member `new`.
    pub fn real(&self, new: usize) -> usize {
        if new < self.rem {
            2 * new + 1
        } else {
            new + self.rem
        }
    }

    /// Lowest real rank member `new` stands for; `first_rank(p2) == size`.
    pub fn first_rank(&self, new: usize) -> usize {
        if new < self.rem {
            2 * new
        } else {
            new + self.rem
        }
    }

    /// New number of the member that holds `rank`'s data.
    pub fn member_of(&self, rank: usize) -> usize {
        match self.role(rank) {
            FoldRole::Extra { partner } => partner / 2,
            FoldRole::Member { new, .. } => new,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_tile_the_vector_in_whole_elements() {
        for n in 1..20 {
            for count in 0..50 {
                let mut next = 0;
                for i in 0..n {
                    let r = chunk(i, n, count, 4);
                    assert_eq!(r.start, next);
                    assert!(r.len() / 4 <= count / n + 1);
                    next = r.end;
                }
                assert_eq!(next, count * 4);
                assert_eq!(chunk(n, n, count, 4), count * 4..count * 4);
            }
        }
    }

    #[test]
    fn fold_groups_are_contiguous_and_cover_every_rank() {
        for size in 1..70 {
            let f = Fold::new(size);
            assert!(f.p2.is_power_of_two() && f.p2 <= size && size < 2 * f.p2);
            assert_eq!(f.first_rank(0), 0);
            assert_eq!(f.first_rank(f.p2), size);
            for j in 0..f.p2 {
                assert!(f.first_rank(j) < f.first_rank(j + 1));
                assert!((f.first_rank(j)..f.first_rank(j + 1)).contains(&f.real(j)));
                for r in f.first_rank(j)..f.first_rank(j + 1) {
                    assert_eq!(f.member_of(r), j);
                }
            }
        }
    }

    #[test]
    fn layouts_report_extent_and_overlap() {
        let l = Layout::new(vec![2, 0, 3], vec![4, 100, 0]).unwrap();
        assert_eq!(l.extent(), 6);
        assert_eq!(l.total(), 5);
        l.check_disjoint().unwrap();
        assert!(Layout::new(vec![2, 3], vec![0, 1]).unwrap().check_disjoint().is_err());
        assert!(Layout::new(vec![1], vec![]).is_err());
        assert_eq!(Layout::uniform(3, 2).block(2), 4..6);
    }

    #[test]
    fn neighbor_labels_count_occurrences_and_must_be_unique() {
        let n = Neighbors::new(vec![3, 1, 3], vec![2]).unwrap();
        assert_eq!(n.sources(), &[(3, 0), (1, 0), (3, 1)]);
        assert!(Neighbors::with_labels(vec![(1, 2), (1, 2)], vec![]).is_err());
        assert!(Neighbors::with_labels(vec![(1, MAX_TAG + 1)], vec![]).is_err());
    }
}
