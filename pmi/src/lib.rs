//! PMI-1 and PMI-2, the process-management interface between MPI ranks and
//! their launcher.
//!
//! * [`codec`]: the wire formats (PMI-1 lines, PMI-2 length-prefixed frames),
//!   shared by both sides.
//! * [`PmiClient`]: what a rank uses to learn its rank/size, exchange
//!   business cards through the key-value space (put, fence, get) and leave
//!   (finalize) or end the job (abort). It talks to rmpirun, MPICH's Hydra or
//!   Slurm's `mpi/pmi2` plugin over the descriptor given in `PMI_FD`.
//! * [`server`]: the launcher side, a sans-I/O state machine per connection
//!   ([`PmiServerConn`]) over a shared key-value space ([`Kvs`]).
//! * [`PmiClient::put_split`] / [`PmiClient::get_split`]: values longer
//!   than the 1024-byte PMI limit, stored as segments.
//! * [`tree`]: the job-wide fence over a tree of node proxies (member
//!   KVSs gather their node's puts; the tree merges and broadcasts them).
//! * [`parse_process_mapping`] / [`format_process_mapping`]: the
//!   `PMI_process_mapping` vector telling which ranks share a node.
//!
//! The exact bytes and Slurm's quirks this crate follows are recorded in the
//! project's PMI-FACTS.md.

pub mod client;
pub mod codec;
mod error;
mod mapping;
pub mod server;
mod split;
pub mod tree;

pub use client::{ClientHints, PmiClient};
pub use error::PmiError;
pub use mapping::{format_process_mapping, parse_process_mapping};
pub use server::{FenceState, JobInfo, Kvs, PmiServerConn, ServerEvent, ServerOutput};
pub use split::{MAX_SEGMENTS, SEGMENTS_MARK};

/// The PMI wire protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PmiVersion {
    /// PMI-1: `cmd=NAME key=value\n` lines (what MPICH's wheel speaks).
    V1,
    /// PMI-2: length-prefixed `cmd=NAME;key=value;` frames.
    V2,
}
