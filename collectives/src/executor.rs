//! Runs one [`Schedule`] against a [`P2p`] as a non-blocking state machine.
//!
//! [`Executor::progress`] starts every step whose dependencies are done,
//! tests the outstanding sends and receives, runs local steps (reduce,
//! copy) as soon as they are ready, and reports whether the whole schedule
//! is complete. It never blocks, so the runtime can drive blocking,
//! nonblocking and persistent collectives from one progress loop.
//!
//! Buffer discipline (the [`P2p`] contract): the executor owns the
//! schedule, whose buffers are never resized while it runs, so the bytes
//! handed to `isend`/`irecv` stay at the same address until the token
//! completes. The dependency graph guarantees that nothing touches a buffer
//! while a receive into it is outstanding and nothing writes a buffer while
//! a send from it is outstanding; the executor slices a buffer only to start
//! a step on it, and uses literal empty slices for empty regions. A
//! completed receive is handed to [`P2p::finish_recv`] with its buffer.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::schedule::{OperandOrder, Region, Schedule, Step};
use crate::{CollError, P2p, ReqToken};

/// Where one step is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepState {
    Waiting,
    Active(ReqToken),
    Done,
}

/// Runs one schedule to completion through repeated [`Executor::progress`] calls.
#[derive(Debug)]
pub struct Executor {
    schedule: Schedule,
    /// Dependencies of each step not yet done.
    unmet: Vec<usize>,
    /// Steps that wait for each step.
    dependents: Vec<Vec<usize>>,
    state: Vec<StepState>,
    /// Steps whose dependencies are done but that have not started, lowest first.
    ready: BinaryHeap<Reverse<usize>>,
    /// Started sends and receives.
    active: Vec<usize>,
    done: usize,
    /// Scratch space for [`OperandOrder::DstFirst`] reductions, sized at construction.
    scratch: Vec<u8>,
    failed: bool,
}

impl Executor {
    /// An executor for `schedule`, with nothing started yet.
    pub fn new(schedule: Schedule) -> Executor {
        let n = schedule.steps.len();
        let mut unmet = vec![0; n];
        let mut dependents = vec![Vec::new(); n];
        for (i, deps) in schedule.deps.iter().enumerate() {
            unmet[i] = deps.len();
            for d in deps {
                dependents[d.0].push(i);
            }
        }
        let ready = (0..n).filter(|&i| unmet[i] == 0).map(Reverse).collect();
        let scratch_len = schedule
            .steps
            .iter()
            .map(|s| match s {
                Step::Reduce { src, order: OperandOrder::DstFirst, .. } => src.len(),
                Step::Reduce { src, dst, .. } if src.buf == dst.buf => src.len(),
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        Executor {
            schedule,
            unmet,
            dependents,
            state: vec![StepState::Waiting; n],
            ready,
            active: Vec::new(),
            done: 0,
            scratch: crate::pool::zeroed(scratch_len),
            failed: false,
        }
    }

    /// The schedule being run (its buffers hold partial results until complete).
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Gives the schedule back (for example to read its output).
    pub fn into_schedule(self) -> Schedule {
        self.schedule
    }

    /// Whether no step has started yet (a persistent collective before its
    /// first start).
    pub fn is_fresh(&self) -> bool {
        !self.failed && self.done == 0 && self.active.is_empty()
    }

    /// Re-arms a completed schedule to run again from the start, keeping
    /// its buffers (for persistent collectives). Fails while operations
    /// are outstanding or after an error.
    pub fn reset(&mut self) -> Result<(), CollError> {
        if self.failed || !self.is_complete() {
            return Err(CollError::Invalid("only a completed schedule can be restarted".into()));
        }
        for (i, deps) in self.schedule.deps.iter().enumerate() {
            self.unmet[i] = deps.len();
            self.state[i] = StepState::Waiting;
            if deps.is_empty() {
                self.ready.push(Reverse(i));
            }
        }
        self.done = 0;
        Ok(())
    }

    /// Mutable access to a buffer, for refilling input between runs.
    /// Fails while the schedule runs.
    pub fn buffer_mut(&mut self, buf: crate::BufId) -> Result<&mut [u8], CollError> {
        if (self.done != 0 && !self.is_complete()) || !self.active.is_empty() {
            return Err(CollError::Invalid("buffers are in use by a running schedule".into()));
        }
        self.schedule
            .bufs
            .get_mut(buf.0)
            .map(Vec::as_mut_slice)
            .ok_or_else(|| CollError::Invalid(format!("no buffer {}", buf.0)))
    }

    /// Whether every step has completed.
    pub fn is_complete(&self) -> bool {
        self.done == self.schedule.steps.len()
    }

    /// Number of sends and receives currently outstanding.
    pub fn outstanding(&self) -> usize {
        self.active.len()
    }

    /// Advances the schedule as far as possible without blocking; returns
    /// `true` once every step is complete. After an error the executor is
    /// poisoned: later calls fail too (outstanding operations are not
    /// cancelled; the runtime owns their fate).
    pub fn progress<P: P2p + ?Sized>(&mut self, p2p: &mut P) -> Result<bool, CollError> {
        if self.failed {
            return Err(CollError::Invalid("collective schedule already failed".into()));
        }
        let result = self.advance(p2p);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn advance<P: P2p + ?Sized>(&mut self, p2p: &mut P) -> Result<bool, CollError> {
        loop {
            while let Some(Reverse(s)) = self.ready.pop() {
                self.start(s, p2p)?;
            }
            let mut i = 0;
            while i < self.active.len() {
                let s = self.active[i];
                let StepState::Active(token) = self.state[s] else {
                    unreachable!("active step {s} without a token");
                };
                let complete = p2p.test(token)?;
                if complete {
                    if let Step::Recv { region, .. } = &self.schedule.steps[s] {
                        let buf = slice_mut(&mut self.schedule.bufs, region);
                        p2p.finish_recv(token, buf)?;
                    }
                    self.active.swap_remove(i);
                    self.complete(s);
                } else {
                    i += 1;
                }
            }
            if self.ready.is_empty() {
                break;
            }
        }
        Ok(self.is_complete())
    }

    fn start<P: P2p + ?Sized>(&mut self, s: usize, p2p: &mut P) -> Result<(), CollError> {
        let Schedule { bufs, steps, .. } = &mut self.schedule;
        let local = match &steps[s] {
            Step::Send { peer, tag, region } => {
                let token = p2p.isend(*peer, *tag, slice(bufs, region))?;
                self.state[s] = StepState::Active(token);
                self.active.push(s);
                false
            }
            Step::Recv { peer, tag, region } => {
                let token = p2p.irecv(*peer, *tag, slice_mut(bufs, region))?;
                self.state[s] = StepState::Active(token);
                self.active.push(s);
                false
            }
            Step::Reduce { op, src, dst, order } => {
                let scratch = &mut self.scratch;
                match (order, src.buf == dst.buf) {
                    (OperandOrder::SrcFirst, false) => {
                        let (input, inout) = split_regions(bufs, src, dst);
                        op.apply(input, inout);
                    }
                    (OperandOrder::SrcFirst, true) => {
                        let scratch = &mut scratch[..src.len()];
                        scratch.copy_from_slice(&bufs[src.buf.0][src.range.clone()]);
                        op.apply(scratch, &mut bufs[dst.buf.0][dst.range.clone()]);
                    }
                    (OperandOrder::DstFirst, _) => {
                        // dst = dst (op) src: compute into a copy of src, then move back.
                        let scratch = &mut scratch[..src.len()];
                        scratch.copy_from_slice(&bufs[src.buf.0][src.range.clone()]);
                        let d = &mut bufs[dst.buf.0][dst.range.clone()];
                        op.apply(d, scratch);
                        d.copy_from_slice(scratch);
                    }
                }
                true
            }
            Step::Copy { src, dst } => {
                if src.buf == dst.buf {
                    let buf = &mut bufs[src.buf.0];
                    buf.copy_within(src.range.clone(), dst.range.start);
                } else {
                    let (from, to) = split_regions(bufs, src, dst);
                    to.copy_from_slice(from);
                }
                true
            }
        };
        if local {
            self.complete(s);
        }
        Ok(())
    }

    fn complete(&mut self, s: usize) {
        self.state[s] = StepState::Done;
        self.done += 1;
        for &d in &self.dependents[s] {
            self.unmet[d] -= 1;
            if self.unmet[d] == 0 {
                self.ready.push(Reverse(d));
            }
        }
    }
}

/// The bytes of `region`; an empty region borrows nothing of its buffer.
fn slice<'a>(bufs: &'a [Vec<u8>], region: &Region) -> &'a [u8] {
    if region.is_empty() {
        &[]
    } else {
        &bufs[region.buf.0][region.range.clone()]
    }
}

/// The bytes of `region`, mutably; an empty region borrows nothing of its buffer.
fn slice_mut<'a>(bufs: &'a mut [Vec<u8>], region: &Region) -> &'a mut [u8] {
    if region.is_empty() {
        &mut []
    } else {
        &mut bufs[region.buf.0][region.range.clone()]
    }
}

/// Borrows `src` shared and `dst` mutably from two different buffers.
fn split_regions<'a>(bufs: &'a mut [Vec<u8>], src: &Region, dst: &Region) -> (&'a [u8], &'a mut [u8]) {
    debug_assert_ne!(src.buf, dst.buf);
    if src.buf.0 < dst.buf.0 {
        let (lo, hi) = bufs.split_at_mut(dst.buf.0);
        (&lo[src.buf.0][src.range.clone()], &mut hi[0][dst.range.clone()])
    } else {
        let (lo, hi) = bufs.split_at_mut(src.buf.0);
        (&hi[0][src.range.clone()], &mut lo[dst.buf.0][dst.range.clone()])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::schedule::{Region, ScheduleBuilder};
    use crate::sim::SimNet;
    use crate::ReduceOp;

    /// `inout = input * 10 + inout` on single bytes: order-revealing.
    struct Digits;
    impl ReduceOp for Digits {
        fn apply(&self, input: &[u8], inout: &mut [u8]) {
            for (o, i) in inout.iter_mut().zip(input) {
                *o += i * 10;
            }
        }
        fn commutative(&self) -> bool {
            false
        }
        fn elem_size(&self) -> usize {
            1
        }
    }

    fn run_local(s: Schedule) -> Schedule {
        let mut net = SimNet::new(1, 0);
        let mut e = Executor::new(s);
        assert!(e.progress(&mut net.endpoint(0)).unwrap());
        e.into_schedule()
    }

    #[test]
    fn local_steps_respect_operand_order_and_copy() {
        let op: Arc<dyn ReduceOp> = Arc::new(Digits);
        let mut b = ScheduleBuilder::new(0, 1).unwrap();
        let a = b.buffer(vec![1, 2]);
        let c = b.buffer(vec![3, 4]);
        let d = b.buffer(vec![5, 6, 7, 8]);
        b.reduce(&op, Region::new(a, 0..1), Region::new(c, 0..1), OperandOrder::SrcFirst, &[]).unwrap(); // c0 = 13
        b.reduce(&op, Region::new(a, 1..2), Region::new(c, 1..2), OperandOrder::DstFirst, &[]).unwrap(); // c1 = 42
        b.reduce(&op, Region::new(d, 0..1), Region::new(d, 1..2), OperandOrder::SrcFirst, &[]).unwrap(); // d1 = 56
        b.reduce(&op, Region::new(d, 2..3), Region::new(d, 3..4), OperandOrder::DstFirst, &[]).unwrap(); // d3 = 87
        let e = b.zeroed(2);
        b.copy(Region::new(c, 0..2), Region::new(e, 0..2), &[]).unwrap();
        b.copy(Region::new(d, 1..2), Region::new(d, 0..1), &[]).unwrap(); // d0 = 56
        b.set_output(e);
        let s = run_local(b.finish());
        assert_eq!(s.buffer(c), &[13, 42]);
        assert_eq!(s.buffer(d), &[56, 56, 7, 87]);
        assert_eq!(s.output_bytes(), &[13, 42]);
    }

    #[test]
    fn empty_schedule_completes_at_once() {
        let s = run_local(ScheduleBuilder::new(0, 1).unwrap().finish());
        assert!(s.output_bytes().is_empty());
    }

    /// A P2p whose operations never complete, to check that progress does
    /// not block and that dependent steps wait.
    struct Stuck {
        started: Vec<(bool, usize, u32)>,
    }
    impl P2p for Stuck {
        fn rank(&self) -> usize {
            0
        }
        fn size(&self) -> usize {
            2
        }
        fn isend(&mut self, peer: usize, tag: u32, _: &[u8]) -> Result<ReqToken, CollError> {
            self.started.push((true, peer, tag));
            Ok(self.started.len() as u64)
        }
        fn irecv(&mut self, peer: usize, tag: u32, _: &mut [u8]) -> Result<ReqToken, CollError> {
            self.started.push((false, peer, tag));
            Ok(self.started.len() as u64)
        }
        fn test(&mut self, _: ReqToken) -> Result<bool, CollError> {
            Ok(false)
        }
    }

    #[test]
    fn progress_never_blocks_and_dependents_wait() {
        let mut b = ScheduleBuilder::new(0, 2).unwrap();
        let x = b.zeroed(4);
        b.recv(1, 0, Region::new(x, 0..4), &[]).unwrap();
        b.send(1, 1, Region::new(x, 0..4), &[]).unwrap();
        let y = b.zeroed(4);
        b.send(1, 2, Region::new(y, 0..4), &[]).unwrap();
        let mut e = Executor::new(b.finish());
        let mut p = Stuck { started: vec![] };
        for _ in 0..3 {
            assert!(!e.progress(&mut p as &mut dyn P2p).unwrap());
        }
        assert_eq!(p.started, vec![(false, 1, 0), (true, 1, 2)]);
        assert_eq!(e.outstanding(), 2);
    }

    /// A P2p that fails every operation.
    struct Broken;
    impl P2p for Broken {
        fn rank(&self) -> usize {
            0
        }
        fn size(&self) -> usize {
            2
        }
        fn isend(&mut self, _: usize, _: u32, _: &[u8]) -> Result<ReqToken, CollError> {
            Err(CollError::P2p("link down".into()))
        }
        fn irecv(&mut self, _: usize, _: u32, _: &mut [u8]) -> Result<ReqToken, CollError> {
            Err(CollError::P2p("link down".into()))
        }
        fn test(&mut self, _: ReqToken) -> Result<bool, CollError> {
            Ok(false)
        }
    }

    #[test]
    fn errors_are_reported_and_poison_the_executor() {
        let mut b = ScheduleBuilder::new(0, 2).unwrap();
        let x = b.zeroed(1);
        b.send(1, 0, Region::new(x, 0..1), &[]).unwrap();
        let mut e = Executor::new(b.finish());
        assert!(matches!(e.progress(&mut Broken), Err(CollError::P2p(_))));
        assert!(e.progress(&mut Broken).is_err());
    }
}
