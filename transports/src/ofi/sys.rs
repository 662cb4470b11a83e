//! The C ABI of libfabric 1.x, as far as rmpi uses it: structure layouts,
//! constants, and the operation tables behind the header's inline calls.
//!
//! Written from the facts in `/usr/include/rdma/*.h` of libfabric 1.17
//! (field order and types decide the layout; every struct is `repr(C)`).
//! Many libfabric calls (`fi_domain`, `fi_endpoint`, `fi_send`,
//! `fi_cq_read`, `fi_close`...) are static inline functions there that call
//! through the `ops` tables of the objects; `api.rs` does the same
//! through these tables. Entries rmpi never calls are typed [`Unused`]
//! (still one pointer wide, so later entries keep their offsets).
//! `tests/ofi_abi.rs` compiles a C program against the real headers and
//! compares every size and offset listed in [`LAYOUT`] with these.
//!
//! Structures that libfabric allocates (`fi_info` and its attributes) are
//! only read and written field by field through pointers it returned; rmpi
//! never allocates one, so a newer library appending fields is harmless.
#![allow(non_camel_case_types, dead_code)]

use std::ffi::{c_char, c_int, c_void};

pub type fi_addr_t = u64;
pub type ssize_t = isize;

/// A function-table entry rmpi does not call.
pub type Unused = Option<unsafe extern "C" fn()>;

pub const fn fi_version(major: u32, minor: u32) -> u32 {
    (major << 16) | minor
}

// Capabilities and operation flags (fabric.h).
pub const FI_MSG: u64 = 1 << 1;
pub const FI_RMA: u64 = 1 << 2;
pub const FI_TAGGED: u64 = 1 << 3;
pub const FI_READ: u64 = 1 << 8;
pub const FI_WRITE: u64 = 1 << 9;
pub const FI_RECV: u64 = 1 << 10;
pub const FI_SEND: u64 = 1 << 11;
pub const FI_TRANSMIT: u64 = FI_SEND;
pub const FI_REMOTE_READ: u64 = 1 << 12;
pub const FI_REMOTE_WRITE: u64 = 1 << 13;
pub const FI_LOCAL_COMM: u64 = 1 << 51;
pub const FI_REMOTE_COMM: u64 = 1 << 52;

// Mode bits.
pub const FI_CONTEXT: u64 = 1 << 59;
pub const FI_CONTEXT2: u64 = 1 << 52;
pub const FI_MSG_PREFIX: u64 = 1 << 58;
pub const FI_LOCAL_MR: u64 = 1 << 55;
pub const FI_RX_CQ_DATA: u64 = 1 << 56;
pub const FI_ASYNC_IOV: u64 = 1 << 57;

// Memory registration modes (domain_attr.mr_mode).
pub const FI_MR_BASIC: c_int = 1;
pub const FI_MR_SCALABLE: c_int = 2;
pub const FI_MR_LOCAL: c_int = 1 << 2;
pub const FI_MR_RAW: c_int = 1 << 3;
pub const FI_MR_VIRT_ADDR: c_int = 1 << 4;
pub const FI_MR_ALLOCATED: c_int = 1 << 5;
pub const FI_MR_PROV_KEY: c_int = 1 << 6;
pub const FI_MR_MMU_NOTIFY: c_int = 1 << 7;
pub const FI_MR_RMA_EVENT: c_int = 1 << 8;
pub const FI_MR_ENDPOINT: c_int = 1 << 9;
pub const FI_MR_HMEM: c_int = 1 << 10;

// Message ordering.
pub const FI_ORDER_SAS: u64 = 1 << 8;

// enum fi_ep_type
pub const FI_EP_RDM: c_int = 3;
// enum fi_av_type
pub const FI_AV_UNSPEC: c_int = 0;
pub const FI_AV_MAP: c_int = 1;
pub const FI_AV_TABLE: c_int = 2;
// enum fi_threading
pub const FI_THREAD_DOMAIN: c_int = 3;
// enum fi_progress
pub const FI_PROGRESS_AUTO: c_int = 1;
pub const FI_PROGRESS_MANUAL: c_int = 2;
// enum fi_resource_mgmt
pub const FI_RM_ENABLED: c_int = 2;
// enum fi_wait_obj
pub const FI_WAIT_NONE: c_int = 0;
pub const FI_WAIT_UNSPEC: c_int = 1;
pub const FI_WAIT_FD: c_int = 3;
// enum fi_cq_format
pub const FI_CQ_FORMAT_MSG: c_int = 2;
// fi_control commands
pub const FI_GETWAIT: c_int = 5;
pub const FI_ENABLE: c_int = 6;

// Errors (fi_errno.h: errno values, plus libfabric's own from 256).
pub const FI_SUCCESS: c_int = 0;
pub const FI_EAGAIN: c_int = libc::EAGAIN;
pub const FI_ENODATA: c_int = libc::ENODATA;
pub const FI_ENOSYS: c_int = libc::ENOSYS;
pub const FI_EAVAIL: c_int = 259;
pub const FI_ETRUNC: c_int = 265;

pub const FI_ADDR_UNSPEC: fi_addr_t = u64::MAX;
pub const FI_ADDR_NOTAVAIL: fi_addr_t = u64::MAX;

/// Space the provider may use in each operation's context under
/// `FI_CONTEXT2` mode (`struct fi_context2`: eight pointers).
pub type fi_context2 = [*mut c_void; 8];

#[repr(C)]
pub struct fi_tx_attr {
    pub caps: u64,
    pub mode: u64,
    pub op_flags: u64,
    pub msg_order: u64,
    pub comp_order: u64,
    pub inject_size: usize,
    pub size: usize,
    pub iov_limit: usize,
    pub rma_iov_limit: usize,
    pub tclass: u32,
}

#[repr(C)]
pub struct fi_rx_attr {
    pub caps: u64,
    pub mode: u64,
    pub op_flags: u64,
    pub msg_order: u64,
    pub comp_order: u64,
    pub total_buffered_recv: usize,
    pub size: usize,
    pub iov_limit: usize,
}

#[repr(C)]
pub struct fi_ep_attr {
    pub type_: c_int,
    pub protocol: u32,
    pub protocol_version: u32,
    pub max_msg_size: usize,
    pub msg_prefix_size: usize,
    pub max_order_raw_size: usize,
    pub max_order_war_size: usize,
    pub max_order_waw_size: usize,
    pub mem_tag_format: u64,
    pub tx_ctx_cnt: usize,
    pub rx_ctx_cnt: usize,
    pub auth_key_size: usize,
    pub auth_key: *mut u8,
}

#[repr(C)]
pub struct fi_domain_attr {
    pub domain: *mut fid_domain,
    pub name: *mut c_char,
    pub threading: c_int,
    pub control_progress: c_int,
    pub data_progress: c_int,
    pub resource_mgmt: c_int,
    pub av_type: c_int,
    pub mr_mode: c_int,
    pub mr_key_size: usize,
    pub cq_data_size: usize,
    pub cq_cnt: usize,
    pub ep_cnt: usize,
    pub tx_ctx_cnt: usize,
    pub rx_ctx_cnt: usize,
    pub max_ep_tx_ctx: usize,
    pub max_ep_rx_ctx: usize,
    pub max_ep_stx_ctx: usize,
    pub max_ep_srx_ctx: usize,
    pub cntr_cnt: usize,
    pub mr_iov_limit: usize,
    pub caps: u64,
    pub mode: u64,
    pub auth_key: *mut u8,
    pub auth_key_size: usize,
    pub max_err_data: usize,
    pub mr_cnt: usize,
    pub tclass: u32,
}

#[repr(C)]
pub struct fi_fabric_attr {
    pub fabric: *mut fid_fabric,
    pub name: *mut c_char,
    pub prov_name: *mut c_char,
    pub prov_version: u32,
    pub api_version: u32,
}

#[repr(C)]
pub struct fi_info {
    pub next: *mut fi_info,
    pub caps: u64,
    pub mode: u64,
    pub addr_format: u32,
    pub src_addrlen: usize,
    pub dest_addrlen: usize,
    pub src_addr: *mut c_void,
    pub dest_addr: *mut c_void,
    pub handle: *mut fid,
    pub tx_attr: *mut fi_tx_attr,
    pub rx_attr: *mut fi_rx_attr,
    pub ep_attr: *mut fi_ep_attr,
    pub domain_attr: *mut fi_domain_attr,
    pub fabric_attr: *mut fi_fabric_attr,
    pub nic: *mut c_void,
}

#[repr(C)]
pub struct fi_ops {
    pub size: usize,
    pub close: Option<unsafe extern "C" fn(fid: *mut fid) -> c_int>,
    pub bind: Option<unsafe extern "C" fn(fid: *mut fid, bfid: *mut fid, flags: u64) -> c_int>,
    pub control: Option<unsafe extern "C" fn(fid: *mut fid, command: c_int, arg: *mut c_void) -> c_int>,
    pub ops_open: Unused,
    pub tostr: Unused,
    pub ops_set: Unused,
}

/// The head of every libfabric object.
#[repr(C)]
pub struct fid {
    pub fclass: usize,
    pub context: *mut c_void,
    pub ops: *mut fi_ops,
}

#[repr(C)]
pub struct fi_ops_fabric {
    pub size: usize,
    pub domain: Option<
        unsafe extern "C" fn(
            fabric: *mut fid_fabric,
            info: *mut fi_info,
            dom: *mut *mut fid_domain,
            context: *mut c_void,
        ) -> c_int,
    >,
    pub passive_ep: Unused,
    pub eq_open: Unused,
    pub wait_open: Unused,
    pub trywait: Option<unsafe extern "C" fn(fabric: *mut fid_fabric, fids: *mut *mut fid, count: c_int) -> c_int>,
    pub domain2: Unused,
}

#[repr(C)]
pub struct fid_fabric {
    pub fid: fid,
    pub ops: *mut fi_ops_fabric,
    pub api_version: u32,
}

#[repr(C)]
pub struct fi_av_attr {
    pub type_: c_int,
    pub rx_ctx_bits: c_int,
    pub count: usize,
    pub ep_per_node: usize,
    pub name: *const c_char,
    pub map_addr: *mut c_void,
    pub flags: u64,
}

#[repr(C)]
pub struct fi_ops_av {
    pub size: usize,
    pub insert: Option<
        unsafe extern "C" fn(
            av: *mut fid_av,
            addr: *const c_void,
            count: usize,
            fi_addr: *mut fi_addr_t,
            flags: u64,
            context: *mut c_void,
        ) -> c_int,
    >,
    pub insertsvc: Unused,
    pub insertsym: Unused,
    pub remove: Unused,
    pub lookup: Unused,
    pub straddr: Unused,
    pub av_set: Unused,
}

#[repr(C)]
pub struct fid_av {
    pub fid: fid,
    pub ops: *mut fi_ops_av,
}

#[repr(C)]
pub struct fid_mr {
    pub fid: fid,
    pub mem_desc: *mut c_void,
    pub key: u64,
}

#[repr(C)]
pub struct fi_cq_attr {
    pub size: usize,
    pub flags: u64,
    pub format: c_int,
    pub wait_obj: c_int,
    pub signaling_vector: c_int,
    pub wait_cond: c_int,
    pub wait_set: *mut c_void,
}

#[repr(C)]
pub struct fi_cq_msg_entry {
    pub op_context: *mut c_void,
    pub flags: u64,
    pub len: usize,
}

#[repr(C)]
pub struct fi_cq_err_entry {
    pub op_context: *mut c_void,
    pub flags: u64,
    pub len: usize,
    pub buf: *mut c_void,
    pub data: u64,
    pub tag: u64,
    pub olen: usize,
    pub err: c_int,
    pub prov_errno: c_int,
    pub err_data: *mut c_void,
    pub err_data_size: usize,
}

#[repr(C)]
pub struct fi_ops_cq {
    pub size: usize,
    pub read: Option<unsafe extern "C" fn(cq: *mut fid_cq, buf: *mut c_void, count: usize) -> ssize_t>,
    pub readfrom: Unused,
    pub readerr: Option<unsafe extern "C" fn(cq: *mut fid_cq, buf: *mut fi_cq_err_entry, flags: u64) -> ssize_t>,
    pub sread: Unused,
    pub sreadfrom: Unused,
    pub signal: Unused,
    pub strerror: Option<
        unsafe extern "C" fn(
            cq: *mut fid_cq,
            prov_errno: c_int,
            err_data: *const c_void,
            buf: *mut c_char,
            len: usize,
        ) -> *const c_char,
    >,
}

#[repr(C)]
pub struct fid_cq {
    pub fid: fid,
    pub ops: *mut fi_ops_cq,
}

#[repr(C)]
pub struct fi_ops_domain {
    pub size: usize,
    pub av_open: Option<
        unsafe extern "C" fn(
            domain: *mut fid_domain,
            attr: *mut fi_av_attr,
            av: *mut *mut fid_av,
            context: *mut c_void,
        ) -> c_int,
    >,
    pub cq_open: Option<
        unsafe extern "C" fn(
            domain: *mut fid_domain,
            attr: *mut fi_cq_attr,
            cq: *mut *mut fid_cq,
            context: *mut c_void,
        ) -> c_int,
    >,
    pub endpoint: Option<
        unsafe extern "C" fn(
            domain: *mut fid_domain,
            info: *mut fi_info,
            ep: *mut *mut fid_ep,
            context: *mut c_void,
        ) -> c_int,
    >,
    pub scalable_ep: Unused,
    pub cntr_open: Unused,
    pub poll_open: Unused,
    pub stx_ctx: Unused,
    pub srx_ctx: Unused,
    pub query_atomic: Unused,
    pub query_collective: Unused,
    pub endpoint2: Unused,
}

#[repr(C)]
pub struct fi_ops_mr {
    pub size: usize,
    pub reg: Option<
        unsafe extern "C" fn(
            fid: *mut fid,
            buf: *const c_void,
            len: usize,
            access: u64,
            offset: u64,
            requested_key: u64,
            flags: u64,
            mr: *mut *mut fid_mr,
            context: *mut c_void,
        ) -> c_int,
    >,
    pub regv: Unused,
    pub regattr: Unused,
}

#[repr(C)]
pub struct fid_domain {
    pub fid: fid,
    pub ops: *mut fi_ops_domain,
    pub mr: *mut fi_ops_mr,
}

#[repr(C)]
pub struct fi_ops_ep {
    pub size: usize,
    pub cancel: Unused,
    pub getopt: Unused,
    pub setopt: Unused,
    pub tx_ctx: Unused,
    pub rx_ctx: Unused,
    pub rx_size_left: Unused,
    pub tx_size_left: Unused,
}

#[repr(C)]
pub struct fi_ops_cm {
    pub size: usize,
    pub setname: Unused,
    pub getname: Option<unsafe extern "C" fn(fid: *mut fid, addr: *mut c_void, addrlen: *mut usize) -> c_int>,
    pub getpeer: Unused,
    pub connect: Unused,
    pub listen: Unused,
    pub accept: Unused,
    pub reject: Unused,
    pub shutdown: Unused,
    pub join: Unused,
}

#[repr(C)]
pub struct fi_ops_msg {
    pub size: usize,
    pub recv: Option<
        unsafe extern "C" fn(
            ep: *mut fid_ep,
            buf: *mut c_void,
            len: usize,
            desc: *mut c_void,
            src_addr: fi_addr_t,
            context: *mut c_void,
        ) -> ssize_t,
    >,
    pub recvv: Unused,
    pub recvmsg: Unused,
    pub send: Option<
        unsafe extern "C" fn(
            ep: *mut fid_ep,
            buf: *const c_void,
            len: usize,
            desc: *mut c_void,
            dest_addr: fi_addr_t,
            context: *mut c_void,
        ) -> ssize_t,
    >,
    pub sendv: Unused,
    pub sendmsg: Unused,
    pub inject:
        Option<unsafe extern "C" fn(ep: *mut fid_ep, buf: *const c_void, len: usize, dest_addr: fi_addr_t) -> ssize_t>,
    pub senddata: Unused,
    pub injectdata: Unused,
}

#[repr(C)]
pub struct fi_ops_rma {
    pub size: usize,
    pub read: Option<
        unsafe extern "C" fn(
            ep: *mut fid_ep,
            buf: *mut c_void,
            len: usize,
            desc: *mut c_void,
            src_addr: fi_addr_t,
            addr: u64,
            key: u64,
            context: *mut c_void,
        ) -> ssize_t,
    >,
    pub readv: Unused,
    pub readmsg: Unused,
    pub write: Unused,
    pub writev: Unused,
    pub writemsg: Unused,
    pub inject: Unused,
    pub writedata: Unused,
    pub injectdata: Unused,
}

/// Tagged operations (not used yet: rmpi matches messages itself; listed so
/// the layout test covers the table a tagged-offload path would call).
#[repr(C)]
pub struct fi_ops_tagged {
    pub size: usize,
    pub recv: Unused,
    pub recvv: Unused,
    pub recvmsg: Unused,
    pub send: Unused,
    pub sendv: Unused,
    pub sendmsg: Unused,
    pub inject: Unused,
    pub senddata: Unused,
    pub injectdata: Unused,
}

#[repr(C)]
pub struct fid_ep {
    pub fid: fid,
    pub ops: *mut fi_ops_ep,
    pub cm: *mut fi_ops_cm,
    pub msg: *mut fi_ops_msg,
    pub rma: *mut fi_ops_rma,
    pub tagged: *mut fi_ops_tagged,
    pub atomic: *mut c_void,
    pub collective: *mut c_void,
}

/// `(C struct, C field or "" for the size, Rust value)` for every size and
/// offset the binding relies on; `tests/ofi_abi.rs` checks them against
/// the system headers with a C compiler.
pub const LAYOUT: &[(&str, &str, usize)] = {
    use std::mem::{offset_of, size_of};
    macro_rules! l {
        ($t:ident) => {
            (stringify!($t), "", size_of::<$t>())
        };
        ($t:ident, $f:ident) => {
            (stringify!($t), stringify!($f), offset_of!($t, $f))
        };
        ($t:ident, $f:ident as $c:literal) => {
            (stringify!($t), $c, offset_of!($t, $f))
        };
    }
    &[
        l!(fi_tx_attr),
        l!(fi_tx_attr, caps),
        l!(fi_tx_attr, mode),
        l!(fi_tx_attr, msg_order),
        l!(fi_tx_attr, inject_size),
        l!(fi_tx_attr, size),
        l!(fi_tx_attr, rma_iov_limit),
        l!(fi_tx_attr, tclass),
        l!(fi_rx_attr),
        l!(fi_rx_attr, mode),
        l!(fi_rx_attr, msg_order),
        l!(fi_rx_attr, size),
        l!(fi_rx_attr, iov_limit),
        l!(fi_ep_attr),
        l!(fi_ep_attr, type_ as "type"),
        l!(fi_ep_attr, protocol),
        l!(fi_ep_attr, max_msg_size),
        l!(fi_ep_attr, mem_tag_format),
        l!(fi_ep_attr, auth_key),
        l!(fi_domain_attr),
        l!(fi_domain_attr, name),
        l!(fi_domain_attr, threading),
        l!(fi_domain_attr, data_progress),
        l!(fi_domain_attr, resource_mgmt),
        l!(fi_domain_attr, av_type),
        l!(fi_domain_attr, mr_mode),
        l!(fi_domain_attr, mr_key_size),
        l!(fi_domain_attr, mr_iov_limit),
        l!(fi_domain_attr, caps),
        l!(fi_domain_attr, mode),
        l!(fi_domain_attr, max_err_data),
        l!(fi_domain_attr, mr_cnt),
        l!(fi_domain_attr, tclass),
        l!(fi_fabric_attr),
        l!(fi_fabric_attr, name),
        l!(fi_fabric_attr, prov_name),
        l!(fi_fabric_attr, prov_version),
        l!(fi_fabric_attr, api_version),
        l!(fi_info),
        l!(fi_info, caps),
        l!(fi_info, mode),
        l!(fi_info, addr_format),
        l!(fi_info, src_addrlen),
        l!(fi_info, src_addr),
        l!(fi_info, handle),
        l!(fi_info, tx_attr),
        l!(fi_info, rx_attr),
        l!(fi_info, ep_attr),
        l!(fi_info, domain_attr),
        l!(fi_info, fabric_attr),
        l!(fi_info, nic),
        l!(fi_ops),
        l!(fi_ops, close),
        l!(fi_ops, bind),
        l!(fi_ops, control),
        l!(fi_ops, ops_set),
        l!(fid),
        l!(fid, context),
        l!(fid, ops),
        l!(fi_ops_fabric),
        l!(fi_ops_fabric, domain),
        l!(fi_ops_fabric, trywait),
        l!(fi_ops_fabric, domain2),
        l!(fid_fabric),
        l!(fid_fabric, ops),
        l!(fid_fabric, api_version),
        l!(fi_av_attr),
        l!(fi_av_attr, type_ as "type"),
        l!(fi_av_attr, count),
        l!(fi_av_attr, name),
        l!(fi_av_attr, flags),
        l!(fi_ops_av),
        l!(fi_ops_av, insert),
        l!(fi_ops_av, av_set),
        l!(fid_av),
        l!(fid_av, ops),
        l!(fid_mr),
        l!(fid_mr, mem_desc),
        l!(fid_mr, key),
        l!(fi_cq_attr),
        l!(fi_cq_attr, flags),
        l!(fi_cq_attr, format),
        l!(fi_cq_attr, wait_obj),
        l!(fi_cq_attr, wait_cond),
        l!(fi_cq_attr, wait_set),
        l!(fi_cq_msg_entry),
        l!(fi_cq_msg_entry, flags),
        l!(fi_cq_msg_entry, len),
        l!(fi_cq_err_entry),
        l!(fi_cq_err_entry, len),
        l!(fi_cq_err_entry, olen),
        l!(fi_cq_err_entry, err),
        l!(fi_cq_err_entry, prov_errno),
        l!(fi_cq_err_entry, err_data),
        l!(fi_cq_err_entry, err_data_size),
        l!(fi_ops_cq),
        l!(fi_ops_cq, read),
        l!(fi_ops_cq, readerr),
        l!(fi_ops_cq, strerror),
        l!(fid_cq),
        l!(fid_cq, ops),
        l!(fi_ops_domain),
        l!(fi_ops_domain, av_open),
        l!(fi_ops_domain, cq_open),
        l!(fi_ops_domain, endpoint),
        l!(fi_ops_domain, endpoint2),
        l!(fi_ops_mr),
        l!(fi_ops_mr, reg),
        l!(fid_domain),
        l!(fid_domain, ops),
        l!(fid_domain, mr),
        l!(fi_ops_ep),
        l!(fi_ops_ep, tx_size_left),
        l!(fi_ops_cm),
        l!(fi_ops_cm, getname),
        l!(fi_ops_cm, join),
        l!(fi_ops_msg),
        l!(fi_ops_msg, recv),
        l!(fi_ops_msg, send),
        l!(fi_ops_msg, inject),
        l!(fi_ops_msg, injectdata),
        l!(fi_ops_rma),
        l!(fi_ops_rma, read),
        l!(fi_ops_rma, injectdata),
        l!(fi_ops_tagged),
        l!(fi_ops_tagged, send),
        l!(fi_ops_tagged, injectdata),
        l!(fid_ep),
        l!(fid_ep, ops),
        l!(fid_ep, cm),
        l!(fid_ep, msg),
        l!(fid_ep, rma),
        l!(fid_ep, tagged),
        l!(fid_ep, collective),
    ]
};

/// Constants the binding relies on, as `(C expression, Rust value)`.
pub const CONSTANTS: &[(&str, i128)] = &[
    ("FI_MSG", FI_MSG as i128),
    ("FI_RMA", FI_RMA as i128),
    ("FI_READ", FI_READ as i128),
    ("FI_RECV", FI_RECV as i128),
    ("FI_SEND", FI_SEND as i128),
    ("FI_REMOTE_READ", FI_REMOTE_READ as i128),
    ("FI_LOCAL_COMM", FI_LOCAL_COMM as i128),
    ("FI_REMOTE_COMM", FI_REMOTE_COMM as i128),
    ("FI_CONTEXT", FI_CONTEXT as i128),
    ("FI_CONTEXT2", FI_CONTEXT2 as i128),
    ("FI_MSG_PREFIX", FI_MSG_PREFIX as i128),
    ("FI_LOCAL_MR", FI_LOCAL_MR as i128),
    ("FI_RX_CQ_DATA", FI_RX_CQ_DATA as i128),
    ("FI_ASYNC_IOV", FI_ASYNC_IOV as i128),
    ("FI_MR_LOCAL", FI_MR_LOCAL as i128),
    ("FI_MR_VIRT_ADDR", FI_MR_VIRT_ADDR as i128),
    ("FI_MR_ALLOCATED", FI_MR_ALLOCATED as i128),
    ("FI_MR_PROV_KEY", FI_MR_PROV_KEY as i128),
    ("FI_MR_ENDPOINT", FI_MR_ENDPOINT as i128),
    ("FI_MR_HMEM", FI_MR_HMEM as i128),
    ("FI_ORDER_SAS", FI_ORDER_SAS as i128),
    ("FI_EP_RDM", FI_EP_RDM as i128),
    ("FI_AV_TABLE", FI_AV_TABLE as i128),
    ("FI_THREAD_DOMAIN", FI_THREAD_DOMAIN as i128),
    ("FI_PROGRESS_MANUAL", FI_PROGRESS_MANUAL as i128),
    ("FI_RM_ENABLED", FI_RM_ENABLED as i128),
    ("FI_WAIT_NONE", FI_WAIT_NONE as i128),
    ("FI_WAIT_FD", FI_WAIT_FD as i128),
    ("FI_CQ_FORMAT_MSG", FI_CQ_FORMAT_MSG as i128),
    ("FI_GETWAIT", FI_GETWAIT as i128),
    ("FI_ENABLE", FI_ENABLE as i128),
    ("FI_EAGAIN", FI_EAGAIN as i128),
    ("FI_EAVAIL", FI_EAVAIL as i128),
    ("FI_ETRUNC", FI_ETRUNC as i128),
    ("sizeof(struct fi_context2)", std::mem::size_of::<fi_context2>() as i128),
];
