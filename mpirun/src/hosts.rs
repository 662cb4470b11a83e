//! Which hosts a job runs on, and which ranks go where.
//!
//! Sources of hosts, first match wins: `-hosts h1,h2:4,...`, `-hostfile
//! FILE` (one `host[:slots]` per line; `#` starts a comment; blank lines are
//! skipped), a Slurm allocation (`SLURM_JOB_NODELIST` in hostlist syntax
//! such as `n[1-3,5],m7`, slots from `SLURM_TASKS_PER_NODE` such as
//! `2(x3),1`), else this host alone. A host named twice is one host (its
//! slots add up).
//!
//! Placement follows MPICH Hydra's default: hosts are taken in order and
//! each receives a block of consecutive ranks, as many as its slots (or
//! `-ppn N` for every host); when every host had its block and ranks remain,
//! the round starts again at the first host. Without `-n`, the job has as
//! many ranks as one round has slots. A host without slots given has one.
//! Hosts that receive no rank are not used.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// One host and its slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// Name as given (passed to the remote-start agent).
    pub name: String,
    /// Slots (ranks per placement round).
    pub slots: u32,
}

/// A host of the job with its ranks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRanks {
    /// Host name.
    pub name: String,
    /// Global ranks on it, ascending.
    pub ranks: Vec<u32>,
}

/// Parses one `host[:slots]` entry.
fn parse_entry(entry: &str, what: &str) -> Result<HostSpec> {
    let entry = entry.trim();
    let (name, slots) = match entry.rsplit_once(':') {
        Some((n, s)) => {
            let slots: u32 =
                s.trim().parse().with_context(|| format!("{what}: slots in {entry:?} are not a number"))?;
            if slots == 0 {
                bail!("{what}: {entry:?} has zero slots");
            }
            (n.trim(), slots)
        }
        None => (entry, 1),
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        bail!("{what}: bad host name in {entry:?}");
    }
    Ok(HostSpec { name: name.to_string(), slots })
}

/// `-hosts h1,h2:4,...`
pub fn parse_hosts_option(list: &str) -> Result<Vec<HostSpec>> {
    let hosts: Vec<HostSpec> =
        list.split(',').filter(|s| !s.trim().is_empty()).map(|e| parse_entry(e, "-hosts")).collect::<Result<_>>()?;
    if hosts.is_empty() {
        bail!("-hosts: no host given");
    }
    Ok(merge_duplicates(hosts))
}

/// The text of a host file.
pub fn parse_hostfile(text: &str, path: &Path) -> Result<Vec<HostSpec>> {
    let mut hosts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        // Accept `host slots=N` (Open MPI) besides `host:N`.
        let entry = match line.split_once(char::is_whitespace) {
            Some((h, rest)) => match rest.trim().strip_prefix("slots=") {
                Some(n) => format!("{h}:{n}"),
                None => bail!("{}:{}: expected `host[:slots]`, got {line:?}", path.display(), i + 1),
            },
            None => line.to_string(),
        };
        hosts.push(parse_entry(&entry, &format!("{}:{}", path.display(), i + 1))?);
    }
    if hosts.is_empty() {
        bail!("{}: no host in the file", path.display());
    }
    Ok(merge_duplicates(hosts))
}

fn merge_duplicates(hosts: Vec<HostSpec>) -> Vec<HostSpec> {
    let mut out: Vec<HostSpec> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for h in hosts {
        match index.get(&h.name) {
            Some(&i) => out[i].slots += h.slots,
            None => {
                index.insert(h.name.clone(), out.len());
                out.push(h);
            }
        }
    }
    out
}

/// Expands a Slurm hostlist (`n[1-3,5],m7`, `r[1-2]-n[01-02]`).
pub fn expand_hostlist(list: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let bytes = list.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'[' => depth += 1,
            b']' => depth = depth.checked_sub(1).with_context(|| format!("hostlist {list:?}: unbalanced ']'"))?,
            b',' if depth == 0 => {
                expand_one(&list[start..i], &mut out)?;
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        bail!("hostlist {list:?}: unbalanced '['");
    }
    expand_one(&list[start..], &mut out)?;
    Ok(out)
}

/// Expands one item with zero or more bracket groups.
fn expand_one(item: &str, out: &mut Vec<String>) -> Result<()> {
    let item = item.trim();
    if item.is_empty() {
        return Ok(());
    }
    let Some(open) = item.find('[') else {
        out.push(item.to_string());
        return Ok(());
    };
    let close = item[open..].find(']').map(|c| c + open).with_context(|| format!("hostlist item {item:?}"))?;
    let (prefix, ranges, suffix) = (&item[..open], &item[open + 1..close], &item[close + 1..]);
    let mut tails = Vec::new();
    expand_one(suffix, &mut tails)?;
    if tails.is_empty() {
        tails.push(String::new());
    }
    for range in ranges.split(',') {
        let range = range.trim();
        let (lo, hi) = range.split_once('-').unwrap_or((range, range));
        let width = lo.len();
        let a: u64 = lo.parse().with_context(|| format!("hostlist range {range:?} in {item:?}"))?;
        let b: u64 = hi.parse().with_context(|| format!("hostlist range {range:?} in {item:?}"))?;
        if b < a || b - a > 1_000_000 {
            bail!("hostlist range {range:?} in {item:?} is reversed or too large");
        }
        for n in a..=b {
            for t in &tails {
                out.push(format!("{prefix}{n:0width$}{t}"));
            }
        }
    }
    Ok(())
}

/// Expands `SLURM_TASKS_PER_NODE` (`2(x3),1`) to one count per node.
pub fn expand_tasks_per_node(s: &str) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (n, rep) = match part.split_once("(x") {
            Some((n, r)) => (n, r.strip_suffix(')').with_context(|| format!("tasks per node {s:?}"))?),
            None => (part, "1"),
        };
        let n: u32 = n.parse().with_context(|| format!("tasks per node {s:?}"))?;
        let rep: usize = rep.parse().with_context(|| format!("tasks per node {s:?}"))?;
        out.resize(out.len() + rep, n);
    }
    Ok(out)
}

/// The hosts of the Slurm allocation we run in, if any.
pub fn slurm_hosts(getenv: &dyn Fn(&str) -> Option<String>) -> Result<Option<Vec<HostSpec>>> {
    let Some(list) = getenv("SLURM_JOB_NODELIST").or_else(|| getenv("SLURM_NODELIST")) else {
        return Ok(None);
    };
    let names = expand_hostlist(&list)?;
    let slots = match getenv("SLURM_TASKS_PER_NODE").or_else(|| getenv("SLURM_JOB_CPUS_PER_NODE")) {
        Some(t) => expand_tasks_per_node(&t)?,
        None => vec![1; names.len()],
    };
    let hosts = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| HostSpec { name, slots: slots.get(i).copied().unwrap_or(1).max(1) })
        .collect();
    Ok(Some(hosts))
}

/// Ranks of one placement round.
pub fn round_size(hosts: &[HostSpec], ppn: Option<u32>) -> u32 {
    hosts.iter().map(|h| ppn.unwrap_or(h.slots)).sum()
}

/// Places `np` ranks on `hosts` (see the module documentation). Hosts that
/// get no rank are left out.
pub fn place(hosts: &[HostSpec], ppn: Option<u32>, np: u32) -> Vec<HostRanks> {
    let mut out: Vec<HostRanks> = hosts.iter().map(|h| HostRanks { name: h.name.clone(), ranks: Vec::new() }).collect();
    let mut next = 0u32;
    while next < np && !hosts.is_empty() {
        for (i, h) in hosts.iter().enumerate() {
            let block = ppn.unwrap_or(h.slots).max(1).min(np - next);
            out[i].ranks.extend(next..next + block);
            next += block;
            if next == np {
                break;
            }
        }
    }
    out.retain(|h| !h.ranks.is_empty());
    out
}

/// This machine's host name.
pub fn local_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into our buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Whether `name` is this machine (then its ranks run inside rmpirun).
pub fn is_local(name: &str, hostname: &str) -> bool {
    let short = |s: &str| s.split('.').next().unwrap_or(s).to_string();
    name == "localhost" || name.starts_with("127.") || name == hostname || name == short(hostname)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &str, slots: u32) -> HostSpec {
        HostSpec { name: name.into(), slots }
    }

    #[test]
    fn hosts_option_and_file() {
        assert_eq!(parse_hosts_option("a,b:3,c").unwrap(), vec![h("a", 1), h("b", 3), h("c", 1)]);
        assert_eq!(parse_hosts_option("a:2,b,a").unwrap(), vec![h("a", 3), h("b", 1)]);
        assert!(parse_hosts_option("a:0").is_err());
        assert!(parse_hosts_option("a:x").is_err());
        assert!(parse_hosts_option(",").is_err());
        let text = "# cluster\n\nn1:2\n  n2   # two slots by default? no: one\nn3 slots=4\n";
        assert_eq!(parse_hostfile(text, Path::new("hf")).unwrap(), vec![h("n1", 2), h("n2", 1), h("n3", 4)]);
        assert!(parse_hostfile("# nothing\n", Path::new("hf")).is_err());
        assert!(parse_hostfile("n1 extra\n", Path::new("hf")).is_err());
    }

    #[test]
    fn slurm_hostlists() {
        assert_eq!(expand_hostlist("n[1-3,5],m7").unwrap(), vec!["n1", "n2", "n3", "n5", "m7"]);
        assert_eq!(expand_hostlist("node[08-10]").unwrap(), vec!["node08", "node09", "node10"]);
        assert_eq!(expand_hostlist("r[1-2]-n[1-2]").unwrap(), vec!["r1-n1", "r1-n2", "r2-n1", "r2-n2"]);
        assert_eq!(expand_hostlist("solo").unwrap(), vec!["solo"]);
        assert!(expand_hostlist("n[1-3").is_err());
        assert!(expand_hostlist("n[3-1]").is_err());
        assert_eq!(expand_tasks_per_node("3,1(x2)").unwrap(), vec![3, 1, 1]);
        assert_eq!(expand_tasks_per_node("2(x3)").unwrap(), vec![2, 2, 2]);
        let env = |k: &str| match k {
            "SLURM_JOB_NODELIST" => Some("n[1-3]".to_string()),
            "SLURM_TASKS_PER_NODE" => Some("2(x3)".to_string()),
            _ => None,
        };
        assert_eq!(slurm_hosts(&env).unwrap().unwrap(), vec![h("n1", 2), h("n2", 2), h("n3", 2)]);
        assert_eq!(slurm_hosts(&|_| None).unwrap(), None);
    }

    #[test]
    fn placement_is_blockwise_and_wraps() {
        let hosts = [h("a", 1), h("b", 1), h("c", 1)];
        let ranks = |p: &[HostRanks]| p.iter().map(|x| (x.name.clone(), x.ranks.clone())).collect::<Vec<_>>();
        assert_eq!(
            ranks(&place(&hosts, Some(2), 6)),
            vec![("a".into(), vec![0, 1]), ("b".into(), vec![2, 3]), ("c".into(), vec![4, 5])]
        );
        assert_eq!(
            ranks(&place(&hosts, None, 4)),
            vec![("a".into(), vec![0, 3]), ("b".into(), vec![1]), ("c".into(), vec![2])]
        );
        assert_eq!(ranks(&place(&hosts, Some(2), 3)), vec![("a".into(), vec![0, 1]), ("b".into(), vec![2])]);
        let slots = [h("a", 2), h("b", 3)];
        assert_eq!(round_size(&slots, None), 5);
        assert_eq!(round_size(&slots, Some(4)), 8);
        assert_eq!(ranks(&place(&slots, None, 7)), vec![("a".into(), vec![0, 1, 5, 6]), ("b".into(), vec![2, 3, 4])]);
    }

    #[test]
    fn local_names() {
        assert!(is_local("localhost", "box.example.org"));
        assert!(is_local("127.0.0.1", "box"));
        assert!(is_local("box", "box.example.org"));
        assert!(is_local("box.example.org", "box.example.org"));
        assert!(!is_local("n1", "box"));
    }
}
