//! The schedule: what one rank does in one collective, as data.
//!
//! A [`Schedule`] owns its buffers (one `Vec<u8>` per [`BufId`], allocated
//! when the schedule is built and never resized afterwards, so their heap
//! storage does not move even when the schedule itself is moved) and a list
//! of [`Step`]s, each with the steps it depends on.
//!
//! # Why explicit dependencies rather than rounds
//!
//! Rounds ("all comm ops of round k run concurrently, then its local ops")
//! are simple but impose barriers that algorithms do not need: in a binomial
//! reduce the reduction with the first child can run while the receive from
//! the last child is still outstanding; in a pipelined or ring algorithm the
//! send of chunk k+1 need not wait for the reduction of chunk k. A DAG of
//! steps expresses both and rounds are a special case of it. To keep
//! algorithms short and safe, [`ScheduleBuilder`] derives the data
//! dependencies itself: algorithms add steps in program order, and the
//! builder makes each step wait for every earlier step whose buffer region
//! overlaps it with at least one of the two writing (read-after-write,
//! write-after-read, write-after-write). Algorithms add only control
//! dependencies that carry no data (the barrier's zero-byte messages).
//!
//! Communication is ordered at buffer granularity: nothing else touches a
//! buffer while a receive into any part of it is outstanding, and nothing
//! writes a buffer while a send from it is outstanding (concurrent sends
//! from one buffer are fine). Safe Rust slices a `Vec` through a reference
//! to all of it, and the point-to-point layer may hold a raw pointer into
//! the buffer meanwhile; this rule keeps the two from overlapping. An
//! algorithm that wants to send one part of a vector while receiving
//! another (a ring) gives each part its own buffer. Empty regions touch
//! nothing.
//!
//! Dependencies always point to earlier steps, so a schedule is acyclic by
//! construction.

use std::ops::Range;
use std::sync::Arc;

use crate::{CollError, ReduceOp, MAX_TAG};

/// Index of a buffer owned by a [`Schedule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufId(pub usize);

/// Index of a step within a [`Schedule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StepId(pub usize);

/// A byte range of one schedule buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// The buffer.
    pub buf: BufId,
    /// Byte range within it.
    pub range: Range<usize>,
}

impl Region {
    /// The region `range` of `buf`.
    pub fn new(buf: BufId, range: Range<usize>) -> Region {
        Region { buf, range }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.range.len()
    }

    /// Whether the region is empty.
    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }

    fn overlaps(&self, other: &Region) -> bool {
        self.buf == other.buf && self.range.start < other.range.end && other.range.start < self.range.end
    }
}

/// Which operand of a [`Step::Reduce`] comes first in rank order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperandOrder {
    /// `dst = src (op) dst`: the source holds the lower ranks' contribution
    /// (the direct [`ReduceOp::apply`] convention).
    SrcFirst,
    /// `dst = dst (op) src`: the destination holds the lower ranks'
    /// contribution. The executor needs a scratch copy for this order.
    DstFirst,
}

/// One operation of a schedule.
#[derive(Clone)]
pub enum Step {
    /// Send `region` to `peer` with `tag`.
    Send {
        /// Destination rank.
        peer: usize,
        /// Tag, local to this collective instance.
        tag: u32,
        /// Bytes to send.
        region: Region,
    },
    /// Receive exactly `region.len()` bytes from `peer` with `tag` into `region`.
    Recv {
        /// Source rank.
        peer: usize,
        /// Tag, local to this collective instance.
        tag: u32,
        /// Where the bytes land.
        region: Region,
    },
    /// Combine `src` into `dst` with `op`, in the operand order `order`.
    Reduce {
        /// The operator.
        op: Arc<dyn ReduceOp>,
        /// Read-only operand.
        src: Region,
        /// Operand that receives the result.
        dst: Region,
        /// Which operand comes first in rank order.
        order: OperandOrder,
    },
    /// Copy `src` to `dst` (same length).
    Copy {
        /// Source bytes.
        src: Region,
        /// Destination bytes.
        dst: Region,
    },
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Send { peer, tag, region } => write!(f, "Send(to {peer}, tag {tag}, {region:?})"),
            Step::Recv { peer, tag, region } => {
                write!(f, "Recv(from {peer}, tag {tag}, {region:?})")
            }
            Step::Reduce { src, dst, order, .. } => {
                write!(f, "Reduce({src:?} into {dst:?}, {order:?})")
            }
            Step::Copy { src, dst } => write!(f, "Copy({src:?} to {dst:?})"),
        }
    }
}

impl Step {
    /// The regions the step touches and how.
    fn accesses(&self) -> Vec<(&Region, AccessKind)> {
        match self {
            Step::Send { region, .. } => vec![(region, AccessKind::SendFrom)],
            Step::Recv { region, .. } => vec![(region, AccessKind::RecvInto)],
            Step::Reduce { src, dst, .. } | Step::Copy { src, dst } => {
                vec![(src, AccessKind::Read), (dst, AccessKind::Write)]
            }
        }
    }

    /// Whether the step is a send or receive (as opposed to local work).
    pub fn is_communication(&self) -> bool {
        matches!(self, Step::Send { .. } | Step::Recv { .. })
    }
}

/// What one rank does in one collective: buffers, steps and their
/// dependencies. Built by a [`ScheduleBuilder`], run by an
/// [`Executor`](crate::Executor).
#[derive(Debug)]
pub struct Schedule {
    pub(crate) rank: usize,
    pub(crate) size: usize,
    pub(crate) bufs: Vec<Vec<u8>>,
    pub(crate) steps: Vec<Step>,
    pub(crate) deps: Vec<Vec<StepId>>,
    pub(crate) output: Option<BufId>,
    pub(crate) input: Option<BufId>,
}

impl Schedule {
    /// Rank the schedule was built for.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Communicator size the schedule was built for.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The steps, in the order they were added.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Steps that `step` waits for.
    pub fn deps(&self, step: StepId) -> &[StepId] {
        &self.deps[step.0]
    }

    /// The contents of a buffer.
    pub fn buffer(&self, buf: BufId) -> &[u8] {
        &self.bufs[buf.0]
    }

    /// Number of buffers.
    pub fn buffer_count(&self) -> usize {
        self.bufs.len()
    }

    /// The buffer holding the result on this rank, if the rank has one.
    pub fn output(&self) -> Option<BufId> {
        self.output
    }

    /// The buffer holding the caller's data, if the schedule has one.
    pub fn input(&self) -> Option<BufId> {
        self.input
    }

    /// The result bytes (empty if this rank has no result).
    pub fn output_bytes(&self) -> &[u8] {
        self.output.map_or(&[][..], |b| &self.bufs[b.0])
    }

    /// Takes the result buffer out of the schedule.
    pub fn into_output(mut self) -> Vec<u8> {
        self.output.map_or_else(Vec::new, |b| std::mem::take(&mut self.bufs[b.0]))
    }

    /// Checks that every two steps that must not run concurrently are
    /// ordered by the dependency graph (directly or transitively): steps
    /// touching overlapping bytes with at least one writing, a receive and
    /// any other step on its buffer, a send and a write to its buffer (see
    /// the module doc). The builder guarantees this; the check exists for
    /// tests and for schedules assembled by other means.
    pub fn check_hazards(&self) -> Result<(), CollError> {
        let n = self.steps.len();
        let words = n.div_ceil(64);
        // reach[i] = set of steps that i depends on, transitively.
        let mut reach = vec![0u64; n * words];
        for i in 0..n {
            for d in &self.deps[i] {
                if d.0 >= i {
                    return Err(CollError::Invalid(format!("step {i} depends on later step {}", d.0)));
                }
                let (before, rest) = reach.split_at_mut(i * words);
                let mine = &mut rest[..words];
                let theirs = &before[d.0 * words..(d.0 + 1) * words];
                for (m, t) in mine.iter_mut().zip(theirs) {
                    *m |= t;
                }
                mine[d.0 / 64] |= 1 << (d.0 % 64);
            }
        }
        let accesses: Vec<_> = self.steps.iter().map(Step::accesses).collect();
        for j in 0..n {
            for i in 0..j {
                if reach[j * words + i / 64] & (1 << (i % 64)) != 0 {
                    continue;
                }
                let clash = accesses[i].iter().any(|(ri, ki)| {
                    accesses[j].iter().any(|(rj, kj)| ri.buf == rj.buf && conflicts(&ri.range, *ki, &rj.range, *kj))
                });
                if clash {
                    return Err(CollError::Invalid(format!(
                        "steps {i} ({:?}) and {j} ({:?}) conflict without ordering",
                        self.steps[i], self.steps[j]
                    )));
                }
            }
        }
        Ok(())
    }
}

impl Drop for Schedule {
    /// Gives the buffers back to the pool for the next collective.
    fn drop(&mut self) {
        for b in self.bufs.drain(..) {
            crate::pool::give(b);
        }
    }
}

/// Where an embedded schedule ended up (see [`ScheduleBuilder::embed`]).
#[derive(Debug, Clone)]
pub struct Embedded {
    /// The sub-schedule's output buffer, if it has one on this rank.
    pub output: Option<BufId>,
    /// The sub-schedule's input buffer, if it has one.
    pub input: Option<BufId>,
    /// The appended steps, in order.
    pub steps: Vec<StepId>,
}

/// How a step touches a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AccessKind {
    /// A local step reads it.
    Read,
    /// A local step writes it.
    Write,
    /// A send reads it for as long as the send is outstanding.
    SendFrom,
    /// A receive writes it for as long as the receive is outstanding.
    RecvInto,
}

impl AccessKind {
    fn writes(self) -> bool {
        matches!(self, AccessKind::Write | AccessKind::RecvInto)
    }
}

/// Whether two accesses to one buffer must be ordered. Besides data
/// hazards on overlapping bytes, an outstanding receive excludes any other
/// access to its buffer and an outstanding send excludes writes to its
/// buffer: safe Rust can only slice a buffer through a reference to all of
/// it, and the point-to-point layer may hold a pointer into it meanwhile.
fn conflicts(a: &Range<usize>, ka: AccessKind, b: &Range<usize>, kb: AccessKind) -> bool {
    if a.is_empty() || b.is_empty() {
        return false;
    }
    let overlap = a.start < b.end && b.start < a.end;
    (overlap && (ka.writes() || kb.writes()))
        || ka == AccessKind::RecvInto
        || kb == AccessKind::RecvInto
        || (ka == AccessKind::SendFrom && kb.writes())
        || (kb == AccessKind::SendFrom && ka.writes())
}

/// One earlier access to a buffer region, remembered for hazard tracking.
#[derive(Debug)]
struct Access {
    step: StepId,
    range: Range<usize>,
    kind: AccessKind,
}

/// Builds a [`Schedule`] in program order, deriving data dependencies
/// between steps from the buffer regions they touch (see the module doc).
#[derive(Debug)]
pub struct ScheduleBuilder {
    schedule: Schedule,
    accesses: Vec<Vec<Access>>,
}

impl ScheduleBuilder {
    /// A builder for rank `rank` of a communicator of `size` ranks.
    pub fn new(rank: usize, size: usize) -> Result<ScheduleBuilder, CollError> {
        if rank >= size {
            return Err(CollError::Invalid(format!("rank {rank} out of range for size {size}")));
        }
        Ok(ScheduleBuilder {
            schedule: Schedule {
                rank,
                size,
                bufs: Vec::new(),
                steps: Vec::new(),
                deps: Vec::new(),
                output: None,
                input: None,
            },
            accesses: Vec::new(),
        })
    }

    /// Rank being built for.
    pub fn rank(&self) -> usize {
        self.schedule.rank
    }

    /// Communicator size being built for.
    pub fn size(&self) -> usize {
        self.schedule.size
    }

    /// Adds a buffer holding `data`.
    pub fn buffer(&mut self, data: Vec<u8>) -> BufId {
        self.schedule.bufs.push(data);
        self.accesses.push(Vec::new());
        BufId(self.schedule.bufs.len() - 1)
    }

    /// Adds a zero-filled buffer of `len` bytes.
    pub fn zeroed(&mut self, len: usize) -> BufId {
        self.buffer(crate::pool::zeroed(len))
    }

    /// The whole of buffer `buf` as a region.
    pub fn whole(&self, buf: BufId) -> Region {
        Region::new(buf, 0..self.schedule.bufs[buf.0].len())
    }

    /// Marks `buf` as the buffer that holds the caller's data, refilled by
    /// [`Collective::restart`](crate::Collective::restart).
    pub fn set_input(&mut self, buf: BufId) {
        self.schedule.input = Some(buf);
    }

    /// Marks `buf` as the buffer holding this rank's result.
    pub fn set_output(&mut self, buf: BufId) {
        self.schedule.output = Some(buf);
    }

    /// Adds a send of `region` to `peer`, after `after` and its data dependencies.
    pub fn send(&mut self, peer: usize, tag: u32, region: Region, after: &[StepId]) -> Result<StepId, CollError> {
        self.check_peer(peer, tag)?;
        self.push(Step::Send { peer, tag, region }, after)
    }

    /// Adds a receive from `peer` into `region`, after `after` and its data dependencies.
    pub fn recv(&mut self, peer: usize, tag: u32, region: Region, after: &[StepId]) -> Result<StepId, CollError> {
        self.check_peer(peer, tag)?;
        self.push(Step::Recv { peer, tag, region }, after)
    }

    /// Adds a reduction of `src` into `dst` with operand order `order`.
    pub fn reduce(
        &mut self,
        op: &Arc<dyn ReduceOp>,
        src: Region,
        dst: Region,
        order: OperandOrder,
        after: &[StepId],
    ) -> Result<StepId, CollError> {
        if src.len() != dst.len() {
            return Err(CollError::Invalid(format!(
                "reduce operands differ in length ({} and {})",
                src.len(),
                dst.len()
            )));
        }
        check_elements(op.as_ref(), src.len())?;
        if src.overlaps(&dst) {
            return Err(CollError::Invalid("reduce operands overlap".into()));
        }
        let op = Arc::clone(op);
        self.push(Step::Reduce { op, src, dst, order }, after)
    }

    /// Adds a copy of `src` to `dst`.
    pub fn copy(&mut self, src: Region, dst: Region, after: &[StepId]) -> Result<StepId, CollError> {
        if src.len() != dst.len() {
            return Err(CollError::Invalid(format!("copy regions differ in length ({} and {})", src.len(), dst.len())));
        }
        if src.overlaps(&dst) {
            return Err(CollError::Invalid("copy regions overlap".into()));
        }
        self.push(Step::Copy { src, dst }, after)
    }

    /// Appends `sub`, a schedule built for rank `sub.rank()` of a
    /// communicator of `sub.size()` ranks, as steps of this one: its peer
    /// `i` is this schedule's rank `peers[i]`, its tags are shifted by
    /// `tag_base`, and its buffers become new buffers here, except that its
    /// input buffer becomes `input` when given (same length; the sub's own
    /// initial bytes are then dropped and it reads whatever `input` holds at
    /// that point in program order). Every appended step also waits for
    /// `after`. Returns where the sub's buffers went, so later steps can read
    /// its output (the builder orders them after the writes).
    ///
    /// This is how composite collectives (intercommunicator forms, node-aware
    /// forms) reuse the intra-communicator algorithms over subsets of ranks.
    /// Each sub-collective embedded over the same ranks needs its own tag
    /// range: algorithms use tags up to 64 (see the crate doc).
    pub fn embed(
        &mut self,
        sub: Schedule,
        peers: &[usize],
        tag_base: u32,
        input: Option<BufId>,
        after: &[StepId],
    ) -> Result<Embedded, CollError> {
        if peers.len() != sub.size || peers.get(sub.rank) != Some(&self.schedule.rank) {
            return Err(CollError::Invalid(format!(
                "embedding rank {} of {} through {} peers that do not map it to rank {}",
                sub.rank,
                sub.size,
                peers.len(),
                self.schedule.rank
            )));
        }
        let mut sub = sub;
        let (bufs, steps, deps) =
            (std::mem::take(&mut sub.bufs), std::mem::take(&mut sub.steps), std::mem::take(&mut sub.deps));
        let (output, sub_input) = (sub.output, sub.input);
        let mut map = Vec::with_capacity(bufs.len());
        for (i, data) in bufs.into_iter().enumerate() {
            match input {
                Some(outer) if sub_input == Some(BufId(i)) => {
                    let have = self.schedule.bufs.get(outer.0).map(Vec::len);
                    if have != Some(data.len()) {
                        return Err(CollError::Invalid(format!(
                            "embedded input of {} bytes mapped to a buffer of {have:?}",
                            data.len()
                        )));
                    }
                    map.push(outer);
                }
                _ => map.push(self.buffer(data)),
            }
        }
        let region = |r: Region| Region::new(map[r.buf.0], r.range);
        let mut ids: Vec<StepId> = Vec::with_capacity(steps.len());
        for (step, d) in steps.into_iter().zip(deps) {
            let mut wait: Vec<StepId> = d.iter().map(|x| ids[x.0]).collect();
            wait.extend_from_slice(after);
            let id = match step {
                Step::Send { peer, tag, region: r } => self.send(peers[peer], tag_base + tag, region(r), &wait)?,
                Step::Recv { peer, tag, region: r } => self.recv(peers[peer], tag_base + tag, region(r), &wait)?,
                Step::Reduce { op, src, dst, order } => self.reduce(&op, region(src), region(dst), order, &wait)?,
                Step::Copy { src, dst } => self.copy(region(src), region(dst), &wait)?,
            };
            ids.push(id);
        }
        Ok(Embedded { output: output.map(|b| map[b.0]), input: sub_input.map(|b| map[b.0]), steps: ids })
    }

    /// The finished schedule.
    pub fn finish(self) -> Schedule {
        self.schedule
    }

    fn check_peer(&self, peer: usize, tag: u32) -> Result<(), CollError> {
        if peer >= self.schedule.size {
            return Err(CollError::Invalid(format!("peer {peer} out of range for size {}", self.schedule.size)));
        }
        if tag > MAX_TAG {
            return Err(CollError::Invalid(format!("tag {tag} above MAX_TAG")));
        }
        Ok(())
    }

    fn push(&mut self, step: Step, after: &[StepId]) -> Result<StepId, CollError> {
        let id = StepId(self.schedule.steps.len());
        let mut deps: Vec<StepId> = Vec::with_capacity(after.len() + 2);
        for a in after {
            if a.0 >= id.0 {
                return Err(CollError::Invalid(format!("dependency on step {} that does not exist yet", a.0)));
            }
            deps.push(*a);
        }
        let accesses = step.accesses();
        for (region, _) in &accesses {
            let len = self.schedule.bufs.get(region.buf.0).map(Vec::len);
            match len {
                Some(len) if region.range.start <= region.range.end && region.range.end <= len => {}
                _ => return Err(CollError::Invalid(format!("region {region:?} outside the schedule's buffers"))),
            }
        }
        // Dependencies on earlier conflicting accesses.
        for (region, kind) in &accesses {
            for a in &self.accesses[region.buf.0] {
                if conflicts(&a.range, a.kind, &region.range, *kind) {
                    deps.push(a.step);
                }
            }
        }
        // Record this step's accesses. A write of a whole buffer replaces
        // the accesses before it: anything that conflicts with them later
        // conflicts with this write, which already waits for them.
        for (region, kind) in &accesses {
            if region.is_empty() {
                continue;
            }
            let whole = self.schedule.bufs[region.buf.0].len();
            let list = &mut self.accesses[region.buf.0];
            if kind.writes() && region.range == (0..whole) {
                list.clear();
            }
            list.push(Access { step: id, range: region.range.clone(), kind: *kind });
        }
        deps.sort_unstable();
        deps.dedup();
        self.schedule.steps.push(step);
        self.schedule.deps.push(deps);
        Ok(id)
    }
}

/// Checks that `len` bytes hold whole elements of `op`.
pub(crate) fn check_elements(op: &dyn ReduceOp, len: usize) -> Result<(), CollError> {
    let size = op.elem_size();
    if size == 0 {
        return Err(CollError::Invalid("reduction element size is zero".into()));
    }
    if len % size != 0 {
        return Err(CollError::Invalid(format!("{len} bytes is not a whole number of {size}-byte elements")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct ByteXor;
    impl ReduceOp for ByteXor {
        fn apply(&self, input: &[u8], inout: &mut [u8]) {
            for (o, i) in inout.iter_mut().zip(input) {
                *o ^= i;
            }
        }
        fn commutative(&self) -> bool {
            true
        }
        fn elem_size(&self) -> usize {
            1
        }
    }

    fn ids(v: &[usize]) -> Vec<StepId> {
        v.iter().map(|&i| StepId(i)).collect()
    }

    #[test]
    fn builder_derives_read_after_write_write_after_read_and_write_after_write() {
        let mut b = ScheduleBuilder::new(0, 2).unwrap();
        let x = b.zeroed(8);
        let y = b.zeroed(8);
        let recv = b.recv(1, 0, Region::new(x, 0..8), &[]).unwrap();
        let send = b.send(1, 1, Region::new(x, 0..4), &[]).unwrap(); // reads what recv wrote
        let copy = b.copy(Region::new(x, 4..8), Region::new(y, 0..4), &[]).unwrap();
        let overwrite = b.recv(1, 2, Region::new(x, 0..8), &[]).unwrap(); // after both readers
        let again = b.recv(1, 3, Region::new(y, 0..8), &[]).unwrap(); // after the copy wrote y
        let s = b.finish();
        assert_eq!(s.deps(recv), &[]);
        assert_eq!(s.deps(send), ids(&[0]));
        assert_eq!(s.deps(copy), ids(&[0]));
        assert_eq!(s.deps(overwrite), ids(&[0, 1, 2]));
        assert_eq!(s.deps(again), ids(&[2]));
        s.check_hazards().unwrap();
    }

    #[test]
    fn communication_is_ordered_per_buffer() {
        let mut b = ScheduleBuilder::new(0, 2).unwrap();
        let x = b.zeroed(8);
        let y = b.zeroed(8);
        let op: Arc<dyn ReduceOp> = Arc::new(ByteXor);
        let r0 = b.recv(1, 0, Region::new(x, 0..4), &[]).unwrap();
        let r1 = b.recv(1, 1, Region::new(x, 4..8), &[]).unwrap(); // same buffer: waits
        let s0 = b.send(1, 2, Region::new(y, 0..4), &[]).unwrap();
        let s1 = b.send(1, 3, Region::new(y, 4..8), &[]).unwrap(); // concurrent sends: fine
        let w = b.reduce(&op, Region::new(x, 0..2), Region::new(y, 6..8), OperandOrder::SrcFirst, &[]).unwrap(); // writes y while sends from it run: waits for both
        let empty = b.recv(1, 4, Region::new(x, 2..2), &[]).unwrap();
        let s = b.finish();
        assert!(s.deps(r0).is_empty());
        assert_eq!(s.deps(r1), ids(&[0]));
        assert!(s.deps(s0).is_empty());
        assert!(s.deps(s1).is_empty());
        assert_eq!(s.deps(w), ids(&[0, 1, 2, 3]));
        assert!(s.deps(empty).is_empty(), "empty regions touch nothing");
        s.check_hazards().unwrap();
    }

    #[test]
    fn builder_rejects_bad_steps() {
        let mut b = ScheduleBuilder::new(0, 2).unwrap();
        let x = b.zeroed(8);
        let op: Arc<dyn ReduceOp> = Arc::new(ByteXor);
        assert!(b.send(2, 0, Region::new(x, 0..8), &[]).is_err(), "peer out of range");
        assert!(b.send(1, MAX_TAG + 1, Region::new(x, 0..8), &[]).is_err(), "tag too large");
        assert!(b.send(1, 0, Region::new(x, 0..9), &[]).is_err(), "region past the end");
        assert!(b.send(1, 0, Region::new(BufId(5), 0..0), &[]).is_err(), "no such buffer");
        assert!(b.send(1, 0, Region::new(x, 0..1), &[StepId(0)]).is_err(), "dependency on the future");
        assert!(b.reduce(&op, Region::new(x, 0..4), Region::new(x, 2..6), OperandOrder::SrcFirst, &[]).is_err());
        assert!(b.copy(Region::new(x, 0..4), Region::new(x, 0..3), &[]).is_err());
        assert!(ScheduleBuilder::new(2, 2).is_err());
    }

    #[test]
    fn hazard_check_finds_a_receive_concurrent_with_a_send_of_its_buffer() {
        let mut b = ScheduleBuilder::new(0, 2).unwrap();
        let x = b.zeroed(8);
        b.send(1, 0, Region::new(x, 0..4), &[]).unwrap();
        b.recv(1, 0, Region::new(x, 4..8), &[]).unwrap();
        let mut s = b.finish();
        s.check_hazards().unwrap();
        s.deps[1].clear();
        assert!(s.check_hazards().is_err(), "disjoint bytes, same buffer");
    }

    #[test]
    fn hazard_check_finds_unordered_conflicts() {
        let mut b = ScheduleBuilder::new(0, 2).unwrap();
        let x = b.zeroed(8);
        b.recv(1, 0, Region::new(x, 0..8), &[]).unwrap();
        b.send(1, 0, Region::new(x, 0..8), &[]).unwrap();
        let mut s = b.finish();
        s.check_hazards().unwrap();
        s.deps[1].clear();
        assert!(s.check_hazards().is_err());
    }
}
