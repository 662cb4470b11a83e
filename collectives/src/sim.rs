//! A deterministic simulator: N virtual ranks in one process.
//!
//! [`SimNet`] is a seeded in-memory network. Each rank talks to it through
//! a [`SimEndpoint`], which implements [`P2p`]. Messages are matched on
//! (source, destination, tag) in order, so they never overtake each other
//! within one (source, destination, tag) channel, as MPI requires; across
//! channels they are delivered in a random order drawn from the seed. Each
//! send picks, at random, one of the completion rules real engines have:
//! at once (buffered), when delivered (eager), or when matched by a
//! receive (rendezvous), so schedules that rely on one of them are caught.
//!
//! [`Simulation`] runs one [`Collective`] per rank, advancing ranks in a
//! random order and delivering messages between them, until all complete
//! or nothing can move any more (a deadlock, reported as an error). Same
//! seed, same run. Other crates' tests may use both.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::{CollError, Collective, P2p, ReqToken};

/// SplitMix64: a tiny, seedable generator, enough for shuffling a test run.
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> SimRng {
        SimRng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Shuffles `items` in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// When a simulated send reports completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendRule {
    /// As soon as it is started (the payload was buffered).
    Buffered,
    /// When the message reaches the destination.
    OnDelivery,
    /// When a receive matches it.
    OnMatch,
}

#[derive(Debug)]
struct Message {
    data: Vec<u8>,
    send: ReqToken,
    rule: SendRule,
}

#[derive(Debug)]
struct SendOp {
    owner: usize,
    done: bool,
}

#[derive(Debug)]
enum RecvState {
    Posted,
    Matched(Vec<u8>),
    /// Tested complete; the payload waits for `finish_recv`.
    Completed(Vec<u8>),
}

#[derive(Debug)]
struct RecvOp {
    owner: usize,
    peer: usize,
    tag: u32,
    len: usize,
    /// Address of the buffer given to `irecv`, checked in `finish_recv`.
    addr: usize,
    state: RecvState,
}

/// A seeded in-memory network for `size` ranks (see the module doc).
#[derive(Debug)]
pub struct SimNet {
    size: usize,
    rng: SimRng,
    next_token: ReqToken,
    sends: HashMap<ReqToken, SendOp>,
    recvs: HashMap<ReqToken, RecvOp>,
    /// In flight, keyed (src, dst, tag), FIFO each.
    wire: BTreeMap<(usize, usize, u32), VecDeque<Message>>,
    /// The keys of `wire`, in an order of their own, for picking one at random in O(1).
    live: Vec<(usize, usize, u32)>,
    /// Position of each key of `wire` in `live`.
    live_at: HashMap<(usize, usize, u32), usize>,
    /// Messages in flight.
    flying: usize,
    /// Delivered but unmatched, keyed (dst, src, tag).
    arrived: BTreeMap<(usize, usize, u32), VecDeque<Message>>,
    /// Posted but unmatched receives, keyed (dst, src, tag).
    posted: BTreeMap<(usize, usize, u32), VecDeque<ReqToken>>,
    events: u64,
}

impl SimNet {
    /// A network for `size` ranks whose random choices follow `seed`.
    pub fn new(size: usize, seed: u64) -> SimNet {
        SimNet {
            size,
            rng: SimRng::new(seed),
            next_token: 1,
            sends: HashMap::new(),
            recvs: HashMap::new(),
            wire: BTreeMap::new(),
            live: Vec::new(),
            live_at: HashMap::new(),
            flying: 0,
            arrived: BTreeMap::new(),
            posted: BTreeMap::new(),
            events: 0,
        }
    }

    /// Number of ranks.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The [`P2p`] view of rank `rank`.
    pub fn endpoint(&mut self, rank: usize) -> SimEndpoint<'_> {
        assert!(rank < self.size, "rank {rank} out of range");
        SimEndpoint { net: self, rank }
    }

    /// Messages sent but not yet delivered.
    pub fn in_flight(&self) -> usize {
        self.flying
    }

    /// Messages delivered but not yet matched by a receive.
    pub fn unmatched(&self) -> usize {
        self.arrived.values().map(VecDeque::len).sum()
    }

    /// A counter that moves whenever anything happens (a send or receive
    /// starts or completes, a message is delivered or matched).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Delivers the oldest message of one randomly chosen channel; `false`
    /// if nothing is in flight.
    pub fn deliver_one(&mut self) -> bool {
        if self.wire.is_empty() {
            return false;
        }
        let pick = self.rng.below(self.live.len());
        let key = self.live[pick];
        self.flying -= 1;
        let queue = self.wire.get_mut(&key).expect("live keys are in flight");
        let msg = queue.pop_front().expect("channels in the map are non-empty");
        if queue.is_empty() {
            self.wire.remove(&key);
            self.live.swap_remove(pick);
            self.live_at.remove(&key);
            if let Some(&moved) = self.live.get(pick) {
                self.live_at.insert(moved, pick);
            }
        }
        let (src, dst, tag) = key;
        if msg.rule == SendRule::OnDelivery {
            self.finish_send(msg.send);
        }
        self.arrived.entry((dst, src, tag)).or_default().push_back(msg);
        self.events += 1;
        self.try_match((dst, src, tag));
        true
    }

    /// Delivers a random number of in-flight messages (possibly none).
    pub fn deliver_some(&mut self) {
        let n = self.in_flight();
        if n == 0 {
            return;
        }
        for _ in 0..self.rng.below(n + 1) {
            self.deliver_one();
        }
    }

    fn finish_send(&mut self, token: ReqToken) {
        if let Some(s) = self.sends.get_mut(&token) {
            s.done = true;
        }
    }

    fn try_match(&mut self, key: (usize, usize, u32)) {
        loop {
            let (Some(msgs), Some(recvs)) = (self.arrived.get_mut(&key), self.posted.get_mut(&key)) else {
                return;
            };
            if msgs.is_empty() || recvs.is_empty() {
                return;
            }
            let msg = msgs.pop_front().expect("checked non-empty");
            let recv = recvs.pop_front().expect("checked non-empty");
            if msgs.is_empty() {
                self.arrived.remove(&key);
            }
            if self.posted.get(&key).is_some_and(VecDeque::is_empty) {
                self.posted.remove(&key);
            }
            if msg.rule == SendRule::OnMatch {
                self.finish_send(msg.send);
            }
            if let Some(r) = self.recvs.get_mut(&recv) {
                r.state = RecvState::Matched(msg.data);
            }
            self.events += 1;
        }
    }

    fn token(&mut self) -> ReqToken {
        let t = self.next_token;
        self.next_token += 1;
        t
    }

    fn isend(&mut self, src: usize, dst: usize, tag: u32, data: &[u8]) -> Result<ReqToken, CollError> {
        if dst >= self.size {
            return Err(CollError::P2p(format!("send to rank {dst} of {}", self.size)));
        }
        let token = self.token();
        let rule = match self.rng.below(3) {
            0 => SendRule::Buffered,
            1 => SendRule::OnDelivery,
            _ => SendRule::OnMatch,
        };
        self.sends.insert(token, SendOp { owner: src, done: rule == SendRule::Buffered });
        let key = (src, dst, tag);
        if !self.live_at.contains_key(&key) {
            self.live_at.insert(key, self.live.len());
            self.live.push(key);
        }
        self.flying += 1;
        self.wire.entry(key).or_default().push_back(Message { data: data.to_vec(), send: token, rule });
        self.events += 1;
        Ok(token)
    }

    fn irecv(&mut self, dst: usize, src: usize, tag: u32, buf: &[u8]) -> Result<ReqToken, CollError> {
        let (len, addr) = (buf.len(), buf.as_ptr() as usize);
        if src >= self.size {
            return Err(CollError::P2p(format!("receive from rank {src} of {}", self.size)));
        }
        let token = self.token();
        self.recvs.insert(token, RecvOp { owner: dst, peer: src, tag, len, addr, state: RecvState::Posted });
        self.posted.entry((dst, src, tag)).or_default().push_back(token);
        self.events += 1;
        self.try_match((dst, src, tag));
        Ok(token)
    }

    fn test(&mut self, rank: usize, token: ReqToken) -> Result<bool, CollError> {
        if let Some(r) = self.recvs.get_mut(&token).filter(|r| r.owner == rank) {
            return match &r.state {
                RecvState::Posted => Ok(false),
                RecvState::Matched(data) if data.len() != r.len => Err(CollError::P2p(format!(
                    "rank {rank}: message of {} bytes from rank {} tag {} for a {}-byte receive",
                    data.len(),
                    r.peer,
                    r.tag,
                    r.len
                ))),
                RecvState::Matched(_) => {
                    r.state = match std::mem::replace(&mut r.state, RecvState::Posted) {
                        RecvState::Matched(data) => RecvState::Completed(data),
                        other => other,
                    };
                    self.events += 1;
                    Ok(true)
                }
                RecvState::Completed(_) => {
                    Err(CollError::P2p(format!("rank {rank} tested completed receive {token} again")))
                }
            };
        }
        match self.sends.get(&token).map(|s| (s.owner, s.done)) {
            Some((owner, done)) if owner == rank => {
                if done {
                    self.sends.remove(&token);
                    self.events += 1;
                }
                Ok(done)
            }
            _ => Err(CollError::P2p(format!("rank {rank} tested unknown token {token}"))),
        }
    }

    fn finish_recv(&mut self, rank: usize, token: ReqToken, buf: &mut [u8]) -> Result<(), CollError> {
        match self.recvs.remove(&token) {
            Some(RecvOp { owner, addr, state: RecvState::Completed(data), .. }) if owner == rank => {
                let moved = !buf.is_empty() && buf.as_ptr() as usize != addr;
                if buf.len() != data.len() || moved {
                    return Err(CollError::P2p(format!(
                        "rank {rank}: receive {token} finished with another buffer than it started with"
                    )));
                }
                buf.copy_from_slice(&data);
                Ok(())
            }
            other => {
                if let Some(op) = other {
                    self.recvs.insert(token, op);
                }
                Err(CollError::P2p(format!("rank {rank} finished receive {token} before it tested complete")))
            }
        }
    }
}

/// One rank's [`P2p`] view of a [`SimNet`].
#[derive(Debug)]
pub struct SimEndpoint<'a> {
    net: &'a mut SimNet,
    rank: usize,
}

impl P2p for SimEndpoint<'_> {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.net.size
    }

    fn isend(&mut self, peer: usize, tag: u32, data: &[u8]) -> Result<ReqToken, CollError> {
        self.net.isend(self.rank, peer, tag, data)
    }

    fn irecv(&mut self, peer: usize, tag: u32, buf: &mut [u8]) -> Result<ReqToken, CollError> {
        self.net.irecv(self.rank, peer, tag, buf)
    }

    fn test(&mut self, req: ReqToken) -> Result<bool, CollError> {
        self.net.test(self.rank, req)
    }

    fn finish_recv(&mut self, req: ReqToken, buf: &mut [u8]) -> Result<(), CollError> {
        self.net.finish_recv(self.rank, req, buf)
    }
}

/// Why a simulation stopped before every rank completed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Nothing can move: no message in flight and no rank makes progress.
    #[error("deadlock: ranks {unfinished:?} cannot complete")]
    Deadlock {
        /// Ranks whose collective is not complete.
        unfinished: Vec<usize>,
    },
    /// A rank's collective returned an error.
    #[error("rank {rank}: {error}")]
    Rank {
        /// The failing rank.
        rank: usize,
        /// Its error.
        error: CollError,
    },
}

/// One [`Collective`] per virtual rank over a [`SimNet`] (see the module doc).
#[derive(Debug)]
pub struct Simulation {
    net: SimNet,
    ranks: Vec<Collective>,
    finished: Vec<bool>,
    rng: SimRng,
}

impl Simulation {
    /// A simulation where rank `i` runs `collectives[i]`; `seed` fixes every
    /// random choice.
    pub fn new(collectives: Vec<Collective>, seed: u64) -> Simulation {
        let n = collectives.len();
        Simulation {
            net: SimNet::new(n, seed ^ 0x5eed_5eed_5eed),
            ranks: collectives,
            finished: vec![false; n],
            rng: SimRng::new(seed),
        }
    }

    /// The network (for inspection).
    pub fn net(&self) -> &SimNet {
        &self.net
    }

    /// Whether rank `rank`'s collective has completed.
    pub fn is_finished(&self, rank: usize) -> bool {
        self.finished[rank]
    }

    /// Ranks whose collective has not completed.
    pub fn unfinished(&self) -> Vec<usize> {
        (0..self.ranks.len()).filter(|&r| !self.finished[r]).collect()
    }

    /// Runs only the ranks for which `active` is true (others are not
    /// progressed, as if they had not entered the collective yet; messages
    /// to them are still delivered) until each active rank has completed
    /// or nothing can move any more. Returns whether all active ranks completed.
    pub fn run_ranks(&mut self, active: &dyn Fn(usize) -> bool) -> Result<bool, SimError> {
        let mut order: Vec<usize> = (0..self.ranks.len()).filter(|&r| active(r)).collect();
        loop {
            order.retain(|&r| !self.finished[r]);
            if order.is_empty() {
                return Ok(true);
            }
            let before = self.net.events();
            self.rng.shuffle(&mut order);
            for &r in &order {
                let done = self.ranks[r]
                    .progress(&mut self.net.endpoint(r))
                    .map_err(|error| SimError::Rank { rank: r, error })?;
                if done {
                    self.finished[r] = true;
                }
                self.net.deliver_some();
            }
            order.retain(|&r| !self.finished[r]);
            if order.is_empty() {
                return Ok(true);
            }
            let moved = self.net.events() != before;
            if !moved && self.net.in_flight() == 0 {
                return Ok(false);
            }
            if !moved {
                // Only deliveries can help now; make sure at least one happens.
                self.net.deliver_one();
            }
        }
    }

    /// Runs every rank to completion, or fails with [`SimError::Deadlock`].
    pub fn run(&mut self) -> Result<(), SimError> {
        if self.run_ranks(&|_| true)? {
            Ok(())
        } else {
            Err(SimError::Deadlock { unfinished: self.unfinished() })
        }
    }

    /// The collectives, in rank order (read their outputs).
    pub fn into_collectives(self) -> Vec<Collective> {
        self.ranks
    }
}

/// Runs `collectives` (rank `i` runs element `i`) to completion with `seed`
/// and returns them.
pub fn run_collectives(collectives: Vec<Collective>, seed: u64) -> Result<Vec<Collective>, SimError> {
    let mut sim = Simulation::new(collectives, seed);
    sim.run()?;
    Ok(sim.into_collectives())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(net: &mut SimNet) {
        while net.deliver_one() {}
    }

    #[test]
    fn messages_on_one_channel_arrive_in_order() {
        for seed in 0..20 {
            let mut net = SimNet::new(2, seed);
            for i in 0..10u8 {
                net.endpoint(0).isend(1, 3, &[i]).unwrap();
                net.endpoint(0).isend(1, 4, &[100 + i]).unwrap();
            }
            drain(&mut net);
            for i in 0..10u8 {
                let mut buf = [0u8];
                let t = net.endpoint(1).irecv(0, 3, &mut buf).unwrap();
                assert!(net.endpoint(1).test(t).unwrap());
                net.endpoint(1).finish_recv(t, &mut buf).unwrap();
                assert_eq!(buf[0], i);
            }
        }
    }

    #[test]
    fn delivery_order_across_channels_depends_on_seed() {
        let order = |seed| {
            let mut net = SimNet::new(4, seed);
            for src in 1..4 {
                net.endpoint(src).isend(0, 0, &[src as u8]).unwrap();
            }
            let mut arrived = Vec::new();
            while net.deliver_one() {
                let delivered = std::mem::take(&mut net.arrived);
                assert_eq!(delivered.len(), 1, "one message per delivery");
                arrived.extend(delivered.into_keys());
            }
            arrived
        };
        assert_eq!(order(3), order(3), "same seed, same order");
        let distinct: std::collections::BTreeSet<_> = (0..30).map(order).collect();
        assert!(distinct.len() > 1, "seeds must change the order");
    }

    #[test]
    fn receive_completes_only_after_a_matching_message() {
        let mut net = SimNet::new(2, 1);
        let mut buf = [0u8; 2];
        let t = net.endpoint(1).irecv(0, 0, &mut buf).unwrap();
        assert!(!net.endpoint(1).test(t).unwrap());
        assert!(net.endpoint(1).finish_recv(t, &mut buf).is_err(), "not complete yet");
        net.endpoint(0).isend(1, 1, &[9, 9]).unwrap(); // other tag: no match
        drain(&mut net);
        assert!(!net.endpoint(1).test(t).unwrap());
        net.endpoint(0).isend(1, 0, &[1, 2]).unwrap();
        drain(&mut net);
        assert!(net.endpoint(1).test(t).unwrap());
        assert_eq!(buf, [0, 0], "payload arrives in finish_recv");
        net.endpoint(1).finish_recv(t, &mut buf).unwrap();
        assert_eq!(buf, [1, 2]);
        assert!(net.endpoint(1).test(t).is_err(), "token is spent");
    }

    #[test]
    fn finishing_a_receive_with_another_buffer_is_an_error() {
        let mut net = SimNet::new(2, 1);
        let mut first = [0u8; 2];
        let mut other = [0u8; 2];
        let t = net.endpoint(1).irecv(0, 0, &mut first).unwrap();
        net.endpoint(0).isend(1, 0, &[1, 2]).unwrap();
        drain(&mut net);
        assert!(net.endpoint(1).test(t).unwrap());
        assert!(net.endpoint(1).finish_recv(t, &mut other).is_err());
    }
}
