//! MPI error classes and the runtime's error type.
//!
//! The class numbers are MPICH's (the MPI standard fixes the names, MPICH's
//! ABI fixes the values), so the C ABI passes them through unchanged.

use std::fmt;

/// An MPI error class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorClass {
    Buffer = 1,
    Count = 2,
    Type = 3,
    Tag = 4,
    Comm = 5,
    Rank = 6,
    Root = 7,
    Group = 8,
    Op = 9,
    Topology = 10,
    Dims = 11,
    Arg = 12,
    Unknown = 13,
    Truncate = 14,
    Other = 15,
    Intern = 16,
    InStatus = 17,
    Pending = 18,
    Request = 19,
    NoMem = 34,
    Win = 45,
    Base = 46,
    LockType = 47,
    RmaConflict = 49,
    RmaSync = 50,
    Size = 51,
    UnsupportedOperation = 52,
    Assert = 53,
    RmaRange = 55,
    RmaAttach = 56,
    RmaShared = 57,
    RmaFlavor = 58,
}

impl ErrorClass {
    /// The MPI name of the class, e.g. `MPI_ERR_RANK`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Buffer => "MPI_ERR_BUFFER",
            ErrorClass::Count => "MPI_ERR_COUNT",
            ErrorClass::Type => "MPI_ERR_TYPE",
            ErrorClass::Tag => "MPI_ERR_TAG",
            ErrorClass::Comm => "MPI_ERR_COMM",
            ErrorClass::Rank => "MPI_ERR_RANK",
            ErrorClass::Root => "MPI_ERR_ROOT",
            ErrorClass::Group => "MPI_ERR_GROUP",
            ErrorClass::Op => "MPI_ERR_OP",
            ErrorClass::Topology => "MPI_ERR_TOPOLOGY",
            ErrorClass::Dims => "MPI_ERR_DIMS",
            ErrorClass::Arg => "MPI_ERR_ARG",
            ErrorClass::Unknown => "MPI_ERR_UNKNOWN",
            ErrorClass::Truncate => "MPI_ERR_TRUNCATE",
            ErrorClass::Other => "MPI_ERR_OTHER",
            ErrorClass::Intern => "MPI_ERR_INTERN",
            ErrorClass::InStatus => "MPI_ERR_IN_STATUS",
            ErrorClass::Pending => "MPI_ERR_PENDING",
            ErrorClass::Request => "MPI_ERR_REQUEST",
            ErrorClass::NoMem => "MPI_ERR_NO_MEM",
            ErrorClass::UnsupportedOperation => "MPI_ERR_UNSUPPORTED_OPERATION",
            ErrorClass::Win => "MPI_ERR_WIN",
            ErrorClass::Base => "MPI_ERR_BASE",
            ErrorClass::LockType => "MPI_ERR_LOCKTYPE",
            ErrorClass::RmaConflict => "MPI_ERR_RMA_CONFLICT",
            ErrorClass::RmaSync => "MPI_ERR_RMA_SYNC",
            ErrorClass::Size => "MPI_ERR_SIZE",
            ErrorClass::Assert => "MPI_ERR_ASSERT",
            ErrorClass::RmaRange => "MPI_ERR_RMA_RANGE",
            ErrorClass::RmaAttach => "MPI_ERR_RMA_ATTACH",
            ErrorClass::RmaShared => "MPI_ERR_RMA_SHARED",
            ErrorClass::RmaFlavor => "MPI_ERR_RMA_FLAVOR",
        }
    }
}

/// An error raised by an MPI operation: its class and a message naming
/// what was wrong (the C ABI prefixes the function name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpiError {
    pub class: ErrorClass,
    pub message: String,
}

impl MpiError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> MpiError {
        MpiError { class, message: message.into() }
    }
}

impl fmt::Display for MpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.class.name())
    }
}

impl std::error::Error for MpiError {}

/// Result of an MPI operation.
pub type MpiResult<T> = Result<T, MpiError>;

/// Shorthand for building an error.
pub(crate) fn err<T>(class: ErrorClass, message: impl Into<String>) -> MpiResult<T> {
    Err(MpiError::new(class, message))
}
