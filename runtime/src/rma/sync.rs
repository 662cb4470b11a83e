//! Synchronization: fence, passive target (lock, unlock, flush) and
//! post/start/complete/wait, all built on requests the targets answer in
//! order.

use super::wire::{self, Header, Kind};
use super::{parts, Win, WinId};
use crate::api;
use crate::comm::GroupId;
use crate::error::{err, ErrorClass, MpiError, MpiResult};
use crate::state::{block_on, with, Runtime};

/// Block until nothing is pending towards `targets` (all when `None`),
/// then raise any error the targets reported.
fn wait_idle(id: WinId, targets: Option<Vec<i32>>) -> MpiResult<()> {
    block_on(|rt| Ok(rt.rma.win(id)?.idle_towards(targets.as_deref()).then_some(())))?;
    with(|rt| rt.rma.win_mut(id)?.take_error())
}

/// `MPI_Win_fence`. `nosucceed`: no epoch follows.
pub fn fence(id: WinId, nosucceed: bool) -> MpiResult<()> {
    let comm = with(|rt| {
        let (net, w) = parts(rt, id)?;
        if w.locks.iter().any(|l| l.is_some()) || w.lock_all.is_some() || w.access.is_some() || w.exposure.is_some() {
            return err(ErrorClass::RmaSync, "MPI_Win_fence inside a lock or post/start epoch");
        }
        let all = w.all_ranks();
        w.flush_requests(net, &all)?;
        Ok(w.comm)
    })?;
    wait_idle(id, None)?;
    api::barrier(comm)?;
    with(|rt| {
        rt.rma.win_mut(id)?.fence_open = !nosucceed;
        Ok(())
    })
}

/// `MPI_Win_flush` / `MPI_Win_flush_all` (`target` None), or with `local`
/// the `_local` forms (operations complete at the origin only).
pub fn flush(id: WinId, target: Option<i32>, local: bool) -> MpiResult<()> {
    let targets = with(|rt| {
        let (net, w) = parts(rt, id)?;
        let ts = match target {
            Some(t) => {
                w.check_rank(t)?;
                if w.locks[t as usize].is_none() && w.lock_all.is_none() {
                    return err(ErrorClass::RmaSync, format!("rank {t} is not locked"));
                }
                vec![t]
            }
            None => {
                if w.lock_all.is_none() && w.locks.iter().all(|l| l.is_none()) {
                    return err(ErrorClass::RmaSync, "no rank is locked");
                }
                w.all_ranks()
            }
        };
        if !local {
            w.flush_requests(net, &ts)?;
        }
        Ok(ts)
    })?;
    wait_idle(id, Some(targets))
}

/// `MPI_Win_lock`. The lock request goes out and the call returns: the
/// target holds back this origin's later requests until it grants the lock
/// (so `lock; put; unlock` costs one round trip). A lock on the caller's
/// own window waits for the grant, so local loads and stores are covered.
pub fn lock(id: WinId, exclusive: bool, target: i32, nocheck: bool) -> MpiResult<()> {
    let own = with(|rt| {
        let (net, w) = parts(rt, id)?;
        w.check_rank(target)?;
        if w.locks[target as usize].is_some() || w.lock_all.is_some() {
            return err(ErrorClass::RmaSync, format!("rank {target} is already locked"));
        }
        if w.access.is_some() {
            return err(ErrorClass::RmaSync, "MPI_Win_lock inside a start/complete epoch");
        }
        w.locks[target as usize] = Some(nocheck);
        if !nocheck {
            w.control(net, target, Kind::Lock, if exclusive { wire::FLAG_EXCLUSIVE } else { 0 })?;
        }
        Ok(w.rank == target && !nocheck)
    })?;
    if own {
        wait_idle(id, Some(vec![target]))
    } else {
        Ok(())
    }
}

/// `MPI_Win_unlock`: every operation to `target` completes there.
pub fn unlock(id: WinId, target: i32) -> MpiResult<()> {
    with(|rt| {
        let (net, w) = parts(rt, id)?;
        w.check_rank(target)?;
        let Some(nocheck) = w.locks[target as usize] else {
            return err(ErrorClass::RmaSync, format!("rank {target} is not locked"));
        };
        w.dirty[target as usize] = false;
        w.control(net, target, Kind::Unlock, if nocheck { wire::FLAG_NOCHECK } else { 0 })?;
        w.locks[target as usize] = None;
        Ok(())
    })?;
    wait_idle(id, Some(vec![target]))
}

/// `MPI_Win_lock_all`: a shared lock on every rank (waiting only for the
/// caller's own, as [`lock`] does).
pub fn lock_all(id: WinId, nocheck: bool) -> MpiResult<()> {
    let me = with(|rt| {
        let (net, w) = parts(rt, id)?;
        if w.lock_all.is_some() || w.locks.iter().any(|l| l.is_some()) {
            return err(ErrorClass::RmaSync, "the window is already locked");
        }
        if w.access.is_some() {
            return err(ErrorClass::RmaSync, "MPI_Win_lock_all inside a start/complete epoch");
        }
        w.lock_all = Some(nocheck);
        if !nocheck {
            for t in w.all_ranks() {
                w.control(net, t, Kind::Lock, 0)?;
            }
        }
        Ok((!nocheck).then_some(w.rank))
    })?;
    match me {
        Some(me) => wait_idle(id, Some(vec![me])),
        None => Ok(()),
    }
}

/// `MPI_Win_unlock_all`.
pub fn unlock_all(id: WinId) -> MpiResult<()> {
    with(|rt| {
        let (net, w) = parts(rt, id)?;
        let Some(nocheck) = w.lock_all else {
            return err(ErrorClass::RmaSync, "the window is not locked with MPI_Win_lock_all");
        };
        for t in w.all_ranks() {
            w.dirty[t as usize] = false;
            w.control(net, t, Kind::Unlock, if nocheck { wire::FLAG_NOCHECK } else { 0 })?;
        }
        w.lock_all = None;
        Ok(())
    })?;
    wait_idle(id, None)
}

/// Ranks of the window's group that `g` names.
fn ranks_in(rt: &Runtime, w: &Win, g: GroupId) -> MpiResult<Vec<i32>> {
    let grp = rt.tables.group(g)?;
    grp.iter()
        .map(|m| {
            w.group
                .iter()
                .position(|x| x == m)
                .map(|p| p as i32)
                .ok_or_else(|| MpiError::new(ErrorClass::Group, "the group has a process outside the window"))
        })
        .collect()
}

/// `MPI_Win_post`: expose the window to the origins in `g`.
pub fn post(id: WinId, g: GroupId) -> MpiResult<()> {
    with(|rt| {
        let ranks = ranks_in(rt, rt.rma.win(id)?, g)?;
        let (net, w) = parts(rt, id)?;
        if w.exposure.is_some() {
            return err(ErrorClass::RmaSync, "the window is already exposed (MPI_Win_post twice)");
        }
        for &o in &ranks {
            w.send(net, o, 0, wire::encode(&Header::new(Kind::Post), &[], &[]))?;
        }
        w.exposure = Some(ranks);
        Ok(())
    })
}

/// `MPI_Win_start`: open an access epoch to the targets in `g`. It does not
/// wait for their posts: the first operation to a target (or the
/// completion) does, so a process may start before it posts.
pub fn start(id: WinId, g: GroupId) -> MpiResult<()> {
    with(|rt| {
        let ranks = ranks_in(rt, rt.rma.win(id)?, g)?;
        let w = rt.rma.win_mut(id)?;
        if w.access.is_some() {
            return err(ErrorClass::RmaSync, "an access epoch is already open (MPI_Win_start twice)");
        }
        if w.lock_all.is_some() || w.locks.iter().any(|l| l.is_some()) {
            return err(ErrorClass::RmaSync, "MPI_Win_start while the window is locked");
        }
        w.unposted = ranks.clone();
        w.access = Some(ranks);
        Ok(())
    })
}

/// Wait until the targets in `targets` that this access epoch has not yet
/// seen post have posted (consuming their posts).
pub(super) fn await_posts(id: WinId, targets: &[i32]) -> MpiResult<()> {
    let waiting = with(|rt| Ok(rt.rma.win(id)?.unposted.iter().any(|t| targets.contains(t))))?;
    if !waiting {
        return Ok(());
    }
    block_on(|rt| {
        let w = rt.rma.win_mut(id)?;
        let mut i = 0;
        while i < w.unposted.len() {
            let t = w.unposted[i];
            if targets.contains(&t) && w.posts[t as usize] > 0 {
                w.posts[t as usize] -= 1;
                w.unposted.swap_remove(i);
            } else {
                i += 1;
            }
        }
        Ok((!w.unposted.iter().any(|t| targets.contains(t))).then_some(()))
    })
}

/// `MPI_Win_complete`: end the access epoch.
pub fn complete(id: WinId) -> MpiResult<()> {
    let group = with(|rt| match &rt.rma.win(id)?.access {
        Some(g) => Ok(g.clone()),
        None => err(ErrorClass::RmaSync, "MPI_Win_complete without MPI_Win_start"),
    })?;
    await_posts(id, &group)?;
    let ranks = with(|rt| {
        let (net, w) = parts(rt, id)?;
        let Some(ranks) = w.access.take() else {
            return err(ErrorClass::RmaSync, "MPI_Win_complete without MPI_Win_start");
        };
        for &t in &ranks {
            w.dirty[t as usize] = false;
            w.send(net, t, 0, wire::encode(&Header::new(Kind::Complete), &[], &[]))?;
        }
        Ok(ranks)
    })?;
    wait_idle(id, Some(ranks))
}

fn exposure_done(rt: &mut Runtime, id: WinId) -> MpiResult<bool> {
    let w = rt.rma.win_mut(id)?;
    let Some(ranks) = &w.exposure else {
        return err(ErrorClass::RmaSync, "MPI_Win_wait/test without MPI_Win_post");
    };
    if !ranks.iter().all(|&o| w.completes[o as usize] > 0) {
        return Ok(false);
    }
    for &o in ranks {
        w.completes[o as usize] -= 1;
    }
    w.exposure = None;
    Ok(true)
}

/// `MPI_Win_wait`: end the exposure epoch once every origin completed.
pub fn wait(id: WinId) -> MpiResult<()> {
    with(|rt| match rt.rma.win(id)?.exposure {
        Some(_) => Ok(()),
        None => err(ErrorClass::RmaSync, "MPI_Win_wait without MPI_Win_post"),
    })?;
    block_on(|rt| Ok(exposure_done(rt, id)?.then_some(())))
}

/// `MPI_Win_test`: `MPI_Win_wait` without blocking.
pub fn test(id: WinId) -> MpiResult<bool> {
    with(|rt| {
        rt.progress()?;
        exposure_done(rt, id)
    })
}

/// `MPI_Win_sync`: order this process's memory accesses (a full fence;
/// the window memory is the same memory for local and remote accesses).
pub fn sync(id: WinId) -> MpiResult<()> {
    with(|rt| rt.rma.win(id).map(|_| ()))?;
    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    Ok(())
}
