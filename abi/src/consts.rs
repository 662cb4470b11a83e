//! MPICH 5.0.2's numeric values: handles, sentinels, classes, attribute keys.
//!
//! A handle's bits 30-31 give its kind (1 = builtin, 2 = direct, 0 = null),
//! bits 26-29 its object type; builtin datatypes keep their size in bits 8-15.
#![allow(missing_docs)]

use std::ffi::c_int;

pub type MpiComm = c_int;
pub type MpiDatatype = c_int;
pub type MpiGroup = c_int;
pub type MpiOp = c_int;
pub type MpiRequest = c_int;
pub type MpiErrhandler = c_int;
pub type MpiInfo = c_int;
pub type MpiMessage = c_int;
pub type MpiAint = isize;
pub type MpiCount = i64;

pub const MPI_SUCCESS: c_int = 0;
pub const MPI_COMM_NULL: MpiComm = 0x04000000;
pub const MPI_COMM_WORLD: MpiComm = 0x44000000;
pub const MPI_COMM_SELF: MpiComm = 0x44000001;
pub const MPI_GROUP_NULL: MpiGroup = 0x08000000;
pub const MPI_GROUP_EMPTY: MpiGroup = 0x48000000;
pub const MPI_DATATYPE_NULL: MpiDatatype = 0x0c000000;
pub const MPI_OP_NULL: MpiOp = 0x18000000;
pub const MPI_REQUEST_NULL: MpiRequest = 0x2c000000;
pub const MPI_MESSAGE_NULL: MpiMessage = 0x2c000000;
pub const MPI_MESSAGE_NO_PROC: MpiMessage = 0x6c000000;
pub const MPI_ERRHANDLER_NULL: MpiErrhandler = 0x14000000;
pub const MPI_INFO_NULL: MpiInfo = 0x1c000000;
pub const MPI_INFO_ENV: MpiInfo = 0x5c000001;
pub const MPI_WIN_NULL: c_int = 0x20000000;
pub const MPI_KEYVAL_INVALID: c_int = 0x24000000;

pub const MPI_ERRORS_ARE_FATAL: MpiErrhandler = 0x54000000;
pub const MPI_ERRORS_RETURN: MpiErrhandler = 0x54000001;
pub const MPIR_ERRORS_THROW_EXCEPTIONS: MpiErrhandler = 0x54000002;
pub const MPI_ERRORS_ABORT: MpiErrhandler = 0x54000003;

/// Object-type bits (26-29) of each kind of handle.
pub const KIND_COMM: u32 = 0x1;
pub const KIND_GROUP: u32 = 0x2;
pub const KIND_DATATYPE: u32 = 0x3;
pub const KIND_ERRHANDLER: u32 = 0x5;
pub const KIND_OP: u32 = 0x6;
pub const KIND_INFO: u32 = 0x7;
pub const KIND_KEYVAL: u32 = 0x9;
pub const KIND_REQUEST: u32 = 0xb;

pub const MPI_PROC_NULL: c_int = -1;
pub const MPI_ANY_SOURCE: c_int = -2;
pub const MPI_ROOT: c_int = -3;
pub const MPI_ANY_TAG: c_int = -1;
pub const MPI_UNDEFINED: c_int = -32766;
pub const MPI_IN_PLACE: isize = -1;
pub const MPI_STATUS_IGNORE: isize = 1;

pub const MPI_IDENT: c_int = 0;
pub const MPI_CONGRUENT: c_int = 1;
pub const MPI_SIMILAR: c_int = 2;
pub const MPI_UNEQUAL: c_int = 3;

pub const MPI_TAG_UB: c_int = 0x64400001;
pub const MPI_HOST: c_int = 0x64400003;
pub const MPI_IO: c_int = 0x64400005;
pub const MPI_WTIME_IS_GLOBAL: c_int = 0x64400007;
pub const MPI_UNIVERSE_SIZE: c_int = 0x64400009;
pub const MPI_LASTUSEDCODE: c_int = 0x6440000b;
pub const MPI_APPNUM: c_int = 0x6440000d;

pub const MPI_MAX_PROCESSOR_NAME: usize = 128;
pub const MPI_MAX_LIBRARY_VERSION_STRING: usize = 8192;
pub const MPI_MAX_ERROR_STRING: usize = 512;
pub const MPI_MAX_OBJECT_NAME: usize = 128;
pub const MPI_MAX_INFO_KEY: usize = 255;
pub const MPI_MAX_INFO_VAL: usize = 1024;

pub const MPI_VERSION: c_int = 5;
pub const MPI_SUBVERSION: c_int = 0;

pub const MPI_COMBINER_NAMED: c_int = 1;
pub const MPI_COMBINER_DUP: c_int = 2;
pub const MPI_COMBINER_CONTIGUOUS: c_int = 3;

pub const MPI_COMM_TYPE_SHARED: c_int = 1;
pub const MPI_BSEND_OVERHEAD: c_int = 96;

/// Error classes (MPICH's numbering).
pub mod class {
    use std::ffi::c_int;
    pub const BUFFER: c_int = 1;
    pub const COUNT: c_int = 2;
    pub const TYPE: c_int = 3;
    pub const TAG: c_int = 4;
    pub const COMM: c_int = 5;
    pub const RANK: c_int = 6;
    pub const ROOT: c_int = 7;
    pub const GROUP: c_int = 8;
    pub const OP: c_int = 9;
    pub const TOPOLOGY: c_int = 10;
    pub const DIMS: c_int = 11;
    pub const ARG: c_int = 12;
    pub const UNKNOWN: c_int = 13;
    pub const TRUNCATE: c_int = 14;
    pub const OTHER: c_int = 15;
    pub const INTERN: c_int = 16;
    pub const IN_STATUS: c_int = 17;
    pub const PENDING: c_int = 18;
    pub const REQUEST: c_int = 19;
    pub const INFO_KEY: c_int = 29;
    pub const INFO_VALUE: c_int = 30;
    pub const INFO_NOKEY: c_int = 31;
    pub const INFO: c_int = 28;
    pub const NO_MEM: c_int = 34;
    pub const UNSUPPORTED_OPERATION: c_int = 44;
    pub const KEYVAL: c_int = 48;
    pub const ERRHANDLER: c_int = 80;
    /// The last predefined class.
    pub const LAST: c_int = 81;
}
