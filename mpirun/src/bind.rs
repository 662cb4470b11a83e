//! Binding ranks to cores (`--bind-to`).
//!
//! Ranks that spin and yield while they wait look permanently cache-hot to
//! the kernel's load balancer, so two ranks that once land on one core may
//! stay there while the other core idles: a ping-pong then takes ~5 µs a
//! round trip instead of ~0.5. Binding each rank to its own core makes that
//! impossible. The units are the cores (or, with `hwthread`, the hardware
//! threads) of the CPUs this launcher may use on its host, taken in order;
//! local rank `i` gets unit `i mod units`.
//!
//! The default (`auto`) binds only when the host's ranks fill its usable
//! cores (as many ranks as cores, or more): then no other work of the user
//! can gain from the freedom, and a job that leaves cores free is left to
//! the scheduler, so that two small jobs on one big host never pile onto the
//! same first cores.

use std::collections::BTreeMap;

/// What `--bind-to` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindPolicy {
    /// Bind by cores when the host's ranks fill its cores; else no binding.
    #[default]
    Auto,
    /// Never bind.
    None,
    /// One core (all of its hardware threads) per rank, round robin.
    Core,
    /// One hardware thread per rank, round robin.
    Hwthread,
}

impl BindPolicy {
    /// Parses the option's value.
    pub fn parse(s: &str) -> Result<BindPolicy, String> {
        match s {
            "auto" => Ok(BindPolicy::Auto),
            "none" | "no" => Ok(BindPolicy::None),
            "core" | "cores" => Ok(BindPolicy::Core),
            "hwthread" | "hwthreads" | "thread" => Ok(BindPolicy::Hwthread),
            other => Err(format!("--bind-to: unknown policy {other:?} (use auto, core, hwthread or none)")),
        }
    }

    /// The byte that carries the policy to node proxies.
    pub fn to_wire(self) -> u8 {
        match self {
            BindPolicy::Auto => 0,
            BindPolicy::None => 1,
            BindPolicy::Core => 2,
            BindPolicy::Hwthread => 3,
        }
    }

    /// Inverse of [`BindPolicy::to_wire`] (unknown bytes: `Auto`).
    pub fn from_wire(b: u8) -> BindPolicy {
        match b {
            1 => BindPolicy::None,
            2 => BindPolicy::Core,
            3 => BindPolicy::Hwthread,
            _ => BindPolicy::Auto,
        }
    }
}

/// The CPUs this process may run on, in increasing order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity
    // writes at most size_of::<cpu_set_t>() bytes into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    // SAFETY: CPU_ISSET reads the set for an index below CPU_SETSIZE.
    (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect()
}

/// The (package, core) a CPU belongs to, from sysfs; `None` if unknown.
fn core_of(cpu: usize) -> Option<(u64, u64)> {
    let read = |what: &str| -> Option<u64> {
        std::fs::read_to_string(format!("/sys/devices/system/cpu/cpu{cpu}/topology/{what}")).ok()?.trim().parse().ok()
    };
    Some((read("physical_package_id")?, read("core_id")?))
}

/// Groups `cpus` into binding units: one per core (its hardware threads
/// among `cpus`) for `by_core`, else one per CPU. Units are ordered by their
/// lowest CPU. A CPU whose core is unknown is a core of its own.
pub fn units(cpus: &[usize], by_core: bool) -> Vec<Vec<usize>> {
    if !by_core {
        return cpus.iter().map(|&c| vec![c]).collect();
    }
    let mut cores: BTreeMap<(u64, u64), Vec<usize>> = BTreeMap::new();
    for &c in cpus {
        cores.entry(core_of(c).unwrap_or((u64::MAX, c as u64))).or_default().push(c);
    }
    let mut out: Vec<Vec<usize>> = cores.into_values().collect();
    out.sort_by_key(|u| u[0]);
    out
}

/// The CPUs of each of `local_size` ranks on this host under `policy`, or
/// `None` when the ranks are left unbound.
pub fn plan(policy: BindPolicy, local_size: usize) -> Option<Vec<Vec<usize>>> {
    let cpus = allowed_cpus();
    plan_for(policy, local_size, &cpus)
}

/// [`plan`] over a given set of usable CPUs.
pub fn plan_for(policy: BindPolicy, local_size: usize, cpus: &[usize]) -> Option<Vec<Vec<usize>>> {
    if local_size == 0 || cpus.is_empty() {
        return None;
    }
    let units = match policy {
        BindPolicy::None => return None,
        BindPolicy::Hwthread => units(cpus, false),
        BindPolicy::Core => units(cpus, true),
        BindPolicy::Auto => {
            let u = units(cpus, true);
            // A single core, or a job that leaves cores free: no binding.
            if u.len() < 2 || local_size < u.len() {
                return None;
            }
            u
        }
    };
    Some((0..local_size).map(|i| units[i % units.len()].clone()).collect())
}

/// A `cpu_set_t` holding `cpus`, made before a fork so that the child only
/// has to hand it to the kernel.
pub fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes within
    // it for indices below CPU_SETSIZE, which the filter guarantees.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    set
}

/// `0-3,8` style list of CPUs, for messages and the ranks' environment.
pub fn cpu_list(cpus: &[usize]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if i == j { cpus[i].to_string() } else { format!("{}-{}", cpus[i], cpus[j]) });
        i = j + 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_round_trip() {
        for p in [BindPolicy::Auto, BindPolicy::None, BindPolicy::Core, BindPolicy::Hwthread] {
            assert_eq!(BindPolicy::from_wire(p.to_wire()), p);
        }
        assert_eq!(BindPolicy::parse("core"), Ok(BindPolicy::Core));
        assert_eq!(BindPolicy::parse("none"), Ok(BindPolicy::None));
        assert!(BindPolicy::parse("socket").is_err());
    }

    #[test]
    fn hwthread_plan_is_round_robin_over_cpus() {
        let cpus = [2, 3, 5];
        let p = plan_for(BindPolicy::Hwthread, 5, &cpus).expect("bound");
        assert_eq!(p, vec![vec![2], vec![3], vec![5], vec![2], vec![3]]);
    }

    #[test]
    fn none_never_binds_and_auto_leaves_free_cores_alone() {
        let cpus = allowed_cpus();
        assert!(plan_for(BindPolicy::None, 4, &cpus).is_none());
        let cores = units(&cpus, true).len();
        if cores >= 2 {
            assert!(plan_for(BindPolicy::Auto, cores - 1, &cpus).is_none());
            let p = plan_for(BindPolicy::Auto, cores, &cpus).expect("a full host is bound");
            // Every rank on a core of its own.
            let mut seen: Vec<usize> = p.iter().map(|u| u[0]).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), cores);
        }
    }

    #[test]
    fn core_units_cover_every_allowed_cpu_once() {
        let cpus = allowed_cpus();
        let mut all: Vec<usize> = units(&cpus, true).into_iter().flatten().collect();
        all.sort_unstable();
        assert_eq!(all, cpus);
    }

    #[test]
    fn cpu_lists_are_compact() {
        assert_eq!(cpu_list(&[0, 1, 2, 3, 8]), "0-3,8");
        assert_eq!(cpu_list(&[5]), "5");
        assert_eq!(cpu_list(&[1, 3, 4]), "1,3-4");
    }
}
