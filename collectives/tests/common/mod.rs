//! Reduction operators and sequential references shared by the integration tests.

#![allow(dead_code)]

use std::sync::Arc;

use rmpi_collectives::ReduceOp;

/// An element type that can be stored little-endian in a byte buffer.
pub trait Elem: Copy + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    const SIZE: usize;
    fn read(bytes: &[u8]) -> Self;
    fn write(self, bytes: &mut [u8]);
}

macro_rules! elem_num {
    ($($t:ty),*) => {$(
        impl Elem for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn read(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().expect("element size"))
            }
            fn write(self, bytes: &mut [u8]) {
                bytes.copy_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
elem_num!(i32, i64, f64);

/// A 2x2 matrix of wrapping i64, row-major: multiplication does not commute.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Mat2(pub [i64; 4]);

impl Mat2 {
    pub fn mul(self, o: Mat2) -> Mat2 {
        let [a, b, c, d] = self.0;
        let [e, f, g, h] = o.0;
        Mat2([
            a.wrapping_mul(e).wrapping_add(b.wrapping_mul(g)),
            a.wrapping_mul(f).wrapping_add(b.wrapping_mul(h)),
            c.wrapping_mul(e).wrapping_add(d.wrapping_mul(g)),
            c.wrapping_mul(f).wrapping_add(d.wrapping_mul(h)),
        ])
    }
}

impl Elem for Mat2 {
    const SIZE: usize = 32;
    fn read(bytes: &[u8]) -> Self {
        let mut m = [0i64; 4];
        for (i, v) in m.iter_mut().enumerate() {
            *v = i64::read(&bytes[i * 8..i * 8 + 8]);
        }
        Mat2(m)
    }
    fn write(self, bytes: &mut [u8]) {
        for (i, v) in self.0.iter().enumerate() {
            v.write(&mut bytes[i * 8..i * 8 + 8]);
        }
    }
}

/// An element-wise operator `f(earlier, later)`.
pub struct Binary<T: Elem> {
    pub f: fn(T, T) -> T,
    pub commutative: bool,
}

impl<T: Elem> ReduceOp for Binary<T> {
    fn apply(&self, input: &[u8], inout: &mut [u8]) {
        assert_eq!(input.len(), inout.len());
        for (i, o) in input.chunks_exact(T::SIZE).zip(inout.chunks_exact_mut(T::SIZE)) {
            (self.f)(T::read(i), T::read(o)).write(o);
        }
    }
    fn commutative(&self) -> bool {
        self.commutative
    }
    fn elem_size(&self) -> usize {
        T::SIZE
    }
}

/// An operator and its element function, for the reference.
pub type OpAndFn<T> = (Arc<dyn ReduceOp>, fn(T, T) -> T);

pub fn op<T: Elem>(f: fn(T, T) -> T, commutative: bool) -> OpAndFn<T> {
    (Arc::new(Binary { f, commutative }), f)
}

pub fn encode<T: Elem>(v: &[T]) -> Vec<u8> {
    let mut out = vec![0; v.len() * T::SIZE];
    for (x, b) in v.iter().zip(out.chunks_exact_mut(T::SIZE)) {
        x.write(b);
    }
    out
}

pub fn decode<T: Elem>(b: &[u8]) -> Vec<T> {
    b.chunks_exact(T::SIZE).map(T::read).collect()
}

/// Sequential reference: `((x0 f x1) f x2) ...` element-wise, in rank order.
pub fn reference<T: Elem>(inputs: &[Vec<T>], f: fn(T, T) -> T) -> Vec<T> {
    let mut acc = inputs[0].clone();
    for v in &inputs[1..] {
        for (a, x) in acc.iter_mut().zip(v) {
            *a = f(*a, *x);
        }
    }
    acc
}

/// The roots to test for a communicator of `size`: all of them up to 16,
/// a sample above.
pub fn roots(size: usize) -> Vec<usize> {
    if size <= 16 {
        (0..size).collect()
    } else {
        let mut r = vec![0, 1, size / 2, size - 1, (size * 7 + 3) % size];
        r.sort_unstable();
        r.dedup();
        r
    }
}

/// Small deterministic generator for test data.
pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// In `-range..range`.
    pub fn small(&mut self, range: i64) -> i64 {
        (self.next() % (2 * range as u64)) as i64 - range
    }
}
