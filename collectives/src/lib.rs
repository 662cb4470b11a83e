//! Collective algorithms as schedules.
//!
//! An algorithm does not send anything: it builds a [`Schedule`] (steps of
//! send / recv / local reduce / copy over buffers the schedule owns, with
//! dependencies), and an [`Executor`] runs it against any [`P2p`]
//! implementation: the runtime's engine in real processes, or the
//! simulator ([`sim`]) that runs many virtual ranks in one process. Blocking,
//! nonblocking and persistent collectives share one schedule.
//!
//! The runtime's entry point is [`Collective`]: build one per call
//! (`Collective::allreduce(..)`, `Collective::alltoallv(..)`, ...), call
//! [`Collective::progress`] from the progress loop until it returns `true`,
//! then read [`Collective::output`]. Every collective takes bytes; the `v`
//! variants take byte [`Layout`]s and the neighbourhood collectives a
//! [`Neighbors`] list per rank (see [`Collective`] for the exact byte
//! contract of each, including on-root-only arguments and in-place forms).
//! Nonblocking and persistent forms use the same objects:
//! [`Collective::restart`] re-arms any completed collective with new input.
//!
//! Algorithms live one per file under a folder per collective
//! (`allreduce/ring.rs`), each under a registry key such as
//! `"allreduce:ring"`; [`select`] holds the registry, the selection table
//! and the `RMPI_COLL_<COLLECTIVE>` overrides.
//!
//! Composite collectives embed these schedules in a larger one
//! ([`ScheduleBuilder::embed`]): the intercommunicator forms ([`inter`],
//! over both groups of an intercommunicator at once) and the node-aware
//! `two_level` algorithms ([`locality`] holds the node map) are built that way.
//!
//! This crate never depends on the runtime; the arrow points the other way.
//!
//! # Contract with the runtime
//!
//! - **Tags.** Every schedule uses tags in `0..=`[`MAX_TAG`] (255); tags are
//!   local to one collective instance, and the [`P2p`] implementation
//!   separates instances (context id and sequence number). Algorithms use
//!   at most tag 64: round-per-tag algorithms (dissemination barrier, Bruck,
//!   scan, exscan) use tag k in round k (below 64); the folded power-of-two
//!   algorithms (recursive doubling, Rabenseifner, recursive halving) use 0,
//!   `1 + k`, `32 + k` and 64; the rest use 0..=2. Composite schedules
//!   shift an embedded one's tags by a base ([`inter`] uses 0, 65 and 200).
//!   Neighbourhood
//!   collectives use the edge labels of [`Neighbors`] as tags, which are at
//!   most [`MAX_TAG`] (occurrence labels stay small unless an edge repeats
//!   hundreds of times).
//! - **Ordering.** Receives from one peer with one tag are posted in the
//!   order their messages are sent, so the usual MPI non-overtaking rule
//!   per (source, destination, tag) is all a schedule relies on.
//! - **Buffers.** The schedule owns its buffers: `Vec<u8>`s allocated when
//!   it is built and never resized, so their bytes stay at one address for
//!   the life of the [`Collective`], even if it is moved. The byte slice
//!   given to `isend` stays unchanged until the token completes, and while a
//!   receive is outstanding the executor creates no reference at all into
//!   the buffer (the whole `Vec`) it lands in; while a send is outstanding,
//!   no mutable one into its buffer (see [`Schedule`] for how the builder
//!   orders steps to guarantee this). So a pointer taken in `isend`/`irecv`
//!   stays valid until completion. After a receive tests complete,
//!   [`P2p::finish_recv`] hands the same slice again: an engine that keeps
//!   the payload itself (eager data, unexpected queue) can copy it in there
//!   and needs no pointer into our buffers at all.
//! - **Progress.** [`Collective::progress`] never blocks; call it from the
//!   progress loop until it returns `true`. Selection inputs must be equal
//!   on all ranks; the `RMPI_COLL_<COLLECTIVE>` override is read once per
//!   process (see [`select`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod allgather;
pub mod allgatherv;
pub mod allreduce;
pub mod alltoall;
pub mod alltoallv;
pub mod barrier;
pub mod bcast;
mod collective;
mod executor;
pub mod exscan;
pub mod gather;
pub mod gatherv;
pub mod inter;
mod layout;
pub mod locality;
pub mod neighbor_allgather;
pub mod neighbor_allgatherv;
pub mod neighbor_alltoall;
pub mod neighbor_alltoallv;
pub mod pool;
pub mod reduce;
pub mod reduce_scatter;
pub mod reduce_scatter_block;
pub mod scan;
pub mod scatter;
pub mod scatterv;
mod schedule;
pub mod select;
pub mod sim;
mod two_level;

pub use collective::Collective;
pub use executor::Executor;
pub use layout::{Layout, Neighbors};
pub use schedule::{BufId, Embedded, OperandOrder, Region, Schedule, ScheduleBuilder, Step, StepId};

/// Largest tag any schedule of this crate uses: tags are in `0..=MAX_TAG`.
/// The runtime may rely on tags fitting in 8 bits.
pub const MAX_TAG: u32 = 255;

/// Errors a schedule can meet while running.
#[derive(Debug, thiserror::Error)]
pub enum CollError {
    /// The point-to-point layer failed (its message).
    #[error("point-to-point failure: {0}")]
    P2p(String),
    /// Arguments that cannot describe a valid collective.
    #[error("invalid collective arguments: {0}")]
    Invalid(String),
}

/// Token for one outstanding point-to-point operation of a [`P2p`].
pub type ReqToken = u64;

/// The point-to-point operations a schedule needs, addressed by rank within
/// the communicator the collective runs on. Tags are small and local to one
/// collective instance: the implementation separates concurrent collectives
/// (the runtime uses a collective context id and a per-communicator sequence).
///
/// The trait is object safe; the executor uses it as `&mut dyn P2p`.
pub trait P2p {
    /// This rank within the communicator.
    fn rank(&self) -> usize;
    /// Number of ranks in the communicator.
    fn size(&self) -> usize;
    /// Start sending `data` to `peer`. The executor keeps `data` alive and
    /// unchanged until `test` reports completion of the returned token.
    fn isend(&mut self, peer: usize, tag: u32, data: &[u8]) -> Result<ReqToken, CollError>;
    /// Start receiving exactly `buf.len()` bytes from `peer`. The executor
    /// keeps `buf` alive and does not touch it until `test` reports
    /// completion of the returned token.
    fn irecv(&mut self, peer: usize, tag: u32, buf: &mut [u8]) -> Result<ReqToken, CollError>;
    /// Whether the operation is complete (then the token is spent). Makes
    /// progress as a side effect.
    fn test(&mut self, req: ReqToken) -> Result<bool, CollError>;
    /// Called once for each receive, right after [`P2p::test`] reported
    /// it complete, with the very buffer (same address, same length) that
    /// was given to [`P2p::irecv`]. An implementation that wrote the payload
    /// into that buffer keeps the default, which does nothing; one that
    /// could not keep a pointer to it (the simulator, or an engine that
    /// holds eager or unexpected payloads itself) copies the payload in
    /// here. The executor creates no reference to a receive's buffer
    /// between `irecv` and this call.
    fn finish_recv(&mut self, req: ReqToken, buf: &mut [u8]) -> Result<(), CollError> {
        let _ = (req, buf);
        Ok(())
    }
}

/// A reduction operator over elements of one type, applied to byte buffers
/// holding whole elements.
pub trait ReduceOp: Send + Sync {
    /// `inout[i] = input[i] (op) inout[i]` for every element, where `input`
    /// holds the operand that comes first in rank order (this is MPI's
    /// `MPI_User_function` convention: invec, inoutvec).
    fn apply(&self, input: &[u8], inout: &mut [u8]);
    /// Whether operand order may change.
    fn commutative(&self) -> bool;
    /// Size in bytes of one element.
    fn elem_size(&self) -> usize;
}
