//! Collectives: every blocking, nonblocking (`MPI_I*`) and persistent
//! (`MPI_*_init`, MPI-4) form, with the large-count `_c` variants, on
//! intracommunicators and (where MPI defines them) intercommunicators, and
//! the neighbourhood collectives on process topologies. Each call builds
//! one of the runtime's schedules (`rmpi_collectives`): the three forms
//! share it ([`plan`]). Non-contiguous datatypes are packed when the
//! collective starts and unpacked when it completes ([`bufs`]); v- and
//! w-variants pack each block, so the schedules see dense byte layouts.
//! `MPI_IN_PLACE` is honoured wherever the standard allows it.
//!
//! Files: `plan` (forms, where a collective runs), `bufs` (user buffers),
//! `rooted` (bcast, gather(v), scatter(v)), `reduce` (reduce, allreduce,
//! scan, exscan, reduce_scatter(_block)), `all` (barrier, allgather(v),
//! alltoall(v/w)), `neighbor` (neighbourhood collectives), `shm` (the
//! blocking barrier, allreduce and bcast try the runtime's shared-memory
//! path first).

/// Exports the blocking, nonblocking and persistent forms of one
/// collective: `args` are the blocking form's parameters; the nonblocking
/// form adds a request, the persistent one an info and a request. `[comm]`
/// names the communicator parameter (for the error handler); the body
/// calls `f(exprs..., form)`.
macro_rules! forms {
    (
        fn $b:ident / $pb:ident, fn $i:ident / $pi:ident, fn $n:ident / $pn:ident;
        ($($a:ident : $t:ty),*) [$comm:ident] => $f:ident($($e:expr),*)
    ) => {
        export! { fn $b / $pb($($a: $t),*) -> c_int {
            guard(stringify!($b), $comm, || $f($($e,)* Form::Blocking))
        }}
        export! { fn $i / $pi($($a: $t,)* req: *mut MpiRequest) -> c_int {
            guard(stringify!($i), $comm, || $f($($e,)* Form::Start(req)))
        }}
        export! { fn $n / $pn($($a: $t,)* _info: MpiInfo, req: *mut MpiRequest) -> c_int {
            guard(stringify!($n), $comm, || $f($($e,)* Form::Init(req)))
        }}
    };
}

pub mod all;
pub mod bufs;
pub mod neighbor;
pub mod plan;
pub mod reduce;
pub mod rooted;
pub mod shm;
pub(crate) use all::allgather_bytes;
