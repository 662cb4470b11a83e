//! The job's layout: hosts, placement, which host runs inside rmpirun, and
//! how the others are started.
//!
//! Tree node ids: 0 is rmpirun itself (its ranks are those of the local
//! host, if the local host is in the list and proxies are not started by
//! srun); the other hosts, in host order, are nodes 1, 2, ... and run a
//! node proxy each. `PMI_process_mapping` numbers nodes by host order, so
//! ranks of one host (and only those) see each other as local.

use anyhow::{bail, Context, Result};
use rmpi_pmi::format_process_mapping;

use crate::cli::{Launcher, Options};
use crate::hosts::{self, HostRanks, HostSpec};

/// Where every rank runs and how to get there.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Number of ranks.
    pub np: u32,
    /// Hosts with their ranks (placement order).
    pub hosts: Vec<HostRanks>,
    /// Index in `hosts` of the host whose ranks rmpirun runs itself.
    pub local: Option<usize>,
    /// How proxies are started (unused when every rank is local).
    pub launcher: Launcher,
}

impl Layout {
    /// Builds the layout from the options and the environment.
    pub fn new(opts: &Options, getenv: &dyn Fn(&str) -> Option<String>) -> Result<Layout> {
        let hostname = hosts::local_hostname();
        let given: Option<Vec<HostSpec>> = match (&opts.hosts, &opts.hostfile) {
            (Some(_), Some(_)) => bail!("give -hosts or -hostfile, not both"),
            (Some(list), None) => Some(hosts::parse_hosts_option(list)?),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                Some(hosts::parse_hostfile(&text, path)?)
            }
            (None, None) => None,
        };
        // Inside a job step (`srun rmpirun ...`, SLURM_STEP_ID set) another
        // srun would wait for the step's own resources: there, only an
        // explicit `-launcher slurm` uses the allocation.
        let slurm = match (&given, &opts.launcher) {
            (None, None) if getenv("SLURM_STEP_ID").is_none() => hosts::slurm_hosts(getenv)?,
            (None, Some(Launcher::Slurm)) => hosts::slurm_hosts(getenv)?,
            _ => None,
        };
        if opts.launcher == Some(Launcher::Slurm) && given.is_none() && slurm.is_none() {
            bail!("-launcher slurm: not inside a Slurm allocation (SLURM_JOB_NODELIST is not set)");
        }
        let (specs, launcher) = match (given, slurm, opts.launcher.clone()) {
            (Some(h), _, Some(Launcher::Fork)) => {
                if h.iter().any(|x| !hosts::is_local(&x.name, &hostname)) {
                    bail!("-launcher fork runs on this host only, but other hosts were given");
                }
                (h, Launcher::Fork)
            }
            (Some(h), _, Some(l)) => (h, l),
            (Some(h), _, None) => (h, Launcher::Agent(opts.agent.clone())),
            (None, Some(h), _) => (h, Launcher::Slurm),
            (None, None, _) => {
                let np = opts.np.unwrap_or(1);
                return Ok(Layout {
                    np,
                    hosts: vec![HostRanks { name: hostname, ranks: (0..np).collect() }],
                    local: Some(0),
                    launcher: Launcher::Fork,
                });
            }
        };
        let launcher = match launcher {
            Launcher::Agent(w) if w.is_empty() => Launcher::Agent(opts.agent.clone()),
            l => l,
        };
        let np = match opts.np {
            Some(n) => n,
            None => match (&launcher, getenv("SLURM_NTASKS")) {
                (Launcher::Slurm, Some(n)) if opts.ppn.is_none() => n.trim().parse().context("SLURM_NTASKS")?,
                _ => hosts::round_size(&specs, opts.ppn),
            },
        };
        let placed = hosts::place(&specs, opts.ppn, np);
        // srun starts a proxy on every node, this one included.
        let local = match launcher {
            Launcher::Slurm => None,
            _ => placed.iter().position(|h| hosts::is_local(&h.name, &hostname)),
        };
        Ok(Layout { np, hosts: placed, local, launcher })
    }

    /// Whether any host needs a proxy.
    pub fn is_multi_host(&self) -> bool {
        self.hosts.len() > 1 || self.local.is_none()
    }

    /// Host indices of the proxies, in tree-node order (node 1, 2, ...).
    pub fn remote_hosts(&self) -> Vec<usize> {
        (0..self.hosts.len()).filter(|&i| Some(i) != self.local).collect()
    }

    /// Ranks of every tree node (0: rmpirun).
    pub fn node_ranks(&self) -> Vec<Vec<u32>> {
        let mut out = vec![self.local.map(|i| self.hosts[i].ranks.clone()).unwrap_or_default()];
        out.extend(self.remote_hosts().into_iter().map(|i| self.hosts[i].ranks.clone()));
        out
    }

    /// Host name of every tree node (0: this host).
    pub fn node_hosts(&self) -> Vec<String> {
        let mut out = vec![self.local.map(|i| self.hosts[i].name.clone()).unwrap_or_else(hosts::local_hostname)];
        out.extend(self.remote_hosts().into_iter().map(|i| self.hosts[i].name.clone()));
        out
    }

    /// The host of every rank.
    pub fn rank_hosts(&self) -> Vec<String> {
        let mut out = vec![String::new(); self.np as usize];
        for h in &self.hosts {
            for &r in &h.ranks {
                out[r as usize] = h.name.clone();
            }
        }
        out
    }

    /// `PMI_process_mapping`: node = host index.
    pub fn process_mapping(&self) -> String {
        let mut node_of_rank = vec![0u32; self.np as usize];
        for (i, h) in self.hosts.iter().enumerate() {
            for &r in &h.ranks {
                node_of_rank[r as usize] = u32::try_from(i).expect("hosts fit u32");
            }
        }
        format_process_mapping(&node_of_rank)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(np: Option<u32>, hosts: Option<&str>, ppn: Option<u32>) -> Options {
        Options {
            np,
            hosts: hosts.map(String::from),
            hostfile: None,
            ppn,
            launcher: None,
            agent: vec!["ssh".into()],
            env: vec![],
            wdir: None,
            tag_output: false,
            timeout: None,
            bind: Default::default(),
            report_bindings: false,
            program: "a".into(),
            args: vec![],
        }
    }

    #[test]
    fn one_host_without_options() {
        let l = Layout::new(&opts(Some(3), None, None), &|_| None).unwrap();
        assert!(!l.is_multi_host());
        assert_eq!(l.node_ranks(), vec![vec![0, 1, 2]]);
        assert_eq!(l.process_mapping(), "(vector,(0,1,3))");
    }

    #[test]
    fn remote_hosts_and_localhost() {
        let l = Layout::new(&opts(None, Some("n1,localhost,n3"), Some(2)), &|_| None).unwrap();
        assert_eq!(l.np, 6);
        assert!(l.is_multi_host());
        assert_eq!(l.local, Some(1));
        assert_eq!(l.node_ranks(), vec![vec![2, 3], vec![0, 1], vec![4, 5]]);
        assert_eq!(l.node_hosts()[1..], ["n1".to_string(), "n3".to_string()]);
        assert_eq!(l.process_mapping(), "(vector,(0,3,2))");
        assert_eq!(l.rank_hosts()[5], "n3");
        assert_eq!(l.launcher, Launcher::Agent(vec!["ssh".into()]));
    }

    #[test]
    fn slurm_allocation() {
        let env = |k: &str| match k {
            "SLURM_JOB_NODELIST" => Some("n[1-3]".to_string()),
            "SLURM_TASKS_PER_NODE" => Some("2(x3)".to_string()),
            "SLURM_NTASKS" => Some("6".to_string()),
            _ => None,
        };
        let l = Layout::new(&opts(None, None, None), &env).unwrap();
        assert_eq!(l.launcher, Launcher::Slurm);
        assert_eq!(l.local, None);
        assert_eq!(l.np, 6);
        assert_eq!(l.node_ranks(), vec![vec![], vec![0, 1], vec![2, 3], vec![4, 5]]);
        // Hosts given win over the allocation.
        let l = Layout::new(&opts(Some(2), Some("a,b"), None), &env).unwrap();
        assert_eq!(l.launcher, Launcher::Agent(vec!["ssh".into()]));
        // Inside a step (srun rmpirun ...): this host only, unless asked.
        let in_step = |k: &str| if k == "SLURM_STEP_ID" { Some("0".to_string()) } else { env(k) };
        let l = Layout::new(&opts(Some(2), None, None), &in_step).unwrap();
        assert!(!l.is_multi_host());
        let mut o = opts(None, None, None);
        o.launcher = Some(Launcher::Slurm);
        assert_eq!(Layout::new(&o, &in_step).unwrap().launcher, Launcher::Slurm);
    }
}
