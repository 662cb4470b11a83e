//! Finding a provider: `fi_getinfo` with rmpi's needs as hints, and the
//! choice among the answers.
//!
//! Hints: reliable-datagram endpoints (`FI_EP_RDM`) with `FI_MSG`; the
//! modes rmpi can honour (`FI_CONTEXT`, `FI_CONTEXT2`: every operation's
//! context has room for the provider); the memory-registration modes it
//! handles (`FI_MR_LOCAL`, `FI_MR_ALLOCATED`, `FI_MR_PROV_KEY`,
//! `FI_MR_VIRT_ADDR`: its buffers are registered slabs); one thread at a
//! time (`FI_THREAD_DOMAIN`: the runtime holds one lock); and provider-side
//! flow control (`FI_RM_ENABLED`), since rmpi posts a bounded number of
//! receives. `FI_PROVIDER` (read by libfabric itself) narrows the search.
//!
//! Between nodes rmpi uses ofi by itself only for a fabric provider:
//! [`SOCKET_PROVIDERS`] (which merely wrap the kernel's sockets) and `shm`
//! are left to rmpi's own TCP and shared-memory transports.

use super::api::{cstr, Lib};
use super::sys::*;

/// Core providers that run over kernel sockets (or, for `shm`, within one
/// node): never chosen automatically.
pub const SOCKET_PROVIDERS: &[&str] = &["tcp", "udp", "sockets", "net", "shm"];

/// The API version rmpi asks for (its structure layouts are 1.17's).
pub const API_VERSION: (u32, u32) = (1, 17);

/// The core provider of a (possibly layered) provider name:
/// `verbs;ofi_rxm` → `verbs`.
pub fn core_provider(name: &str) -> &str {
    name.split(';').next().unwrap_or(name)
}

/// Whether a provider is a real fabric (not sockets or shared memory).
pub fn is_fabric(name: &str) -> bool {
    !SOCKET_PROVIDERS.contains(&core_provider(name))
}

/// The list `fi_getinfo` returned; freed on drop.
pub struct InfoList {
    lib: &'static Lib,
    pub head: *mut fi_info,
}

impl Drop for InfoList {
    fn drop(&mut self) {
        if !self.head.is_null() {
            // SAFETY: a list fi_getinfo returned, freed once.
            unsafe { (self.lib.freeinfo)(self.head) };
        }
    }
}

/// What one `fi_info` offers, in plain values.
#[derive(Debug, Clone)]
pub struct Offer {
    pub provider: String,
    pub fabric: String,
    pub domain: String,
    pub mode: u64,
    pub mr_mode: i32,
    pub mr_key_size: usize,
    pub inject_size: usize,
    pub max_msg_size: usize,
    pub msg_order: u64,
    pub rx_size: usize,
    pub data_progress: i32,
}

impl Offer {
    /// # Safety
    /// `i` is a live `fi_info` from libfabric.
    pub unsafe fn read(i: *const fi_info) -> Offer {
        let i = &*i;
        let fa = &*i.fabric_attr;
        let da = &*i.domain_attr;
        let tx = &*i.tx_attr;
        let rx = &*i.rx_attr;
        let ep = &*i.ep_attr;
        Offer {
            provider: cstr(fa.prov_name),
            fabric: cstr(fa.name),
            domain: cstr(da.name),
            mode: i.mode,
            mr_mode: da.mr_mode,
            mr_key_size: da.mr_key_size,
            inject_size: tx.inject_size,
            max_msg_size: ep.max_msg_size,
            msg_order: tx.msg_order,
            rx_size: rx.size,
            data_progress: da.data_progress,
        }
    }

    /// One line for `RMPI_VERBOSE` and the info tool.
    pub fn describe(&self) -> String {
        format!(
            "provider {} (fabric {}, domain {}){}, inject {} B, {} progress",
            self.provider,
            self.fabric,
            self.domain,
            if self.msg_order & FI_ORDER_SAS != 0 { ", ordered" } else { "" },
            self.inject_size,
            if self.data_progress == FI_PROGRESS_AUTO { "auto" } else { "manual" },
        )
    }
}

/// Ask libfabric for RDM endpoints that suit rmpi (`rma` adds `FI_RMA`
/// reads to the required capabilities).
pub fn query(lib: &'static Lib, rma: bool) -> Result<InfoList, String> {
    // SAFETY: fi_dupinfo(NULL) allocates zeroed hints with every attribute
    // structure present; rmpi writes fields through the 1.17 layout and
    // frees the hints with fi_freeinfo.
    let hints = unsafe { (lib.dupinfo)(std::ptr::null()) };
    if hints.is_null() {
        return Err("fi_allocinfo failed".into());
    }
    let hints = InfoList { lib, head: hints };
    // SAFETY: hints is a fresh fi_info with its attribute structs allocated.
    unsafe {
        let h = &mut *hints.head;
        h.caps = FI_MSG | if rma { FI_RMA | FI_READ | FI_REMOTE_READ } else { 0 };
        h.mode = FI_CONTEXT | FI_CONTEXT2;
        (*h.ep_attr).type_ = FI_EP_RDM;
        let d = &mut *h.domain_attr;
        d.mr_mode = FI_MR_LOCAL | FI_MR_ALLOCATED | FI_MR_PROV_KEY | FI_MR_VIRT_ADDR;
        d.threading = FI_THREAD_DOMAIN;
        d.resource_mgmt = FI_RM_ENABLED;
    }
    let (lmaj, lmin) = lib.version();
    let version = if (lmaj, lmin) < API_VERSION { fi_version(lmaj, lmin) } else { fi_version(1, API_VERSION.1) };
    let mut out: *mut fi_info = std::ptr::null_mut();
    // SAFETY: valid hints, out-pointer to a local.
    let r = unsafe { (lib.getinfo)(version, std::ptr::null(), std::ptr::null(), 0, hints.head, &mut out) };
    if r != 0 {
        let filter = std::env::var("FI_PROVIDER").map(|p| format!(" (FI_PROVIDER={p})")).unwrap_or_default();
        return Err(format!("no libfabric provider offers what rmpi needs{filter}: {}", lib.strerror(r as isize)));
    }
    Ok(InfoList { lib, head: out })
}

impl InfoList {
    /// The entries, in libfabric's order of preference.
    pub fn entries(&self) -> Vec<*mut fi_info> {
        let mut v = Vec::new();
        let mut p = self.head;
        while !p.is_null() {
            v.push(p);
            // SAFETY: a live list node.
            p = unsafe { (*p).next };
        }
        v
    }

    /// The first entry acceptable to `want`: on the interface named by
    /// `FI_TCP_IFACE` or `FI_SOCKETS_IFACE` when one is set (libfabric
    /// still lists loopback then), else with `loopback` on the loopback
    /// interface if there is one.
    pub fn choose(&self, want: impl Fn(&Offer) -> bool, loopback: bool) -> Option<(*mut fi_info, Offer)> {
        let ok: Vec<(*mut fi_info, Offer)> = self
            .entries()
            .into_iter()
            .filter_map(|p| {
                // SAFETY: a live list node.
                let o = unsafe { Offer::read(p) };
                want(&o).then_some((p, o))
            })
            .collect();
        let iface = ["FI_TCP_IFACE", "FI_SOCKETS_IFACE"].iter().find_map(|k| std::env::var(k).ok());
        let pick = match iface {
            Some(i) => ok.iter().position(|(_, o)| o.domain == i),
            None => ok.iter().position(|(_, o)| loopback && o.fabric.starts_with("127.")),
        };
        ok.into_iter().nth(pick.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_providers_are_not_fabrics() {
        for p in ["tcp;ofi_rxm", "tcp", "udp;ofi_rxd", "sockets", "shm", "net;ofi_rxm"] {
            assert!(!is_fabric(p), "{p}");
        }
        for p in ["verbs;ofi_rxm", "efa", "cxi", "psm3", "opx", "psm2"] {
            assert!(is_fabric(p), "{p}");
        }
    }
}
