//! Reduction operators on the primitive element types.
//!
//! Each predefined (op, type) pair becomes a [`ReduceOp`] the collective
//! schedules apply to byte buffers; user functions wrap the same way.

use std::sync::Arc;

use rmpi_collectives::ReduceOp;

use crate::error::{err, ErrorClass, MpiResult};

/// Primitive element types reductions work on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prim {
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
    /// C `bool` / `MPI_C_BOOL` (one byte, 0 or 1).
    Bool,
}

impl Prim {
    /// Size in bytes.
    pub fn size(self) -> usize {
        match self {
            Prim::I8 | Prim::U8 | Prim::Bool => 1,
            Prim::I16 | Prim::U16 => 2,
            Prim::I32 | Prim::U32 | Prim::F32 => 4,
            Prim::I64 | Prim::U64 | Prim::F64 => 8,
        }
    }
    fn is_float(self) -> bool {
        matches!(self, Prim::F32 | Prim::F64)
    }
}

/// The predefined reduction operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PredefOp {
    Sum,
    Prod,
    Max,
    Min,
    Land,
    Lor,
    Lxor,
    Band,
    Bor,
    Bxor,
}

/// A predefined operator bound to an element type.
struct Predef {
    elem: usize,
    f: fn(&[u8], &mut [u8]),
}

impl ReduceOp for Predef {
    fn apply(&self, input: &[u8], inout: &mut [u8]) {
        (self.f)(input, inout)
    }
    fn commutative(&self) -> bool {
        true
    }
    fn elem_size(&self) -> usize {
        self.elem
    }
}

/// Apply `f(in, inout)` element-wise over byte buffers of `T` (native byte
/// order: messages carry memory images).
fn zip<T: Copy, const N: usize>(
    input: &[u8],
    inout: &mut [u8],
    from: fn([u8; N]) -> T,
    to: fn(T) -> [u8; N],
    f: fn(T, T) -> T,
) {
    for (a, b) in input.chunks_exact(N).zip(inout.chunks_exact_mut(N)) {
        let x = from(a.try_into().expect("chunk of N"));
        let y = from((&*b).try_into().expect("chunk of N"));
        b.copy_from_slice(&to(f(x, y)));
    }
}

macro_rules! int_op {
    ($t:ty, $op:expr) => {{
        fn run(i: &[u8], io: &mut [u8]) {
            zip::<$t, { std::mem::size_of::<$t>() }>(i, io, <$t>::from_ne_bytes, <$t>::to_ne_bytes, $op)
        }
        run as fn(&[u8], &mut [u8])
    }};
}

macro_rules! per_int {
    ($prim:expr, $op:expr) => {
        match $prim {
            Prim::I8 => int_op!(i8, $op),
            Prim::I16 => int_op!(i16, $op),
            Prim::I32 => int_op!(i32, $op),
            Prim::I64 => int_op!(i64, $op),
            Prim::U8 | Prim::Bool => int_op!(u8, $op),
            Prim::U16 => int_op!(u16, $op),
            Prim::U32 => int_op!(u32, $op),
            Prim::U64 => int_op!(u64, $op),
            Prim::F32 | Prim::F64 => unreachable!("float handled by caller"),
        }
    };
}

macro_rules! per_num {
    ($prim:expr, $op:expr) => {
        match $prim {
            Prim::F32 => int_op!(f32, $op),
            Prim::F64 => int_op!(f64, $op),
            p => per_int!(p, $op),
        }
    };
}

/// The reduction for a predefined operator on a primitive type, or
/// `MPI_ERR_OP` when the standard does not define that pair.
pub fn predefined(op: PredefOp, prim: Prim) -> MpiResult<Arc<dyn ReduceOp>> {
    let logical = prim != Prim::F32 && prim != Prim::F64;
    let f: fn(&[u8], &mut [u8]) = match op {
        PredefOp::Sum => per_num!(prim, |a, b| a.wrapping_add_compat(b)),
        PredefOp::Prod => per_num!(prim, |a, b| a.wrapping_mul_compat(b)),
        PredefOp::Max => per_num!(prim, |a, b| if a > b { a } else { b }),
        PredefOp::Min => per_num!(prim, |a, b| if a < b { a } else { b }),
        PredefOp::Land | PredefOp::Lor | PredefOp::Lxor if !logical => {
            return err(ErrorClass::Op, format!("{op:?} is not defined for {prim:?}"))
        }
        PredefOp::Band | PredefOp::Bor | PredefOp::Bxor if prim.is_float() => {
            return err(ErrorClass::Op, format!("{op:?} is not defined for {prim:?}"))
        }
        PredefOp::Land => per_int!(prim, |a, b| ((a != 0) && (b != 0)) as _),
        PredefOp::Lor => per_int!(prim, |a, b| ((a != 0) || (b != 0)) as _),
        PredefOp::Lxor => per_int!(prim, |a, b| ((a != 0) != (b != 0)) as _),
        PredefOp::Band => per_int!(prim, |a, b| a & b),
        PredefOp::Bor => per_int!(prim, |a, b| a | b),
        PredefOp::Bxor => per_int!(prim, |a, b| a ^ b),
    };
    Ok(Arc::new(Predef { elem: prim.size(), f }))
}

/// Wrapping arithmetic for integers, plain arithmetic for floats.
trait Arith: Copy {
    fn wrapping_add_compat(self, o: Self) -> Self;
    fn wrapping_mul_compat(self, o: Self) -> Self;
}
macro_rules! arith_int {
    ($($t:ty),*) => {$(impl Arith for $t {
        fn wrapping_add_compat(self, o: Self) -> Self { self.wrapping_add(o) }
        fn wrapping_mul_compat(self, o: Self) -> Self { self.wrapping_mul(o) }
    })*};
}
arith_int!(i8, i16, i32, i64, u8, u16, u32, u64);
impl Arith for f32 {
    fn wrapping_add_compat(self, o: Self) -> Self {
        self + o
    }
    fn wrapping_mul_compat(self, o: Self) -> Self {
        self * o
    }
}
impl Arith for f64 {
    fn wrapping_add_compat(self, o: Self) -> Self {
        self + o
    }
    fn wrapping_mul_compat(self, o: Self) -> Self {
        self * o
    }
}

/// A user-defined reduction: `f(input, inout)` over whole elements.
pub struct UserOp {
    pub f: Box<dyn Fn(&[u8], &mut [u8]) + Send + Sync>,
    pub commute: bool,
    pub elem_size: usize,
}

impl ReduceOp for UserOp {
    fn apply(&self, input: &[u8], inout: &mut [u8]) {
        (self.f)(input, inout)
    }
    fn commutative(&self) -> bool {
        self.commute
    }
    fn elem_size(&self) -> usize {
        self.elem_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_i32(v: &[i32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_ne_bytes()).collect()
    }

    #[test]
    fn sum_max_and_bitwise_on_i32() {
        let a = bytes_i32(&[1, -5, 6]);
        let mut b = bytes_i32(&[2, 3, 3]);
        predefined(PredefOp::Sum, Prim::I32).unwrap().apply(&a, &mut b);
        assert_eq!(b, bytes_i32(&[3, -2, 9]));
        let mut c = bytes_i32(&[2, 3, 3]);
        predefined(PredefOp::Max, Prim::I32).unwrap().apply(&a, &mut c);
        assert_eq!(c, bytes_i32(&[2, 3, 6]));
        let mut d = bytes_i32(&[3, 3, 3]);
        predefined(PredefOp::Band, Prim::I32).unwrap().apply(&a, &mut d);
        assert_eq!(d, bytes_i32(&[1, 3, 2]));
    }

    #[test]
    fn float_sum_and_logical_ops_rejected_on_floats() {
        let a: Vec<u8> = [1.5f64, 2.0].iter().flat_map(|x| x.to_ne_bytes()).collect();
        let mut b: Vec<u8> = [0.25f64, -1.0].iter().flat_map(|x| x.to_ne_bytes()).collect();
        predefined(PredefOp::Sum, Prim::F64).unwrap().apply(&a, &mut b);
        let out: Vec<f64> = b.chunks_exact(8).map(|c| f64::from_ne_bytes(c.try_into().unwrap())).collect();
        assert_eq!(out, vec![1.75, 1.0]);
        assert_eq!(predefined(PredefOp::Land, Prim::F64).err().map(|e| e.class), Some(ErrorClass::Op));
        assert_eq!(predefined(PredefOp::Bxor, Prim::F32).err().map(|e| e.class), Some(ErrorClass::Op));
    }

    #[test]
    fn logical_and_on_u8() {
        let a = vec![1u8, 0, 7];
        let mut b = vec![1u8, 1, 0];
        predefined(PredefOp::Land, Prim::U8).unwrap().apply(&a, &mut b);
        assert_eq!(b, vec![1, 0, 0]);
    }
}
