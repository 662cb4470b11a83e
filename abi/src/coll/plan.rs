//! One path for the three forms of every collective: a [`Plan`] says where
//! it runs, how to read this process's input and where its result goes;
//! [`go`] runs it blocking, starts it (`MPI_I*`: the schedule progresses
//! in the background and the result is placed on completion) or creates
//! the persistent request (`MPI_*_init`: the input is read again, and the
//! result placed again, at every start).

use std::ffi::c_int;
use std::sync::Arc;

use rmpi_runtime::api;
use rmpi_runtime::coll::{CollIn, Span};
use rmpi_runtime::inter::Sides;
use rmpi_runtime::{CollError, CollOut, Collective, CommId};

use crate::consts::*;
use crate::errors::{fail, AbiResult};
use crate::handles::{comm_id, new_request, Req};

/// Which form of a collective was called.
#[derive(Debug, Clone, Copy)]
pub enum Form {
    /// `MPI_Name`.
    Blocking,
    /// `MPI_IName`: the request goes here.
    Start(*mut MpiRequest),
    /// `MPI_Name_init`: the persistent request goes here.
    Init(*mut MpiRequest),
}

/// Where a collective runs.
#[derive(Debug, Clone)]
pub enum Place {
    /// An intracommunicator: this process's rank and the size.
    Intra { c: CommId, rank: usize, size: usize },
    /// An intercommunicator: both groups, low one first (see
    /// `rmpi_collectives::inter`).
    Inter { c: CommId, sides: Sides, span: Span },
}

/// Where `comm` runs its collectives.
pub fn locate(comm: MpiComm) -> AbiResult<Place> {
    let c = comm_id(comm)?;
    let rank = api::comm_rank(c)? as usize;
    let Some(i) = crate::inter::inter(comm) else {
        return Ok(Place::Intra { c, rank, size: api::comm_size(c)? as usize });
    };
    // The group whose first member has the lower world rank is "low" on both sides.
    let low = i.local_world[0] < i.remote_world[0];
    let (first, second) = if low { (&i.local_world, &i.remote_world) } else { (&i.remote_world, &i.local_world) };
    let members: Vec<u32> = first.iter().chain(second.iter()).copied().collect();
    let me = if low { rank } else { first.len() + rank };
    let sides = Sides::new(me, first.len(), second.len()).map_err(coll_abi)?;
    Ok(Place::Inter { c, sides, span: Span { members, rank: me } })
}

fn coll_abi(e: CollError) -> crate::errors::AbiError {
    crate::errors::AbiError { code: class::ARG, msg: e.to_string() }
}

impl Place {
    /// The intracommunicator's rank and size, or an error naming `what` as
    /// undefined on intercommunicators.
    pub fn intra_only(&self, what: &str) -> AbiResult<(usize, usize)> {
        match self {
            Place::Intra { rank, size, .. } => Ok((*rank, *size)),
            Place::Inter { .. } => fail(class::COMM, format!("{what} is not defined on an intercommunicator")),
        }
    }
}

/// Reads this process's input bytes (at the call, or at every start).
pub type Input = Arc<dyn Fn() -> Vec<u8> + Send + Sync>;
/// Places the result.
pub type Output = Option<rmpi_runtime::coll::Deliver>;

/// An input read by `f`.
pub fn input(f: impl Fn() -> Vec<u8> + Send + Sync + 'static) -> Input {
    Arc::new(f)
}

/// `n` zero bytes (a receiver's buffer of the expected length).
pub fn zeros(n: usize) -> Input {
    Arc::new(move || vec![0; n])
}

/// No input.
pub fn nothing() -> Input {
    Arc::new(Vec::new)
}

/// A result placed by `f`.
pub fn output(f: impl Fn(&[u8]) + Send + Sync + 'static) -> Output {
    Some(Arc::new(f))
}

/// Runs, starts or creates the collective `make(rank, size, input bytes)`
/// at `place`, in `form`.
pub fn go(
    place: &Place,
    form: Form,
    input: Input,
    out: Output,
    make: impl FnOnce(usize, usize, Vec<u8>) -> Result<Collective, CollError>,
) -> AbiResult<()> {
    let (c, span) = match place {
        Place::Intra { c, .. } => (*c, None),
        Place::Inter { c, span, .. } => (*c, Some(span.clone())),
    };
    match form {
        Form::Blocking => {
            let data = input();
            let result = api::coll_blocking_on(c, span, |r, n| make(r, n, data))?;
            if let Some(f) = out {
                f(&result);
            }
            rmpi_runtime::pool::give(result);
            Ok(())
        }
        Form::Start(req) => {
            if req.is_null() {
                return fail(class::ARG, "null request pointer");
            }
            let data = input();
            let id = api::coll_start_on(c, span, out.map(CollOut::func), |r, n| make(r, n, data))?;
            // SAFETY: checked non-null.
            unsafe { *req = new_request(Req::Rt { id, persistent: false, stage: None }) };
            Ok(())
        }
        Form::Init(req) => {
            if req.is_null() {
                return fail(class::ARG, "null request pointer");
            }
            let data = input();
            // SAFETY: MPI keeps the buffers the input and output closures
            // address valid while the persistent request exists.
            let id = unsafe {
                api::coll_init_on(c, span, CollIn::Func(input), out.map(CollOut::func), |r, n| make(r, n, data))
            }?;
            // SAFETY: checked non-null.
            unsafe { *req = new_request(Req::Rt { id, persistent: true, stage: None }) };
            Ok(())
        }
    }
}

/// An intracommunicator root, checked.
pub fn intra_root(root: c_int, size: usize) -> AbiResult<usize> {
    if root < 0 || root as usize >= size {
        return fail(class::ROOT, format!("invalid root {root} (communicator of size {size})"));
    }
    Ok(root as usize)
}

/// This process's part in a rooted intercommunicator collective.
pub fn inter_role(root: c_int, sides: &Sides) -> AbiResult<rmpi_runtime::inter::Role> {
    use rmpi_runtime::inter::Role;
    match root {
        MPI_ROOT => Ok(Role::Root),
        MPI_PROC_NULL => Ok(Role::Idle),
        r if r >= 0 && (r as usize) < sides.remote_size() => Ok(Role::Remote(r as usize)),
        r => fail(class::ROOT, format!("invalid root {r} (remote group of size {})", sides.remote_size())),
    }
}
