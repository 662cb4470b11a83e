//! The user's buffers as a collective sees them: `count` items of a
//! datatype at an address, packed into the schedule's bytes when the
//! collective starts and unpacked from its result when it completes.
//! Dense types are one copy each way; others go through the datatype
//! engine. Addresses are kept as integers: MPI keeps the memory valid
//! until the operation completes (or, for persistent requests, while the
//! request exists), and the schedule never holds a pointer into it.

use std::ffi::{c_int, c_void};

use rmpi_datatype::Datatype;
use rmpi_runtime::Layout;

use crate::consts::*;
use crate::datatype::{dt_err, dtype};
use crate::errors::{fail, AbiResult};

/// `count` items of `dt` at `base`.
#[derive(Clone)]
pub struct Items {
    base: usize,
    count: u64,
    dt: Datatype,
}

impl Items {
    /// Checks the count, the datatype and the address.
    pub fn new(buf: *const c_void, count: i64, dt: MpiDatatype) -> AbiResult<Items> {
        Items::of(buf, count, dtype(dt)?)
    }

    /// As [`Items::new`] with the engine's datatype.
    pub fn of(buf: *const c_void, count: i64, dt: Datatype) -> AbiResult<Items> {
        if count < 0 {
            return fail(class::COUNT, format!("invalid count {count}"));
        }
        if count > 0 && in_place(buf) {
            return fail(class::BUFFER, "MPI_IN_PLACE where this call does not allow it");
        }
        if count > 0 && dt.size() > 0 && buf.is_null() && dt.true_lb() == 0 {
            return fail(class::BUFFER, "null buffer with a nonzero count");
        }
        Ok(Items { base: buf as usize, count: count as u64, dt })
    }

    /// The same type and count `bytes` further on (a block of a v-variant).
    pub fn shifted(&self, bytes: i64, count: i64) -> AbiResult<Items> {
        Items::of((self.base as i64).wrapping_add(bytes) as usize as *const c_void, count, self.dt.clone())
    }

    /// Distance between consecutive items.
    pub fn extent(&self) -> i64 {
        self.dt.extent()
    }

    /// Packed size in bytes.
    pub fn bytes(&self) -> usize {
        (self.count * self.dt.size()) as usize
    }

    /// The items' bytes, packed.
    pub fn pack(&self) -> Vec<u8> {
        let n = self.bytes();
        if n == 0 {
            return Vec::new();
        }
        if self.dt.is_contiguous() {
            let p = (self.base as i64 + self.dt.true_lb()) as *const u8;
            // SAFETY: MPI gives `count` items at `base`; a dense type's data is
            // `n` bytes from base + true_lb.
            return unsafe { std::slice::from_raw_parts(p, n) }.to_vec();
        }
        let Ok(sp) = self.dt.span(self.count) else { return vec![0; n] };
        // SAFETY: the bytes `count` items touch lie in [base + lo, base + hi).
        let mem = unsafe { std::slice::from_raw_parts((self.base as i64 + sp.lo) as *const u8, sp.len() as usize) };
        self.dt.pack_to_vec(self.count, mem, sp.lo).unwrap_or_else(|_| vec![0; n])
    }

    /// Writes the whole items found in `data` (up to `count`) into the
    /// user's memory.
    pub fn unpack(&self, data: &[u8]) {
        let size = self.dt.size();
        if size == 0 || data.is_empty() {
            return;
        }
        let items = (data.len() as u64 / size).min(self.count);
        let n = (items * size) as usize;
        if n == 0 {
            return;
        }
        if self.dt.is_contiguous() {
            let p = (self.base as i64 + self.dt.true_lb()) as *mut u8;
            // SAFETY: MPI gives room for `count` items at `base`.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, n) };
            return;
        }
        let Ok(sp) = self.dt.span(items) else { return };
        // SAFETY: the user's buffer holds `count` >= `items` items whose bytes lie in [base + lo, base + hi).
        let mem = unsafe { std::slice::from_raw_parts_mut((self.base as i64 + sp.lo) as *mut u8, sp.len() as usize) };
        let _ = self.dt.unpack(items, &data[..n], mem, sp.lo).map_err(dt_err);
    }
}

/// One `Items` per rank (or neighbour): the blocks of a v- or w-variant,
/// packed one after another.
#[derive(Clone, Default)]
pub struct Blocks(pub Vec<Items>);

impl Blocks {
    /// `n` blocks of `count` items, block `i` at `i * count` items from `first`.
    pub fn uniform(first: &Items, n: usize, count: i64) -> AbiResult<Blocks> {
        let step = count * first.extent();
        (0..n).map(|i| first.shifted(i as i64 * step, count)).collect::<AbiResult<_>>().map(Blocks)
    }

    /// Blocks of `counts[i]` items at `displs[i]` extents from `first` (v-variants).
    pub fn varying(first: &Items, counts: &[i64], displs: &[i64]) -> AbiResult<Blocks> {
        let ext = first.extent();
        counts.iter().zip(displs).map(|(&c, &d)| first.shifted(d * ext, c)).collect::<AbiResult<_>>().map(Blocks)
    }

    /// Blocks of `counts[i]` items of `types[i]` at byte displacements `displs[i]` (w-variants).
    pub fn typed(base: *const c_void, counts: &[i64], displs: &[i64], types: &[MpiDatatype]) -> AbiResult<Blocks> {
        let mut v = Vec::with_capacity(counts.len());
        for i in 0..counts.len() {
            let p = (base as i64).wrapping_add(displs[i]) as usize as *const c_void;
            // A zero-count block's type is not looked at (MPI lets it be anything valid).
            let dt = if counts[i] == 0 { dtype(types[i]).unwrap_or_else(|_| byte_type()) } else { dtype(types[i])? };
            v.push(Items::of(p, counts[i], dt)?);
        }
        Ok(Blocks(v))
    }

    /// The blocks whose indices `keep` lists, in that order.
    pub fn select(&self, keep: &[usize]) -> Blocks {
        Blocks(keep.iter().map(|&i| self.0[i].clone()).collect())
    }

    /// Byte layout of the packed blocks.
    pub fn layout(&self) -> Layout {
        Layout::contiguous(self.0.iter().map(Items::bytes).collect())
    }

    /// Every block, packed one after another.
    pub fn pack(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.0.iter().map(Items::bytes).sum());
        for b in &self.0 {
            v.extend_from_slice(&b.pack());
        }
        v
    }

    /// Unpacks `image` (laid out as [`Blocks::layout`]) into every block but `skip`.
    pub fn unpack(&self, image: &[u8], skip: Option<usize>) {
        let mut off = 0;
        for (i, b) in self.0.iter().enumerate() {
            let n = b.bytes();
            if Some(i) != skip && off + n <= image.len() {
                b.unpack(&image[off..off + n]);
            }
            off += n;
        }
    }
}

fn byte_type() -> Datatype {
    dtype(0x4c00010d).expect("MPI_BYTE is predefined")
}

/// An integer array argument (counts, displacements) of any C width.
pub trait CInt: Copy {
    /// As i64.
    fn get(self) -> i64;
}
impl CInt for c_int {
    fn get(self) -> i64 {
        self as i64
    }
}
impl CInt for i64 {
    fn get(self) -> i64 {
        self
    }
}
#[cfg(target_pointer_width = "64")]
impl CInt for isize {
    fn get(self) -> i64 {
        self as i64
    }
}

/// `n` entries of a C array.
///
/// # Safety
/// `p` must point to `n` values when n > 0.
pub unsafe fn arr<T: CInt>(p: *const T, n: usize, what: &str) -> AbiResult<Vec<i64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if p.is_null() {
        return fail(class::ARG, format!("null {what} array"));
    }
    // SAFETY: per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, n) }.iter().map(|x| x.get()).collect())
}

/// `n` datatype handles of a C array.
///
/// # Safety
/// `p` must point to `n` handles when n > 0.
pub unsafe fn types(p: *const MpiDatatype, n: usize) -> AbiResult<Vec<MpiDatatype>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if p.is_null() {
        return fail(class::ARG, "null datatype array");
    }
    // SAFETY: per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, n) }.to_vec())
}

/// Whether `p` is `MPI_IN_PLACE`.
pub fn in_place(p: *const c_void) -> bool {
    p as isize == MPI_IN_PLACE
}
