//! Native pack and unpack: moving the bytes of a type map between user
//! memory and a contiguous packed stream, plus element counting.
//!
//! User memory is a byte slice and `view_start`, the displacement of the
//! slice's first byte from the buffer's base address (use
//! [`Datatype::span`]'s `lo`, or 0 for a slice starting at the base). Element
//! `k` of a message lies `k * extent` bytes after the base. The packed stream
//! is the data bytes in type-map order, element after element; the `_range`
//! variants work on any window of it (for streaming large messages and for
//! truncated receives).

use std::ops::Range;

use crate::error::{DatatypeError, Result};
use crate::layout::Datatype;
use crate::walk::walk_element;

/// Types with more flattened blocks than this are packed by walking their
/// layout tree instead of building the flattened form.
pub const FLATTEN_LIMIT: u64 = 1 << 16;

/// The indices of `view` holding bytes `[off, off + n)` relative to the base.
fn view_range(view_len: usize, view_start: i64, off: i64, n: usize) -> Result<Range<usize>> {
    let idx = off as i128 - view_start as i128;
    if idx < 0 || idx + n as i128 > view_len as i128 {
        return Err(DatatypeError::OutOfBounds {
            lo: off,
            hi: off.saturating_add(n as i64),
            view_lo: view_start,
            view_hi: view_start.saturating_add(view_len as i64),
        });
    }
    Ok(idx as usize..idx as usize + n)
}

/// Iterator over the contiguous memory blocks of a message; see [`Datatype::message_blocks`].
pub struct MessageBlocks<'a> {
    blocks: &'a [crate::layout::ByteBlock],
    extent: i64,
    count: u64,
    k: u64,
    i: usize,
}

impl Iterator for MessageBlocks<'_> {
    type Item = (i64, u64);

    fn next(&mut self) -> Option<(i64, u64)> {
        let mut cur: Option<(i64, u64)> = None;
        while self.k < self.count {
            let b = &self.blocks[self.i];
            let off = self.k as i64 * self.extent + b.offset;
            match cur {
                None => cur = Some((off, b.len)),
                Some((o, n)) if o + n as i64 == off => cur = Some((o, n + b.len)),
                Some(_) => return cur,
            }
            self.i += 1;
            if self.i == self.blocks.len() {
                self.i = 0;
                self.k += 1;
            }
        }
        cur
    }
}

impl Datatype {
    /// The contiguous memory blocks `(offset from base, length)` of `count`
    /// elements in packed-stream order, adjacent blocks merged (also across
    /// elements): an I/O vector for sending or receiving without packing.
    /// Offsets fit in `i64` whenever [`Datatype::span`] succeeds for `count`.
    /// Builds the flattened form ([`Datatype::flat`]): for types whose
    /// [`Datatype::block_count_hint`] is huge use [`Datatype::pack_range`] instead.
    pub fn message_blocks(&self, count: u64) -> MessageBlocks<'_> {
        let blocks = self.flat().blocks.as_slice();
        let count = if blocks.is_empty() { 0 } else { count };
        MessageBlocks { blocks, extent: self.extent(), count, k: 0, i: 0 }
    }

    /// `MPI_Pack_size` (native): bytes `count` elements take packed.
    pub fn pack_size(&self, count: u64) -> Result<u64> {
        count.checked_mul(self.size()).ok_or(DatatypeError::Overflow)
    }

    /// Calls `f(memory offset from base, offset in the window, length)` for each
    /// contiguous piece of packed-stream bytes `[first, first + len)` of `count` elements.
    /// Uses the flattened form when it exists or is small, else walks the layout tree.
    fn walk(&self, count: u64, first: u64, len: u64, f: impl FnMut(i64, usize, usize) -> Result<()>) -> Result<()> {
        let flat = self.is_flattened() || self.block_count_hint() <= FLATTEN_LIMIT;
        self.walk_with(flat, count, first, len, f)
    }

    fn walk_with(
        &self,
        flat: bool,
        count: u64,
        first: u64,
        len: u64,
        mut f: impl FnMut(i64, usize, usize) -> Result<()>,
    ) -> Result<()> {
        let size = self.size();
        if len == 0 {
            return Ok(());
        }
        debug_assert!(first + len <= count * size);
        if self.is_contiguous() {
            let off =
                i64::try_from(first).ok().and_then(|f| f.checked_add(self.true_lb())).ok_or(DatatypeError::Overflow)?;
            return f(off, 0, len as usize);
        }
        let ext = self.extent() as i128;
        let mut k = first / size;
        let mut within = first % size;
        if !flat {
            let (mut at, mut rem) = (0usize, len);
            while rem > 0 {
                let n = (size - within).min(rem);
                walk_element(self, k as i128 * ext, within, n, &mut at, &mut f)?;
                (k, within, rem) = (k + 1, 0, rem - n);
            }
            return Ok(());
        }
        let blocks = &self.flat().blocks;
        let mut bi = blocks.partition_point(|b| b.packed_pos + b.len <= within);
        let mut done: u64 = 0;
        while done < len {
            let b = &blocks[bi];
            let into = within - b.packed_pos;
            let n = (b.len - into).min(len - done);
            let off = k as i128 * ext + b.offset as i128 + into as i128;
            f(i64::try_from(off).map_err(|_| DatatypeError::Overflow)?, done as usize, n as usize)?;
            done += n;
            within += n;
            if within == b.packed_pos + b.len {
                bi += 1;
                if bi == blocks.len() {
                    bi = 0;
                    k += 1;
                    within = 0;
                }
            }
        }
        Ok(())
    }

    /// [`Datatype::pack_range`] walking the layout tree even for small types
    /// (for tests comparing the two paths).
    #[doc(hidden)]
    pub fn pack_range_unflattened(
        &self,
        count: u64,
        first: u64,
        src: &[u8],
        src_start: i64,
        out: &mut [u8],
    ) -> Result<usize> {
        let total = self.pack_size(count)?;
        let len = (out.len() as u64).min(total.saturating_sub(first));
        self.walk_with(false, count, first, len, |off, at, n| {
            let r = view_range(src.len(), src_start, off, n)?;
            out[at..at + n].copy_from_slice(&src[r]);
            Ok(())
        })?;
        Ok(len as usize)
    }

    /// `MPI_Pack` (native): packs `count` elements from `src` (whose first byte is
    /// `src_start` bytes from the buffer base) into the start of `out`; returns the bytes written.
    pub fn pack(&self, count: u64, src: &[u8], src_start: i64, out: &mut [u8]) -> Result<usize> {
        let total = self.pack_size(count)?;
        if (out.len() as u64) < total {
            return Err(DatatypeError::OutputTooSmall { needed: total, available: out.len() });
        }
        self.pack_range(count, 0, src, src_start, &mut out[..total as usize])
    }

    /// Packs `count` elements into a new vector.
    pub fn pack_to_vec(&self, count: u64, src: &[u8], src_start: i64) -> Result<Vec<u8>> {
        let total = self.pack_size(count)?;
        let mut out = vec![0u8; usize::try_from(total).map_err(|_| DatatypeError::Overflow)?];
        self.pack(count, src, src_start, &mut out)?;
        Ok(out)
    }

    /// Fills `out` with packed-stream bytes `[first, first + out.len())` of `count`
    /// elements, stopping at the end of the stream; returns the bytes written.
    pub fn pack_range(&self, count: u64, first: u64, src: &[u8], src_start: i64, out: &mut [u8]) -> Result<usize> {
        let total = self.pack_size(count)?;
        let len = (out.len() as u64).min(total.saturating_sub(first));
        self.walk(count, first, len, |off, at, n| {
            let r = view_range(src.len(), src_start, off, n)?;
            out[at..at + n].copy_from_slice(&src[r]);
            Ok(())
        })?;
        Ok(len as usize)
    }

    /// `MPI_Unpack` (native) and receive-side unpacking: copies the packed bytes
    /// into the type map of `count` elements in `dst` (whose first byte is
    /// `dst_start` bytes from the buffer base). A `packed` shorter than the
    /// message (a truncated receive) fills the type map's prefix in type-map
    /// order; bytes beyond `count` elements are ignored. Returns the bytes consumed.
    pub fn unpack(&self, count: u64, packed: &[u8], dst: &mut [u8], dst_start: i64) -> Result<usize> {
        self.unpack_range(count, 0, packed, dst, dst_start)
    }

    /// Unpacks `packed` as packed-stream bytes `[first, first + packed.len())` of
    /// `count` elements (stopping at the end of the stream); returns the bytes consumed.
    pub fn unpack_range(&self, count: u64, first: u64, packed: &[u8], dst: &mut [u8], dst_start: i64) -> Result<usize> {
        let total = self.pack_size(count)?;
        let len = (packed.len() as u64).min(total.saturating_sub(first));
        self.walk(count, first, len, |off, at, n| {
            let r = view_range(dst.len(), dst_start, off, n)?;
            dst[r].copy_from_slice(&packed[at..at + n]);
            Ok(())
        })?;
        Ok(len as usize)
    }

    /// `MPI_Get_count`: whole elements in `bytes` packed bytes, or `None`
    /// (`MPI_UNDEFINED`) if `bytes` is not a multiple of the size. A type
    /// without data gives `Some(0)`.
    pub fn get_count(&self, bytes: u64) -> Option<u64> {
        let size = self.size();
        if size == 0 {
            return Some(0);
        }
        let (whole, rest) = (bytes / size, bytes % size);
        (rest == 0).then_some(whole)
    }

    /// `MPI_Get_elements`: basic elements in the first `bytes` packed bytes
    /// (whole elements plus the basic values of a partial one), or `None`
    /// (`MPI_UNDEFINED`) if `bytes` ends inside a basic value.
    pub fn get_elements(&self, bytes: u64) -> Option<u64> {
        let size = self.size();
        if size == 0 {
            return Some(0);
        }
        (bytes / size).checked_mul(self.basic_elements())?.checked_add(elements_in_prefix(self, bytes % size)?)
    }
}

/// Basic elements in the first `bytes` (less than one element) of `t`'s packed
/// stream, or `None` if that prefix ends inside a basic value. Walks the tree.
fn elements_in_prefix(t: &Datatype, bytes: u64) -> Option<u64> {
    use crate::layout::Node;
    if bytes == 0 {
        return Some(0);
    }
    let in_copies = |c: &Datatype, bytes: u64| -> Option<u64> {
        let cs = c.size();
        (bytes / cs).checked_mul(c.basic_elements())?.checked_add(elements_in_prefix(c, bytes % cs)?)
    };
    match &t.0.node {
        Node::Basic(b) => (bytes == b.size()).then_some(1),
        Node::Wrap { child } => elements_in_prefix(child, bytes),
        Node::Strided { child, .. } | Node::Blocks { child, .. } => in_copies(child, bytes),
        Node::Struct { fields } => {
            let ends = t.piece_ends();
            let k = ends.partition_point(|&e| e <= bytes);
            let before: u64 = fields[..k].iter().map(|(_, n, c)| n * c.basic_elements()).sum();
            let start = if k == 0 { 0 } else { ends[k - 1] };
            before.checked_add(in_copies(&fields[k].2, bytes - start)?)
        }
    }
}
