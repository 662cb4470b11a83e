//! `libmpi.so.12`: the MPICH ABI over the rmpi runtime.
//!
//! Each C entry point is exported twice, as `PMPI_Name` and `MPI_Name`; both
//! call the same Rust function (the library never calls a public `MPI_`
//! name itself, so profiling tools can interpose). Every entry point runs
//! behind a panic boundary, validates its handles and arguments, and
//! reports failures through the error handler of the object involved.
//!
//! Modules: `consts` (MPICH's values), `handles` (typed tables and casts),
//! `errors` (classes, strings, handlers, the boundary), `datatype`, `op`,
//! `p2p`, `coll` (every collective, also on intercommunicators and
//! topologies), `comm` (communicators, groups, attributes), `info`,
//! `misc` (init, version, time, memory), `topo` (topologies), `f90` (Fortran 90 parameterized types), `largecount`
//! (datatype `_c` forms), `dynproc` (ports, names and join within a job),
//! `inter` (intercommunicators), `inter_comm` (their dup and split), `greq`
//! (generalized requests), `attr` (datatype attributes), `win` (RMA windows
//! as objects), `rma` (RMA operations and synchronization), `io` and
//! `io_view` (MPI-IO over POSIX files), `buffers` (buffered-send buffers per
//! communicator and session), `part` (partitioned point-to-point), `session`
//! (sessions, communicators from groups), `split_type`, `tool` (the MPI_T
//! tool information interface, with no variables yet), `status` (Fortran
//! status conversions, field accessors), `unsupported` (the rest).
#![allow(non_snake_case)]
#![allow(clippy::missing_safety_doc)]

/// Export `$name` and `$pname` with one body: the body lives in a module
/// named like the function (modules and functions have separate namespaces)
/// and both symbols call it.
macro_rules! export {
    ($(#[$m:meta])* fn $name:ident / $pname:ident ( $($a:ident : $t:ty),* $(,)? ) -> $ret:ty $body:block) => {
        #[allow(non_snake_case, unused_imports, clippy::all)]
        mod $name {
            use super::*;
            #[allow(unused_unsafe, clippy::all)]
            pub(super) unsafe fn run($($a: $t),*) -> $ret $body
        }
        $(#[$m])*
        #[no_mangle]
        pub unsafe extern "C" fn $pname($($a: $t),*) -> $ret {
            // SAFETY: the caller upholds the C binding's contract.
            unsafe { $name::run($($a),*) }
        }
        $(#[$m])*
        #[no_mangle]
        pub unsafe extern "C" fn $name($($a: $t),*) -> $ret {
            // SAFETY: the caller upholds the C binding's contract.
            unsafe { $name::run($($a),*) }
        }
    };
}

pub mod attr;
pub mod buffers;
pub mod coll;
pub mod comm;
pub mod consts;
pub mod datatype;
pub mod dynproc;
pub mod errors;
pub mod f90;
pub mod greq;
pub mod handles;
pub mod info;
pub mod inter;
pub mod inter_comm;
pub mod io;
pub mod io_view;
pub mod largecount;
pub mod misc;
pub mod op;
pub mod p2p;
pub mod part;
pub mod rma;
pub mod session;
pub mod split_type;
pub mod status;
pub mod tool;
pub mod topo;
pub mod type_attr;
pub mod unsupported;
pub mod win;
