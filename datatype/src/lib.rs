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
//!
//! ```
//! use rmpi_datatype::{Basic, Datatype};
//!
//! // Every other int, read backwards: data at offsets 0, -8, -16 from the base.
//! let t = Datatype::vector(3, 1, -2, &Datatype::basic(Basic::Int))?;
//! let span = t.span(1)?; // [-16, 4): the ABI forms one slice from base + span.lo
//! assert_eq!((span.lo, span.hi), (-16, 4));
//! let memory: Vec<u8> = (0..20).collect(); // stands for that slice
//! let packed = t.pack_to_vec(1, &memory, span.lo)?;
//! assert_eq!(packed, [16, 17, 18, 19, 8, 9, 10, 11, 0, 1, 2, 3]);
//! let mut back = vec![0u8; 20];
//! t.unpack(1, &packed, &mut back, span.lo)?;
//! assert_eq!(&back[16..], &memory[16..]);
//! # Ok::<(), rmpi_datatype::DatatypeError>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod basic;
mod constructors;
pub mod envelope;
pub mod error;
pub mod external32;
pub mod layout;
pub mod pack;
mod walk;

pub use basic::{Basic, ComplexPart, Encoding, PairType};
pub use envelope::{Combiner, Contents, Darg, Distribution, EnumArg, Envelope, Named, Order, Recipe};
pub use error::{DatatypeError, Result};
pub use layout::{ByteBlock, Datatype, Flat, Span, TypedRun};
pub use pack::MessageBlocks;
