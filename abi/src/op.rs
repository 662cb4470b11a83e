//! Reduction operators: predefined ops on predefined types (through the
//! runtime's table), MINLOC/MAXLOC on the pair types, and user functions
//! from C (`MPI_User_function`) with their commute flag.

use std::ffi::{c_int, c_void};
use std::sync::Arc;

use rmpi_runtime::ops::{PredefOp, UserOp};
use rmpi_runtime::ReduceOp;

use crate::consts::*;
use rmpi_datatype::{Basic, PairType};

use crate::datatype::{dtype, elem_of, input, layout, prim_of, Elem, Output};
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

/// The reduction `op` applies to the wire image (packed form) of items of `dt`.
pub fn resolve(op: MpiOp, dt: MpiDatatype) -> AbiResult<Arc<dyn ReduceOp>> {
    check_op(op)?;
    let l = layout(dt)?;
    let d = dtype(dt)?;
    if let Some(u) = user_op(op) {
        let f: UserFn = u.f;
        let size = l.size.max(1);
        return Ok(Arc::new(UserOp {
            f: Box::new(move |input: &[u8], inout: &mut [u8]| {
                let mut len = (input.len() / size) as c_int;
                let mut h = dt;
                if d.is_contiguous() && d.true_lb() == 0 {
                    // SAFETY: both buffers hold `len` items of `dt`; the user function reads
                    // `input` and writes `inout` (MPI's contract).
                    unsafe { f(input.as_ptr() as *mut c_void, inout.as_mut_ptr().cast(), &mut len, &mut h) };
                    return;
                }
                // Give the function the items in their memory layout.
                let Ok(sp) = d.span(len as u64) else { return };
                let mut a = vec![0u8; sp.len() as usize];
                let mut b = vec![0u8; sp.len() as usize];
                if d.unpack(len as u64, input, &mut a, sp.lo).is_err()
                    || d.unpack(len as u64, inout, &mut b, sp.lo).is_err()
                {
                    return;
                }
                // SAFETY: a and b hold `len` items whose base address is at offset -lo.
                unsafe {
                    f(
                        a.as_mut_ptr().offset(-sp.lo as isize).cast(),
                        b.as_mut_ptr().offset(-sp.lo as isize).cast(),
                        &mut len,
                        &mut h,
                    )
                };
                let _ = d.pack(len as u64, &b, sp.lo, inout);
            }),
            commute: u.commute,
            elem_size: l.size,
        }));
    }
    let elem = elem_of(dt)?;
    if op == MINLOC || op == MAXLOC {
        return match elem {
            Some(Elem::Pair(p)) => pair_op(op == MINLOC, p),
            _ => fail(class::OP, format!("MINLOC/MAXLOC need a pair type, not {dt:#x}")),
        };
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
            elem_size: l.size,
        }));
    }
    let p = predef(op).ok_or_else(|| crate::errors::AbiError {
        code: class::OP,
        msg: format!("operator {op:#x} is not supported"),
    })?;
    let Some(Elem::Basic(b)) = elem else {
        return fail(class::OP, format!("{p:?} is not defined for datatype {dt:#x}"));
    };
    if b == Basic::LongDouble && matches!(p, PredefOp::Sum | PredefOp::Prod | PredefOp::Max | PredefOp::Min) {
        return Ok(long_double_op(p));
    }
    if matches!(b, Basic::FloatComplex | Basic::DoubleComplex) && matches!(p, PredefOp::Sum | PredefOp::Prod) {
        return Ok(complex_op(p == PredefOp::Sum, b == Basic::DoubleComplex));
    }
    if b == Basic::LongDoubleComplex && matches!(p, PredefOp::Sum | PredefOp::Prod) {
        return Ok(long_double_complex_op(p == PredefOp::Sum));
    }
    let prim = prim_of(b)
        .ok_or_else(|| crate::errors::AbiError { code: class::OP, msg: format!("{p:?} is not defined for {b:?}") })?;
    if b == Basic::Byte && !matches!(p, PredefOp::Band | PredefOp::Bor | PredefOp::Bxor) {
        return fail(class::OP, format!("{p:?} is not defined for MPI_BYTE"));
    }
    if b == Basic::Bool && !matches!(p, PredefOp::Land | PredefOp::Lor | PredefOp::Lxor) {
        return fail(class::OP, format!("{p:?} is not defined for MPI_C_BOOL"));
    }
    Ok(rmpi_runtime::api::predefined_op(p, prim)?)
}

/// x87 extended precision (the 16-byte `long double`) to f64.
fn f80_to_f64(b: &[u8]) -> f64 {
    let mant = u64::from_le_bytes(b[..8].try_into().expect("8"));
    let se = u16::from_le_bytes(b[8..10].try_into().expect("2"));
    let sign = if se & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = (se & 0x7fff) as i32;
    if exp == 0 && mant == 0 {
        return 0.0 * sign;
    }
    if exp == 0x7fff {
        return if mant << 1 == 0 { sign * f64::INFINITY } else { f64::NAN };
    }
    // Scale in two steps so results near the subnormal range do not underflow early.
    let e = exp - 16383 - 63;
    sign * (mant as f64) * 2f64.powi(e / 2) * 2f64.powi(e - e / 2)
}

/// f64 to x87 extended precision (exact: every f64 is representable).
fn f64_to_f80(v: f64, out: &mut [u8]) {
    let mut bytes = [0u8; 16];
    let sign: u16 = if v.is_sign_negative() { 0x8000 } else { 0 };
    let (mant, exp): (u64, u16) = if v == 0.0 {
        (0, 0)
    } else if v.is_infinite() {
        (1 << 63, 0x7fff)
    } else if v.is_nan() {
        (3 << 62, 0x7fff)
    } else {
        let bits = v.abs().to_bits();
        let (e, m) = ((bits >> 52) as i32, bits & ((1 << 52) - 1));
        let (e, m) = if e == 0 {
            // subnormal: normalise
            let shift = m.leading_zeros() - 11;
            (1 - shift as i32, (m << shift) & ((1 << 52) - 1))
        } else {
            (e, m)
        };
        ((1u64 << 63) | (m << 11), (e - 1023 + 16383) as u16)
    };
    bytes[..8].copy_from_slice(&mant.to_le_bytes());
    bytes[8..10].copy_from_slice(&(sign | exp).to_le_bytes());
    out[..10].copy_from_slice(&bytes[..10]);
}

/// SUM / PROD / MAX / MIN on `long double`, computed in double precision.
fn long_double_op(p: PredefOp) -> Arc<dyn ReduceOp> {
    Arc::new(UserOp {
        f: Box::new(move |input: &[u8], inout: &mut [u8]| {
            for (a, b) in input.chunks_exact(16).zip(inout.chunks_exact_mut(16)) {
                let (x, y) = (f80_to_f64(a), f80_to_f64(b));
                let r = match p {
                    PredefOp::Sum => x + y,
                    PredefOp::Prod => x * y,
                    PredefOp::Max => x.max(y),
                    _ => x.min(y),
                };
                f64_to_f80(r, b);
            }
        }),
        commute: true,
        elem_size: 16,
    })
}

/// SUM / PROD on `long double _Complex`, computed in double precision.
fn long_double_complex_op(sum: bool) -> Arc<dyn ReduceOp> {
    Arc::new(UserOp {
        f: Box::new(move |input: &[u8], inout: &mut [u8]| {
            for (a, b) in input.chunks_exact(32).zip(inout.chunks_exact_mut(32)) {
                let (ar, ai, br, bi) =
                    (f80_to_f64(&a[..16]), f80_to_f64(&a[16..]), f80_to_f64(&b[..16]), f80_to_f64(&b[16..]));
                let (r, i) = if sum { (ar + br, ai + bi) } else { (ar * br - ai * bi, ar * bi + ai * br) };
                f64_to_f80(r, &mut b[..16]);
                f64_to_f80(i, &mut b[16..]);
            }
        }),
        commute: true,
        elem_size: 32,
    })
}

/// SUM / PROD on single or double complex numbers.
fn complex_op(sum: bool, double: bool) -> Arc<dyn ReduceOp> {
    let w = if double { 8 } else { 4 };
    let rd = move |b: &[u8]| {
        if double {
            f64::from_ne_bytes(b[..8].try_into().expect("8"))
        } else {
            f32::from_ne_bytes(b[..4].try_into().expect("4")) as f64
        }
    };
    let wr = move |b: &mut [u8], v: f64| {
        if double {
            b[..8].copy_from_slice(&v.to_ne_bytes())
        } else {
            b[..4].copy_from_slice(&(v as f32).to_ne_bytes())
        }
    };
    Arc::new(UserOp {
        f: Box::new(move |input: &[u8], inout: &mut [u8]| {
            for (a, b) in input.chunks_exact(2 * w).zip(inout.chunks_exact_mut(2 * w)) {
                let (ar, ai, br, bi) = (rd(&a[..w]), rd(&a[w..]), rd(&b[..w]), rd(&b[w..]));
                let (r, i) = if sum { (ar + br, ai + bi) } else { (ar * br - ai * bi, ar * bi + ai * br) };
                wr(&mut b[..w], r);
                wr(&mut b[w..], i);
            }
        }),
        commute: true,
        elem_size: 2 * w,
    })
}

/// MINLOC / MAXLOC over packed pairs (value, then index).
fn pair_op(min: bool, p: PairType) -> AbiResult<Arc<dyn ReduceOp>> {
    let vb = p.value();
    let ib = p.index();
    let vs = vb.size() as usize;
    let is = ib.size() as usize;
    let num = |b: Basic, x: &[u8]| -> f64 {
        match b {
            Basic::Float => f32::from_ne_bytes(x[..4].try_into().expect("4")) as f64,
            Basic::Double => f64::from_ne_bytes(x[..8].try_into().expect("8")),
            Basic::Long => i64::from_ne_bytes(x[..8].try_into().expect("8")) as f64,
            Basic::Short => i16::from_ne_bytes(x[..2].try_into().expect("2")) as f64,
            _ => i32::from_ne_bytes(x[..4].try_into().expect("4")) as f64,
        }
    };
    if vb == Basic::LongDouble {
        return fail(class::OP, "MINLOC/MAXLOC on MPI_LONG_DOUBLE_INT is not supported yet");
    }
    let stride = vs + is;
    Ok(Arc::new(UserOp {
        f: Box::new(move |input: &[u8], inout: &mut [u8]| {
            for (a, b) in input.chunks_exact(stride).zip(inout.chunks_exact_mut(stride)) {
                let (va, vb2) = (num(vb, &a[..vs]), num(vb, &b[..vs]));
                let (ia, ib2) = (num(ib, &a[vs..]), num(ib, &b[vs..]));
                let take_a = if va == vb2 {
                    ia < ib2
                } else if min {
                    va < vb2
                } else {
                    va > vb2
                };
                if take_a {
                    b.copy_from_slice(a);
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
        let r = resolve(op, dt)?;
        // SAFETY: MPI gives `count` items of `dt` at each buffer.
        let a = unsafe { input(inbuf, count, dt) }?.into_owned();
        // SAFETY: as above.
        let mut b = unsafe { input(inout, count, dt) }?.into_owned();
        if a.is_empty() {
            return Ok(());
        }
        r.apply(&a, &mut b);
        let mut o = Output::new(inout, count, dt)?;
        // SAFETY: the output image has the packed size of the items, as `b` does.
        unsafe { o.bytes() }.copy_from_slice(&b);
        o.finish(b.len())
    })
}}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_double_conversion_round_trips_and_matches_the_x87_layout() {
        let mut b = [0u8; 16];
        f64_to_f80(1.0, &mut b);
        assert_eq!(u64::from_le_bytes(b[..8].try_into().unwrap()), 1 << 63);
        assert_eq!(u16::from_le_bytes(b[8..10].try_into().unwrap()), 0x3fff);
        for v in [0.0, -2.5, 3.0e300, 1.0e-310, 12345.678, f64::INFINITY] {
            f64_to_f80(v, &mut b);
            assert_eq!(f80_to_f64(&b), v);
        }
    }

    #[test]
    fn minloc_on_packed_double_int_takes_the_lower_index_on_ties() {
        let op = pair_op(true, PairType::DoubleInt).unwrap();
        let pack = |v: f64, i: i32| [v.to_ne_bytes().as_slice(), i.to_ne_bytes().as_slice()].concat();
        let a = [pack(1.0, 3), pack(5.0, 1)].concat();
        let mut b = [pack(1.0, 2), pack(4.0, 0)].concat();
        op.apply(&a, &mut b);
        assert_eq!(b, [pack(1.0, 2), pack(4.0, 0)].concat());
    }
}
