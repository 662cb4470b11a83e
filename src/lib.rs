//! rmpi: MPI for Rust, with a safe and idiomatic API over the rmpi runtime
//! (pure Rust, no C MPI underneath).
//!
//! Start MPI with [`initialize`]; the returned [`Universe`] finalizes MPI
//! when dropped. Its [`world`](Universe::world) communicator names every
//! process of the job.
//!
//! * [`topology`] has communicators ([`Communicator`],
//!   [`SimpleCommunicator`]) and groups.
//! * [`point_to_point`] sends to a [`Process`] ([`Destination`]) and
//!   receives from a process or [`AnyProcess`] ([`Source`]), with probes and
//!   [`Status`].
//! * [`request`] has nonblocking operations, safely scoped
//!   ([`request::scope`]) or owning their buffers.
//! * [`collective`] has barrier, broadcast, reduce and all-reduce, blocking
//!   and nonblocking, with predefined ([`SystemOperation`]) or user
//!   ([`UserOperation`]) operators.
//! * [`datatype`] says what can be sent: [`Equivalence`] types (numbers,
//!   `bool`, arrays, and `#[derive(Equivalence)]` structs) in single values,
//!   slices, arrays and `Vec`s.
//! * [`environment`] has the universe, thread levels, clock, host name and
//!   transport counters.
//!
//! Errors: the infallible forms panic with the name of the MPI function and
//! the runtime's [`MpiError`]; `try_` forms return the error. A receive into
//! a buffer that is too small is an [`ErrorClass::Truncate`] error.
//!
//! ```no_run
//! use rmpi::prelude::*;
//!
//! let universe = rmpi::initialize().expect("MPI is initialized once");
//! let world = universe.world();
//! let (rank, size) = (world.rank(), world.size());
//!
//! // Point-to-point: pass a value to the next rank.
//! if size > 1 {
//!     if rank == 0 {
//!         world.process_at_rank(1).send(&[1.0f64, 2.0, 3.0]);
//!     } else if rank == 1 {
//!         let (v, status) = world.process_at_rank(0).receive_vec::<f64>();
//!         assert_eq!((v.len(), status.source_rank()), (3, 0));
//!     }
//! }
//!
//! // Collectives.
//! let mut data = if rank == 0 { vec![7u32; 4] } else { vec![0; 4] };
//! world.process_at_rank(0).broadcast_into(&mut data[..]);
//! let mut total = 0i64;
//! world.all_reduce_into(&(rank as i64), &mut total, SystemOperation::sum());
//! assert_eq!(total, (0..size as i64).sum::<i64>());
//!
//! // A struct as a message.
//! #[derive(Clone, Copy, Equivalence)]
//! #[repr(C)]
//! struct Sample { t: f64, channel: u32, flags: u32 }
//! if rank == 0 && size > 1 {
//!     world.process_at_rank(1).send_with_tag(&Sample { t: 0.5, channel: 3, flags: 0 }, 9);
//! } else if rank == 1 {
//!     let (s, _) = world.process_at_rank(0).receive_with_tag::<Sample>(9);
//!     assert_eq!(s.channel, 3);
//! }
//! ```

// `usize::is_multiple_of` is newer than the workspace's MSRV (1.80).
#![allow(clippy::manual_is_multiple_of)]
#![warn(missing_docs)]

// Lets `#[derive(Equivalence)]` (which names `::rmpi`) work inside this crate.
extern crate self as rmpi;

pub mod collective;
pub mod datatype;
pub mod environment;
pub mod point_to_point;
pub mod request;
pub mod topology;

#[cfg(test)]
mod singleton_tests;

pub use collective::{CommunicatorCollectives, Operation, Root, SystemOperation, UserOperation};
pub use datatype::{Buffer, BufferMut, Equivalence};
pub use environment::{
    initialize, initialize_with_threading, processor_name, time, time_resolution, Threading, Universe,
};
pub use point_to_point::{AnyProcess, Destination, Message, Process, Source, Status};
pub use request::{scope, OwnedRequest, Request, RequestCollection, Scope};
pub use topology::{Color, Communicator, CommunicatorRelation, Group, SimpleCommunicator};

/// `#[derive(Equivalence)]` for padding-free `#[repr(C)]` structs; see
/// [`datatype::Equivalence`].
pub use rmpi_derive::Equivalence;

pub use rmpi_runtime::{ErrorClass, MpiError};

/// A rank within a communicator.
pub type Rank = i32;
/// A message tag (non-negative; [`ANY_TAG`] in receives).
pub type Tag = i32;
/// Element counts as MPI uses them.
pub type Count = i32;

/// Match any tag in a receive or probe (`MPI_ANY_TAG`).
pub const ANY_TAG: Tag = rmpi_runtime::api::ANY_TAG;
/// Match any source (`MPI_ANY_SOURCE`); see [`Communicator::any_process`].
pub const ANY_SOURCE: Rank = rmpi_runtime::api::ANY_SOURCE;
/// The largest valid tag (`MPI_TAG_UB`).
pub const TAG_UB: Tag = rmpi_runtime::api::TAG_UB;

/// The traits and types most programs use.
pub mod prelude {
    pub use crate::collective::{CommunicatorCollectives, Root, SystemOperation, UserOperation};
    pub use crate::datatype::{Buffer, BufferMut};
    pub use crate::point_to_point::{Destination, Source, Status};
    pub use crate::request::{scope, RequestCollection};
    pub use crate::topology::{Color, Communicator, SimpleCommunicator};
    pub use crate::{Equivalence, Rank, Tag, ANY_TAG};
}

/// Report an MPI failure in the infallible API.
#[track_caller]
pub(crate) fn fatal(what: &str, e: MpiError) -> ! {
    panic!("rmpi: {what} failed: {e}")
}
