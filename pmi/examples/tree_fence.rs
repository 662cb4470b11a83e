//! The cost of the job-wide PMI fence over a tree of simulated node proxies,
//! in one process: each proxy has a member KVS whose ranks put a business
//! card and enter the fence; subtree puts go up as encoded deltas (decoded
//! and merged by each parent), the root's merge comes down (each proxy
//! decodes it and commits it into its KVS, which resumes its ranks).
//!
//! `tree_fence [--nodes N] [--ranks R] [--value BYTES] [--fanout K] [--reps M]`
//! (defaults 1000 proxies, 8 ranks each, 100-byte values, fan-out 32 and a
//! star for comparison, best of 5).
//!
//! Prints, per fan-out: the total CPU time of all proxies for one fence,
//! and the critical path (the slowest proxy of each tree level, summed over
//! the levels, up and down): what the fence would take on real hosts
//! working in parallel, network latency excluded. A second critical path
//! adds the time each proxy needs to push its bytes through one link of
//! `--gbps G` (default 10): sending the merge to each child, receiving each
//! child's delta. That term is why the tree beats a star: a star's root
//! sends the whole merge once per proxy.

use std::time::{Duration, Instant};

use rmpi_pmi::tree::{decode_delta, encode_delta, tree_children, FenceStep, TreeFence};
use rmpi_pmi::{FenceState, JobInfo, Kvs};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn depth(i: usize, fanout: usize) -> usize {
    let mut d = 0;
    let mut i = i;
    while i > 0 {
        i = (i - 1) / fanout;
        d += 1;
    }
    d
}

struct Result {
    total: Duration,
    critical: Duration,
    with_links: Duration,
    merged_keys: usize,
    merged_bytes: usize,
}

fn one_fence(n: usize, ranks: usize, value: usize, fanout: usize, gbps: f64) -> Result {
    let link = |bytes: usize| Duration::from_secs_f64(bytes as f64 * 8.0 / (gbps * 1e9));
    let nodes = n + 1; // 0 is rmpirun, with no ranks
    let size = (n * ranks) as u32;
    let info = JobInfo { jobid: "bench".into(), size, universe_size: size, appnum: 0, process_mapping: String::new() };
    let mut kvs: Vec<Kvs> =
        (0..nodes).map(|i| Kvs::new_member(info.clone(), if i == 0 { 0 } else { ranks as u32 })).collect();
    let mut tree: Vec<TreeFence> =
        (0..nodes).map(|i| TreeFence::new(tree_children(i, nodes, fanout).len(), i > 0, i == 0)).collect();
    let levels = (0..nodes).map(|i| depth(i, fanout)).max().unwrap_or(0) + 1;
    let mut level_max_up = vec![Duration::ZERO; levels];
    let mut level_max_down = vec![Duration::ZERO; levels];
    let mut level_link_up = vec![Duration::ZERO; levels];
    let mut level_link_down = vec![Duration::ZERO; levels];
    let mut total = Duration::ZERO;
    let val = "x".repeat(value);

    // Up: children before parents (reverse heap order).
    let mut up_frames: Vec<Option<Vec<u8>>> = vec![None; nodes];
    let mut merged = None;
    for i in (0..nodes).rev() {
        let t = Instant::now();
        let mut step = FenceStep::Wait;
        if i > 0 {
            let base = (i - 1) * ranks;
            let mut gathered = None;
            for r in 0..ranks {
                let rank = (base + r) as u32;
                kvs[i].stage(&format!("rmpi-tcp-{rank}"), &val);
                if let FenceState::Gathered(d) = kvs[i].enter_fence(rank) {
                    gathered = Some(d);
                }
            }
            step = tree[i].local_ready(gathered.expect("all local ranks entered"));
        }
        let mut received = 0;
        for c in tree_children(i, nodes, fanout) {
            let frame = up_frames[c].as_ref().expect("child sent up");
            received += frame.len();
            let d = decode_delta(frame).expect("valid delta");
            step = tree[i].child_ready(d);
        }
        match step {
            FenceStep::SendUp(d) => up_frames[i] = Some(encode_delta(&d)),
            FenceStep::Complete(d) => merged = Some(d),
            FenceStep::Wait => panic!("node {i} incomplete"),
        }
        let dt = t.elapsed();
        total += dt;
        let l = depth(i, fanout);
        level_max_up[l] = level_max_up[l].max(dt);
        level_link_up[l] = level_link_up[l].max(dt + link(received));
    }
    // Down: the root encodes once; every proxy forwards the bytes, decodes
    // them and commits them.
    let t = Instant::now();
    let merged = merged.expect("root completed");
    let merged_keys = merged.len();
    let frame = encode_delta(&merged);
    let _ = kvs[0].complete_fence(merged);
    let dt = t.elapsed();
    total += dt;
    level_max_down[0] = dt;
    level_link_down[0] = dt + link(frame.len() * tree_children(0, nodes, fanout).len());
    for (i, node_kvs) in kvs.iter_mut().enumerate().skip(1) {
        let t = Instant::now();
        let d = decode_delta(&frame).expect("valid merge");
        let resumed = node_kvs.complete_fence(d);
        assert_eq!(resumed.len(), ranks);
        let dt = t.elapsed();
        total += dt;
        let l = depth(i, fanout);
        level_max_down[l] = level_max_down[l].max(dt);
        let sends = link(frame.len() * tree_children(i, nodes, fanout).len());
        level_link_down[l] = level_link_down[l].max(dt + sends);
    }
    // Every proxy can now serve every card.
    let last = format!("rmpi-tcp-{}", size - 1);
    assert!(kvs[1].get(&last).is_some() && kvs[n].get("rmpi-tcp-0").is_some());
    let critical = level_max_up.iter().chain(&level_max_down).sum();
    let with_links = level_link_up.iter().chain(&level_link_down).sum();
    Result { total, critical, with_links, merged_keys, merged_bytes: frame.len() }
}

fn main() {
    let n = arg("--nodes", 1000);
    let ranks = arg("--ranks", 8);
    let value = arg("--value", 100);
    let reps = arg("--reps", 5);
    let gbps = arg("--gbps", 10) as f64;
    let fanouts: Vec<usize> = match arg("--fanout", 0) {
        0 => vec![32, n],
        k => vec![k],
    };
    println!("tree fence: {n} simulated node proxies x {ranks} ranks, one {value}-byte put per rank");
    for fanout in fanouts {
        let best =
            (0..reps).map(|_| one_fence(n, ranks, value, fanout, gbps)).min_by_key(|r| r.critical).expect("reps > 0");
        let shape = if fanout >= n { "star".to_string() } else { format!("fan-out {fanout}") };
        println!(
            "{shape:>12}: critical path {:.1} ms ({:.1} ms with {gbps} Gb/s links), all proxies' CPU {:.0} ms, \
             merge {} keys / {} KiB",
            best.critical.as_secs_f64() * 1e3,
            best.with_links.as_secs_f64() * 1e3,
            best.total.as_secs_f64() * 1e3,
            best.merged_keys,
            best.merged_bytes / 1024
        );
    }
}
