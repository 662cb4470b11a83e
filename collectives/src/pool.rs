//! Spare schedule buffers, kept between collectives.
//!
//! A schedule's buffers live as long as the schedule. Allocating them fresh
//! for every call costs, for large ones, a page fault per 4 KiB the first
//! time each page is touched (the allocator hands back memory it unmapped):
//! more than the copy through them. So a schedule gives its buffers back
//! here when it is dropped, and the builder takes zero-filled buffers from
//! here first. The pool is per thread (no locking), keeps only buffers of
//! at least [`MIN_KEEP`] bytes (the allocator recycles smaller ones well),
//! and holds at most [`MAX_BUFFERS`] buffers and [`MAX_BYTES`] bytes.

use std::cell::RefCell;

/// Smallest capacity worth keeping.
pub const MIN_KEEP: usize = 16 * 1024;
/// Most buffers kept.
pub const MAX_BUFFERS: usize = 32;
/// Most bytes kept (their capacities' total).
pub const MAX_BYTES: usize = 32 << 20;

thread_local! {
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `len` zero bytes, from the pool when one is big enough (the
/// smallest such), else freshly allocated.
pub fn zeroed(len: usize) -> Vec<u8> {
    if len < MIN_KEEP {
        return vec![0; len];
    }
    let found = SPARE.with(|s| {
        let mut s = s.borrow_mut();
        let best = s.iter().enumerate().filter(|(_, v)| v.capacity() >= len).min_by_key(|(_, v)| v.capacity());
        best.map(|(i, _)| i).map(|i| s.swap_remove(i))
    });
    match found {
        Some(mut v) => {
            v.clear();
            v.resize(len, 0);
            v
        }
        None => vec![0; len],
    }
}

/// A copy of `data` in a buffer from the pool (see [`zeroed`]).
pub fn copy_of(data: &[u8]) -> Vec<u8> {
    if data.len() < MIN_KEEP {
        return data.to_vec();
    }
    let mut v = zeroed(0);
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        let best = s.iter().enumerate().filter(|(_, b)| b.capacity() >= data.len()).min_by_key(|(_, b)| b.capacity());
        if let Some(i) = best.map(|(i, _)| i) {
            v = s.swap_remove(i);
        }
    });
    v.clear();
    v.extend_from_slice(data);
    v
}

/// Gives `buf` back for later use (dropped if too small or the pool is full).
pub fn give(buf: Vec<u8>) {
    if buf.capacity() < MIN_KEEP {
        return;
    }
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        let held: usize = s.iter().map(Vec::capacity).sum();
        if s.len() < MAX_BUFFERS && held + buf.capacity() <= MAX_BYTES {
            s.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_zeroed_and_sized() {
        let mut a = zeroed(MIN_KEEP * 4);
        a.iter_mut().for_each(|b| *b = 0xab);
        let cap = a.capacity();
        let ptr = a.as_ptr();
        give(a);
        // A smaller request reuses it, zero-filled, at its new length.
        let b = zeroed(MIN_KEEP * 2);
        assert_eq!(b.as_ptr(), ptr);
        assert_eq!(b.len(), MIN_KEEP * 2);
        assert!(b.iter().all(|&x| x == 0));
        assert_eq!(b.capacity(), cap);
        give(b);
        // A copy reuses it too, holding exactly the data.
        let data: Vec<u8> = (0..MIN_KEEP * 3).map(|i| i as u8).collect();
        let c = copy_of(&data);
        assert_eq!(c.as_ptr(), ptr);
        assert_eq!(c, data);
        // A larger request than any kept buffer allocates.
        give(c);
        let d = zeroed(MIN_KEEP * 8);
        assert_ne!(d.as_ptr(), ptr);
        assert!(d.iter().all(|&x| x == 0));
    }

    #[test]
    fn small_buffers_are_not_kept_and_the_pool_is_bounded() {
        give(vec![1; 10]);
        assert!(SPARE.with(|s| s.borrow().iter().all(|v| v.capacity() >= MIN_KEEP)));
        for _ in 0..MAX_BUFFERS + 8 {
            give(vec![0; MIN_KEEP]);
        }
        assert!(SPARE.with(|s| s.borrow().len()) <= MAX_BUFFERS);
    }
}
