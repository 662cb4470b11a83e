//! The [`Datatype`] object: its layout tree, bounds and the flattened form
//! pack and unpack walk.
//!
//! Every constructor reduces to a `Node`: copies of child types placed at
//! byte displacements. Bounds follow MPI 4.1 §5.1: `lb`/`ub` come from the
//! data's displacements unless a component carries explicit (sticky) bounds
//! set by `resized`, which then win; a struct with no explicit upper bound
//! pads its extent up to the largest alignment of its components (as MPICH
//! does on x86_64). The true bounds ignore explicit bounds and padding.
//!
//! The flattened form ([`Flat`]) lists, for one element and in type-map
//! order, the merged contiguous byte blocks, each with its position in the
//! packed stream; it is built only for types with at most
//! [`crate::pack::FLATTEN_LIMIT`] blocks (others are walked as trees).
//! [`Datatype::typed_runs`] lists the runs of basic values.

use std::sync::{Arc, OnceLock, RwLock};

use crate::basic::Basic;
use crate::envelope::{Contents, EnumArg, Envelope, Recipe};
use crate::error::{DatatypeError, Result};

/// An MPI datatype: a type map plus its recipe and name. Cloning is cheap
/// (the value is shared) and clones are the same MPI object (they share the name).
#[derive(Clone)]
pub struct Datatype(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) recipe: Recipe,
    pub(crate) node: Node,
    pub(crate) bounds: Bounds,
    flat: OnceLock<Arc<Flat>>,
    piece_ends: OnceLock<Vec<u64>>,
    name: RwLock<String>,
}

/// How copies of child types are placed.
#[derive(Clone)]
pub(crate) enum Node {
    /// A predefined leaf.
    Basic(Basic),
    /// `count` blocks of `blocklen` consecutive children, block `i` at byte `i * stride`.
    Strided { child: Datatype, count: u64, blocklen: u64, stride: i64 },
    /// Blocks `(byte displacement, number of consecutive children)` of one child type.
    Blocks { child: Datatype, blocks: Vec<(i64, u64)> },
    /// Fields `(byte displacement, number of consecutive children, child)`.
    Struct { fields: Vec<(i64, u64, Datatype)> },
    /// The child with explicit bounds (resized, or a dup keeping the child's bounds).
    Wrap { child: Datatype },
}

/// The derived quantities of a type map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub size: u64,
    pub lb: i64,
    pub ub: i64,
    pub true_lb: i64,
    pub true_ub: i64,
    pub sticky_lb: bool,
    pub sticky_ub: bool,
    pub align: u64,
    /// Basic elements in one element.
    pub n_basic: u64,
    /// The data of one element is the single byte range `[true_lb, true_lb + size)`, in stream order.
    pub dense: bool,
    /// Upper bound on the number of byte blocks of one element's flattened form.
    pub hint: u64,
    /// The basic type of every value, if there is exactly one.
    pub uniform: Option<Basic>,
}

/// Whether `n` consecutive copies of a child form one block of data in stream order.
fn run_is_block(c: &Bounds, n: u64) -> bool {
    c.dense && (n <= 1 || c.extent() == c.size as i64)
}

/// Upper bound on the blocks of `n` consecutive copies of a child.
fn run_hint(c: &Bounds, n: u64) -> u64 {
    if c.size == 0 || n == 0 {
        0
    } else if run_is_block(c, n) {
        1
    } else {
        n.saturating_mul(c.hint)
    }
}

/// `(dense, hint)` of a sequence of runs `(byte displacement, copies, child)` in stream order.
fn shape<'a>(runs: impl Iterator<Item = (i64, u64, &'a Bounds)>) -> (bool, u64) {
    let (mut dense, mut hint, mut next) = (true, 0u64, None::<i128>);
    for (d, n, c) in runs {
        if n == 0 || c.size == 0 {
            continue;
        }
        hint = hint.saturating_add(run_hint(c, n));
        let start = d as i128 + c.true_lb as i128;
        if dense && run_is_block(c, n) && next.map_or(true, |e| e == start) {
            next = Some(start + (n as i128) * (c.size as i128));
        } else {
            dense = false;
        }
    }
    (dense, hint)
}

/// A run of `count` consecutive values of one basic type at byte `offset` of an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypedRun {
    /// Byte displacement from the element's start.
    pub offset: i64,
    /// The basic type.
    pub basic: Basic,
    /// Number of consecutive values.
    pub count: u64,
    /// Position of the run's first byte in the (native) packed stream of one element.
    pub packed_pos: u64,
    /// Basic elements before this run in one element.
    pub elements_before: u64,
}

/// A contiguous block of bytes of one element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteBlock {
    /// Byte displacement from the element's start.
    pub offset: i64,
    /// Length in bytes.
    pub len: u64,
    /// Position of the block's first byte in the packed stream of one element.
    pub packed_pos: u64,
}

/// The flattened form of one element: its byte blocks in type-map order,
/// adjacent blocks merged regardless of type. Its length is at most
/// [`Datatype::block_count_hint`].
#[derive(Debug, Clone, Default)]
pub struct Flat {
    /// The blocks.
    pub blocks: Vec<ByteBlock>,
}

/// A half-open byte range `[lo, hi)` relative to a buffer's base address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First byte touched (may be negative).
    pub lo: i64,
    /// One past the last byte touched.
    pub hi: i64,
}

impl Span {
    /// Number of bytes in the range.
    pub fn len(&self) -> u64 {
        (self.hi - self.lo) as u64
    }

    /// Whether the range is empty (then no memory is touched and any base pointer will do).
    pub fn is_empty(&self) -> bool {
        self.hi <= self.lo
    }
}

fn to_i64(v: i128) -> Result<i64> {
    i64::try_from(v).map_err(|_| DatatypeError::Overflow)
}

/// Positions `d + j * e` for `j < len`: their (min, max).
fn run_range(disp: i128, len: u64, extent: i64) -> (i128, i128) {
    let last = (len as i128 - 1) * extent as i128;
    (disp + last.min(0), disp + last.max(0))
}

impl Bounds {
    pub(crate) fn basic(b: Basic) -> Bounds {
        let s = b.size();
        Bounds {
            size: s,
            lb: 0,
            ub: s as i64,
            true_lb: 0,
            true_ub: s as i64,
            sticky_lb: false,
            sticky_ub: false,
            align: b.alignment(),
            n_basic: 1,
            dense: true,
            hint: 1,
            uniform: Some(b),
        }
    }

    fn extent(&self) -> i64 {
        self.ub - self.lb
    }

    /// Bounds of a type made of pieces `(min position, max position, repetitions, child)`.
    fn combine(pieces: &[(i128, i128, u64, &Bounds)], pad: bool) -> Result<Bounds> {
        let mut size: u64 = 0;
        let mut n_basic: u64 = 0;
        let mut align = 1;
        let (mut lb, mut ub) = (None::<i128>, None::<i128>);
        let (mut slb, mut sub) = (None::<i128>, None::<i128>);
        let (mut tlb, mut tub) = (None::<i128>, None::<i128>);
        for &(lo, hi, reps, c) in pieces {
            if reps == 0 {
                continue;
            }
            size = reps.checked_mul(c.size).and_then(|s| s.checked_add(size)).ok_or(DatatypeError::Overflow)?;
            n_basic =
                reps.checked_mul(c.n_basic).and_then(|s| s.checked_add(n_basic)).ok_or(DatatypeError::Overflow)?;
            align = align.max(c.align);
            let (l, u) = (lo + c.lb as i128, hi + c.ub as i128);
            let mn = |a: Option<i128>, b: i128| Some(a.map_or(b, |a| a.min(b)));
            let mx = |a: Option<i128>, b: i128| Some(a.map_or(b, |a| a.max(b)));
            lb = mn(lb, l);
            ub = mx(ub, u);
            if c.sticky_lb {
                slb = mn(slb, l);
            }
            if c.sticky_ub {
                sub = mx(sub, u);
            }
            if c.size > 0 {
                tlb = mn(tlb, lo + c.true_lb as i128);
                tub = mx(tub, hi + c.true_ub as i128);
            }
        }
        let lb = slb.or(lb).unwrap_or(0);
        let mut ub = sub.or(ub).unwrap_or(0);
        let extent = ub - lb;
        if pad && sub.is_none() && extent > 0 && extent % align as i128 != 0 {
            ub += align as i128 - extent % align as i128;
        }
        Ok(Bounds {
            size,
            lb: to_i64(lb)?,
            ub: to_i64(ub)?,
            true_lb: to_i64(tlb.unwrap_or(0))?,
            true_ub: to_i64(tub.unwrap_or(0))?,
            sticky_lb: slb.is_some(),
            sticky_ub: sub.is_some(),
            align,
            n_basic,
            dense: true,
            hint: 0,
            uniform: None,
        })
    }

    pub(crate) fn of_node(node: &Node) -> Result<Bounds> {
        let mut b = Bounds::of_node_extent(node)?;
        (b.dense, b.hint) = match node {
            Node::Basic(_) => (true, 1),
            Node::Wrap { child } => (child.0.bounds.dense, child.0.bounds.hint),
            Node::Strided { child, count, blocklen, stride } => {
                let c = &child.0.bounds;
                if *count == 0 || *blocklen == 0 || c.size == 0 {
                    (true, 0)
                } else {
                    let block = run_is_block(c, *blocklen);
                    let next = *stride as i128 == (*blocklen as i128) * (c.size as i128);
                    (block && (*count == 1 || next), count.saturating_mul(run_hint(c, *blocklen)))
                }
            }
            Node::Blocks { child, blocks } => shape(blocks.iter().map(|&(d, n)| (d, n, &child.0.bounds))),
            Node::Struct { fields } => shape(fields.iter().map(|(d, n, t)| (*d, *n, &t.0.bounds))),
        };
        b.uniform = match node {
            _ if b.size == 0 => None,
            Node::Basic(k) => Some(*k),
            Node::Wrap { child } | Node::Strided { child, .. } | Node::Blocks { child, .. } => child.0.bounds.uniform,
            Node::Struct { fields } => {
                let mut parts =
                    fields.iter().filter(|(_, n, t)| *n > 0 && t.size() > 0).map(|(_, _, t)| t.0.bounds.uniform);
                let first = parts.next().flatten();
                first.filter(|f| parts.all(|p| p == Some(*f)))
            }
        };
        Ok(b)
    }

    fn of_node_extent(node: &Node) -> Result<Bounds> {
        match node {
            Node::Basic(b) => Ok(Bounds::basic(*b)),
            Node::Wrap { child } => Ok(child.0.bounds),
            Node::Strided { child, count, blocklen, stride } => {
                let c = &child.0.bounds;
                if *count == 0 || *blocklen == 0 {
                    return Bounds::combine(&[], false);
                }
                let (slo, shi) = run_range(0, *count, *stride);
                let (blo, bhi) = run_range(0, *blocklen, c.extent());
                let reps = count.checked_mul(*blocklen).ok_or(DatatypeError::Overflow)?;
                Bounds::combine(&[(slo + blo, shi + bhi, reps, c)], false)
            }
            Node::Blocks { child, blocks } => {
                let c = &child.0.bounds;
                let pieces: Vec<_> = blocks
                    .iter()
                    .map(|&(d, n)| {
                        let (lo, hi) = run_range(d as i128, n, c.extent());
                        (lo, hi, n, c)
                    })
                    .collect();
                Bounds::combine(&pieces, false)
            }
            Node::Struct { fields } => {
                let pieces: Vec<_> = fields
                    .iter()
                    .map(|(d, n, t)| {
                        let c = &t.0.bounds;
                        let (lo, hi) = run_range(*d as i128, *n, c.extent());
                        (lo, hi, *n, c)
                    })
                    .collect();
                Bounds::combine(&pieces, true)
            }
        }
    }
}

/// Appends byte blocks to a flat form under construction, merging adjacent ones.
struct FlatBuilder {
    blocks: Vec<ByteBlock>,
    pos: u64,
}

impl FlatBuilder {
    fn push(&mut self, offset: i64, len: u64) {
        if len == 0 {
            return;
        }
        match self.blocks.last_mut() {
            Some(b) if b.offset + b.len as i64 == offset => b.len += len,
            _ => self.blocks.push(ByteBlock { offset, len, packed_pos: self.pos }),
        }
        self.pos += len;
    }

    /// Appends `n` consecutive copies of `child` starting at byte `disp`.
    fn push_copies(&mut self, disp: i64, n: u64, child: &Datatype) {
        let b = &child.0.bounds;
        if b.size == 0 || n == 0 {
            return;
        }
        let extent = b.ub - b.lb;
        if b.dense && (n == 1 || extent == b.size as i64) {
            // One block of data, and copies that abut: a single block.
            self.push(disp + b.true_lb, n * b.size);
            return;
        }
        let flat = child.flat();
        for j in 0..n {
            let base = disp + j as i64 * extent;
            for blk in &flat.blocks {
                self.push(base + blk.offset, blk.len);
            }
        }
    }
}

impl Datatype {
    pub(crate) fn from_node(node: Node, recipe: Recipe) -> Result<Datatype> {
        let bounds = Bounds::of_node(&node)?;
        Ok(Datatype::with_bounds(node, recipe, bounds))
    }

    pub(crate) fn with_bounds(node: Node, recipe: Recipe, bounds: Bounds) -> Datatype {
        Datatype(Arc::new(Inner {
            recipe,
            node,
            bounds,
            flat: OnceLock::new(),
            piece_ends: OnceLock::new(),
            name: RwLock::new(String::new()),
        }))
    }

    /// The same type map under a different recipe (used for subarray and darray,
    /// which are built from simpler constructors).
    pub(crate) fn relabel(&self, recipe: Recipe) -> Datatype {
        Datatype::with_bounds(self.0.node.clone(), recipe, self.0.bounds)
    }

    /// The flattened form of one element (computed on first use, then cached).
    /// Memory is proportional to [`Datatype::block_count_hint`]: check it before
    /// calling this on types built from huge counts.
    pub fn flat(&self) -> &Flat {
        self.shared_flat()
    }

    fn shared_flat(&self) -> &Arc<Flat> {
        self.0.flat.get_or_init(|| {
            if let Node::Wrap { child } = &self.0.node {
                // Same data as the child (resized, dup): share its flattened form.
                return Arc::clone(child.shared_flat());
            }
            let mut fb = FlatBuilder { blocks: Vec::new(), pos: 0 };
            match &self.0.node {
                Node::Basic(b) => fb.push(0, b.size()),
                Node::Wrap { .. } => unreachable!("handled above"),
                Node::Strided { child, count, blocklen, stride } => {
                    for i in 0..*count {
                        fb.push_copies(i as i64 * stride, *blocklen, child);
                    }
                }
                Node::Blocks { child, blocks } => {
                    for &(d, n) in blocks {
                        fb.push_copies(d, n, child);
                    }
                }
                Node::Struct { fields } => {
                    for (d, n, t) in fields {
                        fb.push_copies(*d, *n, t);
                    }
                }
            }
            Arc::new(Flat { blocks: fb.blocks })
        })
    }

    /// `MPI_Type_commit`: builds the flattened form now rather than on first
    /// use, when it has at most [`crate::pack::FLATTEN_LIMIT`] blocks.
    pub fn commit(&self) {
        if self.block_count_hint() <= crate::pack::FLATTEN_LIMIT {
            self.flat();
        }
    }

    /// The runs of consecutive basic values of one element, in type-map order
    /// (adjacent runs of one type merged). Built on each call; its length can
    /// reach the number of basic values for types mixing basic types.
    pub fn typed_runs(&self) -> Vec<TypedRun> {
        let mut runs: Vec<TypedRun> = Vec::new();
        let (mut pos, mut elements) = (0u64, 0u64);
        let _ = crate::walk::walk_runs(self, 0, &mut |off, basic, count| {
            let offset = off as i64; // within [true_lb, true_ub), which fit in i64
            match runs.last_mut() {
                Some(r) if r.basic == basic && r.offset + (r.count * basic.size()) as i64 == offset => r.count += count,
                _ => runs.push(TypedRun { offset, basic, count, packed_pos: pos, elements_before: elements }),
            }
            pos += count * basic.size();
            elements += count;
            Ok(())
        });
        runs
    }

    /// Whether two handles are the same MPI object.
    pub fn same_object(&self, other: &Datatype) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// An identity for this object, stable while any clone lives (for the ABI's
    /// object-to-handle tables, e.g. to answer `MPI_Type_get_contents`).
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// `MPI_Type_size`: bytes of data in one element.
    pub fn size(&self) -> u64 {
        self.0.bounds.size
    }

    /// `MPI_Type_get_extent`'s lower bound.
    pub fn lb(&self) -> i64 {
        self.0.bounds.lb
    }

    /// Upper bound (`lb + extent`).
    pub fn ub(&self) -> i64 {
        self.0.bounds.ub
    }

    /// `MPI_Type_get_extent`'s extent: `ub - lb`, the stride between consecutive elements.
    pub fn extent(&self) -> i64 {
        self.0.bounds.ub - self.0.bounds.lb
    }

    /// `MPI_Type_get_true_extent`'s lower bound: the lowest byte of data (0 for a type without data).
    pub fn true_lb(&self) -> i64 {
        self.0.bounds.true_lb
    }

    /// One past the highest byte of data.
    pub fn true_ub(&self) -> i64 {
        self.0.bounds.true_ub
    }

    /// `MPI_Type_get_true_extent`'s extent: `true_ub - true_lb`.
    pub fn true_extent(&self) -> i64 {
        self.0.bounds.true_ub - self.0.bounds.true_lb
    }

    /// Alignment used to pad structs containing this type (the largest of its basic types).
    pub fn alignment(&self) -> u64 {
        self.0.bounds.align
    }

    /// Number of basic elements in one element.
    pub fn basic_elements(&self) -> u64 {
        self.0.bounds.n_basic
    }

    /// The basic type if this is a predefined elementary type.
    pub fn as_basic(&self) -> Option<Basic> {
        match self.0.node {
            Node::Basic(b) => Some(b),
            _ => None,
        }
    }

    /// The basic type of every value in the type map, if there is exactly one
    /// (e.g. a vector of doubles): what a reduction operator applies to.
    /// `None` for mixed types and for types without data.
    pub fn uniform_basic(&self) -> Option<Basic> {
        self.0.bounds.uniform
    }

    /// Whether `count` elements occupy `count * size` consecutive bytes starting
    /// at `true_lb` (then pack and unpack are one copy).
    pub fn is_contiguous(&self) -> bool {
        let b = &self.0.bounds;
        b.size == 0 || (b.dense && self.extent() == b.size as i64)
    }

    /// Upper bound on the number of byte blocks in one element's flattened form
    /// (computed without flattening; large types are packed without flattening).
    pub fn block_count_hint(&self) -> u64 {
        self.0.bounds.hint
    }

    /// Whether the flattened form has been built.
    pub(crate) fn is_flattened(&self) -> bool {
        self.0.flat.get().is_some()
    }

    /// For `Blocks` and `Struct` nodes: the packed-stream end of each piece
    /// within one element (computed on first use).
    pub(crate) fn piece_ends(&self) -> &[u64] {
        self.0.piece_ends.get_or_init(|| {
            let mut end = 0u64;
            let mut ends = Vec::new();
            let mut add = |n: u64, size: u64| {
                end += n * size;
                ends.push(end);
            };
            match &self.0.node {
                Node::Blocks { child, blocks } => blocks.iter().for_each(|&(_, n)| add(n, child.size())),
                Node::Struct { fields } => fields.iter().for_each(|(_, n, t)| add(*n, t.size())),
                _ => {}
            }
            ends
        })
    }

    /// The byte range, relative to the buffer's base address, that `count`
    /// elements touch (their data only). The ABI forms one slice from
    /// `base + span.lo` of `span.len()` bytes and passes `span.lo` as the
    /// view start to pack/unpack. Empty when `count` is 0 or the type has no data.
    pub fn span(&self, count: u64) -> Result<Span> {
        let b = &self.0.bounds;
        if count == 0 || b.size == 0 {
            return Ok(Span { lo: 0, hi: 0 });
        }
        let (lo, hi) = run_range(0, count, self.extent());
        Ok(Span { lo: to_i64(lo + b.true_lb as i128)?, hi: to_i64(hi + b.true_ub as i128)? })
    }

    /// The recipe this type was constructed from.
    pub fn recipe(&self) -> &Recipe {
        &self.0.recipe
    }

    /// `MPI_Type_get_envelope`.
    pub fn envelope(&self) -> Envelope {
        self.0.recipe.envelope()
    }

    /// `MPI_Type_get_contents` (None for a named type); `encode` maps order and
    /// distribution constants to the ABI's integers.
    pub fn contents(&self, encode: &dyn Fn(EnumArg) -> i64) -> Option<Contents> {
        self.0.recipe.contents(encode)
    }

    /// `MPI_Type_set_name`. Clones of this handle see the new name; dups do not.
    pub fn set_name(&self, name: &str) {
        *self.0.name.write().unwrap_or_else(|e| e.into_inner()) = name.to_owned();
    }

    /// `MPI_Type_get_name` (empty if never set).
    pub fn name(&self) -> String {
        self.0.name.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl std::fmt::Debug for Datatype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = &self.0.bounds;
        f.debug_struct("Datatype")
            .field("combiner", &self.0.recipe.combiner())
            .field("size", &b.size)
            .field("lb", &b.lb)
            .field("ub", &b.ub)
            .field("true_lb", &b.true_lb)
            .field("true_ub", &b.true_ub)
            .finish()
    }
}
