//! Starting an RMA operation at the origin: checks, the request message,
//! and the receive of the answer for operations that fetch.

use rmpi_engine::buffer::{RecvBuf, SendBuf};
use rmpi_engine::matching::{SrcSel, TagSel};

use super::wire::{self, Header, Kind};
use super::{resolve, Flavor, OpKind, Pending, RmaOp, Wait, WinId};
use crate::api::PROC_NULL;
use crate::error::{err, ErrorClass, MpiError, MpiResult};
use crate::state::{with, ReqBody, RequestId, Runtime};

/// Start one RMA operation. With `request`, returns a request that
/// completes when the operation has completed locally (the origin buffer
/// may be reused; fetched data has arrived).
pub fn rma_op(id: WinId, op: RmaOp, request: bool) -> MpiResult<Option<RequestId>> {
    if op.target != PROC_NULL {
        super::sync::await_posts(id, &[op.target])?;
    }
    with(|rt| {
        let Runtime { net, rma, reqs, .. } = rt;
        let opid = if request {
            rma.next_op += 1;
            rma.next_op
        } else {
            0
        };
        let w = rma.win_mut(id)?;
        if op.target == PROC_NULL {
            return Ok(request.then(|| reqs.insert(ReqBody::Done(Default::default()))));
        }
        w.check_rank(op.target)?;
        w.check_epoch(op.target)?;
        let t = op.target as usize;
        let total: u64 = op.blocks.iter().map(|b| b.1).sum();
        // Byte displacement at the target, checked against its size.
        let disp = if w.flavor == Flavor::Dynamic {
            op.disp
        } else {
            let d = op
                .disp
                .checked_mul(w.peers[t].disp_unit as i64)
                .ok_or_else(|| MpiError::new(ErrorClass::RmaRange, "target displacement overflows"))?;
            for &(off, len) in &op.blocks {
                let lo = d.checked_add(off);
                let hi = lo.and_then(|lo| lo.checked_add(len as i64));
                match (lo, hi) {
                    (Some(lo), Some(hi)) if lo >= 0 && hi as u64 <= w.peers[t].size => {}
                    _ => {
                        return err(
                            ErrorClass::RmaRange,
                            format!(
                                "access of bytes {}..{} is outside the {} bytes of rank {}'s window",
                                d.saturating_add(off),
                                d.saturating_add(off).saturating_add(len as i64),
                                w.peers[t].size,
                                op.target
                            ),
                        );
                    }
                }
            }
            d
        };
        let (kind, aop, elem) = match op.kind {
            OpKind::Put => (Kind::Put, 0, 0),
            OpKind::Get => (Kind::Get, 0, 0),
            OpKind::Acc { op, elem } => (Kind::Acc, op, elem),
            OpKind::GetAcc { op, elem } => (Kind::GetAcc, op, elem),
            OpKind::Cas => (Kind::Cas, 0, 0),
        };
        let dlen = op.data_at.map(|d| d.1).unwrap_or(op.data.len());
        if op.data_at.is_some() && kind != Kind::Put {
            return err(ErrorClass::Intern, "origin data by address is for puts only");
        }
        match kind {
            Kind::Put | Kind::Acc if dlen as u64 != total => {
                return err(
                    ErrorClass::Arg,
                    format!("origin data ({dlen} bytes) and target ({total} bytes) do not match"),
                );
            }
            Kind::Cas if op.data.len() as u64 != 2 * total => {
                return err(ErrorClass::Arg, "compare-and-swap needs one element of origin and compare data");
            }
            Kind::GetAcc if !op.data.is_empty() && op.data.len() as u64 != total => {
                return err(
                    ErrorClass::Arg,
                    format!("origin data ({} bytes) and target ({} bytes) do not match", op.data.len(), total),
                );
            }
            _ => {}
        }
        if matches!(kind, Kind::Acc | Kind::GetAcc) && total > 0 && resolve(aop, elem).is_none() {
            return err(ErrorClass::Op, "operator not allowed in an accumulate on this datatype");
        }
        let fetch = matches!(kind, Kind::Get | Kind::GetAcc | Kind::Cas);
        if fetch {
            let rlen: usize = op.result.iter().map(|b| b.1).sum();
            if rlen as u64 != total {
                return err(
                    ErrorClass::Arg,
                    format!("result buffer ({rlen} bytes) and target ({total} bytes) do not match"),
                );
            }
        }
        let mut h = Header { op: aop, elem, disp, ..Header::new(kind) };
        let mut entries = 0;
        if fetch {
            h.reply = w.take_tag();
            let expect = total as usize;
            let (rbuf, stage, scatter) = if op.result.len() == 1 {
                // SAFETY: the caller's result block stays valid until the operation completes (MPI's contract).
                (unsafe { RecvBuf::new(op.result[0].0 as *mut u8, op.result[0].1) }, None, Vec::new())
            } else if expect == 0 {
                (RecvBuf::empty(), None, Vec::new())
            } else {
                let mut stage = vec![0u8; expect];
                // SAFETY: the stage lives in the pending entry until the receive completes.
                let rbuf = unsafe { RecvBuf::new(stage.as_mut_ptr(), expect) };
                (rbuf, Some(stage), op.result.clone())
            };
            let rid = net.recv(w.ctx, SrcSel::Rank(op.target), TagSel::Tag(h.reply), rbuf);
            w.pending.push(Pending { target: op.target, op: opid, what: Wait::Recv { rid, stage, scatter, expect } });
            entries += 1;
        } else {
            w.dirty[t] = true;
        }
        if kind == Kind::Put && dlen >= wire::ZCOPY_MIN {
            // Header, then the data as its own message from where it lies.
            h.flags |= wire::FLAG_DATA_FOLLOWS;
            w.send(net, op.target, opid, wire::encode(&h, &op.blocks, &[]))?;
            let (sbuf, keep) = match op.data_at {
                // SAFETY: the caller keeps its block valid until the put completes locally (MPI's contract).
                Some((a, n)) => (unsafe { SendBuf::new(a as *const u8, n) }, Vec::new()),
                // SAFETY: the vector is kept in the pending entry until the send completes.
                None => (unsafe { SendBuf::new(op.data.as_ptr(), op.data.len()) }, op.data),
            };
            w.send_buf(net, op.target, opid, wire::TAG_DATA, sbuf, keep)?;
            entries += 2;
        } else {
            let bytes = match op.data_at {
                // SAFETY: as above; the bytes are copied into the request now.
                Some((a, n)) if n > 0 => {
                    wire::encode(&h, &op.blocks, unsafe { std::slice::from_raw_parts(a as *const u8, n) })
                }
                _ => wire::encode(&h, &op.blocks, &op.data),
            };
            w.send(net, op.target, opid, bytes)?;
            entries += 1;
        }
        if !request {
            return Ok(None);
        }
        *rma.ops.entry(opid).or_default() += entries;
        Ok(Some(reqs.insert(ReqBody::Rma(opid))))
    })
}
