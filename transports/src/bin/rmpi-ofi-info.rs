//! `rmpi-ofi-info`: what rmpi's ofi transport finds on this machine: the
//! libfabric version, every provider that offers what rmpi needs (in
//! libfabric's order of preference), the one `RMPI_TRANSPORT=ofi` would use
//! and whether a fabric provider would be chosen between nodes by itself.
//! `FI_PROVIDER` narrows the list as it does for rmpi.

use rmpi_transports::ofi::{self, OfiConfig, OfiTransport};

fn main() {
    let (major, minor) = match ofi::library() {
        Ok(v) => v,
        Err(e) => {
            println!("libfabric: not available ({e})");
            println!("rmpi uses its own TCP transport between nodes");
            return;
        }
    };
    println!("libfabric {major}.{minor}");
    match ofi::list_providers() {
        Ok(list) => {
            for line in list {
                println!("  {line}");
            }
        }
        Err(e) => println!("  {e}"),
    }
    for (what, fabric_only) in [("RMPI_TRANSPORT=ofi", false), ("between nodes", true)] {
        let cfg = OfiConfig { rank: 0, secret: Vec::new(), fabric_only, provider: None, loopback: false };
        match OfiTransport::open(cfg) {
            Ok(t) => println!("{what}: {}", t.describe()),
            Err(e) => println!("{what}: {}", if fabric_only { format!("rmpi's TCP ({e})") } else { e.to_string() }),
        }
    }
}
