//! Handles: builtin ones decode from their bits, user ones index typed
//! tables. One helper per kind casts and validates a C handle, returning
//! the matching error class for a null, freed or foreign value.

use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::sync::{Arc, Mutex, MutexGuard};

use rmpi_runtime::api::Message;
use rmpi_runtime::{CommId, GroupId, RequestId};

use crate::consts::*;
use crate::datatype::TypeInfo;
use crate::errors::{fail, AbiResult};

/// A user error handler function (`MPI_Comm_errhandler_function`).
pub type ErrhandlerFn = unsafe extern "C" fn(*mut c_int, *mut c_int, ...);
/// `MPI_User_function`.
pub type UserFn = unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_int, *mut c_int);
/// `MPI_Comm_copy_attr_function`.
pub type CopyFn = unsafe extern "C" fn(c_int, c_int, *mut c_void, *mut c_void, *mut c_void, *mut c_int) -> c_int;
/// `MPI_Comm_delete_attr_function`.
pub type DeleteFn = unsafe extern "C" fn(c_int, c_int, *mut c_void, *mut c_void) -> c_int;

/// What an `MPI_Request` stands for.
#[derive(Debug, Clone)]
pub enum Req {
    /// A runtime request; `persistent` ones survive completion. `stage`
    /// keeps a packed send image alive, or unpacks a receive on completion.
    Rt { id: RequestId, persistent: bool, stage: Option<Arc<Mutex<Stage>>> },
    /// Already complete with this status (e.g. a buffered send).
    Done(rmpi_runtime::Status),
    /// A generalized request, completed by the application.
    Grequest(Arc<crate::greq::Greq>),
}

/// Data a nonblocking operation on a non-contiguous datatype holds.
pub enum Stage {
    /// A packed send image, freed with the request.
    Send(Vec<u8>),
    /// A receive image, unpacked into the user's buffer on completion.
    Recv(crate::datatype::Output),
}

impl std::fmt::Debug for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Send(_) => "Stage::Send",
            Stage::Recv(_) => "Stage::Recv",
        })
    }
}

/// A user-defined reduction.
#[derive(Debug, Clone, Copy)]
pub struct UserOpDef {
    pub f: UserFn,
    pub commute: bool,
}

/// Everything the ABI layer keeps beside the runtime.
#[derive(Default)]
pub struct State {
    pub comm_errhandler: HashMap<MpiComm, MpiErrhandler>,
    /// Attribute values of communicators, datatypes and windows (`attr.rs`).
    pub attrs: crate::attr::AttrMaps,
    pub keyvals: Vec<Option<crate::attr::Keyval>>,
    pub reqs: Vec<Option<Req>>,
    /// Free slots of `reqs` (a request is made and dropped per message).
    pub free_reqs: Vec<usize>,
    pub msgs: Vec<Option<Message>>,
    pub types: Vec<Option<TypeInfo>>,
    pub topos: HashMap<MpiComm, crate::topo::Topo>,
    pub inters: HashMap<MpiComm, crate::inter::Inter>,
    /// Persistent requests started and not yet completed.
    pub active: std::collections::HashSet<MpiRequest>,
    pub ops: Vec<Option<UserOpDef>>,
    pub errhandlers: Vec<Option<ErrhandlerFn>>,
    pub infos: Vec<Option<Vec<(String, String)>>>,
    pub user_classes: HashMap<c_int, String>,
    pub user_codes: HashMap<c_int, (c_int, String)>,
    pub next_code: c_int,
    pub empty_group: Option<GroupId>,
    pub bsend_buf: Option<(usize, c_int)>,
    pub bsend_pending: Vec<(RequestId, Vec<u8>)>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

/// The ABI state, locked. Never hold it across a runtime call that blocks
/// or a user callback.
pub fn state() -> StGuard {
    let mut g = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if g.is_none() {
        *g = Some(State { next_code: crate::errors::FIRST_USER_CODE, ..Default::default() });
    }
    StGuard(g)
}

/// Insert into a slot table, reusing freed slots; returns the index.
pub fn insert<T>(v: &mut Vec<Option<T>>, x: T) -> usize {
    match v.iter().position(|s| s.is_none()) {
        Some(i) => {
            v[i] = Some(x);
            i
        }
        None => {
            v.push(Some(x));
            v.len() - 1
        }
    }
}

/// User-handle value for `kind` and table index (direct kind, bits 30-31 = 2).
/// Indices start at 16 so MPICH's direct pair datatypes never collide.
pub fn user_handle(kind: u32, index: usize) -> c_int {
    (0x8000_0000u32 | (kind << 26) | (index as u32 + 16)) as c_int
}

/// Table index of a user handle of `kind`, if `h` is one.
pub fn user_index(kind: u32, h: c_int) -> Option<usize> {
    let u = h as u32;
    (u >> 30 == 2 && (u >> 26) & 0xf == kind && (u & 0x03ff_ffff) >= 16).then(|| (u & 0x03ff_ffff) as usize - 16)
}

/// Communicator handle → runtime id (validated by the runtime on use).
pub fn comm_id(h: MpiComm) -> AbiResult<CommId> {
    match h {
        MPI_COMM_WORLD => Ok(rmpi_runtime::COMM_WORLD),
        MPI_COMM_SELF => Ok(rmpi_runtime::COMM_SELF),
        MPI_COMM_NULL => fail(class::COMM, "null communicator (MPI_COMM_NULL)"),
        _ => match user_index(KIND_COMM, h) {
            Some(i) => {
                let id = CommId(i as u32);
                rmpi_runtime::api::comm_size(id).map_err(|_| crate::errors::AbiError {
                    code: class::COMM,
                    msg: format!("invalid communicator handle {h:#x} (freed or never created)"),
                })?;
                Ok(id)
            }
            None => fail(class::COMM, format!("invalid communicator handle {h:#x}")),
        },
    }
}

/// Runtime id → communicator handle.
pub fn comm_handle(id: CommId) -> MpiComm {
    match id {
        rmpi_runtime::COMM_WORLD => MPI_COMM_WORLD,
        rmpi_runtime::COMM_SELF => MPI_COMM_SELF,
        CommId(i) => user_handle(KIND_COMM, i as usize),
    }
}

/// Group handle → runtime id.
pub fn group_id(h: MpiGroup) -> AbiResult<GroupId> {
    if h == MPI_GROUP_EMPTY {
        let cached = st().empty_group;
        if let Some(g) = cached {
            return Ok(g);
        }
        let g = rmpi_runtime::api::comm_group(rmpi_runtime::COMM_SELF)?;
        let e = rmpi_runtime::api::group_incl(g, &[])?;
        rmpi_runtime::api::group_free(g)?;
        st().empty_group = Some(e);
        return Ok(e);
    }
    match user_index(KIND_GROUP, h) {
        Some(i) => {
            let id = GroupId(i as u32);
            rmpi_runtime::api::group_size(id).map_err(|_| crate::errors::AbiError {
                code: class::GROUP,
                msg: format!("invalid group handle {h:#x} (freed)"),
            })?;
            Ok(id)
        }
        None => fail(class::GROUP, format!("invalid group handle {h:#x}")),
    }
}

/// Runtime id → group handle.
pub fn group_handle(id: GroupId) -> MpiGroup {
    user_handle(KIND_GROUP, id.0 as usize)
}

/// Shorthand for [`state`].
pub fn st() -> StGuard {
    state()
}

/// A locked, initialized [`State`].
pub struct StGuard(MutexGuard<'static, Option<State>>);

impl std::ops::Deref for StGuard {
    type Target = State;
    fn deref(&self) -> &State {
        self.0.as_ref().expect("initialized by state()")
    }
}
impl std::ops::DerefMut for StGuard {
    fn deref_mut(&mut self) -> &mut State {
        self.0.as_mut().expect("initialized by state()")
    }
}

/// A user error handler's function, if `h` names one.
pub fn errhandler_fn(h: MpiErrhandler) -> Option<ErrhandlerFn> {
    let i = user_index(KIND_ERRHANDLER, h)?;
    st().errhandlers.get(i).copied().flatten()
}

/// Validate an error handler handle.
pub fn check_errhandler(h: MpiErrhandler) -> AbiResult<()> {
    match h {
        MPI_ERRORS_ARE_FATAL | MPI_ERRORS_RETURN | MPI_ERRORS_ABORT | MPIR_ERRORS_THROW_EXCEPTIONS => Ok(()),
        _ if errhandler_fn(h).is_some() => Ok(()),
        _ => fail(class::ARG, format!("invalid error handler {h:#x}")),
    }
}

/// Request handle → its entry.
pub fn request(h: MpiRequest) -> AbiResult<Req> {
    user_index(KIND_REQUEST, h)
        .and_then(|i| st().reqs.get(i).cloned().flatten())
        .ok_or_else(|| crate::errors::AbiError { code: class::REQUEST, msg: format!("invalid request handle {h:#x}") })
}

/// Store a new request; returns its handle.
pub fn new_request(r: Req) -> MpiRequest {
    let mut s = st();
    let i = match s.free_reqs.pop() {
        Some(i) => {
            s.reqs[i] = Some(r);
            i
        }
        None => {
            s.reqs.push(Some(r));
            s.reqs.len() - 1
        }
    };
    user_handle(KIND_REQUEST, i)
}

/// Forget a request handle.
pub fn drop_request(h: MpiRequest) {
    if let Some(i) = user_index(KIND_REQUEST, h) {
        let mut s = st();
        if let Some(slot) = s.reqs.get_mut(i) {
            if slot.take().is_some() {
                s.free_reqs.push(i);
            }
        }
    }
}
