//! The job-wide PMI fence over a tree of node proxies.
//!
//! A multi-host job has one member KVS per node ([`crate::Kvs::new_member`]),
//! each serving its own ranks. The node proxies (and rmpirun at the root)
//! form a tree. A fence completes in two sweeps:
//!
//! * **Up.** A tree node is ready when its own ranks are all in the fence
//!   (their puts handed out as [`crate::FenceState::Gathered`]) and every
//!   child has sent up its subtree's puts. It then sends the union of its
//!   own and its children's puts to its parent.
//! * **Down.** When the root is ready, the union is the job's merged set for
//!   this fence. The root commits it and sends it to its children; each
//!   node commits it, passes it on, and resumes its ranks.
//!
//! [`TreeFence`] is this bookkeeping for one tree node, without I/O: the
//! driver feeds it "my ranks are in" and "a child is in" and acts on the
//! [`FenceStep`] it returns. [`encode_delta`] / [`decode_delta`] are the
//! wire form of a set of puts. A node sees fences strictly one after the
//! other: a child enters fence `e + 1` only after fence `e`'s merge came
//! down through this node, so no epoch numbers are needed.

use crate::PmiError;

/// A set of KVS puts, in put order (a later put of a key wins).
pub type Delta = Vec<(String, String)>;

/// What a tree node must do after an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FenceStep {
    /// Wait for more.
    Wait,
    /// Send this subtree's puts to the parent.
    SendUp(Delta),
    /// (Root only) the fence is complete: commit this merged set and send
    /// it down to every child.
    Complete(Delta),
}

/// Fence bookkeeping of one tree node.
#[derive(Debug)]
pub struct TreeFence {
    children: usize,
    has_local: bool,
    is_root: bool,
    local_in: bool,
    children_in: usize,
    acc: Delta,
    completed: u64,
}

impl TreeFence {
    /// A node with `children` children in the tree; `has_local` when it
    /// serves ranks itself (a node without ranks is ready as soon as its
    /// children are); `is_root` for rmpirun.
    pub fn new(children: usize, has_local: bool, is_root: bool) -> Self {
        TreeFence { children, has_local, is_root, local_in: false, children_in: 0, acc: Vec::new(), completed: 0 }
    }

    /// Fences this node has seen complete (sent up or completed at the root).
    pub fn fences_done(&self) -> u64 {
        self.completed
    }

    /// This node's ranks are all in the fence, with their puts.
    pub fn local_ready(&mut self, delta: Delta) -> FenceStep {
        self.local_in = true;
        self.absorb(delta);
        self.step()
    }

    /// A child's subtree is all in, with its puts.
    pub fn child_ready(&mut self, delta: Delta) -> FenceStep {
        self.children_in += 1;
        self.absorb(delta);
        self.step()
    }

    fn absorb(&mut self, mut delta: Delta) {
        if self.acc.is_empty() {
            self.acc = delta;
        } else {
            self.acc.append(&mut delta);
        }
    }

    fn step(&mut self) -> FenceStep {
        if (self.has_local && !self.local_in) || self.children_in < self.children {
            return FenceStep::Wait;
        }
        self.local_in = false;
        self.children_in = 0;
        self.completed += 1;
        let all = std::mem::take(&mut self.acc);
        if self.is_root {
            FenceStep::Complete(all)
        } else {
            FenceStep::SendUp(all)
        }
    }
}

/// Wire form of a delta: count, then length-prefixed key and value bytes
/// (all lengths `u32` big-endian).
pub fn encode_delta(delta: &[(String, String)]) -> Vec<u8> {
    let size: usize = 4 + delta.iter().map(|(k, v)| 8 + k.len() + v.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&len32(delta.len()).to_be_bytes());
    for (k, v) in delta {
        for s in [k, v] {
            out.extend_from_slice(&len32(s.len()).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).expect("a PMI delta is far below 4 GiB (values are at most 1024 bytes)")
}

/// Inverse of [`encode_delta`].
pub fn decode_delta(mut bytes: &[u8]) -> Result<Delta, PmiError> {
    let bad = |why: &str| PmiError::Malformed(format!("fence delta: {why}"));
    let take = |n: usize, bytes: &mut &[u8]| -> Result<Vec<u8>, PmiError> {
        if bytes.len() < n {
            return Err(bad("truncated"));
        }
        let (head, rest) = bytes.split_at(n);
        *bytes = rest;
        Ok(head.to_vec())
    };
    let word = |b: Vec<u8>| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let count = word(take(4, &mut bytes)?);
    let mut out = Vec::with_capacity(count.min(1 << 20));
    for _ in 0..count {
        let mut pair = [String::new(), String::new()];
        for s in pair.iter_mut() {
            let n = word(take(4, &mut bytes)?);
            *s = String::from_utf8(take(n, &mut bytes)?).map_err(|_| bad("not UTF-8"))?;
        }
        let [k, v] = pair;
        out.push((k, v));
    }
    if !bytes.is_empty() {
        return Err(bad("trailing bytes"));
    }
    Ok(out)
}

/// Children of tree node `i` when nodes `0..n` form a complete `fanout`-ary
/// tree rooted at 0 (heap order): `fanout*i + 1 ..= fanout*i + fanout`.
pub fn tree_children(i: usize, n: usize, fanout: usize) -> std::ops::Range<usize> {
    let fanout = fanout.max(1);
    let first = i.saturating_mul(fanout).saturating_add(1).min(n);
    let end = first.saturating_add(fanout).min(n);
    first..end
}

/// Parent of tree node `i > 0` in the same tree.
pub fn tree_parent(i: usize, fanout: usize) -> Option<usize> {
    (i > 0).then(|| (i - 1) / fanout.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn delta_round_trips() {
        let d = vec![kv("a", "1"), kv("rmpi-tcp-7", "tcp1,4242,10.0.0.1"), kv("", ""), kv("k;=", "v é")];
        assert_eq!(decode_delta(&encode_delta(&d)).unwrap(), d);
        assert_eq!(decode_delta(&encode_delta(&[])).unwrap(), vec![]);
        let enc = encode_delta(&d);
        assert!(decode_delta(&enc[..enc.len() - 1]).is_err());
        let mut longer = enc.clone();
        longer.push(0);
        assert!(decode_delta(&longer).is_err());
    }

    #[test]
    fn tree_shape() {
        assert_eq!(tree_children(0, 10, 3), 1..4);
        assert_eq!(tree_children(1, 10, 3), 4..7);
        assert_eq!(tree_children(3, 10, 3), 10..10);
        assert_eq!(tree_children(0, 1, 32), 1..1);
        for i in 1..100 {
            let p = tree_parent(i, 4).unwrap();
            assert!(tree_children(p, 100, 4).contains(&i));
        }
        assert_eq!(tree_parent(0, 4), None);
    }

    /// Runs fences over a simulated tree of `n` nodes; every node puts one
    /// key per fence; every node must end with every key.
    fn simulate(n: usize, fanout: usize, root_has_ranks: bool, fences: usize) {
        let mut nodes: Vec<TreeFence> = (0..n)
            .map(|i| TreeFence::new(tree_children(i, n, fanout).len(), i > 0 || root_has_ranks, i == 0))
            .collect();
        for f in 0..fences {
            // Up sweep, deepest nodes first (reverse heap order visits
            // children before parents).
            let mut merged = None;
            let mut pending_up: Vec<Option<Delta>> = vec![None; n];
            for i in (0..n).rev() {
                let mut step = FenceStep::Wait;
                if i > 0 || root_has_ranks {
                    step = nodes[i].local_ready(vec![kv(&format!("n{i}"), &format!("f{f}"))]);
                }
                for c in tree_children(i, n, fanout) {
                    let d = decode_delta(&encode_delta(&pending_up[c].take().expect("child sent up"))).unwrap();
                    assert_eq!(step, FenceStep::Wait, "node {i} done before child {c}");
                    step = nodes[i].child_ready(d);
                }
                match step {
                    FenceStep::SendUp(d) => pending_up[i] = Some(d),
                    FenceStep::Complete(d) => merged = Some(d),
                    FenceStep::Wait => panic!("node {i} not done after all inputs"),
                }
            }
            let merged = merged.expect("root completed");
            let want = n - usize::from(!root_has_ranks);
            assert_eq!(merged.len(), want);
            let mut keys: Vec<_> = merged.iter().map(|(k, _)| k.clone()).collect();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), want);
            assert!(merged.iter().all(|(_, v)| *v == format!("f{f}")));
        }
        assert!(nodes.iter().all(|t| t.fences_done() == fences as u64));
    }

    #[test]
    fn fences_over_trees() {
        simulate(1, 32, true, 2);
        simulate(4, 32, false, 3);
        simulate(100, 3, true, 3);
        simulate(1000, 32, false, 2);
        simulate(17, 1, true, 2);
    }

    #[test]
    fn a_root_without_ranks_and_children_interleaved() {
        let mut root = TreeFence::new(2, false, true);
        assert_eq!(root.child_ready(vec![kv("a", "1")]), FenceStep::Wait);
        assert_eq!(root.child_ready(vec![kv("b", "2")]), FenceStep::Complete(vec![kv("a", "1"), kv("b", "2")]));
        let mut mid = TreeFence::new(1, true, false);
        assert_eq!(mid.child_ready(vec![]), FenceStep::Wait);
        assert_eq!(mid.local_ready(vec![kv("c", "3")]), FenceStep::SendUp(vec![kv("c", "3")]));
    }
}
