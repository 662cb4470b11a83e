//! The rmpi runtime: the MPI engine's driver and the operations the Rust
//! crate and the C ABI call.
//!
//! * [`engine`] (re-exported `rmpi-engine`): sans-I/O matching, protocols,
//!   requests.
//! * `bootstrap`: PMI or singleton start, locality, transports, cards.
//! * `router` and `net`: one transport per peer, the progress step.
//! * `state`: the global state, its lock, spin-then-sleep waiting.
//! * `comm`, `coll`, `ops`: communicators and groups, collective schedules
//!   over the engine, reduction operators.
//! * [`rma`]: one-sided communication (windows) over active messages.
//! * `fastcoll`: small blocking barrier, allreduce and bcast run directly
//!   on the engine (no schedule).
//! * `bigcoll`: large blocking bcast and allreduce, and alltoall, posted
//!   all at once between the callers' buffers (no schedule).
//! * `shmcoll`: small blocking barrier, allreduce and bcast through a
//!   shared-memory area when every member is on this node.
//! * [`api`]: the MPI operations.

pub use rmpi_engine as engine;

pub mod api;
mod bigcoll;
mod bootstrap;
pub mod coll;
pub mod comm;
mod direct;
pub mod error;
mod fastcoll;
mod net;
mod nodemap;
mod ofi;
pub mod ops;
mod persist;
mod placement;
pub mod rma;
mod router;
mod shmcoll;
mod state;

pub use coll::CollOut;
pub use comm::{CommId, Compare, GroupId, COMM_SELF, COMM_WORLD};
pub use engine::{SendMode, Status};
pub use error::{ErrorClass, MpiError, MpiResult};
pub use rmpi_collectives::{inter, pool, select, CollError, Collective, Layout, Neighbors, ReduceOp};
pub use state::{RequestId, ThreadLevel};
