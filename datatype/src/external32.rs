//! The `external32` data representation (MPI 4.1 §13.5.2): big-endian,
//! IEEE formats, fixed sizes per basic type ([`Basic::external32_size`]).
//!
//! Packing walks the type map's typed runs value by value and converts each
//! from native (x86_64, little-endian) form: integers are byte-swapped and
//! narrowed where external32 is smaller (`long` is 4 bytes there, `wchar_t`
//! 2; a value that does not fit is an error), floats byte-swapped, and the
//! x87 `long double` re-encoded as IEEE binary128.

use crate::basic::{Basic, ComplexPart, Encoding};
use crate::error::{DatatypeError, Result};
use crate::layout::Datatype;
use crate::walk::walk_runs;

/// The only portable representation MPI defines.
pub const EXTERNAL32: &str = "external32";

fn check_datarep(datarep: &str) -> Result<()> {
    if datarep == EXTERNAL32 {
        Ok(())
    } else {
        Err(DatatypeError::UnknownRepresentation(datarep.to_owned()))
    }
}

/// Encodes an integer of `native.len()` little-endian bytes into `out` (big-endian,
/// possibly narrower). Fails if the value does not fit.
fn encode_int(native: &[u8], out: &mut [u8], signed: bool, b: Basic) -> Result<()> {
    let m = out.len();
    let fill = if signed && native[m - 1] & 0x80 != 0 { 0xff } else { 0 };
    if native[m..].iter().any(|&x| x != fill) {
        return Err(DatatypeError::External32Range(b));
    }
    for (o, n) in out.iter_mut().zip(native[..m].iter().rev()) {
        *o = *n;
    }
    Ok(())
}

fn decode_int(ext: &[u8], native: &mut [u8], signed: bool) {
    let m = ext.len();
    for (n, e) in native[..m].iter_mut().zip(ext.iter().rev()) {
        *n = *e;
    }
    let fill = if signed && ext[0] & 0x80 != 0 { 0xff } else { 0 };
    native[m..].fill(fill);
}

/// x87 extended (16 native bytes, 10 used) to IEEE binary128 big-endian.
fn encode_x87(native: &[u8], out: &mut [u8]) {
    let mant = u64::from_le_bytes(native[0..8].try_into().expect("8 bytes"));
    let se = u16::from_le_bytes([native[8], native[9]]) as u64;
    let frac = mant & (u64::MAX >> 1);
    let hi = (se << 48) | (frac >> 15);
    let lo = (frac & 0x7fff) << 49;
    out[0..8].copy_from_slice(&hi.to_be_bytes());
    out[8..16].copy_from_slice(&lo.to_be_bytes());
}

/// IEEE binary128 big-endian to x87 extended (the low 49 fraction bits are dropped).
fn decode_x87(ext: &[u8], native: &mut [u8]) {
    let hi = u64::from_be_bytes(ext[0..8].try_into().expect("8 bytes"));
    let lo = u64::from_be_bytes(ext[8..16].try_into().expect("8 bytes"));
    let se = (hi >> 48) as u16;
    let exp = se & 0x7fff;
    let frac = ((hi & ((1 << 48) - 1)) << 15) | (lo >> 49);
    let mant = if exp != 0 { frac | (1 << 63) } else { frac };
    native[0..8].copy_from_slice(&mant.to_le_bytes());
    native[8..10].copy_from_slice(&se.to_le_bytes());
    native[10..16].fill(0);
}

fn part_basic(p: ComplexPart) -> Basic {
    match p {
        ComplexPart::Float => Basic::Float,
        ComplexPart::Double => Basic::Double,
        ComplexPart::LongDouble => Basic::LongDouble,
    }
}

/// Converts one native value of type `b` to its external32 bytes
/// (`native.len() == b.size()`, `out.len() == b.external32_size()`).
pub fn encode_value(b: Basic, native: &[u8], out: &mut [u8]) -> Result<()> {
    match b.encoding() {
        Encoding::Bytes => out.copy_from_slice(native),
        Encoding::Signed => encode_int(native, out, true, b)?,
        Encoding::Unsigned => encode_int(native, out, false, b)?,
        Encoding::Ieee => {
            for (o, n) in out.iter_mut().zip(native.iter().rev()) {
                *o = *n;
            }
        }
        Encoding::X87 => encode_x87(native, out),
        Encoding::Complex(p) => {
            let pb = part_basic(p);
            let (ns, es) = (pb.size() as usize, pb.external32_size() as usize);
            encode_value(pb, &native[..ns], &mut out[..es])?;
            encode_value(pb, &native[ns..], &mut out[es..])?;
        }
    }
    Ok(())
}

/// Converts one external32 value of type `b` to native bytes
/// (`ext.len() == b.external32_size()`, `native.len() == b.size()`).
pub fn decode_value(b: Basic, ext: &[u8], native: &mut [u8]) {
    match b.encoding() {
        Encoding::Bytes => native.copy_from_slice(ext),
        Encoding::Signed => decode_int(ext, native, true),
        Encoding::Unsigned => decode_int(ext, native, false),
        Encoding::Ieee => {
            for (n, e) in native.iter_mut().zip(ext.iter().rev()) {
                *n = *e;
            }
        }
        Encoding::X87 => decode_x87(ext, native),
        Encoding::Complex(p) => {
            let pb = part_basic(p);
            let (ns, es) = (pb.size() as usize, pb.external32_size() as usize);
            decode_value(pb, &ext[..es], &mut native[..ns]);
            decode_value(pb, &ext[es..], &mut native[ns..]);
        }
    }
}

fn index(view_len: usize, view_start: i64, off: i128, n: usize) -> Result<usize> {
    let idx = off - view_start as i128;
    if idx < 0 || idx + n as i128 > view_len as i128 {
        let lo = i64::try_from(off).unwrap_or(i64::MAX);
        return Err(DatatypeError::OutOfBounds {
            lo,
            hi: lo.saturating_add(n as i64),
            view_lo: view_start,
            view_hi: view_start.saturating_add(view_len as i64),
        });
    }
    Ok(idx as usize)
}

impl Datatype {
    /// External32 bytes of one element.
    pub fn external32_size(&self) -> u64 {
        if let Some(b) = self.uniform_basic() {
            return self.basic_elements() * b.external32_size();
        }
        let mut total = 0u64;
        let _ = walk_runs(self, 0, &mut |_, b, n| {
            total += n * b.external32_size();
            Ok(())
        });
        total
    }

    /// `MPI_Pack_external_size`: bytes `count` elements take in `datarep` (only `"external32"`).
    pub fn pack_external_size(&self, datarep: &str, count: u64) -> Result<u64> {
        check_datarep(datarep)?;
        count.checked_mul(self.external32_size()).ok_or(DatatypeError::Overflow)
    }

    /// Calls `f(memory offset from base, basic, position in stream)` for each basic value.
    fn walk_values(&self, count: u64, mut f: impl FnMut(i128, Basic, usize) -> Result<()>) -> Result<()> {
        let ext = self.extent() as i128;
        let mut pos = 0usize;
        for k in 0..count {
            walk_runs(self, k as i128 * ext, &mut |off, b, n| {
                let bs = b.size() as i128;
                for j in 0..n {
                    f(off + j as i128 * bs, b, pos)?;
                    pos += b.external32_size() as usize;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// `MPI_Pack_external`: packs `count` elements from `src` (first byte at
    /// `src_start` from the base) into the start of `out`; returns the bytes written.
    pub fn pack_external(
        &self,
        datarep: &str,
        count: u64,
        src: &[u8],
        src_start: i64,
        out: &mut [u8],
    ) -> Result<usize> {
        let total = self.pack_external_size(datarep, count)?;
        if (out.len() as u64) < total {
            return Err(DatatypeError::OutputTooSmall { needed: total, available: out.len() });
        }
        self.walk_values(count, |off, b, pos| {
            let n = b.size() as usize;
            let i = index(src.len(), src_start, off, n)?;
            encode_value(b, &src[i..i + n], &mut out[pos..pos + b.external32_size() as usize])
        })?;
        Ok(total as usize)
    }

    /// `MPI_Unpack_external`: unpacks `count` elements from `packed` into `dst`
    /// (first byte at `dst_start` from the base); returns the bytes consumed.
    pub fn unpack_external(
        &self,
        datarep: &str,
        count: u64,
        packed: &[u8],
        dst: &mut [u8],
        dst_start: i64,
    ) -> Result<usize> {
        let total = self.pack_external_size(datarep, count)?;
        if (packed.len() as u64) < total {
            return Err(DatatypeError::Truncated { needed: total, available: packed.len() });
        }
        self.walk_values(count, |off, b, pos| {
            let n = b.size() as usize;
            let i = index(dst.len(), dst_start, off, n)?;
            decode_value(b, &packed[pos..pos + b.external32_size() as usize], &mut dst[i..i + n]);
            Ok(())
        })?;
        Ok(total as usize)
    }
}
