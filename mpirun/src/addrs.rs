//! Which of this host's addresses a proxy should use to reach rmpirun.
//!
//! rmpirun listens on all interfaces and gives each proxy a list of
//! addresses to try in order: `RMPI_LAUNCHER_ADDR` (comma-separated) when
//! set, else the address this host would use as source towards the
//! proxy's host (when its name resolves), then every up, non-loopback IPv4
//! address, then 127.0.0.1.

use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs, UdpSocket};

/// Every up, non-loopback IPv4 address of this host.
pub fn host_ipv4() -> Vec<Ipv4Addr> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, valid
        // until freeifaddrs below.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null()
            || ifa.ifa_flags & libc::IFF_UP as u32 == 0
            || ifa.ifa_flags & libc::IFF_LOOPBACK as u32 != 0
        {
            continue;
        }
        // SAFETY: ifa_addr is non-null; its family says whether it is a
        // sockaddr_in.
        if unsafe { (*ifa.ifa_addr).sa_family } as i32 != libc::AF_INET {
            continue;
        }
        // SAFETY: family AF_INET means the address is a sockaddr_in.
        let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
        let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    // SAFETY: frees the list exactly once; nothing points into it any more.
    unsafe { libc::freeifaddrs(head) };
    out
}

/// The source address this host would use towards `host` (no packet is sent).
pub fn source_towards(host: &str) -> Option<Ipv4Addr> {
    let dest = (host, 9).to_socket_addrs().ok()?.find(|a| a.is_ipv4())?;
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    sock.connect(dest).ok()?;
    match sock.local_addr().ok()?.ip() {
        IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

/// Addresses (in order) a proxy on `host` should try to reach rmpirun.
pub fn launcher_addrs_for(host: Option<&str>, all: &[Ipv4Addr]) -> Vec<String> {
    if let Ok(v) = std::env::var("RMPI_LAUNCHER_ADDR") {
        let list: Vec<String> = v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        if !list.is_empty() {
            return list;
        }
    }
    let mut out: Vec<Ipv4Addr> = Vec::new();
    if let Some(ip) = host.and_then(source_towards) {
        out.push(ip);
    }
    for ip in all {
        if !out.contains(ip) {
            out.push(*ip);
        }
    }
    if !out.contains(&Ipv4Addr::LOCALHOST) {
        out.push(Ipv4Addr::LOCALHOST);
    }
    out.iter().map(Ipv4Addr::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_last_and_source_first() {
        let all = vec![Ipv4Addr::new(10, 9, 9, 9)];
        let v = launcher_addrs_for(None, &all);
        assert_eq!(v, vec!["10.9.9.9".to_string(), "127.0.0.1".to_string()]);
        let v = launcher_addrs_for(Some("127.0.0.1"), &all);
        assert_eq!(v, vec!["127.0.0.1".to_string(), "10.9.9.9".to_string()]);
        assert_eq!(source_towards("127.0.0.1"), Some(Ipv4Addr::LOCALHOST));
        assert!(host_ipv4().iter().all(|a| !a.is_loopback()));
    }
}
