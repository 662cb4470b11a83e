//! Collective operations and reduction operators.
//!
//! * [`CommunicatorCollectives`] (every communicator): `all_reduce_into`,
//!   `all_gather_into`, `immediate_barrier`, `immediate_all_reduce_into`.
//! * [`Root`] (a [`Process`] acting as the root): `broadcast_into`,
//!   `reduce_into_root` and `gather_into_root` (called on the root),
//!   `reduce_into` and `gather_into` (called on the others),
//!   `immediate_broadcast_into`.
//! * Operators: [`SystemOperation`] (MPI's predefined operators, applied to
//!   the element type's primitive: `i32`, `f64`, `[u8; 4]`, …) and
//!   [`UserOperation`] (a closure over elements, for any `Equivalence`
//!   type including derived structs).
//!
//! Every process of the communicator must call a collective with matching
//! arguments (same root, same lengths, same operator).

use std::sync::Arc;

use rmpi_runtime::api;
use rmpi_runtime::ops::{PredefOp, Prim, UserOp};
use rmpi_runtime::{Collective, ReduceOp};

use crate::datatype::{self, Buffer, BufferMut, Equivalence};
use crate::point_to_point::{AsCommunicatorHandle, Destination, Process, RecvInto};
use crate::request::{Request, Scope};
use crate::topology::Communicator;
use crate::{fatal, ErrorClass, MpiError, Rank};

/// A reduction operator that can reduce elements of `T`.
pub trait Operation<T: Equivalence> {
    /// The operator as the runtime applies it to bytes; an error of class
    /// [`ErrorClass::Op`] if it is not defined for `T`.
    fn reduce_op(&self) -> Result<Arc<dyn ReduceOp>, MpiError>;
}

/// MPI's predefined reduction operators.
///
/// They apply to types whose [`Equivalence::PRIM`] is known (numbers, `bool`
/// and arrays of them) element-wise. Sum, product, max and min work on
/// numbers; the logical operators on integers and `bool`; the bitwise ones
/// on integers. Integer sums and products wrap. `bool` takes the logical
/// operators only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemOperation(PredefOp);

impl SystemOperation {
    /// `MPI_SUM`.
    pub fn sum() -> Self {
        SystemOperation(PredefOp::Sum)
    }
    /// `MPI_PROD`.
    pub fn product() -> Self {
        SystemOperation(PredefOp::Prod)
    }
    /// `MPI_MAX`.
    pub fn max() -> Self {
        SystemOperation(PredefOp::Max)
    }
    /// `MPI_MIN`.
    pub fn min() -> Self {
        SystemOperation(PredefOp::Min)
    }
    /// `MPI_LAND`.
    pub fn logical_and() -> Self {
        SystemOperation(PredefOp::Land)
    }
    /// `MPI_LOR`.
    pub fn logical_or() -> Self {
        SystemOperation(PredefOp::Lor)
    }
    /// `MPI_LXOR`.
    pub fn logical_xor() -> Self {
        SystemOperation(PredefOp::Lxor)
    }
    /// `MPI_BAND`.
    pub fn bitwise_and() -> Self {
        SystemOperation(PredefOp::Band)
    }
    /// `MPI_BOR`.
    pub fn bitwise_or() -> Self {
        SystemOperation(PredefOp::Bor)
    }
    /// `MPI_BXOR`.
    pub fn bitwise_xor() -> Self {
        SystemOperation(PredefOp::Bxor)
    }

    /// The runtime's operator.
    pub fn predefined(&self) -> PredefOp {
        self.0
    }

    /// This operator on the primitive `prim`, or an [`ErrorClass::Op`] error.
    pub fn on_prim(&self, prim: Prim) -> Result<Arc<dyn ReduceOp>, MpiError> {
        let logical = matches!(self.0, PredefOp::Land | PredefOp::Lor | PredefOp::Lxor);
        if prim == Prim::Bool && !logical {
            return Err(MpiError::new(
                ErrorClass::Op,
                format!("{:?} is not defined for bool (use a logical operator)", self.0),
            ));
        }
        api::predefined_op(self.0, prim)
    }
}

impl<T: Equivalence> Operation<T> for SystemOperation {
    fn reduce_op(&self) -> Result<Arc<dyn ReduceOp>, MpiError> {
        match T::PRIM {
            Some(p) => self.on_prim(p),
            None => Err(MpiError::new(
                ErrorClass::Op,
                format!(
                    "predefined operator {:?} needs a primitive element type; `{}` has none (use a UserOperation)",
                    self.0,
                    std::any::type_name::<T>()
                ),
            )),
        }
    }
}

type UserFn<T> = dyn Fn(&[T], &mut [T]) + Send + Sync;

/// A reduction operator written as a closure `f(x, acc)` that folds `x`
/// into `acc` element by element: `acc[i] = x[i] ∘ acc[i]`, where `x` comes
/// from lower ranks than `acc` (MPI's `invec`, `inoutvec` convention).
///
/// The closure must not call MPI. A panic in it, or bytes that are not
/// valid values of `T`, end the process.
pub struct UserOperation<T: Equivalence> {
    f: Arc<UserFn<T>>,
    commutative: bool,
}

impl<T: Equivalence> Clone for UserOperation<T> {
    fn clone(&self) -> Self {
        UserOperation { f: self.f.clone(), commutative: self.commutative }
    }
}

impl<T: Equivalence> UserOperation<T> {
    /// A commutative operator (MPI may combine operands in any order).
    pub fn commutative(f: impl Fn(&[T], &mut [T]) + Send + Sync + 'static) -> Self {
        UserOperation { f: Arc::new(f), commutative: true }
    }

    /// An associative, non-commutative operator (operands combine in rank
    /// order).
    pub fn non_commutative(f: impl Fn(&[T], &mut [T]) + Send + Sync + 'static) -> Self {
        UserOperation { f: Arc::new(f), commutative: false }
    }

    /// Whether the operator is commutative.
    pub fn is_commutative(&self) -> bool {
        self.commutative
    }

    /// The operator over bytes, as the runtime applies it.
    pub fn to_reduce_op(&self) -> Arc<dyn ReduceOp> {
        let f = self.f.clone();
        let apply = move |input: &[u8], inout: &mut [u8]| {
            // Byte buffers from the runtime need not be aligned for T, and
            // may come from another process: copy them into checked values.
            let x: Vec<T> = datatype::vec_from_bytes(input).expect("rmpi: user reduction got invalid input bytes");
            let mut acc: Vec<T> = datatype::vec_from_bytes(inout).expect("rmpi: user reduction got invalid bytes");
            assert_eq!(x.len(), acc.len(), "rmpi: user reduction operands differ in length");
            f(&x, &mut acc);
            inout.copy_from_slice(datatype::as_bytes(&acc));
        };
        Arc::new(UserOp { f: Box::new(apply), commute: self.commutative, elem_size: std::mem::size_of::<T>().max(1) })
    }
}

impl<T: Equivalence> Operation<T> for UserOperation<T> {
    fn reduce_op(&self) -> Result<Arc<dyn ReduceOp>, MpiError> {
        Ok(self.to_reduce_op())
    }
}

impl<T: Equivalence> Operation<T> for &UserOperation<T> {
    fn reduce_op(&self) -> Result<Arc<dyn ReduceOp>, MpiError> {
        Ok(self.to_reduce_op())
    }
}

/// Run `f` on the bytes of `dest` (staged and checked for types that need
/// it), for collectives that fill the whole buffer.
fn with_bytes_mut<T: Equivalence, R>(
    dest: &mut [T],
    f: impl FnOnce(&mut [u8]) -> Result<R, MpiError>,
) -> Result<R, MpiError> {
    let mut target = RecvInto::new(dest);
    let r = f(target.bytes())?;
    target.finish_whole()?;
    Ok(r)
}

fn same_length(send: &[u8], recv: &[u8], what: &str) -> Result<(), MpiError> {
    if send.len() != recv.len() {
        return Err(MpiError::new(
            ErrorClass::Count,
            format!("{what}: send buffer has {} bytes but receive buffer {}", send.len(), recv.len()),
        ));
    }
    Ok(())
}

/// This rank's zero-filled gather block: `send` at its rank's place in a
/// buffer of `size` blocks, checked against the receive length.
fn check_gather_len(send: &[u8], size: usize, recv_len: usize) -> Result<(), MpiError> {
    if recv_len != send.len() * size {
        return Err(MpiError::new(
            ErrorClass::Count,
            format!("gather: receive buffer has {recv_len} bytes, expected {size} blocks of {} bytes", send.len()),
        ));
    }
    Ok(())
}

/// Gather every process's `send` in rank order into `recv`: on `root` only
/// (`MPI_Gather`), or on every process when `root` is `None` (`MPI_Allgather`).
fn gather_bytes<S, R>(comm: rmpi_runtime::CommId, root: Option<usize>, send: &S, recv: &mut R) -> Result<(), MpiError>
where
    S: Buffer + ?Sized,
    R: BufferMut<Item = S::Item> + ?Sized,
{
    let data = send.bytes().to_vec();
    let size = api::comm_size(comm)? as usize;
    check_gather_len(&data, size, std::mem::size_of_val(recv.elements_mut()))?;
    with_bytes_mut(recv.elements_mut(), |rb| {
        let out = api::coll_blocking(comm, |r, n| match root {
            Some(root) => Collective::gather(r, n, root, data, false),
            None => Collective::allgather(r, n, data, false),
        })?;
        rb.copy_from_slice(&out[..rb.len()]);
        Ok(())
    })
}

/// Collective operations over every process of a communicator.
pub trait CommunicatorCollectives: Communicator {
    /// Reduce `send` from every process with `op` into `recv` on every
    /// process (`MPI_Allreduce`); `send` and `recv` hold the same number of
    /// elements. The error if it fails.
    fn try_all_reduce_into<S, R, O>(&self, send: &S, recv: &mut R, op: O) -> Result<(), MpiError>
    where
        S: Buffer + ?Sized,
        R: BufferMut<Item = S::Item> + ?Sized,
        O: Operation<S::Item>,
    {
        let op = op.reduce_op()?;
        let sb = send.bytes();
        with_bytes_mut(recv.elements_mut(), |rb| {
            same_length(sb, rb, "MPI_Allreduce")?;
            api::allreduce(sb, rb, op, self.comm_handle())
        })
    }

    /// [`try_all_reduce_into`](Self::try_all_reduce_into); panics on error.
    fn all_reduce_into<S, R, O>(&self, send: &S, recv: &mut R, op: O)
    where
        S: Buffer + ?Sized,
        R: BufferMut<Item = S::Item> + ?Sized,
        O: Operation<S::Item>,
    {
        self.try_all_reduce_into(send, recv, op).unwrap_or_else(|e| fatal("MPI_Allreduce", e))
    }

    /// Gather `send` from every process, in rank order, into `recv` on
    /// every process (`MPI_Allgather`); `recv` holds `size` times as many
    /// elements as `send`. The error if it fails.
    ///
    fn try_all_gather_into<S, R>(&self, send: &S, recv: &mut R) -> Result<(), MpiError>
    where
        S: Buffer + ?Sized,
        R: BufferMut<Item = S::Item> + ?Sized,
    {
        gather_bytes(self.comm_handle(), None, send, recv)
    }

    /// [`try_all_gather_into`](Self::try_all_gather_into); panics on error.
    fn all_gather_into<S, R>(&self, send: &S, recv: &mut R)
    where
        S: Buffer + ?Sized,
        R: BufferMut<Item = S::Item> + ?Sized,
    {
        self.try_all_gather_into(send, recv).unwrap_or_else(|e| fatal("MPI_Allgather", e))
    }

    /// Start a barrier (`MPI_Ibarrier`); it completes once every process has
    /// started it.
    fn immediate_barrier(&self) -> Request<'static> {
        let id = api::ibarrier(self.comm_handle()).unwrap_or_else(|e| fatal("MPI_Ibarrier", e));
        Request::unscoped(id, None)
    }

    /// Start an all-reduce (`MPI_Iallreduce`). `send` is read before this
    /// returns; `recv` is borrowed for the scope and filled on completion.
    fn immediate_all_reduce_into<'a, 's, S, R, O>(
        &self,
        scope: &'s Scope<'a>,
        send: &S,
        recv: &'a mut R,
        op: O,
    ) -> Request<'s>
    where
        S: Buffer + ?Sized,
        R: BufferMut<Item = S::Item> + ?Sized,
        O: Operation<S::Item>,
    {
        let op = op.reduce_op().unwrap_or_else(|e| fatal("MPI_Iallreduce", e));
        let sb = send.bytes();
        let (ptr, len, finish) = RecvInto::new(recv.elements_mut()).into_raw(true);
        if sb.len() != len {
            fatal(
                "MPI_Iallreduce",
                MpiError::new(
                    ErrorClass::Count,
                    format!("send buffer has {} bytes but receive buffer {len}", sb.len()),
                ),
            );
        }
        // SAFETY: `ptr..ptr+len` is `recv` (borrowed mutably for 'a, which
        // outlives the scope that waits for this request) or a staging block
        // owned by `finish` (see `RecvInto::into_raw`).
        let id =
            unsafe { api::iallreduce(sb, ptr, op, self.comm_handle()) }.unwrap_or_else(|e| fatal("MPI_Iallreduce", e));
        Request::scoped(id, scope, Some(finish))
    }
}

impl<C: Communicator + ?Sized> CommunicatorCollectives for C {}

/// Collective operations rooted at one process.
pub trait Root: AsCommunicatorHandle {
    /// The root's rank.
    fn root_rank(&self) -> Rank;

    /// Broadcast the root's `buf` into `buf` on every process (`MPI_Bcast`);
    /// the error if it fails.
    fn try_broadcast_into<B: BufferMut + ?Sized>(&self, buf: &mut B) -> Result<(), MpiError> {
        with_bytes_mut(buf.elements_mut(), |b| api::bcast(b, self.root_rank(), self.comm_handle()))
    }

    /// Broadcast the root's `buf` into `buf` on every process; panics on error.
    fn broadcast_into<B: BufferMut + ?Sized>(&self, buf: &mut B) {
        self.try_broadcast_into(buf).unwrap_or_else(|e| fatal("MPI_Bcast", e))
    }

    /// Start a broadcast (`MPI_Ibcast`); `buf` is borrowed for the scope.
    fn immediate_broadcast_into<'a, 's, B: BufferMut + ?Sized>(
        &self,
        scope: &'s Scope<'a>,
        buf: &'a mut B,
    ) -> Request<'s> {
        let (ptr, len, finish) = RecvInto::new(buf.elements_mut()).into_raw(true);
        // SAFETY: as for `immediate_all_reduce_into`: the target lives until
        // the scope has waited for the request.
        let id = unsafe { api::ibcast(ptr, len, self.root_rank(), self.comm_handle()) }
            .unwrap_or_else(|e| fatal("MPI_Ibcast", e));
        Request::scoped(id, scope, Some(finish))
    }

    /// Contribute `send` to a gather at the root (`MPI_Gather`, on
    /// processes other than the root).
    fn gather_into<S: Buffer + ?Sized>(&self, send: &S) {
        let data = send.bytes().to_vec();
        let root = self.root_rank() as usize;
        api::coll_blocking(self.comm_handle(), |r, n| Collective::gather(r, n, root, data, false))
            .map(|_| ())
            .unwrap_or_else(|e| fatal("MPI_Gather", e))
    }

    /// The root's part of a gather: contribute `send` and receive every
    /// process's `send`, in rank order, into `recv` (`MPI_Gather`, on the
    /// root); the error if it fails.
    fn try_gather_into_root<S, R>(&self, send: &S, recv: &mut R) -> Result<(), MpiError>
    where
        S: Buffer + ?Sized,
        R: BufferMut<Item = S::Item> + ?Sized,
    {
        gather_bytes(self.comm_handle(), Some(self.root_rank() as usize), send, recv)
    }

    /// [`try_gather_into_root`](Self::try_gather_into_root); panics on error.
    fn gather_into_root<S, R>(&self, send: &S, recv: &mut R)
    where
        S: Buffer + ?Sized,
        R: BufferMut<Item = S::Item> + ?Sized,
    {
        self.try_gather_into_root(send, recv).unwrap_or_else(|e| fatal("MPI_Gather", e))
    }

    /// Contribute `send` to a reduction whose result goes to the root
    /// (`MPI_Reduce`, on processes other than the root).
    fn reduce_into<S, O>(&self, send: &S, op: O)
    where
        S: Buffer + ?Sized,
        O: Operation<S::Item>,
    {
        let r = op.reduce_op().and_then(|op| api::reduce(send.bytes(), None, op, self.root_rank(), self.comm_handle()));
        r.unwrap_or_else(|e| fatal("MPI_Reduce", e))
    }

    /// The root's part of a reduction: contribute `send` and receive the
    /// result into `recv` (`MPI_Reduce`, on the root); the error if it fails.
    fn try_reduce_into_root<S, R, O>(&self, send: &S, recv: &mut R, op: O) -> Result<(), MpiError>
    where
        S: Buffer + ?Sized,
        R: BufferMut<Item = S::Item> + ?Sized,
        O: Operation<S::Item>,
    {
        let op = op.reduce_op()?;
        let sb = send.bytes();
        with_bytes_mut(recv.elements_mut(), |rb| {
            same_length(sb, rb, "MPI_Reduce")?;
            api::reduce(sb, Some(rb), op, self.root_rank(), self.comm_handle())
        })
    }

    /// [`try_reduce_into_root`](Self::try_reduce_into_root); panics on error.
    fn reduce_into_root<S, R, O>(&self, send: &S, recv: &mut R, op: O)
    where
        S: Buffer + ?Sized,
        R: BufferMut<Item = S::Item> + ?Sized,
        O: Operation<S::Item>,
    {
        self.try_reduce_into_root(send, recv, op).unwrap_or_else(|e| fatal("MPI_Reduce", e))
    }
}

impl Root for Process<'_> {
    fn root_rank(&self) -> Rank {
        self.destination_rank()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Equivalence;

    fn apply<T: Equivalence>(op: Arc<dyn ReduceOp>, x: &[T], acc: &mut [T]) {
        let input = datatype::as_bytes(x).to_vec();
        let mut io = datatype::as_bytes(acc).to_vec();
        op.apply(&input, &mut io);
        assert!(datatype::copy_from_bytes(acc, &io), "result bytes are valid values");
    }

    #[test]
    fn system_operations_map_to_the_element_primitive() {
        let mut acc = [1i32, 10, -4];
        apply(<SystemOperation as Operation<i32>>::reduce_op(&SystemOperation::sum()).unwrap(), &[2, 3, 4], &mut acc);
        assert_eq!(acc, [3, 13, 0]);

        let mut acc = [1.5f64, -2.0];
        apply(Operation::<f64>::reduce_op(&SystemOperation::max()).unwrap(), &[0.5, 7.0], &mut acc);
        assert_eq!(acc, [1.5, 7.0]);

        let mut acc = [[0b1100u8, 1], [0b1010, 0]];
        apply(
            Operation::<[u8; 2]>::reduce_op(&SystemOperation::bitwise_xor()).unwrap(),
            &[[0b0110, 1], [0, 1]],
            &mut acc,
        );
        assert_eq!(acc, [[0b1010, 0], [0b1010, 1]]);

        let mut acc = [true, true, false];
        apply(Operation::<bool>::reduce_op(&SystemOperation::logical_and()).unwrap(), &[true, false, false], &mut acc);
        assert_eq!(acc, [true, false, false]);

        let mut acc = [u32::MAX];
        apply(Operation::<u32>::reduce_op(&SystemOperation::sum()).unwrap(), &[2], &mut acc);
        assert_eq!(acc, [1], "integer sums wrap");
    }

    #[test]
    fn undefined_system_operations_are_op_errors() {
        let e = Operation::<f32>::reduce_op(&SystemOperation::bitwise_and()).err().unwrap();
        assert_eq!(e.class, ErrorClass::Op);
        let e = Operation::<bool>::reduce_op(&SystemOperation::sum()).err().unwrap();
        assert_eq!(e.class, ErrorClass::Op);

        #[derive(Clone, Copy, Equivalence)]
        #[repr(C)]
        struct Pair {
            a: i32,
            b: i32,
        }
        let e = Operation::<Pair>::reduce_op(&SystemOperation::sum()).err().unwrap();
        assert_eq!(e.class, ErrorClass::Op);
        assert!(e.message.contains("Pair"), "{}", e.message);
    }

    #[test]
    fn user_operation_folds_input_into_accumulator_over_structs() {
        #[derive(Clone, Copy, Debug, PartialEq, Equivalence)]
        #[repr(C)]
        struct MinLoc {
            value: f64,
            rank: i64,
        }
        let op = UserOperation::commutative(|x: &[MinLoc], acc: &mut [MinLoc]| {
            for (a, b) in x.iter().zip(acc.iter_mut()) {
                if a.value < b.value || (a.value == b.value && a.rank < b.rank) {
                    *b = *a;
                }
            }
        });
        assert!(op.is_commutative());
        let r = Operation::<MinLoc>::reduce_op(&&op).unwrap();
        assert!(r.commutative());
        assert_eq!(r.elem_size(), 16);
        let mut acc = [MinLoc { value: 2.0, rank: 1 }, MinLoc { value: -1.0, rank: 3 }];
        apply(r, &[MinLoc { value: 1.0, rank: 0 }, MinLoc { value: 5.0, rank: 0 }], &mut acc);
        assert_eq!(acc, [MinLoc { value: 1.0, rank: 0 }, MinLoc { value: -1.0, rank: 3 }]);
    }

    #[test]
    fn non_commutative_user_operation_keeps_operand_order() {
        // Concatenation-like: acc = x * 10 + acc keeps order visible.
        let op = UserOperation::non_commutative(|x: &[u64], acc: &mut [u64]| {
            for (a, b) in x.iter().zip(acc.iter_mut()) {
                *b += a * 10;
            }
        });
        let r = op.to_reduce_op();
        assert!(!r.commutative());
        let mut acc = [2u64];
        apply(r, &[1], &mut acc);
        assert_eq!(acc, [12]);
    }

    #[test]
    fn gather_length_must_be_size_blocks() {
        assert!(check_gather_len(&[7, 8], 3, 6).is_ok());
        assert_eq!(check_gather_len(&[7, 8], 3, 5).unwrap_err().class, ErrorClass::Count);
        assert!(check_gather_len(&[], 4, 0).is_ok());
    }

    #[test]
    fn same_length_is_a_count_error() {
        assert_eq!(same_length(&[0; 4], &[0; 8], "x").unwrap_err().class, ErrorClass::Count);
        assert!(same_length(&[0; 4], &[0; 4], "x").is_ok());
    }
}
