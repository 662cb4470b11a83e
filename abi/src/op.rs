//! Reduction operators: predefined ops on predefined types (through the
//! runtime's table), MINLOC/MAXLOC on the pair types, and user functions
//! from C (`MPI_User_function`) with their commute flag.

use std::ffi::{c_int, c_void};
use std::sync::Arc;

use rmpi_runtime::ops::{PredefOp, UserOp};
use rmpi_runtime::ReduceOp;

use crate::consts::*;
use crate::datatype::{layout, prim_of, PAIRS};
use crate::errors::{fail, guard, AbiResult};
use crate::handles::{insert, st, user_handle, user_index, UserFn, UserOpDef};

const MINLOC: MpiOp = 0x5800000b;
const MAXLOC: MpiOp = 0x5800000c;

fn predef(op: MpiOp) -> Option<PredefOp> {
    Some(match op {
        0x58000001 => PredefOp::Max,
        0x58000002 => PredefOp::Min,
        0x58000003 => PredefOp::Sum,
        0x58000004 => PredefOp::Prod,
        0x58000005 => PredefOp::Land,
        0x58000006 => PredefOp::Band,
        0x58000007 => PredefOp::Lor,
        0x58000008 => PredefOp::Bor,
        0x58000009 => PredefOp::Lxor,
        0x5800000a => PredefOp::Bxor,
        _ => return None,
    })
}

/// Is `op` a valid operator handle?
pub fn check_op(op: MpiOp) -> AbiResult<()> {
    if (0x58000001..=0x5800000f).contains(&op) || user_op(op).is_some() {
        Ok(())
    } else if op == MPI_OP_NULL {
        fail(class::OP, "null operator (MPI_OP_NULL)")
    } else {
        fail(class::OP, format!("invalid operator handle {op:#x}"))
    }
}

fn user_op(op: MpiOp) -> Option<UserOpDef> {
    let i = user_index(KIND_OP, op)?;
    st().ops.get(i).copied().flatten()
}

/// Is `op` commutative?
pub fn commutative(op: MpiOp) -> AbiResult<bool> {
    check_op(op)?;
    Ok(user_op(op).map(|u| u.commute).unwrap_or(true))
}

/// The reduction `op` applies to items of `dt`.
pub fn resolve(op: MpiOp, dt: MpiDatatype) -> AbiResult<Arc<dyn ReduceOp>> {
    check_op(op)?;
    let l = layout(dt)?;
    if let Some(u) = user_op(op) {
        let f: UserFn = u.f;
        let extent = l.extent;
        return Ok(Arc::new(UserOp {
            f: Box::new(move |input: &[u8], inout: &mut [u8]| {
                let mut len = (input.len() / extent.max(1)) as c_int;
                let mut d = dt;
                // SAFETY: both buffers hold `len` items of `dt`; the user function only reads
                // `input` (MPI's contract) and writes `inout`.
                unsafe { f(input.as_ptr() as *mut c_void, inout.as_mut_ptr().cast(), &mut len, &mut d) }
            }),
            commute: u.commute,
            elem_size: l.extent,
        }));
    }
    if op == MINLOC || op == MAXLOC {
        return pair_op(op == MINLOC, l.elem, l.extent / l.elems.max(1));
    }
    if op == 0x5800000d || op == 0x5800000e {
        let replace = op == 0x5800000d;
        return Ok(Arc::new(UserOp {
            f: Box::new(move |i: &[u8], io: &mut [u8]| {
                if replace {
                    io.copy_from_slice(i)
                }
            }),
            commute: false,
            elem_size: l.extent,
        }));
    }
    let p = predef(op).ok_or_else(|| crate::errors::AbiError {
        code: class::OP,
        msg: format!("operator {op:#x} is not supported"),
    })?;
    let prim = prim_of(l.elem).ok_or_else(|| crate::errors::AbiError {
        code: class::OP,
        msg: format!("{p:?} is not defined for datatype {dt:#x}"),
    })?;
    let byte = l.elem == 0x4c00010d;
    if byte && !matches!(p, PredefOp::Band | PredefOp::Bor | PredefOp::Bxor) {
        return fail(class::OP, format!("{p:?} is not defined for MPI_BYTE"));
    }
    Ok(rmpi_runtime::api::predefined_op(p, prim)?)
}

/// MINLOC / MAXLOC over a pair type (value then int index).
fn pair_op(min: bool, elem: MpiDatatype, stride: usize) -> AbiResult<Arc<dyn ReduceOp>> {
    let val: fn(&[u8]) -> f64 = match elem as u32 {
        0x8c000000 => |b| f32::from_ne_bytes(b[..4].try_into().expect("4")) as f64,
        0x8c000001 => |b| f64::from_ne_bytes(b[..8].try_into().expect("8")),
        0x8c000002 => |b| i64::from_ne_bytes(b[..8].try_into().expect("8")) as f64,
        0x8c000003 => |b| i16::from_ne_bytes(b[..2].try_into().expect("2")) as f64,
        0x4c000816 => |b| i32::from_ne_bytes(b[..4].try_into().expect("4")) as f64,
        _ => return fail(class::OP, format!("MINLOC/MAXLOC need a pair type, not {elem:#x}")),
    };
    let idx_off = match elem as u32 {
        0x8c000000 | 0x4c000816 => 4,
        0x8c000003 => 4,
        _ => 8,
    };
    let _ = PAIRS;
    Ok(Arc::new(UserOp {
        f: Box::new(move |input: &[u8], inout: &mut [u8]| {
            for (a, b) in input.chunks_exact(stride).zip(inout.chunks_exact_mut(stride)) {
                let (va, vb) = (val(a), val(b));
                let ia = i32::from_ne_bytes(a[idx_off..idx_off + 4].try_into().expect("4"));
                let ib = i32::from_ne_bytes(b[idx_off..idx_off + 4].try_into().expect("4"));
                let take_a = if va == vb {
                    ia < ib
                } else if min {
                    va < vb
                } else {
                    va > vb
                };
                if take_a {
                    b.copy_from_slice(a);
                } else if va == vb {
                    b[idx_off..idx_off + 4].copy_from_slice(&ia.min(ib).to_ne_bytes());
                }
            }
        }),
        commute: true,
        elem_size: stride,
    }))
}

export! { fn MPI_Op_create / PMPI_Op_create(f: Option<UserFn>, commute: c_int, op: *mut MpiOp) -> c_int {
    guard("MPI_Op_create", MPI_COMM_WORLD, || {
        let Some(f) = f else { return fail(class::ARG, "null user function") };
        if op.is_null() {
            return fail(class::ARG, "null output argument");
        }
        let i = insert(&mut st().ops, UserOpDef { f, commute: commute != 0 });
        // SAFETY: checked non-null.
        unsafe { *op = user_handle(KIND_OP, i) };
        Ok(())
    })
}}
export! { fn MPI_Op_free / PMPI_Op_free(op: *mut MpiOp) -> c_int {
    guard("MPI_Op_free", MPI_COMM_WORLD, || {
        if op.is_null() {
            return fail(class::ARG, "null op pointer");
        }
        // SAFETY: checked non-null.
        let h = unsafe { *op };
        check_op(h)?;
        let Some(i) = user_index(KIND_OP, h) else { return fail(class::OP, "cannot free a predefined operator") };
        st().ops[i] = None;
        // SAFETY: checked non-null.
        unsafe { *op = MPI_OP_NULL };
        Ok(())
    })
}}
export! { fn MPI_Op_commutative / PMPI_Op_commutative(op: MpiOp, flag: *mut c_int) -> c_int {
    guard("MPI_Op_commutative", MPI_COMM_WORLD, || {
        let c = commutative(op)?;
        if flag.is_null() {
            return fail(class::ARG, "null output argument");
        }
        // SAFETY: checked non-null.
        unsafe { *flag = c as c_int };
        Ok(())
    })
}}
export! { fn MPI_Reduce_local / PMPI_Reduce_local(inbuf: *const c_void, inout: *mut c_void, count: c_int, dt: MpiDatatype, op: MpiOp) -> c_int {
    guard("MPI_Reduce_local", MPI_COMM_WORLD, || {
        let (n, _) = crate::datatype::span(count, dt)?;
        let r = resolve(op, dt)?;
        if n == 0 {
            return Ok(());
        }
        if inbuf.is_null() || inout.is_null() {
            return fail(class::BUFFER, "null buffer");
        }
        // SAFETY: MPI gives `count` items of `dt` at each buffer; they do not overlap.
        let (a, b) = unsafe { (std::slice::from_raw_parts(inbuf.cast::<u8>(), n), std::slice::from_raw_parts_mut(inout.cast::<u8>(), n)) };
        r.apply(a, b);
        Ok(())
    })
}}
