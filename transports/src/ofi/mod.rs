//! libfabric transport (`ofi`): reliable-datagram endpoints of whatever
//! fabric the machine has (verbs, EFA, CXI, PSM3, OPX), or of libfabric's
//! socket and shared-memory providers for testing.
//!
//! The library is loaded at run time (`api.rs`), so rmpi needs no libfabric
//! to build or run; [`OfiTransport::open`] fails with a reason when it is
//! missing or offers nothing suitable (`info.rs` has the hints and the
//! choice of provider).
//!
//! Data path: one `FI_EP_RDM` endpoint with an address vector (peers are
//! inserted from their business cards, [`card`]) and two completion queues
//! (sends, receives). rmpi does its own matching, so the transport only
//! moves packets: `try_send` copies the packet behind a 16-byte prefix
//! (`order.rs`: job token, source rank, sequence) into a registered send
//! slot (`slab.rs`) and posts `fi_send` (or `fi_inject` when it fits the
//! provider's inject size); a packet the provider refuses for now waits in
//! its slot, in order, and only with no free slot does `try_send` answer
//! `WouldBlock`. A fixed number of receive slots stay posted; `poll` reads
//! both completion queues, delivers each sender's packets in sequence order
//! and reposts the slots. Reading the queues is also what drives providers
//! with manual progress.
//!
//! Sleeping: the completion queues are opened with `FI_WAIT_FD` when the
//! provider allows it; `prepare_sleep` asks `fi_trywait` whether blocking
//! on their descriptors is safe. Without wait descriptors a timer
//! descriptor ends every sleep after [`POLL_INTERVAL`]; with the sockets
//! provider, whose descriptors can miss a completion, a timer ends a sleep
//! after [`SOCKETS_NET`].
//!
//! Caps: packets up to [`DEFAULT_MAX_PACKET`] (`RMPI_OFI_MAX_PACKET`),
//! eager limit [`EAGER_LIMIT`]. Large messages use the engine's rendezvous:
//! by one `fi_read` of the sender's exposed buffer where the provider has
//! `FI_RMA` (`rma.rs`), else through messages (Rts / Cts / Data).
//!
//! A peer whose first sends stay unanswered for `RMPI_OFI_CONNECT_TIMEOUT`
//! seconds is reported by `poll` (socket providers retry silently).

mod api;
pub mod card;
mod info;
mod order;
mod rma;
mod slab;
pub use info::{core_provider, is_fabric, SOCKET_PROVIDERS};
pub mod sys;

use std::collections::{HashMap, VecDeque};
use std::ffi::c_void;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::{Caps, Counters, Rank, Transport, TransportError};
use api::Lib;
use info::{InfoList, Offer};
use order::{Inbound, PREFIX};
use slab::Slab;
use sys::*;

/// Default largest packet (`RMPI_OFI_MAX_PACKET`).
pub const DEFAULT_MAX_PACKET: usize = 256 << 10;
/// Suggested eager limit.
pub const EAGER_LIMIT: usize = 64 << 10;
/// Receive slots kept posted (`RMPI_OFI_RX_SLOTS`).
pub const DEFAULT_RX_SLOTS: usize = 32;
/// Size of the small send slots (prefix included).
const SMALL_SLOT: usize = 4096;
/// Small and large send slots.
const SMALL_SLOTS: usize = 64;
const LARGE_SLOTS: usize = 16;
/// Longest sleep without a wait descriptor.
pub const POLL_INTERVAL: Duration = Duration::from_millis(1);
/// Longest sleep with the sockets provider (see [`Waiting::FdsWithNet`]):
/// long enough that an idle rank stays quiet, short enough that a missed
/// signal costs a second, not a hang.
pub const SOCKETS_NET: Duration = Duration::from_secs(1);
/// Default `RMPI_OFI_CONNECT_TIMEOUT` (seconds): a peer whose first sends
/// stay unanswered this long is reported unreachable.
pub const DEFAULT_CONNECT_TIMEOUT_SECS: usize = 60;
/// Largest packet injected from the stack.
const INJECT_BUF: usize = 256;
/// Completions read per call.
const BATCH: usize = 16;

/// How to open an [`OfiTransport`].
#[derive(Debug, Clone)]
pub struct OfiConfig {
    /// This rank (world rank).
    pub rank: Rank,
    /// The job secret; packets carry a token derived from it.
    pub secret: Vec<u8>,
    /// Accept only fabric providers (not tcp, udp, sockets, shm): the
    /// automatic choice between nodes. `false` when ofi is forced.
    pub fabric_only: bool,
    /// Use only this provider (full name such as `tcp;ofi_rxm`, or its core
    /// provider `tcp`); libfabric's own `FI_PROVIDER` filter applies too.
    pub provider: Option<String>,
    /// Every peer is on this machine: prefer the loopback interface of
    /// socket providers (as the TCP transport listens on 127.0.0.1 then).
    pub loopback: bool,
}

/// Whether libfabric can be loaded (and which version), without opening
/// anything.
pub fn library() -> Result<(u32, u32), String> {
    Lib::get().map(|l| l.version())
}

/// The providers libfabric offers for rmpi's needs, one description each
/// (libfabric lists some several times; repeats are dropped).
pub fn list_providers() -> Result<Vec<String>, String> {
    let lib = Lib::get()?;
    let list = info::query(lib, false)?;
    let mut out: Vec<String> = Vec::new();
    for p in list.entries() {
        // SAFETY: a live list node.
        let d = unsafe { Offer::read(p) }.describe();
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}

/// Per operation context: room for the provider (`FI_CONTEXT2`), then
/// nothing of ours (the slot is the position in the array).
#[repr(C)]
struct OpCtx {
    _provider: fi_context2,
}

/// A packet in a send slot, not yet taken by the provider.
#[derive(Clone, Copy)]
struct Queued {
    peer: Rank,
    dest: fi_addr_t,
    small: bool,
    slot: usize,
    len: usize,
}

struct Peer {
    addr: fi_addr_t,
    next_seq: u32,
    gone: Option<String>,
    /// The peer answered: a send to it completed or a packet came from it.
    heard: bool,
    /// Sends to it in slots, not completed yet.
    unfinished: u32,
    /// Since when a peer not yet heard from has had unfinished sends.
    waiting_since: Option<Instant>,
}

enum Waiting {
    /// Wait descriptors of the receive and send completion queues.
    Fds(RawFd, RawFd),
    /// The same, plus a timer that ends a sleep after [`SOCKETS_NET`]: the
    /// sockets provider (a testing provider, deprecated in libfabric) now
    /// and then leaves its descriptors unsignalled for a completion its
    /// progress thread posts after `fi_trywait` allowed sleeping (the
    /// conformance test's all-to-all then stalled for its whole 10 s bound).
    FdsWithNet(RawFd, RawFd, OwnedFd),
    /// No wait objects: sleep on a timer.
    Timer(OwnedFd),
}

/// Arm the one-shot timer `fd` to expire after `d`; false if that failed.
fn arm(fd: &OwnedFd, d: Duration) -> bool {
    let it = libc::itimerspec {
        it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
        it_value: libc::timespec { tv_sec: d.as_secs() as libc::time_t, tv_nsec: d.subsec_nanos() as libc::c_long },
    };
    // SAFETY: a timerfd we own; valid itimerspec.
    unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &it, std::ptr::null_mut()) == 0 }
}

fn fail(op: &'static str, msg: String) -> TransportError {
    TransportError::io(op, std::io::Error::other(msg))
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// The libfabric transport. See the module docs.
pub struct OfiTransport {
    lib: &'static Lib,
    caps: Caps,
    offer: Offer,
    rank: Rank,
    token: u64,
    // Keeps the chosen fi_info alive for the objects opened from it.
    _infos: InfoList,
    fabric: *mut fid_fabric,
    domain: *mut fid_domain,
    av: *mut fid_av,
    cq_rx: *mut fid_cq,
    cq_tx: *mut fid_cq,
    ep: *mut fid_ep,
    waiting: Waiting,
    addr: Vec<u8>,
    rx: Option<Slab>,
    small: Option<Slab>,
    large: Option<Slab>,
    /// Operation contexts: receive slots, then small, then large send slots.
    ctx: Box<[OpCtx]>,
    free_small: Vec<usize>,
    free_large: Vec<usize>,
    /// Peer of each send slot in flight (by context index).
    tx_peer: Vec<Rank>,
    tx_inflight: usize,
    /// Receive slots whose repost met a full queue.
    repost: Vec<usize>,
    /// Accepted packets the provider could not take yet, in order.
    backlog: VecDeque<Queued>,
    peers: HashMap<Rank, Peer>,
    inbound: HashMap<Rank, Inbound>,
    counters: Counters,
    rejected: u64,
    /// Local buffers must be registered (`FI_MR_LOCAL`).
    register_local: bool,
    rma: rma::Rma,
    /// How long a peer may leave the first sends to it unanswered.
    connect_timeout: Option<Duration>,
    last_check: Instant,
}

// SAFETY: the libfabric objects are opened with FI_THREAD_DOMAIN and used
// only through `&mut self`, so never from two threads at once; moving them
// between threads is allowed at that threading level.
unsafe impl Send for OfiTransport {}

impl OfiTransport {
    /// Load libfabric, pick a provider and open an endpoint.
    pub fn open(cfg: OfiConfig) -> Result<Self, TransportError> {
        let lib = Lib::get().map_err(|e| fail("ofi load", e))?;
        let want_rma = std::env::var("RMPI_OFI_RMA").map(|v| v != "0").unwrap_or(true);
        let acceptable = |o: &Offer| {
            (!cfg.fabric_only || info::is_fabric(&o.provider))
                && cfg.provider.as_deref().into_iter().all(|p| o.provider == p || info::core_provider(&o.provider) == p)
        };
        // Prefer a provider that can also read remote memory (single-copy
        // rendezvous); else any that moves messages.
        if want_rma {
            if let Ok(infos) = info::query(lib, true) {
                if let Some((chosen, offer)) = infos.choose(acceptable, cfg.loopback) {
                    return Self::open_with(lib, &cfg, infos, chosen, offer, true);
                }
            }
        }
        let infos = info::query(lib, false).map_err(|e| fail("fi_getinfo", e))?;
        let (chosen, offer) = infos.choose(acceptable, cfg.loopback).ok_or_else(|| {
            let mut offered: Vec<String> = infos
                .entries()
                .into_iter()
                .map(|p| {
                    // SAFETY: a live list node.
                    unsafe { Offer::read(p) }.provider
                })
                .collect();
            offered.dedup();
            let wanted = match (&cfg.provider, cfg.fabric_only) {
                (Some(p), _) => format!("provider {p}"),
                (None, true) => "fabric provider".to_string(),
                (None, false) => "provider".to_string(),
            };
            fail("ofi provider", format!("no {wanted} (offered: {})", offered.join(", ")))
        })?;
        Self::open_with(lib, &cfg, infos, chosen, offer, false)
    }

    fn open_with(
        lib: &'static Lib,
        cfg: &OfiConfig,
        infos: InfoList,
        chosen: *mut fi_info,
        offer: Offer,
        rma: bool,
    ) -> Result<Self, TransportError> {
        let max_packet = env_usize("RMPI_OFI_MAX_PACKET", DEFAULT_MAX_PACKET)
            .clamp(1024, offer.max_msg_size.saturating_sub(PREFIX).max(1024));
        let rx_slots = env_usize("RMPI_OFI_RX_SLOTS", DEFAULT_RX_SLOTS).clamp(2, offer.rx_size.max(2));
        let mut t = OfiTransport {
            lib,
            caps: Caps { name: "ofi", max_packet, eager_limit: EAGER_LIMIT.min(max_packet / 2), single_copy: false },
            offer: offer.clone(),
            rank: cfg.rank,
            token: token(&cfg.secret),
            _infos: infos,
            fabric: std::ptr::null_mut(),
            domain: std::ptr::null_mut(),
            av: std::ptr::null_mut(),
            cq_rx: std::ptr::null_mut(),
            cq_tx: std::ptr::null_mut(),
            ep: std::ptr::null_mut(),
            waiting: Waiting::Fds(-1, -1),
            addr: Vec::new(),
            rx: None,
            small: None,
            large: None,
            ctx: (0..rx_slots + SMALL_SLOTS + LARGE_SLOTS + rma::MAX_READS)
                .map(|_| OpCtx { _provider: [std::ptr::null_mut(); 8] })
                .collect(),
            free_small: (0..SMALL_SLOTS).rev().collect(),
            free_large: (0..LARGE_SLOTS).rev().collect(),
            tx_peer: vec![0; rx_slots + SMALL_SLOTS + LARGE_SLOTS + rma::MAX_READS],
            tx_inflight: 0,
            repost: Vec::new(),
            backlog: VecDeque::new(),
            peers: HashMap::new(),
            inbound: HashMap::new(),
            counters: Counters::default(),
            rejected: 0,
            register_local: false,
            last_check: Instant::now(),
            connect_timeout: match env_usize("RMPI_OFI_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT_SECS) {
                0 => None,
                s => Some(Duration::from_secs(s as u64)),
            },
            rma: rma::Rma::new(rma && offer_key_fits(&offer), offer.mr_mode),
        };
        // SAFETY: `chosen` stays alive in `t._infos`; every object is
        // closed in Drop, in reverse order of opening.
        unsafe { t.setup(chosen, rx_slots)? };
        Ok(t)
    }

    unsafe fn setup(&mut self, info: *mut fi_info, rx_slots: usize) -> Result<(), TransportError> {
        let lib = self.lib;
        let chk = |op: &'static str, r: i32| -> Result<(), TransportError> {
            if r == 0 {
                Ok(())
            } else {
                Err(fail(op, lib.strerror(r as isize)))
            }
        };
        chk("fi_fabric", (lib.fabric)((*info).fabric_attr, &mut self.fabric, std::ptr::null_mut()))?;
        chk("fi_domain", api::fi_domain(self.fabric, info, &mut self.domain))?;
        let mut av_attr = fi_av_attr {
            type_: FI_AV_TABLE,
            rx_ctx_bits: 0,
            count: 64,
            ep_per_node: 0,
            name: std::ptr::null(),
            map_addr: std::ptr::null_mut(),
            flags: 0,
        };
        if api::fi_av_open(self.domain, &mut av_attr, &mut self.av) != 0 {
            av_attr.type_ = FI_AV_UNSPEC;
            chk("fi_av_open", api::fi_av_open(self.domain, &mut av_attr, &mut self.av))?;
        }
        let mut cq_attr = fi_cq_attr {
            size: 0,
            flags: 0,
            format: FI_CQ_FORMAT_MSG,
            wait_obj: FI_WAIT_FD,
            signaling_vector: 0,
            wait_cond: 0,
            wait_set: std::ptr::null_mut(),
        };
        let with_fd = api::fi_cq_open(self.domain, &mut cq_attr, &mut self.cq_rx) == 0
            && api::fi_cq_open(self.domain, &mut cq_attr, &mut self.cq_tx) == 0;
        let mut fds = (-1, -1);
        if with_fd {
            let mut fd: i32 = -1;
            let a = api::fi_control(&mut (*self.cq_rx).fid, FI_GETWAIT, (&mut fd as *mut i32).cast());
            fds.0 = fd;
            let b = api::fi_control(&mut (*self.cq_tx).fid, FI_GETWAIT, (&mut fd as *mut i32).cast());
            fds.1 = fd;
            if a == 0 && b == 0 && fds.0 >= 0 && fds.1 >= 0 {
                self.waiting = Waiting::Fds(fds.0, fds.1);
                if info::core_provider(&self.offer.provider) == "sockets" {
                    let t = libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC);
                    if t < 0 {
                        return Err(TransportError::io("timerfd_create", std::io::Error::last_os_error()));
                    }
                    self.waiting = Waiting::FdsWithNet(fds.0, fds.1, OwnedFd::from_raw_fd(t));
                }
            }
        }
        if !matches!(self.waiting, Waiting::Fds(a, b) | Waiting::FdsWithNet(a, b, _) if a >= 0 && b >= 0) {
            for cq in [&mut self.cq_rx, &mut self.cq_tx] {
                if !cq.is_null() {
                    api::fi_close(&mut (**cq).fid);
                    *cq = std::ptr::null_mut();
                }
            }
            cq_attr.wait_obj = FI_WAIT_NONE;
            chk("fi_cq_open", api::fi_cq_open(self.domain, &mut cq_attr, &mut self.cq_rx))?;
            chk("fi_cq_open", api::fi_cq_open(self.domain, &mut cq_attr, &mut self.cq_tx))?;
            let fd = libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC);
            if fd < 0 {
                return Err(TransportError::io("timerfd_create", std::io::Error::last_os_error()));
            }
            self.waiting = Waiting::Timer(OwnedFd::from_raw_fd(fd));
        }
        chk("fi_endpoint", api::fi_endpoint(self.domain, info, &mut self.ep))?;
        chk("fi_ep_bind(av)", api::fi_ep_bind(self.ep, &mut (*self.av).fid, 0))?;
        chk("fi_ep_bind(cq)", api::fi_ep_bind(self.ep, &mut (*self.cq_tx).fid, FI_TRANSMIT))?;
        chk("fi_ep_bind(cq)", api::fi_ep_bind(self.ep, &mut (*self.cq_rx).fid, FI_RECV))?;
        chk("fi_enable", api::fi_enable(self.ep))?;

        let register = self.offer.mr_mode & FI_MR_LOCAL != 0 || self.offer.mode & FI_LOCAL_MR != 0;
        self.register_local = register;
        let slab = |slot, count, access| {
            Slab::new(lib, self.domain, slot, count, register, access).map_err(|e| fail("ofi buffers", e))
        };
        let full = self.caps.max_packet + PREFIX;
        self.rx = Some(slab(full, rx_slots, FI_RECV)?);
        self.small = Some(slab(SMALL_SLOT, SMALL_SLOTS, FI_SEND)?);
        self.large = Some(slab(full, LARGE_SLOTS, FI_SEND)?);
        for i in 0..rx_slots {
            if !self.post_recv(i)? {
                return Err(fail("fi_recv", format!("the receive queue holds fewer than {rx_slots} buffers")));
            }
        }

        let mut buf = vec![0u8; 256];
        let mut len = buf.len();
        let mut r = api::fi_getname(self.ep, buf.as_mut_ptr().cast(), &mut len);
        if r != 0 && len > buf.len() {
            buf.resize(len, 0);
            r = api::fi_getname(self.ep, buf.as_mut_ptr().cast(), &mut len);
        }
        chk("fi_getname", r)?;
        buf.truncate(len);
        self.addr = buf;
        Ok(())
    }

    /// Post receive slot `i`; `false` if the queue is full (retry later).
    fn post_recv(&mut self, i: usize) -> Result<bool, TransportError> {
        let rx = self.rx.as_ref().expect("receive slab");
        let ctx: *mut OpCtx = &mut self.ctx[i];
        // SAFETY: the slot is not in use (just completed or never posted);
        // it and its context stay valid until the completion is read or the
        // endpoint is closed.
        let r = unsafe { api::fi_recv(self.ep, rx.ptr(i).cast(), rx.slot, rx.desc(), ctx.cast()) };
        match r {
            0 => Ok(true),
            r if r == -(FI_EAGAIN as isize) => Ok(false),
            r => Err(fail("fi_recv", self.lib.strerror(r))),
        }
    }

    /// This endpoint's business card.
    pub fn card(&self) -> String {
        card::format(&self.offer.provider, &self.addr)
    }

    /// The provider in use (e.g. `tcp;ofi_rxm`).
    pub fn provider(&self) -> &str {
        &self.offer.provider
    }

    /// One line describing the provider and endpoint.
    pub fn describe(&self) -> String {
        format!(
            "{}{}, {} sleep",
            self.offer.describe(),
            if self.rma.enabled { ", fi_read rendezvous" } else { "" },
            match self.waiting {
                Waiting::Fds(..) => "fd",
                Waiting::FdsWithNet(..) => "fd (1 s net)",
                Waiting::Timer(_) => "timed",
            }
        )
    }

    /// Whether the provider is a real fabric (not sockets or shm).
    pub fn is_fabric(&self) -> bool {
        info::is_fabric(&self.offer.provider)
    }

    /// Insert `peer`'s address from its card. Fails (`BadCard`) when the
    /// card is of another provider.
    pub fn add_peer(&mut self, peer: Rank, card_text: &str) -> Result<(), TransportError> {
        if self.peers.contains_key(&peer) {
            return Ok(());
        }
        let (prov, addr) = card::parse(card_text)?;
        if prov != self.offer.provider {
            return Err(TransportError::BadCard(format!(
                "rank {peer} uses provider {prov}, this rank {}",
                self.offer.provider
            )));
        }
        let mut fa: fi_addr_t = FI_ADDR_NOTAVAIL;
        // SAFETY: live AV; addr is the peer's endpoint name as fi_getname
        // gave it; one address in, one fi_addr_t out.
        let r = unsafe { api::fi_av_insert(self.av, addr.as_ptr().cast(), 1, &mut fa) };
        if r != 1 || fa == FI_ADDR_NOTAVAIL {
            return Err(TransportError::BadCard(format!(
                "fi_av_insert of rank {peer}'s address failed: {}",
                if r < 0 { self.lib.strerror(r as isize) } else { format!("{r} inserted") }
            )));
        }
        self.peers
            .insert(peer, Peer { addr: fa, next_seq: 0, gone: None, heard: false, unfinished: 0, waiting_since: None });
        Ok(())
    }

    /// Whether `peer` was added.
    pub fn has_peer(&self, peer: Rank) -> bool {
        self.peers.contains_key(&peer)
    }

    /// Whether sends are still in flight (the provider has not completed
    /// them; with manual progress it needs this rank's calls to do so).
    pub fn has_pending_writes(&self) -> bool {
        self.tx_inflight > 0 || !self.backlog.is_empty()
    }

    /// How long a peer may leave the first sends to it unanswered before
    /// `poll` reports it unreachable (`None`: forever).
    pub fn set_connect_timeout(&mut self, t: Option<Duration>) {
        self.connect_timeout = t;
    }

    /// Packets dropped for a wrong job token or a short prefix.
    pub fn rejected_packets(&self) -> u64 {
        self.rejected
    }

    /// Context index of the first read slot.
    fn read_base(&self) -> usize {
        self.rx.as_ref().map_or(0, |s| s.count) + SMALL_SLOTS + LARGE_SLOTS
    }

    fn ctx_index(&self, p: *mut c_void) -> usize {
        (p as usize - self.ctx.as_ptr() as usize) / std::mem::size_of::<OpCtx>()
    }

    /// Read a completion error of `cq`, as text, with the slot it names.
    fn read_error(&self, cq: *mut fid_cq) -> (Option<usize>, String) {
        // SAFETY: an all-zero fi_cq_err_entry is valid (null pointers,
        // zero sizes: the provider supplies its own error data).
        let mut e: fi_cq_err_entry = unsafe { std::mem::zeroed() };
        // SAFETY: live CQ, valid entry buffer.
        let r = unsafe { api::fi_cq_readerr(cq, &mut e) };
        if r < 1 {
            return (None, format!("fi_cq_readerr: {}", self.lib.strerror(r)));
        }
        // SAFETY: live CQ and the entry it just filled.
        let prov = unsafe { api::fi_cq_strerror(cq, &e) };
        let slot = (!e.op_context.is_null()).then(|| self.ctx_index(e.op_context));
        (slot, format!("{} ({prov})", self.lib.strerror(e.err as isize)))
    }

    /// Reap send completions: free their slots.
    fn drain_tx(&mut self) -> Result<(), TransportError> {
        let rx_slots = self.rx.as_ref().map_or(0, |s| s.count);
        // SAFETY: zeroed completion entries are plain data.
        let mut ents: [fi_cq_msg_entry; BATCH] = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: live CQ; room for BATCH entries.
            let r = unsafe { api::fi_cq_read(self.cq_tx, ents.as_mut_ptr(), BATCH) };
            if r == -(FI_EAGAIN as isize) {
                return Ok(());
            }
            if r == -(FI_EAVAIL as isize) {
                let (slot, why) = self.read_error(self.cq_tx);
                let Some(i) = slot else { return Err(fail("ofi send completion", why)) };
                if i >= self.read_base() {
                    // A failed read: the engine falls back to streaming.
                    self.reap_read(i, false);
                    continue;
                }
                self.free_tx_slot(i, rx_slots);
                let peer = self.tx_peer[i];
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.gone.get_or_insert(why.clone());
                }
                return Err(TransportError::PeerGone { peer, reason: why });
            }
            if r < 0 {
                return Err(fail("fi_cq_read", self.lib.strerror(r)));
            }
            for e in &ents[..r as usize] {
                let i = self.ctx_index(e.op_context);
                if i >= self.read_base() {
                    self.reap_read(i, true);
                } else {
                    self.free_tx_slot(i, rx_slots);
                }
            }
        }
    }

    fn free_tx_slot(&mut self, i: usize, rx_slots: usize) {
        if let Some(p) = self.peers.get_mut(&self.tx_peer[i]) {
            p.heard = true;
            p.unfinished -= 1;
        }
        if i < rx_slots + SMALL_SLOTS {
            self.free_small.push(i - rx_slots);
        } else {
            self.free_large.push(i - rx_slots - SMALL_SLOTS);
        }
        self.tx_inflight -= 1;
    }

    /// Reap receive completions: deliver in per-sender order, repost.
    fn drain_rx(&mut self, deliver: &mut dyn FnMut(Rank, &[u8])) -> Result<usize, TransportError> {
        let mut n = 0;
        // SAFETY: zeroed completion entries are plain data.
        let mut ents: [fi_cq_msg_entry; BATCH] = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: live CQ; room for BATCH entries.
            let r = unsafe { api::fi_cq_read(self.cq_rx, ents.as_mut_ptr(), BATCH) };
            if r == -(FI_EAGAIN as isize) {
                return Ok(n);
            }
            if r == -(FI_EAVAIL as isize) {
                let (slot, why) = self.read_error(self.cq_rx);
                if let Some(i) = slot {
                    self.repost.push(i);
                }
                return Err(fail("ofi receive completion", why));
            }
            if r < 0 {
                return Err(fail("fi_cq_read", self.lib.strerror(r)));
            }
            for e in &ents[..r as usize] {
                let i = self.ctx_index(e.op_context);
                let rx = self.rx.as_ref().expect("receive slab");
                // SAFETY: the receive into slot i completed; nothing writes it
                // until it is reposted below.
                let pkt = unsafe { rx.bytes(i, e.len) };
                match order::decode(pkt) {
                    Some((tok, src, seq)) if tok == self.token => {
                        let body = &pkt[PREFIX..];
                        let inb = self.inbound.entry(src).or_default();
                        if let Some(p) = self.peers.get_mut(&src) {
                            p.heard = true;
                        }
                        if inb.accept(seq) {
                            deliver(src, body);
                            n += 1;
                            self.counters.packets_received += 1;
                            self.counters.bytes_received += body.len() as u64;
                            while let Some(b) = inb.next_ready() {
                                deliver(src, &b);
                                n += 1;
                                self.counters.packets_received += 1;
                                self.counters.bytes_received += b.len() as u64;
                            }
                        } else {
                            inb.hold(seq, body.to_vec());
                        }
                    }
                    _ => self.rejected += 1,
                }
                if !self.post_recv(i)? {
                    self.repost.push(i);
                }
            }
        }
    }

    fn post_send(&mut self, q: &Queued) -> isize {
        let ci = self.ctx_of(q);
        let slab = if q.small { self.small.as_ref() } else { self.large.as_ref() }.expect("send slab");
        let ctx: *mut OpCtx = &mut self.ctx[ci];
        // SAFETY: the slot holds the packet and stays untouched until its
        // completion is read; the context likewise.
        unsafe { api::fi_send(self.ep, slab.ptr(q.slot).cast(), q.len, slab.desc(), q.dest, ctx.cast()) }
    }

    /// Context index of a send slot.
    fn ctx_of(&self, q: &Queued) -> usize {
        let rx_slots = self.rx.as_ref().map_or(0, |s| s.count);
        if q.small {
            rx_slots + q.slot
        } else {
            rx_slots + SMALL_SLOTS + q.slot
        }
    }

    fn in_flight(&mut self, q: &Queued) {
        let ci = self.ctx_of(q);
        self.tx_peer[ci] = q.peer;
        self.tx_inflight += 1;
    }

    fn release(&mut self, q: &Queued) {
        if q.small { &mut self.free_small } else { &mut self.free_large }.push(q.slot);
    }

    /// A peer that never answered within the connect timeout is
    /// unreachable (a wrong interface, a firewall): libfabric's socket
    /// providers retry silently, so say so instead of hanging.
    fn check_unanswered(&mut self) -> Result<(), TransportError> {
        let Some(limit) = self.connect_timeout else { return Ok(()) };
        // Once a second is plenty (and keeps the progress loop O(1) per call).
        if self.last_check.elapsed() < Duration::from_secs(1) {
            return Ok(());
        }
        self.last_check = Instant::now();
        let late = self
            .peers
            .iter()
            .find(|(_, p)| !p.heard && p.unfinished > 0 && p.waiting_since.is_some_and(|t| t.elapsed() > limit));
        if let Some((&peer, _)) = late {
            return Err(fail(
                "ofi connect",
                format!(
                    "rank {peer} has not answered for {limit:?} over {} (unreachable address? \
                     FI_TCP_IFACE / FI_SOCKETS_IFACE pick the interface; RMPI_OFI_CONNECT_TIMEOUT=0 waits forever)",
                    self.offer.provider
                ),
            ));
        }
        Ok(())
    }

    /// Post queued packets, in order, until the provider pushes back.
    fn flush_backlog(&mut self) -> Result<(), TransportError> {
        while let Some(q) = self.backlog.front() {
            let q = Queued { ..*q };
            let r = self.post_send(&q);
            if r == -(FI_EAGAIN as isize) {
                return Ok(());
            }
            self.backlog.pop_front();
            if r != 0 {
                self.release(&q);
                let reason = format!("fi_send: {}", self.lib.strerror(r));
                if let Some(p) = self.peers.get_mut(&q.peer) {
                    p.gone.get_or_insert(reason.clone());
                    p.unfinished -= 1;
                }
                return Err(TransportError::PeerGone { peer: q.peer, reason });
            }
            self.in_flight(&q);
        }
        Ok(())
    }
}

/// Write `prefix` then `parts` to the start of `out`.
fn gather(out: &mut [u8], prefix: &[u8; PREFIX], parts: &[&[u8]]) {
    out[..PREFIX].copy_from_slice(prefix);
    let mut at = PREFIX;
    for p in parts {
        out[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
}

/// Memory keys must fit the 64 bits an `Rts` carries.
fn offer_key_fits(o: &Offer) -> bool {
    o.mr_key_size <= 8 && o.mr_mode & FI_MR_RAW == 0
}

fn token(secret: &[u8]) -> u64 {
    let mut h = Sha256::new();
    h.update(b"rmpi-ofi-token");
    h.update(secret);
    u64::from_le_bytes(h.finalize()[..8].try_into().expect("8 bytes"))
}

impl Transport for OfiTransport {
    fn caps(&self) -> &Caps {
        &self.caps
    }

    fn try_send(&mut self, peer: Rank, parts: &[&[u8]]) -> Result<(), TransportError> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total > self.caps.max_packet {
            return Err(TransportError::TooLarge(total));
        }
        let (dest, seq) = match self.peers.get(&peer) {
            None => return Err(TransportError::UnknownPeer(peer)),
            Some(Peer { gone: Some(why), .. }) => return Err(TransportError::PeerGone { peer, reason: why.clone() }),
            Some(p) => (p.addr, p.next_seq),
        };
        // Packets refused earlier go first.
        self.flush_backlog()?;
        let need = PREFIX + total;
        let prefix = order::encode(self.token, self.rank, seq);
        if self.backlog.is_empty() && need <= self.offer.inject_size && need <= INJECT_BUF {
            let mut buf = [0u8; INJECT_BUF];
            gather(&mut buf, &prefix, parts);
            // SAFETY: live endpoint; inject copies the bytes before returning.
            let r = unsafe { api::fi_inject(self.ep, buf.as_ptr().cast(), need, dest) };
            if r == 0 {
                self.sent(peer, total);
                return Ok(());
            }
            if r != -(FI_EAGAIN as isize) {
                return Err(fail("fi_inject", self.lib.strerror(r)));
            }
            // No room now: queue it in a slot like any other packet.
        }
        let small = need <= SMALL_SLOT;
        let mut slot = if small { self.free_small.pop() } else { self.free_large.pop() };
        if slot.is_none() {
            // Completions free slots (and drive manual progress).
            self.drain_tx()?;
            self.flush_backlog()?;
            slot = if small { self.free_small.pop() } else { self.free_large.pop() };
        }
        let Some(i) = slot else { return Err(TransportError::WouldBlock) };
        {
            let slab = if small { self.small.as_ref() } else { self.large.as_ref() }.expect("send slab");
            // SAFETY: slot i is free: no operation is posted on it.
            gather(unsafe { slab.bytes_mut(i) }, &prefix, parts);
        }
        let q = Queued { peer, dest, small, slot: i, len: need };
        if self.backlog.is_empty() {
            let r = self.post_send(&q);
            if r == 0 {
                self.in_flight(&q);
                self.sent(peer, total);
                self.unfinished(peer);
                return Ok(());
            }
            if r != -(FI_EAGAIN as isize) {
                self.release(&q);
                return Err(fail("fi_send", self.lib.strerror(r)));
            }
        }
        // The provider has no room yet (say a connection is being set up):
        // the packet is accepted and waits in its slot.
        self.backlog.push_back(q);
        self.sent(peer, total);
        self.unfinished(peer);
        Ok(())
    }

    fn poll(&mut self, deliver: &mut dyn FnMut(Rank, &[u8])) -> Result<usize, TransportError> {
        let pending = std::mem::take(&mut self.repost);
        for (k, &i) in pending.iter().enumerate() {
            if !self.post_recv(i)? {
                self.repost.extend_from_slice(&pending[k..]);
                break;
            }
        }
        self.drain_tx()?;
        self.flush_backlog()?;
        self.pump_reads();
        let n = self.drain_rx(deliver)?;
        self.check_unanswered()?;
        Ok(n)
    }

    fn prepare_sleep(&mut self) -> bool {
        if !self.repost.is_empty() || !self.backlog.is_empty() || self.rma.has_queued() {
            return false;
        }
        match &self.waiting {
            Waiting::Fds(..) => self.trywait(),
            Waiting::FdsWithNet(_, _, t) => self.trywait() && arm(t, SOCKETS_NET),
            Waiting::Timer(fd) => arm(fd, POLL_INTERVAL),
        }
    }

    fn wait_fds(&self, out: &mut Vec<RawFd>) {
        match &self.waiting {
            Waiting::Fds(a, b) => {
                out.push(*a);
                out.push(*b);
            }
            Waiting::FdsWithNet(a, b, t) => {
                out.push(*a);
                out.push(*b);
                out.push(t.as_raw_fd());
            }
            Waiting::Timer(fd) => out.push(fd.as_raw_fd()),
        }
    }

    fn end_sleep(&mut self) {
        if let Waiting::Timer(fd) | Waiting::FdsWithNet(_, _, fd) = &self.waiting {
            let mut v = [0u8; 8];
            // SAFETY: nonblocking read of the timer's expiry count into 8 bytes.
            unsafe { libc::read(fd.as_raw_fd(), v.as_mut_ptr().cast(), 8) };
        }
    }

    fn counters(&self) -> Counters {
        self.counters
    }
}

impl OfiTransport {
    /// Whether blocking on the completion queues' descriptors is safe now.
    fn trywait(&self) -> bool {
        let mut fids: [*mut fid; 2] =
            // SAFETY: live CQs.
            unsafe { [&mut (*self.cq_rx).fid, &mut (*self.cq_tx).fid] };
        // SAFETY: live fabric and CQs.
        unsafe { api::fi_trywait(self.fabric, &mut fids) == 0 }
    }
    /// A send to `peer` now waits in a slot.
    fn unfinished(&mut self, peer: Rank) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.unfinished += 1;
            if !p.heard && p.waiting_since.is_none() {
                p.waiting_since = Some(Instant::now());
            }
        }
    }

    fn sent(&mut self, peer: Rank, total: usize) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.next_seq = p.next_seq.wrapping_add(1);
        }
        self.counters.packets_sent += 1;
        self.counters.bytes_sent += total as u64;
    }
}

impl Drop for OfiTransport {
    fn drop(&mut self) {
        // SAFETY: each object is live (or null) and closed once, the
        // endpoint before what it is bound to, registrations before the
        // domain, the domain before the fabric.
        unsafe {
            if !self.ep.is_null() {
                api::fi_close(&mut (*self.ep).fid);
            }
            for cq in [self.cq_rx, self.cq_tx] {
                if !cq.is_null() {
                    api::fi_close(&mut (*cq).fid);
                }
            }
            if !self.av.is_null() {
                api::fi_close(&mut (*self.av).fid);
            }
            self.close_rma();
            self.rx = None;
            self.small = None;
            self.large = None;
            if !self.domain.is_null() {
                api::fi_close(&mut (*self.domain).fid);
            }
            if !self.fabric.is_null() {
                api::fi_close(&mut (*self.fabric).fid);
            }
        }
    }
}
