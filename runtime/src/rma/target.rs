//! The target side: receiving requests and carrying them out on the
//! window's memory, in order, one at a time (under the runtime's lock, so an
//! accumulate is atomic with respect to every other RMA operation).

use rmpi_engine::buffer::{RecvBuf, SendBuf};
use rmpi_engine::matching::{SrcSel, TagSel};
use rmpi_engine::SendMode;

use super::wire::{self, Kind, Request, FLAG_DATA_FOLLOWS, FLAG_EXCLUSIVE, FLAG_NOCHECK, TAG_DATA, TAG_REQ, ZCOPY_MIN};
use super::{intern, resolve, Flavor, Incoming, Win};
use crate::error::MpiResult;
use crate::net::Net;

/// Take new requests off the wire and carry out those whose data is in.
/// Returns whether anything happened.
pub(super) fn service(net: &mut Net, w: &mut Win) -> MpiResult<bool> {
    let mut moved = false;
    while let Some((msg, st)) = net.engine.improbe(w.ctx, SrcSel::Any, TagSel::Tag(TAG_REQ)) {
        let mut buf = vec![0u8; st.count];
        let rbuf = if buf.is_empty() {
            RecvBuf::empty()
        } else {
            // SAFETY: the vector's heap block stays put (and alive, in `incoming`) until the receive completes.
            unsafe { RecvBuf::new(buf.as_mut_ptr(), buf.len()) }
        };
        let rid = net.engine.post_mrecv(msg, rbuf).map_err(intern)?;
        w.incoming.push_back(Incoming::Req { rid, buf, src: st.source });
        moved = true;
    }
    // Strictly in arrival order: a request (or a put's data) still coming
    // holds back the ones behind it.
    while let Some(front) = w.incoming.front() {
        if net.engine.status(front.rid()).map_err(intern)?.is_none() {
            break;
        }
        let inc = w.incoming.pop_front().expect("front exists");
        let _ = net.engine.free(inc.rid());
        match inc {
            Incoming::Req { buf, src, .. } => dispatch(net, w, src, buf)?,
            Incoming::Data { src, stage, ranges, header, .. } => landed(net, w, src, stage, ranges, header)?,
        }
        moved = true;
    }
    let before = w.replies.len();
    let mut err = None;
    w.replies.retain(|(rid, _)| match net.engine.status(*rid) {
        Ok(Some(_)) => {
            let _ = net.engine.free(*rid);
            false
        }
        Ok(None) => true,
        Err(e) => {
            err = Some(intern(e));
            false
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    Ok(moved || w.replies.len() != before)
}

/// Send `data` to origin `src` on tag `tag`.
fn reply(net: &mut Net, w: &mut Win, src: i32, tag: i32, data: Vec<u8>) -> MpiResult<()> {
    let sbuf = if data.is_empty() {
        SendBuf::empty()
    } else {
        // SAFETY: `data` is kept in `replies` until the send completes.
        unsafe { SendBuf::new(data.as_ptr(), data.len()) }
    };
    reply_buf(net, w, src, tag, sbuf, data)
}

/// Send `sbuf` to origin `src` on tag `tag`, keeping `keep` until sent.
fn reply_buf(net: &mut Net, w: &mut Win, src: i32, tag: i32, sbuf: SendBuf, keep: Vec<u8>) -> MpiResult<()> {
    let peer = w.group[src as usize];
    let rid = net.send(peer, w.ctx, w.rank, tag, sbuf, SendMode::Standard)?;
    w.replies.push((rid, keep));
    Ok(())
}

fn ack(net: &mut Net, w: &mut Win, src: i32, tag: i32) -> MpiResult<()> {
    let n = std::mem::take(&mut w.errors[src as usize]);
    reply(net, w, src, tag, wire::encode_ack(n))
}

/// The local memory `(address, length)` the request's blocks name, or
/// `None` if any byte lies outside the window (attached memory for
/// dynamic windows).
fn locate(w: &Win, req: &Request<'_>) -> Option<Vec<(usize, usize)>> {
    let mut out = Vec::with_capacity(req.blocks.len());
    for &(off, len) in &req.blocks {
        let lo = req.h.disp.checked_add(off)?;
        let len = usize::try_from(len).ok()?;
        if len == 0 {
            continue;
        }
        if w.flavor == Flavor::Dynamic {
            let a = usize::try_from(lo).ok()?;
            let end = a.checked_add(len)?;
            if !w.regions.iter().any(|&(b, n)| a >= b && end <= b + n) {
                return None;
            }
            out.push((a, len));
        } else {
            let lo = usize::try_from(lo).ok()?;
            if lo.checked_add(len)? > w.size {
                return None;
            }
            out.push((w.base + lo, len));
        }
    }
    Some(out)
}

/// The bytes of `ranges`, concatenated.
fn gather(ranges: &[(usize, usize)]) -> Vec<u8> {
    let mut v = Vec::with_capacity(ranges.iter().map(|r| r.1).sum());
    for &(a, n) in ranges {
        // SAFETY: `locate` checked the range lies in the window's memory,
        // which MPI keeps valid while the window exists.
        v.extend_from_slice(unsafe { std::slice::from_raw_parts(a as *const u8, n) });
    }
    v
}

/// Write `data` over `ranges` in order (as far as it reaches).
pub(super) fn scatter_into(ranges: &[(usize, usize)], data: &[u8]) {
    let mut at = 0;
    for &(a, n) in ranges {
        let n = n.min(data.len() - at);
        if n == 0 {
            break;
        }
        // SAFETY: the ranges are window memory checked by `locate`, or an
        // origin's result buffer that MPI keeps valid until completion.
        unsafe { std::ptr::copy_nonoverlapping(data[at..].as_ptr(), a as *mut u8, n) };
        at += n;
    }
}

/// Carry out a request from origin `src`, or hold it back while that
/// origin waits for a lock here (all but posts, which belong to the
/// origin's exposure, not to its access).
fn dispatch(net: &mut Net, w: &mut Win, src: i32, bytes: Vec<u8>) -> MpiResult<()> {
    if src < 0 || src as usize >= w.group.len() {
        return Ok(());
    }
    if let Some(req) = wire::decode(&bytes).filter(|r| r.h.kind == Kind::Put && r.h.flags & FLAG_DATA_FOLLOWS != 0) {
        return expect_data(net, w, src, &req, &bytes);
    }
    if let Some(q) = &mut w.parked[src as usize] {
        if wire::decode(&bytes).is_none_or(|r| r.h.kind != Kind::Post) {
            q.push_back(bytes);
            return Ok(());
        }
    }
    handle(net, w, src, &bytes)
}

/// A put whose data follows: post the data's receive (into the window when
/// it is one block and the origin holds its lock) and put it at the head
/// of the queue, so nothing behind it runs before the data is in.
fn expect_data(net: &mut Net, w: &mut Win, src: i32, req: &Request<'_>, bytes: &[u8]) -> MpiResult<()> {
    let total: usize = req.blocks.iter().map(|b| b.1 as usize).sum();
    let parked = w.parked[src as usize].is_some();
    let ranges = if parked { None } else { locate(w, req) };
    if !parked && ranges.is_none() {
        w.errors[src as usize] += 1;
    }
    let direct = match &ranges {
        Some(r) if r.len() == 1 && r[0].1 == total => Some(r[0]),
        _ => None,
    };
    let mut stage = None;
    let rbuf = match direct {
        // SAFETY: `locate` checked the block lies in the window's memory, which stays valid
        // while the window exists (and the window outlives its queue).
        Some((a, n)) => unsafe { RecvBuf::new(a as *mut u8, n) },
        None if total == 0 => RecvBuf::empty(),
        None => {
            let mut v = vec![0u8; total];
            // SAFETY: the vector lives in the queue entry until the receive completes.
            let rb = unsafe { RecvBuf::new(v.as_mut_ptr(), total) };
            stage = Some(v);
            rb
        }
    };
    let rid = net.recv(w.ctx, SrcSel::Rank(src), TagSel::Tag(TAG_DATA), rbuf);
    let header = parked.then(|| bytes.to_vec());
    w.incoming.push_front(Incoming::Data { rid, src, stage, ranges: ranges.filter(|_| direct.is_none()), header });
    Ok(())
}

/// A put's data is in: scatter it, or hold the whole put back while its
/// origin waits for the lock.
fn landed(
    net: &mut Net,
    w: &mut Win,
    src: i32,
    stage: Option<Vec<u8>>,
    ranges: Option<Vec<(usize, usize)>>,
    header: Option<Vec<u8>>,
) -> MpiResult<()> {
    let data = stage.unwrap_or_default();
    if let Some(hb) = header {
        let Some(req) = wire::decode(&hb) else { return Ok(()) };
        let h = wire::Header { flags: req.h.flags & !FLAG_DATA_FOLLOWS, ..req.h };
        let whole = wire::encode(&h, &req.blocks, &data);
        return match &mut w.parked[src as usize] {
            Some(q) => {
                q.push_back(whole);
                Ok(())
            }
            None => handle(net, w, src, &whole),
        };
    }
    if let Some(r) = ranges {
        scatter_into(&r, &data);
    }
    Ok(())
}

/// Carry out one request from origin `src`.
fn handle(net: &mut Net, w: &mut Win, src: i32, bytes: &[u8]) -> MpiResult<()> {
    if src < 0 || src as usize >= w.group.len() {
        return Ok(());
    }
    let Some(req) = wire::decode(bytes) else {
        w.errors[src as usize] += 1;
        return Ok(());
    };
    let h = req.h;
    match h.kind {
        Kind::Put => match locate(w, &req) {
            Some(r) if r.iter().map(|x| x.1).sum::<usize>() == req.payload.len() => scatter_into(&r, req.payload),
            _ => w.errors[src as usize] += 1,
        },
        Kind::Get => match locate(w, &req) {
            Some(r) if r.len() == 1 && r[0].1 >= ZCOPY_MIN => {
                // Straight from the window: MPI forbids conflicting updates until the get completes.
                // SAFETY: `locate` checked the block; the window outlives its pending replies.
                let sbuf = unsafe { SendBuf::new(r[0].0 as *const u8, r[0].1) };
                reply_buf(net, w, src, h.reply, sbuf, Vec::new())?;
            }
            Some(r) => reply(net, w, src, h.reply, gather(&r))?,
            None => {
                w.errors[src as usize] += 1;
                reply(net, w, src, h.reply, Vec::new())?;
            }
        },
        Kind::Acc | Kind::GetAcc => {
            let Some(r) = locate(w, &req) else {
                w.errors[src as usize] += 1;
                if h.kind == Kind::GetAcc {
                    reply(net, w, src, h.reply, Vec::new())?;
                }
                return Ok(());
            };
            let mut cur = gather(&r);
            let old = (h.kind == Kind::GetAcc).then(|| cur.clone());
            // An empty origin is a fetch (MPI_NO_OP); no data, nothing to apply.
            if !cur.is_empty() && !req.payload.is_empty() {
                match resolve(h.op, h.elem) {
                    Some(op) if req.payload.len() == cur.len() => {
                        op.apply(req.payload, &mut cur);
                        scatter_into(&r, &cur);
                    }
                    _ => w.errors[src as usize] += 1,
                }
            }
            if let Some(old) = old {
                reply(net, w, src, h.reply, old)?;
            }
        }
        Kind::Cas => {
            let r = locate(w, &req);
            let n = req.payload.len() / 2;
            let old = match r {
                Some(r) if r.iter().map(|x| x.1).sum::<usize>() == n => {
                    let cur = gather(&r);
                    if cur[..] == req.payload[n..] {
                        scatter_into(&r, &req.payload[..n]);
                    }
                    cur
                }
                _ => {
                    w.errors[src as usize] += 1;
                    Vec::new()
                }
            };
            reply(net, w, src, h.reply, old)?;
        }
        Kind::Lock => {
            let exclusive = h.flags & FLAG_EXCLUSIVE != 0;
            w.parked[src as usize] = Some(Default::default());
            w.lock.waiting.push_back((src, exclusive, h.reply));
            grant(net, w)?;
        }
        Kind::Unlock => {
            if h.flags & FLAG_NOCHECK == 0 {
                if w.lock.exclusive == Some(src) {
                    w.lock.exclusive = None;
                } else {
                    w.lock.shared = w.lock.shared.saturating_sub(1);
                }
            }
            ack(net, w, src, h.reply)?;
            grant(net, w)?;
        }
        Kind::Flush => ack(net, w, src, h.reply)?,
        Kind::Complete => w.completes[src as usize] += 1,
        Kind::Post => w.posts[src as usize] += 1,
    }
    Ok(())
}

/// Grant queued lock requests in order while they are compatible with the
/// holders; a granted origin's held-back requests then run.
fn grant(net: &mut Net, w: &mut Win) -> MpiResult<()> {
    while let Some(&(src, exclusive, tag)) = w.lock.waiting.front() {
        let free = w.lock.exclusive.is_none() && (!exclusive || w.lock.shared == 0);
        if !free {
            break;
        }
        w.lock.waiting.pop_front();
        if exclusive {
            w.lock.exclusive = Some(src);
        } else {
            w.lock.shared += 1;
        }
        ack(net, w, src, tag)?;
        for b in w.parked[src as usize].take().unwrap_or_default() {
            handle(net, w, src, &b)?;
        }
    }
    Ok(())
}
