//! The entry points the runtime calls: one [`Collective`] per collective
//! call, built from the caller's bytes, driven by `progress`, read back
//! with `output`.

use std::sync::Arc;

use crate::executor::Executor;
use crate::schedule::{check_elements, ScheduleBuilder};
use crate::select::{self, CollArgs, CollectiveKind, Selection};
use crate::{CollError, P2p, ReduceOp};

/// One collective operation on one rank: its schedule and the executor's
/// state. Blocking, nonblocking and persistent forms all drive it with
/// [`Collective::progress`].
#[derive(Debug)]
pub struct Collective {
    exec: Executor,
    algorithm: &'static str,
    /// Error found while building, reported by the first `progress`.
    deferred: Option<CollError>,
}

impl Collective {
    /// A barrier for `rank` of `size`. Invalid arguments (or an invalid
    /// override) surface as an error from the first [`Collective::progress`].
    pub fn barrier(rank: usize, size: usize) -> Collective {
        let args = CollArgs {
            rank,
            size,
            root: 0,
            data: Vec::new(),
            op: None,
        };
        let sel = Selection {
            kind: CollectiveKind::Barrier,
            size,
            bytes: 0,
            commutative: true,
        };
        match select::choose(&sel).and_then(|alg| Collective::build(alg, args)) {
            Ok(c) => c,
            Err(e) => Collective::failed(e),
        }
    }

    /// A broadcast from `root`: `data` on the root is the payload; on
    /// others its length is the expected size.
    pub fn bcast(
        rank: usize,
        size: usize,
        root: usize,
        data: Vec<u8>,
    ) -> Result<Collective, CollError> {
        check_root(root, size)?;
        let sel = Selection {
            kind: CollectiveKind::Bcast,
            size,
            bytes: data.len(),
            commutative: true,
        };
        let alg = select::choose(&sel)?;
        Collective::build(
            alg,
            CollArgs {
                rank,
                size,
                root,
                data,
                op: None,
            },
        )
    }

    /// A reduce to `root` of this rank's `data` with `op`. The result is on
    /// the root only (`output()` is empty elsewhere).
    pub fn reduce(
        rank: usize,
        size: usize,
        root: usize,
        data: Vec<u8>,
        op: Arc<dyn ReduceOp>,
    ) -> Result<Collective, CollError> {
        check_root(root, size)?;
        check_elements(op.as_ref(), data.len())?;
        let sel = Selection {
            kind: CollectiveKind::Reduce,
            size,
            bytes: data.len(),
            commutative: op.commutative(),
        };
        let alg = select::choose(&sel)?;
        Collective::build(
            alg,
            CollArgs {
                rank,
                size,
                root,
                data,
                op: Some(op),
            },
        )
    }

    /// An allreduce of this rank's `data` with `op`; every rank gets the
    /// result, in rank order for non-commutative operators.
    pub fn allreduce(
        rank: usize,
        size: usize,
        data: Vec<u8>,
        op: Arc<dyn ReduceOp>,
    ) -> Result<Collective, CollError> {
        check_elements(op.as_ref(), data.len())?;
        let sel = Selection {
            kind: CollectiveKind::Allreduce,
            size,
            bytes: data.len(),
            commutative: op.commutative(),
        };
        let alg = select::choose(&sel)?;
        Collective::build(
            alg,
            CollArgs {
                rank,
                size,
                root: 0,
                data,
                op: Some(op),
            },
        )
    }

    /// A collective run by the registered algorithm `key` (a full key such
    /// as `"allreduce:reduce_bcast"`), bypassing selection: for tuning
    /// tables and tests. All ranks must pass the same key.
    pub fn with_algorithm(key: &str, args: CollArgs) -> Result<Collective, CollError> {
        let alg = select::lookup(key)
            .ok_or_else(|| CollError::Invalid(format!("unknown algorithm {key:?}")))?;
        if alg.kind != CollectiveKind::Barrier && alg.kind != CollectiveKind::Allreduce {
            check_root(args.root, args.size)?;
        }
        if let Some(op) = &args.op {
            check_elements(op.as_ref(), args.data.len())?;
        }
        let sel = Selection {
            kind: alg.kind,
            size: args.size,
            bytes: args.data.len(),
            commutative: args.op.as_ref().map_or(true, |op| op.commutative()),
        };
        if !(alg.supports)(&sel) {
            return Err(CollError::Invalid(format!(
                "algorithm {key} cannot run {sel:?}"
            )));
        }
        Collective::build(alg, args)
    }

    fn build(alg: &'static select::Algorithm, args: CollArgs) -> Result<Collective, CollError> {
        let schedule = (alg.build)(args)?;
        Ok(Collective {
            exec: Executor::new(schedule),
            algorithm: alg.key,
            deferred: None,
        })
    }

    fn failed(error: CollError) -> Collective {
        let empty = ScheduleBuilder::new(0, 1)
            .expect("rank 0 of 1 is valid")
            .finish();
        Collective {
            exec: Executor::new(empty),
            algorithm: "invalid",
            deferred: Some(error),
        }
    }

    /// Advances the collective without blocking; `true` once it is complete
    /// on this rank. `p2p` must be the same communicator on every call, with
    /// the rank and size the collective was built for.
    pub fn progress(&mut self, p2p: &mut dyn P2p) -> Result<bool, CollError> {
        if let Some(e) = self.deferred.take() {
            self.deferred = Some(CollError::Invalid("collective failed to build".into()));
            return Err(e);
        }
        let s = self.exec.schedule();
        if p2p.rank() != s.rank() || p2p.size() != s.size() {
            return Err(CollError::Invalid(format!(
                "collective built for rank {} of {} driven by rank {} of {}",
                s.rank(),
                s.size(),
                p2p.rank(),
                p2p.size()
            )));
        }
        self.exec.progress(p2p)
    }

    /// Re-arms a completed collective to run again with `data` as this
    /// rank's input (same length as at construction; empty for a barrier),
    /// reusing its schedule and buffers: the persistent form
    /// (`MPI_Allreduce_init` then `MPI_Start` after each completion).
    /// All ranks must restart their collectives alike.
    pub fn restart(&mut self, data: &[u8]) -> Result<(), CollError> {
        if self.deferred.is_some() {
            return Err(CollError::Invalid("collective failed to build".into()));
        }
        if !self.exec.is_complete() {
            return Err(CollError::Invalid(
                "only a completed collective can be restarted".into(),
            ));
        }
        match self.exec.schedule().input() {
            Some(input) => {
                let buf = self.exec.buffer_mut(input)?;
                if buf.len() != data.len() {
                    return Err(CollError::Invalid(format!(
                        "restart with {} bytes, built for {}",
                        data.len(),
                        buf.len()
                    )));
                }
                buf.copy_from_slice(data);
            }
            None if data.is_empty() => {}
            None => return Err(CollError::Invalid("this collective takes no data".into())),
        }
        self.exec.reset()
    }

    /// Whether `progress` has returned `true`.
    pub fn is_complete(&self) -> bool {
        self.deferred.is_none() && self.exec.is_complete()
    }

    /// The result (bcast payload / reduced vector) once `progress` returned
    /// `true`; empty for a barrier and on non-root ranks of a reduce.
    pub fn output(&self) -> &[u8] {
        self.exec.schedule().output_bytes()
    }

    /// Takes the result out (see [`Collective::output`]).
    pub fn into_output(self) -> Vec<u8> {
        self.exec.into_schedule().into_output()
    }

    /// Registry key of the algorithm in use (`"invalid"` if building failed).
    pub fn algorithm(&self) -> &'static str {
        self.algorithm
    }

    /// The executor (schedule inspection, outstanding operations).
    pub fn executor(&self) -> &Executor {
        &self.exec
    }
}

fn check_root(root: usize, size: usize) -> Result<(), CollError> {
    if root >= size {
        return Err(CollError::Invalid(format!(
            "root {root} out of range for size {size}"
        )));
    }
    Ok(())
}
