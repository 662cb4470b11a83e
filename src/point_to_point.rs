//! Point-to-point communication: [`Process`], [`AnyProcess`], the
//! [`Destination`] and [`Source`] traits, [`Status`] and matched probes.
//!
//! A [`Process`] names one rank of a communicator; it is both a destination
//! and a source. [`AnyProcess`] is a source that matches any rank
//! (`MPI_ANY_SOURCE`). Sends without a tag use tag 0; receives without a
//! tag match any tag ([`crate::ANY_TAG`]).
//!
//! Each blocking operation comes in an infallible form, which panics with a
//! message naming the MPI function on error, and, for receives into a
//! caller's buffer, a `try_` form that returns the error instead. A message
//! longer than the receive buffer is an error of class
//! [`ErrorClass::Truncate`](crate::ErrorClass::Truncate).

use std::marker::PhantomData;
use std::mem::size_of;

use rmpi_runtime::api::{self, Message as RawMessage};
use rmpi_runtime::{CommId, SendMode};

use crate::datatype::{self, as_bytes_mut, Buffer, BufferMut, Equivalence};
use crate::request::{Finish, OwnedRequest, Request, Scope};
use crate::{fatal, ErrorClass, MpiError, Rank, Tag, ANY_SOURCE, ANY_TAG};

/// The tag of sends that do not name one.
pub const DEFAULT_TAG: Tag = 0;

/// What a completed receive (or probe) tells about its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(rmpi_runtime::Status);

impl Status {
    /// Wrap a runtime status.
    pub fn from_raw(st: rmpi_runtime::Status) -> Status {
        Status(st)
    }

    /// The runtime status.
    pub fn raw(&self) -> rmpi_runtime::Status {
        self.0
    }

    /// Rank of the sender in the communicator.
    pub fn source_rank(&self) -> Rank {
        self.0.source
    }

    /// Tag of the message.
    pub fn tag(&self) -> Tag {
        self.0.tag
    }

    /// Bytes received (for a probe: bytes in the message).
    pub fn count_bytes(&self) -> usize {
        self.0.count
    }

    /// Number of whole elements of `T` received (bytes / `size_of::<T>()`,
    /// rounded down; 0 for zero-sized `T`).
    pub fn count<T: Equivalence>(&self) -> usize {
        match size_of::<T>() {
            0 => 0,
            n => self.0.count / n,
        }
    }

    /// Whether the message was longer than the receive buffer.
    pub fn is_truncated(&self) -> bool {
        self.0.truncated
    }

    /// Whether the operation was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled
    }
}

/// Error for a truncated receive, if it was truncated.
fn check_truncation(st: Status, capacity: usize) -> Result<Status, MpiError> {
    if st.is_truncated() {
        Err(MpiError::new(
            ErrorClass::Truncate,
            format!(
                "message from rank {} with tag {} is longer than the receive buffer of {capacity} bytes",
                st.source_rank(),
                st.tag()
            ),
        ))
    } else {
        Ok(st)
    }
}

/// Check staged bytes and copy the received elements into `dest`.
fn finish_staged<T: Equivalence>(dest: &mut [T], staging: &[u8], st: Status) -> Result<Status, MpiError> {
    let st = check_truncation(st, staging.len())?;
    let got = st.count_bytes().min(staging.len());
    let n = size_of::<T>();
    if n != 0 && got % n != 0 {
        return Err(MpiError::new(
            ErrorClass::Type,
            format!("received {got} bytes, not a whole number of {n}-byte elements"),
        ));
    }
    let elems = got.checked_div(n).unwrap_or(0);
    if !datatype::copy_from_bytes(&mut dest[..elems], &staging[..got]) {
        return Err(MpiError::new(ErrorClass::Type, "received bytes are not valid values of the receive type"));
    }
    Ok(st)
}

/// A receive into `dest`: directly into its bytes when any bytes are valid
/// values, else into a staging buffer checked on completion.
pub(crate) enum RecvInto<'b, T> {
    /// The bytes of `dest`.
    Direct(&'b mut [u8]),
    /// A staging buffer and where its checked contents go.
    Staged(&'b mut [T], Vec<u8>),
}

impl<'b, T: Equivalence> RecvInto<'b, T> {
    pub(crate) fn new(dest: &'b mut [T]) -> Self {
        if T::ALL_BIT_PATTERNS_VALID {
            RecvInto::Direct(as_bytes_mut(dest).expect("all bit patterns valid"))
        } else {
            // Start from the current bytes: collectives such as broadcast
            // read the root's data from the same buffer.
            let staging = datatype::as_bytes(dest).to_vec();
            RecvInto::Staged(dest, staging)
        }
    }

    /// The bytes MPI writes.
    pub(crate) fn bytes(&mut self) -> &mut [u8] {
        match self {
            RecvInto::Direct(b) => b,
            RecvInto::Staged(_, s) => s,
        }
    }

    /// Checks to run once the receive has completed.
    pub(crate) fn finish(self, st: Status) -> Result<Status, MpiError> {
        match self {
            RecvInto::Direct(b) => check_truncation(st, b.len()),
            RecvInto::Staged(dest, staging) => finish_staged(dest, &staging, st),
        }
    }

    /// Checks to run once a collective has filled the whole buffer.
    pub(crate) fn finish_whole(self) -> Result<(), MpiError> {
        match self {
            RecvInto::Direct(_) => Ok(()),
            RecvInto::Staged(dest, staging) => {
                if datatype::copy_from_bytes(dest, &staging) {
                    Ok(())
                } else {
                    Err(MpiError::new(ErrorClass::Type, "received bytes are not valid values of the receive type"))
                }
            }
        }
    }

    /// Split into the raw target (pointer, length) and the completion work.
    ///
    /// The pointer stays valid for `'b`: it points into `dest` (borrowed for
    /// `'b` by the caller; the closure keeps no reference to it, so nothing
    /// aliases the runtime's writes) or into the staging `Vec`, whose heap
    /// block moves into the returned closure and is freed only when the
    /// closure runs or is dropped, i.e. after completion; if the closure is
    /// leaked, so is the block. With `whole`, the completion copies the
    /// whole buffer (collectives, whose status has no count) instead of the
    /// received prefix.
    pub(crate) fn into_raw(self, whole: bool) -> (*mut u8, usize, Finish<'b>) {
        match self {
            RecvInto::Direct(b) => {
                let (ptr, len) = (b.as_mut_ptr(), b.len());
                let finish: Finish<'b> =
                    if whole { Box::new(Ok) } else { Box::new(move |st| check_truncation(st, len)) };
                (ptr, len, finish)
            }
            RecvInto::Staged(dest, mut staging) => {
                let (ptr, len) = (staging.as_mut_ptr(), staging.len());
                let finish: Finish<'b> = if whole {
                    Box::new(move |st| RecvInto::Staged(dest, staging).finish_whole().map(|()| st))
                } else {
                    Box::new(move |st| finish_staged(dest, &staging, st))
                };
                (ptr, len, finish)
            }
        }
    }
}

/// Something with a communicator handle.
pub trait AsCommunicatorHandle {
    /// The runtime handle of the communicator.
    fn comm_handle(&self) -> CommId;
}

/// One process of a communicator: a destination and a source.
#[derive(Debug, Clone, Copy)]
pub struct Process<'c> {
    comm: CommId,
    rank: Rank,
    _comm: PhantomData<&'c ()>,
}

impl<'c> Process<'c> {
    pub(crate) fn new(comm: CommId, rank: Rank) -> Self {
        Process { comm, rank, _comm: PhantomData }
    }

    /// This process's rank in the communicator.
    pub fn rank(&self) -> Rank {
        self.rank
    }

    /// Whether this is the calling process.
    pub fn is_self(&self) -> bool {
        api::comm_rank(self.comm).unwrap_or_else(|e| fatal("MPI_Comm_rank", e)) == self.rank
    }
}

impl AsCommunicatorHandle for Process<'_> {
    fn comm_handle(&self) -> CommId {
        self.comm
    }
}

/// Any process of a communicator, as a source (`MPI_ANY_SOURCE`).
#[derive(Debug, Clone, Copy)]
pub struct AnyProcess<'c> {
    comm: CommId,
    _comm: PhantomData<&'c ()>,
}

impl<'c> AnyProcess<'c> {
    pub(crate) fn new(comm: CommId) -> Self {
        AnyProcess { comm, _comm: PhantomData }
    }
}

impl AsCommunicatorHandle for AnyProcess<'_> {
    fn comm_handle(&self) -> CommId {
        self.comm
    }
}

/// Sending to a process.
pub trait Destination: AsCommunicatorHandle {
    /// The destination rank.
    fn destination_rank(&self) -> Rank;

    /// Send `msg` with `tag` in `mode`; the error if it fails.
    fn try_send_with_mode<B: Buffer + ?Sized>(&self, msg: &B, tag: Tag, mode: SendMode) -> Result<(), MpiError> {
        api::send(msg.bytes(), self.destination_rank(), tag, self.comm_handle(), mode)
    }

    /// Send `msg` with tag 0 (`MPI_Send`).
    fn send<B: Buffer + ?Sized>(&self, msg: &B) {
        self.send_with_tag(msg, DEFAULT_TAG)
    }

    /// Send `msg` with `tag` (`MPI_Send`).
    fn send_with_tag<B: Buffer + ?Sized>(&self, msg: &B, tag: Tag) {
        self.try_send_with_mode(msg, tag, SendMode::Standard).unwrap_or_else(|e| fatal("MPI_Send", e))
    }

    /// Send `msg` with `tag`; the error if it fails.
    fn try_send_with_tag<B: Buffer + ?Sized>(&self, msg: &B, tag: Tag) -> Result<(), MpiError> {
        self.try_send_with_mode(msg, tag, SendMode::Standard)
    }

    /// Send that completes only once the receiver has matched it (`MPI_Ssend`).
    fn synchronous_send<B: Buffer + ?Sized>(&self, msg: &B) {
        self.synchronous_send_with_tag(msg, DEFAULT_TAG)
    }

    /// [`synchronous_send`](Destination::synchronous_send) with a tag.
    fn synchronous_send_with_tag<B: Buffer + ?Sized>(&self, msg: &B, tag: Tag) {
        self.try_send_with_mode(msg, tag, SendMode::Synchronous).unwrap_or_else(|e| fatal("MPI_Ssend", e))
    }

    /// Send whose receive is known to be posted already (`MPI_Rsend`).
    fn ready_send<B: Buffer + ?Sized>(&self, msg: &B) {
        self.ready_send_with_tag(msg, DEFAULT_TAG)
    }

    /// [`ready_send`](Destination::ready_send) with a tag.
    fn ready_send_with_tag<B: Buffer + ?Sized>(&self, msg: &B, tag: Tag) {
        self.try_send_with_mode(msg, tag, SendMode::Ready).unwrap_or_else(|e| fatal("MPI_Rsend", e))
    }

    /// Start sending `msg` (borrowed for the scope) with tag 0 (`MPI_Isend`).
    fn immediate_send<'a, 's, B: Buffer + ?Sized>(&self, scope: &'s Scope<'a>, msg: &'a B) -> Request<'s> {
        self.immediate_send_with_mode(scope, msg, DEFAULT_TAG, SendMode::Standard)
    }

    /// [`immediate_send`](Destination::immediate_send) with a tag.
    fn immediate_send_with_tag<'a, 's, B: Buffer + ?Sized>(
        &self,
        scope: &'s Scope<'a>,
        msg: &'a B,
        tag: Tag,
    ) -> Request<'s> {
        self.immediate_send_with_mode(scope, msg, tag, SendMode::Standard)
    }

    /// Start a synchronous send (`MPI_Issend`).
    fn immediate_synchronous_send<'a, 's, B: Buffer + ?Sized>(
        &self,
        scope: &'s Scope<'a>,
        msg: &'a B,
        tag: Tag,
    ) -> Request<'s> {
        self.immediate_send_with_mode(scope, msg, tag, SendMode::Synchronous)
    }

    /// Start a send in `mode`.
    fn immediate_send_with_mode<'a, 's, B: Buffer + ?Sized>(
        &self,
        scope: &'s Scope<'a>,
        msg: &'a B,
        tag: Tag,
        mode: SendMode,
    ) -> Request<'s> {
        let b = msg.bytes();
        // SAFETY: `msg` is borrowed (shared) for 'a, which outlives the
        // scope, and the scope waits for the request before it ends.
        let id = unsafe { api::isend(b.as_ptr(), b.len(), self.destination_rank(), tag, self.comm_handle(), mode) }
            .unwrap_or_else(|e| fatal("MPI_Isend", e));
        Request::scoped(id, scope, None)
    }

    /// Start sending a `Vec` the request owns; it comes back on completion.
    fn immediate_send_owned<T: Equivalence>(&self, msg: Vec<T>, tag: Tag) -> OwnedRequest<Vec<T>> {
        let b = datatype::as_bytes(&msg);
        // SAFETY: the Vec's heap block moves into the returned request and
        // is freed only after the request completes (its drop waits first),
        // or never if the request is leaked.
        let id = unsafe {
            api::isend(b.as_ptr(), b.len(), self.destination_rank(), tag, self.comm_handle(), SendMode::Standard)
        }
        .unwrap_or_else(|e| fatal("MPI_Isend", e));
        OwnedRequest::new(Request::unscoped(id, None), msg)
    }
}

impl Destination for Process<'_> {
    fn destination_rank(&self) -> Rank {
        self.rank
    }
}

/// A message taken from the queue by a matched probe; receive it with one of
/// the `matched_receive` methods. A message that is never received stays
/// taken.
#[derive(Debug)]
pub struct Message {
    raw: RawMessage,
    status: Status,
}

impl Message {
    /// The status the probe reported.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Receive into `buf`; the error if it fails (e.g. too small).
    pub fn try_matched_receive_into<B: BufferMut + ?Sized>(self, buf: &mut B) -> Result<Status, MpiError> {
        let mut target = RecvInto::new(buf.elements_mut());
        let st = api::mrecv(target.bytes(), self.raw)?;
        target.finish(Status::from_raw(st))
    }

    /// Receive into `buf` (`MPI_Mrecv`); panics on error.
    pub fn matched_receive_into<B: BufferMut + ?Sized>(self, buf: &mut B) -> Status {
        self.try_matched_receive_into(buf).unwrap_or_else(|e| fatal("MPI_Mrecv", e))
    }

    /// Receive the message as a `Vec` of its elements.
    pub fn try_matched_receive_vec<T: Equivalence>(self) -> Result<(Vec<T>, Status), MpiError> {
        let bytes = self.status.count_bytes();
        let n = size_of::<T>();
        if (n == 0 && bytes != 0) || (n != 0 && bytes % n != 0) {
            return Err(MpiError::new(
                ErrorClass::Type,
                format!("message of {bytes} bytes is not a whole number of {n}-byte elements"),
            ));
        }
        if !T::ALL_BIT_PATTERNS_VALID || n == 0 {
            let mut staging = vec![0u8; bytes];
            let st = Status::from_raw(api::mrecv(&mut staging, self.raw)?);
            let st = check_truncation(st, bytes)?;
            let v = datatype::vec_from_bytes::<T>(&staging[..st.count_bytes()]).ok_or_else(|| {
                MpiError::new(ErrorClass::Type, "received bytes are not valid values of the receive type")
            })?;
            return Ok((v, st));
        }
        let count = bytes / n;
        let mut v: Vec<T> = Vec::with_capacity(count);
        // SAFETY: the spare capacity holds `count * n` bytes; the runtime
        // writes the message through the pointer before `wait` returns and
        // never after, and `v` outlives the wait.
        let id = unsafe { api::imrecv(v.as_mut_ptr().cast::<u8>(), bytes, self.raw)? };
        let st = check_truncation(Status::from_raw(api::wait(id)?), bytes)?;
        if st.count_bytes() != bytes {
            return Err(MpiError::new(
                ErrorClass::Intern,
                format!("probe said {bytes} bytes but {} were received", st.count_bytes()),
            ));
        }
        // SAFETY: all `count` elements were written (the whole message of
        // `count * n` bytes was received), and any bytes are a valid `T`
        // (ALL_BIT_PATTERNS_VALID).
        unsafe { v.set_len(count) };
        Ok((v, st))
    }

    /// Receive the message as a `Vec`; panics on error.
    pub fn matched_receive_vec<T: Equivalence>(self) -> (Vec<T>, Status) {
        self.try_matched_receive_vec().unwrap_or_else(|e| fatal("MPI_Mrecv", e))
    }

    /// Receive a message that holds exactly one `T`.
    pub fn try_matched_receive<T: Equivalence>(self) -> Result<(T, Status), MpiError> {
        let (v, st) = self.try_matched_receive_vec::<u8>()?;
        let x = datatype::value_from_bytes::<T>(&v).ok_or_else(|| {
            MpiError::new(
                ErrorClass::Type,
                format!("expected one value of {} bytes, the message has {} bytes", size_of::<T>(), v.len()),
            )
        })?;
        Ok((x, st))
    }

    /// Receive a message that holds exactly one `T`; panics on error.
    pub fn matched_receive<T: Equivalence>(self) -> (T, Status) {
        self.try_matched_receive().unwrap_or_else(|e| fatal("MPI_Mrecv", e))
    }
}

/// Receiving from a process or from any process.
pub trait Source: AsCommunicatorHandle {
    /// The source rank ([`ANY_SOURCE`] for [`AnyProcess`]).
    fn source_rank(&self) -> Rank;

    /// Receive into `buf` a message with `tag` (or [`ANY_TAG`]); the error
    /// if it fails, e.g. [`ErrorClass::Truncate`] when `buf` is too small.
    fn try_receive_into_with_tag<B: BufferMut + ?Sized>(&self, buf: &mut B, tag: Tag) -> Result<Status, MpiError> {
        let mut target = RecvInto::new(buf.elements_mut());
        let st = api::recv(target.bytes(), self.source_rank(), tag, self.comm_handle())?;
        target.finish(Status::from_raw(st))
    }

    /// Receive into `buf` a message with any tag; the error if it fails.
    fn try_receive_into<B: BufferMut + ?Sized>(&self, buf: &mut B) -> Result<Status, MpiError> {
        self.try_receive_into_with_tag(buf, ANY_TAG)
    }

    /// Receive into `buf` (`MPI_Recv`); panics on error, e.g. a message
    /// longer than `buf`.
    fn receive_into<B: BufferMut + ?Sized>(&self, buf: &mut B) -> Status {
        self.receive_into_with_tag(buf, ANY_TAG)
    }

    /// [`receive_into`](Source::receive_into) for messages with `tag`.
    fn receive_into_with_tag<B: BufferMut + ?Sized>(&self, buf: &mut B, tag: Tag) -> Status {
        self.try_receive_into_with_tag(buf, tag).unwrap_or_else(|e| fatal("MPI_Recv", e))
    }

    /// Receive a message of exactly one `T`; panics on error.
    fn receive<T: Equivalence>(&self) -> (T, Status) {
        self.receive_with_tag(ANY_TAG)
    }

    /// [`receive`](Source::receive) for messages with `tag`.
    fn receive_with_tag<T: Equivalence>(&self, tag: Tag) -> (T, Status) {
        self.matched_probe_with_tag(tag).0.matched_receive()
    }

    /// Receive a whole message as a `Vec`, however long (probe, then
    /// receive that message); panics on error.
    fn receive_vec<T: Equivalence>(&self) -> (Vec<T>, Status) {
        self.receive_vec_with_tag(ANY_TAG)
    }

    /// [`receive_vec`](Source::receive_vec) for messages with `tag`.
    fn receive_vec_with_tag<T: Equivalence>(&self, tag: Tag) -> (Vec<T>, Status) {
        self.matched_probe_with_tag(tag).0.matched_receive_vec()
    }

    /// Wait for a message and report it without receiving it (`MPI_Probe`).
    fn probe(&self) -> Status {
        self.probe_with_tag(ANY_TAG)
    }

    /// [`probe`](Source::probe) for messages with `tag`.
    fn probe_with_tag(&self, tag: Tag) -> Status {
        Status::from_raw(
            api::probe(self.source_rank(), tag, self.comm_handle()).unwrap_or_else(|e| fatal("MPI_Probe", e)),
        )
    }

    /// Report a message if one is there (`MPI_Iprobe`).
    fn immediate_probe(&self) -> Option<Status> {
        self.immediate_probe_with_tag(ANY_TAG)
    }

    /// [`immediate_probe`](Source::immediate_probe) for messages with `tag`.
    fn immediate_probe_with_tag(&self, tag: Tag) -> Option<Status> {
        api::iprobe(self.source_rank(), tag, self.comm_handle())
            .unwrap_or_else(|e| fatal("MPI_Iprobe", e))
            .map(Status::from_raw)
    }

    /// Wait for a message and take it from the queue, so no other receive
    /// can match it (`MPI_Mprobe`).
    fn matched_probe(&self) -> (Message, Status) {
        self.matched_probe_with_tag(ANY_TAG)
    }

    /// [`matched_probe`](Source::matched_probe) for messages with `tag`.
    fn matched_probe_with_tag(&self, tag: Tag) -> (Message, Status) {
        let (raw, st) =
            api::mprobe(self.source_rank(), tag, self.comm_handle()).unwrap_or_else(|e| fatal("MPI_Mprobe", e));
        let status = Status::from_raw(st);
        (Message { raw, status }, status)
    }

    /// Take a message if one is there (`MPI_Improbe`).
    fn immediate_matched_probe(&self) -> Option<(Message, Status)> {
        self.immediate_matched_probe_with_tag(ANY_TAG)
    }

    /// [`immediate_matched_probe`](Source::immediate_matched_probe) for `tag`.
    fn immediate_matched_probe_with_tag(&self, tag: Tag) -> Option<(Message, Status)> {
        api::improbe(self.source_rank(), tag, self.comm_handle()).unwrap_or_else(|e| fatal("MPI_Improbe", e)).map(
            |(raw, st)| {
                let status = Status::from_raw(st);
                (Message { raw, status }, status)
            },
        )
    }

    /// Start receiving into `buf` (borrowed for the scope), any tag
    /// (`MPI_Irecv`). Waiting on the request panics if the message was
    /// truncated.
    fn immediate_receive_into<'a, 's, B: BufferMut + ?Sized>(
        &self,
        scope: &'s Scope<'a>,
        buf: &'a mut B,
    ) -> Request<'s> {
        self.immediate_receive_into_with_tag(scope, buf, ANY_TAG)
    }

    /// [`immediate_receive_into`](Source::immediate_receive_into) for `tag`.
    fn immediate_receive_into_with_tag<'a, 's, B: BufferMut + ?Sized>(
        &self,
        scope: &'s Scope<'a>,
        buf: &'a mut B,
        tag: Tag,
    ) -> Request<'s> {
        let (ptr, len, finish) = RecvInto::new(buf.elements_mut()).into_raw(false);
        // SAFETY: the target is `buf` (borrowed mutably for 'a, which
        // outlives the scope; the scope waits for the request before it
        // ends) or a staging block owned by `finish` (see `into_raw`).
        let id = unsafe { api::irecv(ptr, len, self.source_rank(), tag, self.comm_handle()) }
            .unwrap_or_else(|e| fatal("MPI_Irecv", e));
        Request::scoped(id, scope, Some(finish))
    }

    /// Start receiving into a `Vec` the request owns (its length is the
    /// capacity of the receive); it comes back on completion.
    fn immediate_receive_owned<T: Equivalence>(&self, mut buf: Vec<T>, tag: Tag) -> OwnedRequest<Vec<T>> {
        let staged = !T::ALL_BIT_PATTERNS_VALID;
        let len = std::mem::size_of_val(buf.as_slice());
        let mut staging = if staged { vec![0u8; len] } else { Vec::new() };
        // `Vec::as_mut_ptr` makes no reference to the elements, so the
        // pointer stays valid while the Vec moves into the request.
        let base = buf.as_mut_ptr();
        // Without staging the runtime writes straight into the elements,
        // which is fine because any bytes are a valid T.
        let ptr = if staged { staging.as_mut_ptr() } else { base.cast::<u8>() };
        // SAFETY: `ptr` points into the Vec that moves into the request (or
        // into `staging`, which moves into its completion closure); both heap
        // blocks live until the request has completed (drop waits first) or
        // forever if the request is leaked. The owned Vec is not touched
        // until completion: the request hands it back only then.
        let id = unsafe { api::irecv(ptr, len, self.source_rank(), tag, self.comm_handle()) }
            .unwrap_or_else(|e| fatal("MPI_Irecv", e));
        let buf_ptr = base as usize;
        let finish: Finish<'static> = Box::new(move |st| {
            if staged {
                // SAFETY: the Vec's heap block is alive (the request owns the
                // Vec and runs this before giving it back) and nothing else
                // uses it until then; `len / size_of::<T>()` elements fit.
                let dest = unsafe {
                    std::slice::from_raw_parts_mut(
                        buf_ptr as *mut T,
                        if size_of::<T>() == 0 { 0 } else { len / size_of::<T>() },
                    )
                };
                finish_staged(dest, &staging, st)
            } else {
                check_truncation(st, len)
            }
        });
        OwnedRequest::new(Request::unscoped(id, Some(finish)), buf)
    }
}

impl Source for Process<'_> {
    fn source_rank(&self) -> Rank {
        self.rank
    }
}

impl Source for AnyProcess<'_> {
    fn source_rank(&self) -> Rank {
        ANY_SOURCE
    }
}

/// Send `msg` to `destination` with `send_tag` and receive into `buf` from
/// `source` a message with `receive_tag` at once (`MPI_Sendrecv`); the error
/// if it fails.
pub fn try_send_receive_into_with_tags<S, R, D, Src>(
    msg: &S,
    destination: &D,
    send_tag: Tag,
    buf: &mut R,
    source: &Src,
    receive_tag: Tag,
) -> Result<Status, MpiError>
where
    S: Buffer + ?Sized,
    R: BufferMut + ?Sized,
    D: Destination,
    Src: Source,
{
    let mut target = RecvInto::new(buf.elements_mut());
    let st = api::sendrecv(
        msg.bytes(),
        destination.destination_rank(),
        send_tag,
        target.bytes(),
        source.source_rank(),
        receive_tag,
        destination.comm_handle(),
    )?;
    target.finish(Status::from_raw(st))
}

/// Send `msg` to `destination` (tag 0) and receive into `buf` from `source`
/// (any tag) at once (`MPI_Sendrecv`); panics on error.
pub fn send_receive_into<S, R, D, Src>(msg: &S, destination: &D, buf: &mut R, source: &Src) -> Status
where
    S: Buffer + ?Sized,
    R: BufferMut + ?Sized,
    D: Destination,
    Src: Source,
{
    try_send_receive_into_with_tags(msg, destination, DEFAULT_TAG, buf, source, ANY_TAG)
        .unwrap_or_else(|e| fatal("MPI_Sendrecv", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(count: usize, truncated: bool) -> Status {
        Status::from_raw(rmpi_runtime::Status { source: 3, tag: 7, count, truncated, cancelled: false })
    }

    #[test]
    fn status_counts_whole_elements() {
        let s = st(10, false);
        assert_eq!(s.count::<u8>(), 10);
        assert_eq!(s.count::<u32>(), 2);
        assert_eq!(s.count::<[u8; 0]>(), 0);
        assert_eq!((s.source_rank(), s.tag(), s.count_bytes()), (3, 7, 10));
        assert!(!s.is_truncated() && !s.is_cancelled());
    }

    #[test]
    fn truncated_status_is_a_truncate_error() {
        let e = check_truncation(st(8, true), 4).unwrap_err();
        assert_eq!(e.class, ErrorClass::Truncate);
        assert!(e.message.contains("rank 3") && e.message.contains("tag 7"), "{}", e.message);
        assert!(check_truncation(st(8, false), 8).is_ok());
    }

    #[test]
    fn staged_receive_checks_values_and_writes_only_received_prefix() {
        let mut dest = [false, false, true];
        let ok = finish_staged(&mut dest, &[1, 0, 0], st(2, false)).unwrap();
        assert_eq!(ok.count::<bool>(), 2);
        assert_eq!(dest, [true, false, true], "the third element was not received and keeps its value");
        let e = finish_staged(&mut dest, &[9, 0, 0], st(1, false)).unwrap_err();
        assert_eq!(e.class, ErrorClass::Type);
        assert_eq!(dest, [true, false, true]);
    }

    #[test]
    fn direct_target_is_the_callers_bytes() {
        let mut v = [0u16; 2];
        let mut t = RecvInto::new(&mut v);
        t.bytes().copy_from_slice(&[1, 0, 2, 0].map(|b: u8| b));
        t.finish(st(4, false)).unwrap();
        assert_eq!(v, [u16::from_ne_bytes([1, 0]), u16::from_ne_bytes([2, 0])]);
    }
}
