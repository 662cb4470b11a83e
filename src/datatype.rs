//! Types that travel as bytes: the [`Equivalence`] trait and message buffers.
//!
//! rmpi moves a message as the bytes of its elements. A type may do that
//! when it is plain old data: `Copy`, no padding (so every byte is
//! initialized), no pointers, and the same layout in every process of the
//! job (`#[repr(C)]`). [`Equivalence`] marks such types. It is implemented
//! for the integer types, `f32`, `f64`, `bool` and arrays of those, and
//! `#[derive(Equivalence)]` implements it for `#[repr(C)]` structs whose
//! fields all implement it; the derive rejects structs with padding at
//! compile time.
//!
//! Not every byte pattern is a valid value of every type (a `bool` is 0 or
//! 1). Bytes received from another process are therefore checked before they
//! become values of such a type ([`Equivalence::ALL_BIT_PATTERNS_VALID`] and
//! [`Equivalence::is_valid_bytes`]); for the numeric types the check is free
//! and data lands directly in the user's buffer.
//!
//! [`Buffer`] and [`BufferMut`] are what the send and receive functions take:
//! a single value, a slice, an array or a `Vec` of `Equivalence` elements.
//!
//! ```
//! use rmpi::Equivalence;
//!
//! #[derive(Clone, Copy, Equivalence)]
//! #[repr(C)]
//! struct Particle {
//!     position: [f64; 3],
//!     id: u32,
//!     alive: bool,
//!     _pad: [u8; 3], // explicit, so the struct has no hidden padding
//! }
//! ```
//!
//! A struct with padding is rejected at compile time:
//!
//! ```compile_fail
//! #[derive(Clone, Copy, rmpi::Equivalence)]
//! #[repr(C)]
//! struct Padded {
//!     a: u8,
//!     b: u64, // 7 bytes of padding before this field
//! }
//! ```
//!
//! So is a struct without a fixed layout:
//!
//! ```compile_fail
//! #[derive(Clone, Copy, rmpi::Equivalence)]
//! struct NoRepr {
//!     a: u32,
//! }
//! ```

use std::mem::size_of;

pub use rmpi_runtime::ops::Prim;

/// A plain-old-data type whose values can be sent as their bytes.
///
/// # Safety
///
/// An implementor promises that:
/// * every byte of a value is initialized (the type has no padding and no
///   `MaybeUninit` parts), so viewing a value as `size_of::<Self>()` bytes
///   is sound;
/// * the type holds no pointers or references, and its layout is fixed
///   (`#[repr(C)]`, `#[repr(transparent)]` or a primitive), so the bytes mean
///   the same in every process of the job;
/// * [`is_valid_bytes`](Equivalence::is_valid_bytes) returns `true` only for
///   byte patterns that are valid values, and
///   [`ALL_BIT_PATTERNS_VALID`](Equivalence::ALL_BIT_PATTERNS_VALID) is `true`
///   only if every pattern is;
/// * [`PRIM`](Equivalence::PRIM), when `Some(p)`, means a value is a sequence
///   of `size_of::<Self>() / p.size()` elements of the primitive `p` in native
///   byte order (predefined reductions then apply element-wise).
///
/// Use `#[derive(Equivalence)]` rather than writing an implementation.
pub unsafe trait Equivalence: Copy + 'static {
    /// The primitive this type is made of, for the predefined reductions
    /// ([`crate::collective::SystemOperation`]); `None` for structs, which
    /// reduce only with user operations.
    const PRIM: Option<Prim>;

    /// Whether every byte pattern of `size_of::<Self>()` bytes is a valid
    /// value. When `false`, received bytes go through
    /// [`is_valid_bytes`](Equivalence::is_valid_bytes) first.
    const ALL_BIT_PATTERNS_VALID: bool = true;

    /// Whether `bytes` (exactly `size_of::<Self>()` of them) is a valid value.
    fn is_valid_bytes(bytes: &[u8]) -> bool {
        let _ = bytes;
        true
    }
}

macro_rules! equivalence_for {
    ($($t:ty => $p:expr),* $(,)?) => {$(
        // SAFETY: a primitive number type: no padding, no pointers, every bit
        // pattern is a valid value, and it is one element of `$p`.
        unsafe impl Equivalence for $t {
            const PRIM: Option<Prim> = Some($p);
        }
    )*};
}

equivalence_for! {
    i8 => Prim::I8, i16 => Prim::I16, i32 => Prim::I32, i64 => Prim::I64,
    u8 => Prim::U8, u16 => Prim::U16, u32 => Prim::U32, u64 => Prim::U64,
    f32 => Prim::F32, f64 => Prim::F64,
}

// SAFETY: 128-bit integers have no padding and accept every bit pattern.
// The runtime has no 128-bit primitive, so they reduce with user operators.
unsafe impl Equivalence for i128 {
    const PRIM: Option<Prim> = None;
}
// SAFETY: as for i128.
unsafe impl Equivalence for u128 {
    const PRIM: Option<Prim> = None;
}

#[cfg(target_pointer_width = "64")]
equivalence_for! { isize => Prim::I64, usize => Prim::U64 }
#[cfg(target_pointer_width = "32")]
equivalence_for! { isize => Prim::I32, usize => Prim::U32 }

// SAFETY: `bool` is one initialized byte that holds 0 or 1; other patterns
// are rejected by `is_valid_bytes`.
unsafe impl Equivalence for bool {
    const PRIM: Option<Prim> = Some(Prim::Bool);
    const ALL_BIT_PATTERNS_VALID: bool = false;
    fn is_valid_bytes(bytes: &[u8]) -> bool {
        bytes.len() == 1 && bytes[0] <= 1
    }
}

// SAFETY: an array has no padding between its elements (its size is exactly
// `N * size_of::<T>()`), so the promises of `T` carry over element-wise.
unsafe impl<T: Equivalence, const N: usize> Equivalence for [T; N] {
    const PRIM: Option<Prim> = T::PRIM;
    const ALL_BIT_PATTERNS_VALID: bool = T::ALL_BIT_PATTERNS_VALID;
    fn is_valid_bytes(bytes: &[u8]) -> bool {
        all_valid::<T>(bytes)
    }
}

/// Whether `bytes` holds only valid values of `T` (a whole number of them).
pub fn all_valid<T: Equivalence>(bytes: &[u8]) -> bool {
    let n = size_of::<T>();
    if n == 0 {
        return bytes.is_empty();
    }
    if bytes.len() % n != 0 {
        return false;
    }
    T::ALL_BIT_PATTERNS_VALID || bytes.chunks_exact(n).all(T::is_valid_bytes)
}

/// The bytes of a slice of `Equivalence` values.
pub fn as_bytes<T: Equivalence>(values: &[T]) -> &[u8] {
    // SAFETY: `Equivalence` types have no padding, so all
    // `size_of_val(values)` bytes are initialized; u8 has alignment 1, and
    // the lifetime and shared borrow carry over from `values`.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values)) }
}

/// The bytes of a mutable slice, for types where any bytes written are a
/// valid value; `None` for other types (their bytes must be checked first).
pub fn as_bytes_mut<T: Equivalence>(values: &mut [T]) -> Option<&mut [u8]> {
    if !T::ALL_BIT_PATTERNS_VALID {
        return None;
    }
    // SAFETY: as in `as_bytes`; and since every bit pattern is a valid `T`,
    // any bytes written through the view leave valid values behind.
    Some(unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(values)) })
}

/// Copy checked bytes into `values`: `bytes` must be exactly as long as
/// `values` and hold only valid values of `T`, else nothing is written and
/// `false` is returned.
pub fn copy_from_bytes<T: Equivalence>(values: &mut [T], bytes: &[u8]) -> bool {
    if bytes.len() != std::mem::size_of_val(values) || !all_valid::<T>(bytes) {
        return false;
    }
    // SAFETY: the lengths are equal, the source bytes are valid values of
    // `T` (checked above), and the destination is a live `&mut [T]` that
    // cannot overlap the shared `bytes`.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), values.as_mut_ptr().cast::<u8>(), bytes.len()) };
    true
}

/// Read one value from exactly `size_of::<T>()` bytes, if they are valid.
pub fn value_from_bytes<T: Equivalence>(bytes: &[u8]) -> Option<T> {
    if bytes.len() != size_of::<T>() || !all_valid::<T>(bytes) {
        return None;
    }
    // SAFETY: the length matches and the bytes are a valid `T` (checked
    // above); `read_unaligned` has no alignment requirement.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// Values of `T` from bytes that are a whole number of valid values.
pub fn vec_from_bytes<T: Equivalence>(bytes: &[u8]) -> Option<Vec<T>> {
    let n = size_of::<T>();
    if n == 0 || !all_valid::<T>(bytes) {
        return if bytes.is_empty() { Some(Vec::new()) } else { None };
    }
    bytes.chunks_exact(n).map(value_from_bytes::<T>).collect()
}

/// A message to send: a contiguous run of `Equivalence` elements.
///
/// Implemented for a single value of a primitive or derived type, for
/// arrays `[T; N]` (a run of `N` elements of `T`), slices and `Vec`s.
pub trait Buffer {
    /// The element type.
    type Item: Equivalence;
    /// The elements.
    fn elements(&self) -> &[Self::Item];
    /// The bytes of the elements.
    fn bytes(&self) -> &[u8] {
        as_bytes(self.elements())
    }
}

/// A place to receive a message into: a contiguous run of `Equivalence`
/// elements that is overwritten.
pub trait BufferMut {
    /// The element type.
    type Item: Equivalence;
    /// The elements.
    fn elements_mut(&mut self) -> &mut [Self::Item];
}

/// Implement [`Buffer`] and [`BufferMut`] for a single value of `Equivalence`
/// types (`#[derive(Equivalence)]` does this for structs).
#[macro_export]
macro_rules! impl_single_value_buffer {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::datatype::Buffer for $t {
            type Item = $t;
            fn elements(&self) -> &[$t] {
                ::core::slice::from_ref(self)
            }
        }
        impl $crate::datatype::BufferMut for $t {
            type Item = $t;
            fn elements_mut(&mut self) -> &mut [$t] {
                ::core::slice::from_mut(self)
            }
        }
    )*};
}

impl_single_value_buffer!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64, bool);

/// An array is a run of its elements: `[i32; 4]` is a buffer of four `i32`.
impl<T: Equivalence, const N: usize> Buffer for [T; N] {
    type Item = T;
    fn elements(&self) -> &[T] {
        self
    }
}

impl<T: Equivalence, const N: usize> BufferMut for [T; N] {
    type Item = T;
    fn elements_mut(&mut self) -> &mut [T] {
        self
    }
}

impl<T: Equivalence> Buffer for [T] {
    type Item = T;
    fn elements(&self) -> &[T] {
        self
    }
}

impl<T: Equivalence> Buffer for Vec<T> {
    type Item = T;
    fn elements(&self) -> &[T] {
        self
    }
}

impl<T: Equivalence> BufferMut for [T] {
    type Item = T;
    fn elements_mut(&mut self) -> &mut [T] {
        self
    }
}

impl<T: Equivalence> BufferMut for Vec<T> {
    type Item = T;
    fn elements_mut(&mut self) -> &mut [T] {
        self
    }
}

#[cfg(test)]
// The derive's generated constants are what these tests check.
#[allow(clippy::assertions_on_constants)]
mod tests {
    use super::*;
    use crate::Equivalence;

    #[derive(Clone, Copy, Debug, PartialEq, Equivalence)]
    #[repr(C)]
    struct Particle {
        pos: [f64; 3],
        id: u32,
        charge: i32,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Equivalence)]
    #[repr(C)]
    struct Flagged {
        value: u16,
        on: bool,
        off: bool,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Equivalence)]
    #[repr(transparent)]
    struct Meters(f32);

    #[test]
    fn scalar_and_slice_byte_views_are_native_bytes() {
        assert_eq!(as_bytes(&[1u32, 2]), [1u32.to_ne_bytes(), 2u32.to_ne_bytes()].concat().as_slice());
        assert_eq!(as_bytes(&[-1i16]), &(-1i16).to_ne_bytes());
        assert_eq!(7u64.bytes(), &7u64.to_ne_bytes());
        assert_eq!([3u8, 4].elements(), &[3, 4], "an array is a run of its elements");
        assert_eq!(vec![[1u8, 2], [3, 4]].elements().len(), 2, "a Vec of arrays is a run of arrays");
        assert_eq!(vec![1.5f64].bytes(), &1.5f64.to_ne_bytes());
        assert_eq!(as_bytes::<u8>(&[]), &[] as &[u8]);
    }

    #[test]
    fn mutable_byte_view_writes_values_for_numbers_only() {
        let mut v = [0i32; 2];
        as_bytes_mut(&mut v).unwrap()[..4].copy_from_slice(&42i32.to_ne_bytes());
        assert_eq!(v, [42, 0]);
        assert!(as_bytes_mut(&mut [false]).is_none(), "bool needs checking");
        assert!(as_bytes_mut(&mut [Flagged { value: 1, on: true, off: false }]).is_none());
    }

    #[test]
    fn bool_bytes_are_checked() {
        assert_eq!(value_from_bytes::<bool>(&[1]), Some(true));
        assert_eq!(value_from_bytes::<bool>(&[0]), Some(false));
        assert_eq!(value_from_bytes::<bool>(&[2]), None);
        let mut b = [false, false];
        assert!(!copy_from_bytes(&mut b, &[1, 7]));
        assert_eq!(b, [false, false], "nothing written on failure");
        assert!(copy_from_bytes(&mut b, &[1, 0]));
        assert_eq!(b, [true, false]);
        assert_eq!(vec_from_bytes::<[bool; 2]>(&[0, 1, 1, 1]), Some(vec![[false, true], [true, true]]));
        assert_eq!(vec_from_bytes::<[bool; 2]>(&[0, 1, 1, 3]), None);
    }

    #[test]
    fn wrong_lengths_are_rejected() {
        assert_eq!(value_from_bytes::<u32>(&[1, 2, 3]), None);
        assert_eq!(vec_from_bytes::<u32>(&[0; 6]), None);
        assert_eq!(vec_from_bytes::<u16>(&[1, 0, 2, 0]).map(|v| v.len()), Some(2));
        let mut x = [0u8; 3];
        assert!(!copy_from_bytes(&mut x, &[1, 2]));
    }

    #[test]
    fn derived_struct_round_trips_through_bytes() {
        let p = Particle { pos: [1.0, -2.5, 3.25], id: 9, charge: -3 };
        assert_eq!(p.bytes().len(), std::mem::size_of::<Particle>());
        assert_eq!(value_from_bytes::<Particle>(p.bytes()), Some(p));
        assert_eq!(Particle::PRIM, None);
        assert!(Particle::ALL_BIT_PATTERNS_VALID);
        let m = Meters(2.5);
        assert_eq!(m.bytes(), &2.5f32.to_ne_bytes());
    }

    #[test]
    fn derived_struct_with_bool_fields_checks_each_field() {
        assert!(!Flagged::ALL_BIT_PATTERNS_VALID);
        let f = Flagged { value: 0x0302, on: true, off: false };
        let mut bytes = f.bytes().to_vec();
        assert_eq!(value_from_bytes::<Flagged>(&bytes), Some(f));
        // Corrupt the `off` byte (offset 3) into a non-bool.
        bytes[3] = 5;
        assert_eq!(value_from_bytes::<Flagged>(&bytes), None);
        // The u16 field accepts anything.
        bytes[3] = 1;
        bytes[0] = 0xff;
        assert!(value_from_bytes::<Flagged>(&bytes).is_some());
    }

    #[test]
    fn arrays_take_their_element_prim() {
        assert_eq!(<[i32; 4]>::PRIM, Some(Prim::I32));
        assert_eq!(<[[f64; 2]; 3]>::PRIM, Some(Prim::F64));
        assert_eq!(<[bool; 3]>::PRIM, Some(Prim::Bool));
        assert_eq!(isize::PRIM.map(|p| p.size()), Some(std::mem::size_of::<isize>()));
    }
}
