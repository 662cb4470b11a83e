//! Typed errors of the datatype library.
//!
//! Every fallible operation returns [`DatatypeError`]; the C ABI maps the
//! variants to MPI error classes (`MPI_ERR_COUNT`, `MPI_ERR_ARG`,
//! `MPI_ERR_TRUNCATE`, ...).

use crate::basic::Basic;

/// What went wrong in a datatype constructor, query or pack operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatatypeError {
    /// A count, block length or dimension size that must not be negative was negative.
    #[error("{what} must not be negative (got {value})")]
    NegativeCount {
        /// Which argument.
        what: &'static str,
        /// The value given.
        value: i64,
    },
    /// Two argument arrays that must have the same length do not.
    #[error("{what}: expected {expected} entries, got {got}")]
    LengthMismatch {
        /// Which argument.
        what: &'static str,
        /// Length required.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// An argument is outside its valid range (the message says which and why).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A size, extent or displacement does not fit in 64 bits.
    #[error("datatype size or displacement overflows 64 bits")]
    Overflow,
    /// A block of the type map falls outside the memory view handed to pack/unpack.
    #[error("type map touches bytes [{lo}, {hi}) relative to the base, outside the view [{view_lo}, {view_hi})")]
    OutOfBounds {
        /// First byte touched, relative to the buffer base.
        lo: i64,
        /// One past the last byte touched, relative to the buffer base.
        hi: i64,
        /// First byte of the view, relative to the buffer base.
        view_lo: i64,
        /// One past the last byte of the view, relative to the buffer base.
        view_hi: i64,
    },
    /// The output buffer is smaller than the packed data.
    #[error("output buffer too small: {needed} bytes needed, {available} available")]
    OutputTooSmall {
        /// Bytes required.
        needed: u64,
        /// Bytes available.
        available: usize,
    },
    /// The packed input is shorter than what the operation requires.
    #[error("packed input truncated: {needed} bytes needed, {available} available")]
    Truncated {
        /// Bytes required.
        needed: u64,
        /// Bytes available.
        available: usize,
    },
    /// A data representation other than `"external32"` (or `"native"` where allowed) was named.
    #[error("unknown data representation {0:?}")]
    UnknownRepresentation(String),
    /// A native value cannot be represented in the smaller external32 size of its type.
    #[error("value of {0:?} does not fit its external32 size")]
    External32Range(Basic),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, DatatypeError>;
