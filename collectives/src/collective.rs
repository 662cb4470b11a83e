//! The entry points the runtime calls: one [`Collective`] per collective
//! call, built from the caller's bytes, driven by `progress`, read back
//! with `output`.
//!
//! # Byte contract
//!
//! Every constructor takes bytes: the runtime (or the ABI, which packs
//! non-contiguous datatypes) turns counts of elements into counts of bytes
//! and displacements into byte offsets ([`Layout`]). Arguments that MPI
//! makes significant only on the root are `Option`s or are ignored off the
//! root, as each constructor says. `output()` is always the complete
//! result for this rank; for the `v` variants it is an image of the
//! receive buffer whose length is the layout's [`Layout::extent`], and the
//! runtime copies back exactly the layout's blocks (bytes between blocks
//! are unspecified). In-place forms (`MPI_IN_PLACE`) take an `in_place`
//! flag where they change which bytes are passed; where they do not
//! (reduce, allreduce, scan, exscan, reduce_scatter(_block), alltoall) the
//! runtime passes the receive buffer's contents as `data` and writes the
//! output back to it.
//!
//! Intercommunicator forms (`Collective::inter_*`) are in [`crate::inter`].

use std::sync::Arc;

use crate::executor::Executor;
use crate::layout::{Layout, Neighbors};
use crate::schedule::{check_elements, ScheduleBuilder};
use crate::select::{self, CollArgs, CollectiveKind, Selection};
use crate::{CollError, P2p, ReduceOp};

/// One collective operation on one rank: its schedule and the executor's
/// state. Blocking, nonblocking and persistent forms all drive it with
/// [`Collective::progress`].
#[derive(Debug)]
pub struct Collective {
    exec: Executor,
    algorithm: &'static str,
    /// Error found while building, reported by the first `progress`.
    deferred: Option<CollError>,
}

impl Collective {
    /// A barrier for `rank` of `size`. Invalid arguments (or an invalid
    /// override) surface as an error from the first [`Collective::progress`].
    pub fn barrier(rank: usize, size: usize) -> Collective {
        Collective::start(CollectiveKind::Barrier, CollArgs { rank, size, ..CollArgs::default() })
            .unwrap_or_else(Collective::failed)
    }

    /// A broadcast from `root`: `data` on the root is the payload; on
    /// others its length is the expected size.
    pub fn bcast(rank: usize, size: usize, root: usize, data: Vec<u8>) -> Result<Collective, CollError> {
        Collective::start(CollectiveKind::Bcast, CollArgs { rank, size, root, data, ..CollArgs::default() })
    }

    /// A reduce to `root` of this rank's `data` with `op`. The result is on
    /// the root only (`output()` is empty elsewhere). In place, the root
    /// passes its receive buffer's contents as `data`.
    pub fn reduce(
        rank: usize,
        size: usize,
        root: usize,
        data: Vec<u8>,
        op: Arc<dyn ReduceOp>,
    ) -> Result<Collective, CollError> {
        Collective::start(
            CollectiveKind::Reduce,
            CollArgs { rank, size, root, data, op: Some(op), ..CollArgs::default() },
        )
    }

    /// An allreduce of this rank's `data` with `op`; every rank gets the
    /// result, in rank order for non-commutative operators.
    pub fn allreduce(rank: usize, size: usize, data: Vec<u8>, op: Arc<dyn ReduceOp>) -> Result<Collective, CollError> {
        Collective::start(CollectiveKind::Allreduce, CollArgs { rank, size, data, op: Some(op), ..CollArgs::default() })
    }

    /// A collective run by the registered algorithm `key` (a full key such
    /// as `"allreduce:reduce_bcast"`), bypassing selection: for tuning
    /// tables and tests. All ranks must pass the same key. `args` carries
    /// what the collective's constructor takes (see [`CollArgs`]) and is
    /// checked the same way.
    pub fn with_algorithm(key: &str, args: CollArgs) -> Result<Collective, CollError> {
        let alg = select::lookup(key).ok_or_else(|| CollError::Invalid(format!("unknown algorithm {key:?}")))?;
        let sel = selection_for(alg.kind, &args)?;
        if !(alg.supports)(&sel) {
            return Err(CollError::Invalid(format!("algorithm {key} cannot run {sel:?}")));
        }
        Collective::build(alg, args)
    }

    /// Checks `args` for `kind`, selects an algorithm (honouring the
    /// environment override) and builds it.
    fn start(kind: CollectiveKind, mut args: CollArgs) -> Result<Collective, CollError> {
        if args.nodes.is_none() {
            args.nodes = crate::locality::current().filter(|n| n.len() == args.size);
        }
        let sel = selection_for(kind, &args)?;
        let alg = select::choose(&sel)?;
        Collective::build(alg, args)
    }

    /// A gather to `root` of equal blocks. Off the root `data` is this
    /// rank's block and `in_place` must be false. On the root `data` is its
    /// own block, or with `in_place` the whole receive buffer (`size`
    /// blocks, its own already at `root * block`). The output on the root
    /// is the `size` blocks in rank order; empty elsewhere.
    pub fn gather(
        rank: usize,
        size: usize,
        root: usize,
        data: Vec<u8>,
        in_place: bool,
    ) -> Result<Collective, CollError> {
        Collective::start(CollectiveKind::Gather, CollArgs { rank, size, root, data, in_place, ..CollArgs::default() })
    }

    /// A gather to `root` of per-rank blocks. `data` is this rank's block;
    /// `recv` (root only, `None` elsewhere) gives each rank's byte count and
    /// byte displacement in the root's receive image. With `in_place`
    /// (root only) `data` is the receive image, the root's block already in
    /// place. Output: the receive image on the root (see the module doc);
    /// empty elsewhere.
    pub fn gatherv(
        rank: usize,
        size: usize,
        root: usize,
        data: Vec<u8>,
        recv: Option<Layout>,
        in_place: bool,
    ) -> Result<Collective, CollError> {
        let args = CollArgs { rank, size, root, data, in_place, recv_layout: recv, ..CollArgs::default() };
        Collective::start(CollectiveKind::Gatherv, args)
    }

    /// A scatter from `root` of equal blocks of `block` bytes (the same on
    /// every rank). On the root `data` is the send buffer (`size * block`
    /// bytes); elsewhere it is ignored (pass it empty). With `in_place`
    /// (root only) the root's block stays where it is and its output is
    /// empty; otherwise every rank's output is its block.
    pub fn scatter(
        rank: usize,
        size: usize,
        root: usize,
        data: Vec<u8>,
        block: usize,
        in_place: bool,
    ) -> Result<Collective, CollError> {
        Collective::start(
            CollectiveKind::Scatter,
            CollArgs { rank, size, root, data, block, in_place, ..CollArgs::default() },
        )
    }

    /// A scatter from `root` of per-rank blocks. On the root `data` is the
    /// send image and `send` gives each rank's byte count and displacement
    /// in it; elsewhere both are ignored (`None`, empty data). `block` is
    /// this rank's receive size in bytes. With `in_place` (root only) the
    /// root's output is empty; otherwise every rank's output is its block.
    pub fn scatterv(
        rank: usize,
        size: usize,
        root: usize,
        data: Vec<u8>,
        send: Option<Layout>,
        block: usize,
        in_place: bool,
    ) -> Result<Collective, CollError> {
        let args = CollArgs { rank, size, root, data, block, in_place, send_layout: send, ..CollArgs::default() };
        Collective::start(CollectiveKind::Scatterv, args)
    }

    /// An allgather of equal blocks. `data` is this rank's block, or with
    /// `in_place` the whole receive buffer (`size` blocks) with this rank's
    /// block already at `rank * block`. Output: all blocks in rank order.
    pub fn allgather(rank: usize, size: usize, data: Vec<u8>, in_place: bool) -> Result<Collective, CollError> {
        Collective::start(CollectiveKind::Allgather, CollArgs { rank, size, data, in_place, ..CollArgs::default() })
    }

    /// An allgather of per-rank blocks placed by `recv` (byte counts and
    /// displacements, the same on every rank). `data` is this rank's block,
    /// or with `in_place` the receive image with this rank's block already
    /// in place. Output: the receive image.
    pub fn allgatherv(
        rank: usize,
        size: usize,
        data: Vec<u8>,
        recv: Layout,
        in_place: bool,
    ) -> Result<Collective, CollError> {
        let args = CollArgs { rank, size, data, in_place, recv_layout: Some(recv), ..CollArgs::default() };
        Collective::start(CollectiveKind::Allgatherv, args)
    }

    /// An alltoall of equal blocks: `data` holds `size` blocks, block `i`
    /// for rank `i`; the output holds `size` blocks, block `i` from rank
    /// `i`. In place the runtime passes the receive buffer (which holds the
    /// send data) and writes the output back over it.
    pub fn alltoall(rank: usize, size: usize, data: Vec<u8>) -> Result<Collective, CollError> {
        Collective::start(CollectiveKind::Alltoall, CollArgs { rank, size, data, ..CollArgs::default() })
    }

    /// An alltoallv in bytes, which is also the byte form of
    /// `MPI_Alltoallw`: `send` gives the byte count and displacement in
    /// `data` of the block for each rank, `recv` those of the block from
    /// each rank in the output image. With `in_place`, `send` is ignored
    /// (pass `None`): `data` is the receive image and `recv` describes both.
    pub fn alltoallv(
        rank: usize,
        size: usize,
        data: Vec<u8>,
        send: Option<Layout>,
        recv: Layout,
        in_place: bool,
    ) -> Result<Collective, CollError> {
        let args =
            CollArgs { rank, size, data, in_place, send_layout: send, recv_layout: Some(recv), ..CollArgs::default() };
        Collective::start(CollectiveKind::Alltoallv, args)
    }

    /// A reduce-scatter: `data` is this rank's whole vector, cut into
    /// consecutive blocks of `counts[i]` bytes (whole elements; the same
    /// counts on every rank); the output is block `rank` of the reduction,
    /// in rank order for non-commutative operators.
    pub fn reduce_scatter(
        rank: usize,
        size: usize,
        data: Vec<u8>,
        counts: Vec<usize>,
        op: Arc<dyn ReduceOp>,
    ) -> Result<Collective, CollError> {
        let args = CollArgs {
            rank,
            size,
            data,
            op: Some(op),
            recv_layout: Some(Layout::contiguous(counts)),
            ..CollArgs::default()
        };
        Collective::start(CollectiveKind::ReduceScatter, args)
    }

    /// A reduce-scatter with equal blocks: `data` is `size` blocks of whole
    /// elements; the output is block `rank` of the reduction.
    pub fn reduce_scatter_block(
        rank: usize,
        size: usize,
        data: Vec<u8>,
        op: Arc<dyn ReduceOp>,
    ) -> Result<Collective, CollError> {
        Collective::start(
            CollectiveKind::ReduceScatterBlock,
            CollArgs { rank, size, data, op: Some(op), ..CollArgs::default() },
        )
    }

    /// An inclusive prefix reduction: rank `i` gets `x_0 op ... op x_i`.
    pub fn scan(rank: usize, size: usize, data: Vec<u8>, op: Arc<dyn ReduceOp>) -> Result<Collective, CollError> {
        Collective::start(CollectiveKind::Scan, CollArgs { rank, size, data, op: Some(op), ..CollArgs::default() })
    }

    /// An exclusive prefix reduction: rank `i > 0` gets
    /// `x_0 op ... op x_{i-1}`; rank 0's output is empty (MPI leaves its
    /// receive buffer undefined: the runtime leaves it untouched).
    pub fn exscan(rank: usize, size: usize, data: Vec<u8>, op: Arc<dyn ReduceOp>) -> Result<Collective, CollError> {
        Collective::start(CollectiveKind::Exscan, CollArgs { rank, size, data, op: Some(op), ..CollArgs::default() })
    }

    /// A neighbourhood allgather: `data` goes to every destination; the
    /// output holds one block of `data.len()` bytes per source, in source
    /// order (see [`Neighbors`] for how edges match).
    pub fn neighbor_allgather(
        rank: usize,
        size: usize,
        neighbors: Neighbors,
        data: Vec<u8>,
    ) -> Result<Collective, CollError> {
        let args = CollArgs { rank, size, data, neighbors: Some(neighbors), ..CollArgs::default() };
        Collective::start(CollectiveKind::NeighborAllgather, args)
    }

    /// A neighbourhood allgatherv: `data` goes to every destination; the
    /// block from source `j` lands at `recv`'s block `j` of the output image.
    pub fn neighbor_allgatherv(
        rank: usize,
        size: usize,
        neighbors: Neighbors,
        data: Vec<u8>,
        recv: Layout,
    ) -> Result<Collective, CollError> {
        let args =
            CollArgs { rank, size, data, neighbors: Some(neighbors), recv_layout: Some(recv), ..CollArgs::default() };
        Collective::start(CollectiveKind::NeighborAllgatherv, args)
    }

    /// A neighbourhood alltoall of `block`-byte blocks: `data` holds one
    /// block per destination; the output one per source.
    pub fn neighbor_alltoall(
        rank: usize,
        size: usize,
        neighbors: Neighbors,
        data: Vec<u8>,
        block: usize,
    ) -> Result<Collective, CollError> {
        let args = CollArgs { rank, size, data, block, neighbors: Some(neighbors), ..CollArgs::default() };
        Collective::start(CollectiveKind::NeighborAlltoall, args)
    }

    /// A neighbourhood alltoallv, also the byte form of
    /// `MPI_Neighbor_alltoallw`: `send` places the block for each
    /// destination in `data`, `recv` the block from each source in the
    /// output image.
    pub fn neighbor_alltoallv(
        rank: usize,
        size: usize,
        neighbors: Neighbors,
        data: Vec<u8>,
        send: Layout,
        recv: Layout,
    ) -> Result<Collective, CollError> {
        let args = CollArgs {
            rank,
            size,
            data,
            neighbors: Some(neighbors),
            send_layout: Some(send),
            recv_layout: Some(recv),
            ..CollArgs::default()
        };
        Collective::start(CollectiveKind::NeighborAlltoallv, args)
    }

    /// A collective running `schedule`, reported under `key`: for
    /// composite collectives built from several schedules.
    pub(crate) fn from_schedule(schedule: crate::Schedule, key: &'static str) -> Collective {
        Collective { exec: Executor::new(schedule), algorithm: key, deferred: None }
    }

    fn build(alg: &'static select::Algorithm, args: CollArgs) -> Result<Collective, CollError> {
        let schedule = (alg.build)(args)?;
        Ok(Collective { exec: Executor::new(schedule), algorithm: alg.key, deferred: None })
    }

    fn failed(error: CollError) -> Collective {
        let empty = ScheduleBuilder::new(0, 1).expect("rank 0 of 1 is valid").finish();
        Collective { exec: Executor::new(empty), algorithm: "invalid", deferred: Some(error) }
    }

    /// Advances the collective without blocking; `true` once it is complete
    /// on this rank. `p2p` must be the same communicator on every call, with
    /// the rank and size the collective was built for.
    pub fn progress(&mut self, p2p: &mut dyn P2p) -> Result<bool, CollError> {
        if let Some(e) = self.deferred.take() {
            self.deferred = Some(CollError::Invalid("collective failed to build".into()));
            return Err(e);
        }
        let s = self.exec.schedule();
        if p2p.rank() != s.rank() || p2p.size() != s.size() {
            return Err(CollError::Invalid(format!(
                "collective built for rank {} of {} driven by rank {} of {}",
                s.rank(),
                s.size(),
                p2p.rank(),
                p2p.size()
            )));
        }
        self.exec.progress(p2p)
    }

    /// Re-arms a completed (or never started) collective to run with `data` as this
    /// rank's input: the same kind of bytes, of the same length, as the
    /// `data` given at construction (also where it is ignored, as off the
    /// root of a scatter; empty for a barrier). Layouts, roots, operator and
    /// topology stay as built.
    /// reusing its schedule and buffers: the persistent form
    /// (`MPI_Allreduce_init` then `MPI_Start` after each completion).
    /// All ranks must restart their collectives alike.
    pub fn restart(&mut self, data: &[u8]) -> Result<(), CollError> {
        if self.deferred.is_some() {
            return Err(CollError::Invalid("collective failed to build".into()));
        }
        let fresh = self.exec.is_fresh();
        if !fresh && !self.exec.is_complete() {
            return Err(CollError::Invalid("only a completed (or never started) collective can be restarted".into()));
        }
        match self.exec.schedule().input() {
            Some(input) => {
                let buf = self.exec.buffer_mut(input)?;
                if buf.len() != data.len() {
                    return Err(CollError::Invalid(format!(
                        "restart with {} bytes, built for {}",
                        data.len(),
                        buf.len()
                    )));
                }
                buf.copy_from_slice(data);
            }
            None if data.is_empty() => {}
            None => return Err(CollError::Invalid("this collective takes no data".into())),
        }
        if fresh {
            Ok(())
        } else {
            self.exec.reset()
        }
    }

    /// Whether `progress` has returned `true`.
    pub fn is_complete(&self) -> bool {
        self.deferred.is_none() && self.exec.is_complete()
    }

    /// The result (bcast payload / reduced vector) once `progress` returned
    /// `true`; empty for a barrier and on non-root ranks of a reduce.
    pub fn output(&self) -> &[u8] {
        self.exec.schedule().output_bytes()
    }

    /// Takes the result out (see [`Collective::output`]).
    pub fn into_output(self) -> Vec<u8> {
        self.exec.into_schedule().into_output()
    }

    /// Registry key of the algorithm in use (`"invalid"` if building failed).
    pub fn algorithm(&self) -> &'static str {
        self.algorithm
    }

    /// The executor (schedule inspection, outstanding operations).
    pub fn executor(&self) -> &Executor {
        &self.exec
    }
}

fn check_root(root: usize, size: usize) -> Result<(), CollError> {
    if root >= size {
        return Err(CollError::Invalid(format!("root {root} out of range for size {size}")));
    }
    Ok(())
}

fn invalid<T>(msg: String) -> Result<T, CollError> {
    Err(CollError::Invalid(msg))
}

/// `len` split into `size` equal blocks.
fn whole_blocks(len: usize, size: usize, what: &str) -> Result<usize, CollError> {
    if len % size != 0 {
        return invalid(format!("{what}: {len} bytes do not split into {size} equal blocks"));
    }
    Ok(len / size)
}

/// Checks a receive layout: one block per rank (or neighbour), no overlaps.
fn check_recv_layout(layout: &Layout, n: usize, what: &str) -> Result<(), CollError> {
    if layout.len() != n {
        return invalid(format!("{what}: receive layout has {} blocks for {n}", layout.len()));
    }
    layout.check_disjoint()
}

/// Checks a send layout against the bytes it reads from.
fn check_send_layout(layout: &Layout, n: usize, len: usize, what: &str) -> Result<(), CollError> {
    if layout.len() != n {
        return invalid(format!("{what}: send layout has {} blocks for {n}", layout.len()));
    }
    if layout.extent() > len {
        return invalid(format!("{what}: send layout reaches byte {} of {len}", layout.extent()));
    }
    Ok(())
}

/// The schedule `kind` would run for `args` (validated, selected with the
/// override honoured, built), and its algorithm's key: composite
/// collectives embed these (see [`ScheduleBuilder::embed`]).
pub(crate) fn schedule_for(kind: CollectiveKind, args: CollArgs) -> Result<(crate::Schedule, &'static str), CollError> {
    let sel = selection_for(kind, &args)?;
    let alg = select::choose(&sel)?;
    Ok(((alg.build)(args)?, alg.key))
}

/// The schedule the selection table (never an override) picks for `args`:
/// the pieces of a two-level algorithm, which must not pick it again.
pub(crate) fn default_schedule_for(kind: CollectiveKind, mut args: CollArgs) -> Result<crate::Schedule, CollError> {
    args.nodes = None;
    let sel = selection_for(kind, &args)?;
    (select::default_for(&sel).build)(args)
}

/// Validates `args` for `kind` and derives the selection inputs (see
/// [`Selection`] for which value each collective uses and why all ranks
/// agree on it).
pub(crate) fn selection_for(kind: CollectiveKind, a: &CollArgs) -> Result<Selection, CollError> {
    use CollectiveKind as K;
    let (rank, size, len) = (a.rank, a.size, a.data.len());
    let what = kind.name();
    if rank >= size {
        return invalid(format!("{what}: rank {rank} out of range for size {size}"));
    }
    if kind.rooted() {
        check_root(a.root, size)?;
    }
    let is_root = rank == a.root;
    let commutative = if kind.reduces() {
        let op = a.op()?;
        check_elements(op.as_ref(), len)?;
        op.commutative()
    } else {
        true
    };
    let in_place_ok = match kind {
        K::Gather | K::Gatherv | K::Scatter | K::Scatterv => is_root,
        K::Bcast | K::NeighborAllgather | K::NeighborAllgatherv | K::NeighborAlltoall | K::NeighborAlltoallv => false,
        _ => true,
    };
    if a.in_place && !in_place_ok {
        return invalid(format!("{what}: no in-place form on rank {rank}"));
    }
    let bytes = match kind {
        K::Barrier => 0,
        K::Bcast | K::Reduce | K::Allreduce | K::Scan | K::Exscan => len,
        K::Gather | K::Allgather if a.in_place => whole_blocks(len, size, what)?,
        K::Gather | K::Allgather => len,
        K::Scatter => {
            if is_root && len != size * a.block {
                return invalid(format!("{what}: root has {len} bytes for {size} blocks of {}", a.block));
            }
            a.block
        }
        K::Alltoall => whole_blocks(len, size, what)?,
        K::ReduceScatterBlock => {
            let block = whole_blocks(len, size, what)?;
            check_elements(a.op()?.as_ref(), block)?;
            block
        }
        K::Gatherv => {
            if is_root {
                let l = a.recv_layout()?;
                check_recv_layout(l, size, what)?;
                let ok = if a.in_place { len >= l.extent() } else { len == l.count(rank) };
                if !ok {
                    return invalid(format!("{what}: root data of {len} bytes does not fit its layout"));
                }
            }
            0
        }
        K::Scatterv => {
            if is_root {
                let l = a.send_layout()?;
                check_send_layout(l, size, len, what)?;
                if !a.in_place && l.count(rank) != a.block {
                    return invalid(format!("{what}: root sends itself {} bytes into {}", l.count(rank), a.block));
                }
            }
            0
        }
        K::Allgatherv => {
            let l = a.recv_layout()?;
            check_recv_layout(l, size, what)?;
            let ok = if a.in_place { len >= l.extent() } else { len == l.count(rank) };
            if !ok {
                return invalid(format!("{what}: data of {len} bytes does not fit the layout"));
            }
            l.total()
        }
        K::Alltoallv => {
            let (send, recv) = a.alltoallv_layouts()?;
            check_recv_layout(&recv, size, what)?;
            check_send_layout(&send, size, len, what)?;
            if send.count(rank) != recv.count(rank) {
                return invalid(format!("{what}: sends itself {} bytes into {}", send.count(rank), recv.count(rank)));
            }
            0
        }
        K::ReduceScatter => {
            let l = a.recv_layout()?;
            if l.len() != size || l.total() != len {
                return invalid(format!("{what}: counts do not cover the {len}-byte vector in {size} blocks"));
            }
            let op = a.op()?;
            for &c in l.counts() {
                check_elements(op.as_ref(), c)?;
            }
            len
        }
        K::NeighborAllgather | K::NeighborAllgatherv | K::NeighborAlltoall | K::NeighborAlltoallv => {
            let n = a.neighbors()?;
            let (ns, nd) = (n.sources().len(), n.destinations().len());
            if let Some(&(p, _)) = n.sources().iter().chain(n.destinations()).find(|e| e.0 >= size) {
                return invalid(format!("{what}: neighbour {p} out of range for size {size}"));
            }
            match kind {
                K::NeighborAllgatherv => check_recv_layout(a.recv_layout()?, ns, what)?,
                K::NeighborAlltoall if len != nd * a.block => {
                    return invalid(format!("{what}: {len} bytes for {nd} blocks of {}", a.block));
                }
                K::NeighborAlltoallv => {
                    check_recv_layout(a.recv_layout()?, ns, what)?;
                    check_send_layout(a.send_layout()?, nd, len, what)?;
                }
                _ => {}
            }
            0
        }
    };
    let (nodes, nodes_contiguous) = match &a.nodes {
        Some(n) if n.len() == size => crate::locality::shape(n),
        _ => (1, true),
    };
    Ok(Selection { kind, size, bytes, commutative, nodes, nodes_contiguous })
}
