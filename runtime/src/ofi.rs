//! The ofi (libfabric) parts of start-up and routing: when to open the
//! transport, its business card in PMI, and reporting the provider.
//!
//! * `RMPI_TRANSPORT=ofi` forces ofi between all ranks (no shared memory,
//!   no TCP); `FI_PROVIDER` (read by libfabric) picks the provider, for
//!   example `tcp`, `sockets` or `shm`. Failing to open it fails start-up.
//! * Otherwise, when some peer is on another node and the machine has a
//!   fabric device (or `FI_PROVIDER` is set), ofi is tried with fabric
//!   providers only (verbs, efa, cxi, psm3, opx...; never tcp, udp,
//!   sockets or shm, which rmpi's own transports cover). A rank without one
//!   publishes no ofi card, and a pair of ranks uses ofi only if both
//!   published cards of the same provider: else TCP, as before.
//! * `RMPI_TRANSPORT=tcp` keeps ofi off.
//! * `RMPI_VERBOSE=1`: each rank prints the provider it uses (or why not).
//!
//! The card (`rmpi-ofi-R`) goes through PMI's `put_split`, like the other
//! cards, so long fabric addresses fit PMI's value limit.

use rmpi_pmi::PmiClient;
use rmpi_transports::ofi::{OfiConfig, OfiTransport};

use crate::error::{ErrorClass, MpiError, MpiResult};

/// Key under which a rank publishes its ofi business card.
pub fn card_key(rank: u32) -> String {
    format!("rmpi-ofi-{rank}")
}

/// Whether `RMPI_TRANSPORT=ofi`.
pub fn forced() -> bool {
    std::env::var("RMPI_TRANSPORT").map(|v| v.eq_ignore_ascii_case("ofi")).unwrap_or(false)
}

/// Whether `RMPI_TRANSPORT=tcp` (which keeps ofi off).
fn tcp_forced() -> bool {
    std::env::var("RMPI_TRANSPORT").map(|v| v.eq_ignore_ascii_case("tcp")).unwrap_or(false)
}

fn verbose() -> bool {
    std::env::var("RMPI_VERBOSE").map(|v| !v.is_empty() && v != "0").unwrap_or(false)
}

/// Open the ofi transport if this job should use it: always when forced
/// (an error then ends start-up), else only with a fabric provider and
/// some peer on another node.
pub fn open(rank: u32, size: u32, secret: &[u8], remote_peers: bool) -> MpiResult<Option<OfiTransport>> {
    let force = forced();
    if size < 2 || tcp_forced() || !(force || remote_peers) {
        return Ok(None);
    }
    if !force && std::env::var_os("FI_PROVIDER").is_none() && !fabric_hardware_present() {
        // Loading libfabric and asking it costs up to a second here (it
        // scans /proc/kallsyms); without a fabric device the answer is no.
        if verbose() {
            eprintln!("rmpi: rank {rank}: no fabric device found; using TCP between nodes");
        }
        return Ok(None);
    }
    let cfg = OfiConfig { rank, secret: secret.to_vec(), fabric_only: !force, provider: None, loopback: !remote_peers };
    match OfiTransport::open(cfg) {
        Ok(t) => {
            if verbose() {
                eprintln!("rmpi: rank {rank}: transport ofi: {}", t.describe());
            }
            Ok(Some(t))
        }
        Err(e) if force => Err(MpiError::new(ErrorClass::Other, format!("RMPI_TRANSPORT=ofi: {e}"))),
        Err(e) => {
            if verbose() {
                eprintln!("rmpi: rank {rank}: ofi not used between nodes ({e}); using TCP");
            }
            Ok(None)
        }
    }
}

/// Whether the machine shows a device a fabric provider drives: an RDMA
/// device (verbs, EFA, PSM3 over verbs), a Slingshot NIC (CXI) or an
/// Omni-Path HFI (OPX, PSM2). `FI_PROVIDER` set by the user skips this check.
fn fabric_hardware_present() -> bool {
    let nonempty = |dir: &str| std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(false);
    nonempty("/sys/class/infiniband")
        || nonempty("/sys/class/cxi")
        || std::fs::read_dir("/dev")
            .map(|d| {
                d.flatten().any(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    n.starts_with("cxi") || n.starts_with("hfi1")
                })
            })
            .unwrap_or(false)
}

fn pmi_err(e: rmpi_pmi::PmiError) -> MpiError {
    MpiError::new(ErrorClass::Other, format!("PMI failed with the ofi card: {e}"))
}

/// Publish `card` under this rank's key (PMI splits a long one).
pub fn put_card(pmi: &mut PmiClient, rank: u32, text: &str) -> MpiResult<()> {
    pmi.put_split(&card_key(rank), text).map_err(pmi_err)
}

/// Rank `peer`'s ofi card, or `None` if it published none.
pub fn get_card(pmi: &mut PmiClient, peer: u32) -> MpiResult<Option<String>> {
    pmi.get_split(&card_key(peer)).map_err(pmi_err)
}

/// With `RMPI_VERBOSE`, what this rank moved over ofi (at finalize).
pub fn report(rank: u32, ofi: Option<&OfiTransport>) {
    let Some(o) = ofi.filter(|_| verbose()) else { return };
    use rmpi_transports::Transport;
    let c = o.counters();
    let (reads, read_bytes) = o.reads_completed();
    eprintln!(
        "rmpi: rank {rank}: ofi moved {} packets ({} bytes) out, {} packets ({} bytes) in, {} single-copy reads ({} bytes)",
        c.packets_sent, c.bytes_sent, c.packets_received, c.bytes_received, reads, read_bytes
    );
}
