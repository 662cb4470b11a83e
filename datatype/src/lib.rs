//! MPI derived datatypes as a library (MPI 4.1 chapter 5), with no runtime
//! or handle tables: the C ABI and the runtime build on it.
//!
//! - [`Datatype`]: predefined leaves ([`Basic`], [`PairType`]) and every
//!   constructor (contiguous, vector, hvector, indexed, hindexed,
//!   indexed_block, hindexed_block, struct, subarray, darray, resized, dup).
//! - Queries: size, lb/ub/extent, true bounds, [`Datatype::span`] (the bytes
//!   `count` elements touch, possibly below the base address),
//!   [`Datatype::get_elements`], envelope and contents ([`envelope`]).
//! - Moving data: pack / unpack (whole, partial and streamed by byte
//!   range) in native representation ([`pack`]), and `external32`
//!   ([`external32`]).
//!
//! Memory is handed in as a byte slice plus `view_start`, the displacement of
//! the slice's first byte relative to the buffer's base address, so no
//! pointer arithmetic (and no `unsafe`) happens here.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod basic;
mod constructors;
pub mod envelope;
pub mod error;
pub mod external32;
pub mod layout;
pub mod pack;

pub use basic::{Basic, ComplexPart, Encoding, PairType};
pub use envelope::{Combiner, Contents, Darg, Distribution, EnumArg, Envelope, Named, Order, Recipe};
pub use error::{DatatypeError, Result};
pub use layout::{ByteBlock, Datatype, Flat, Span, TypedRun};
pub use pack::MessageBlocks;
