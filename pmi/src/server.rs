//! The launcher side of PMI: a per-connection state machine and a shared KVS.
//!
//! The server does no I/O. A driver (rmpirun's node proxy) reads bytes from a
//! rank's PMI socket, hands them to that rank's [`PmiServerConn::feed`], and
//! acts on the [`ServerOutput`]s: writes replies, closes the socket, reports
//! [`ServerEvent`]s, and calls [`PmiServerConn::resume`] on the connections
//! named in [`ServerOutput::Resume`] (a fence that completed, a node attribute
//! that appeared).
//!
//! Each connection decides its protocol from its first line, as Slurm does:
//! `cmd=init pmi_version=2 pmi_subversion=0` selects PMI-2 (framed),
//! `cmd=init pmi_version=1 pmi_subversion=1` selects PMI-1 (lines); anything
//! else is answered `rc=-1` and the connection may try again. Unlike Slurm the
//! choice is per connection, not per node.
//!
//! Requests on one connection are handled strictly in order: while a reply is
//! deferred (`kvs-fence`, `barrier_in`, `info-getnodeattr` with `wait=TRUE`)
//! later requests stay buffered, so pipelined PMI-2 requests get their replies
//! in request order and a `kvs-get` after a fence sees the fenced data.
//!
//! Differences from Slurm, all on the stricter or more forgiving side:
//! `info-getjobattr` answers `found=FALSE` for every key but `universeSize` and
//! `PMI_process_mapping`; a PMI-2 body whose last pair lacks its `;` is still
//! understood; several PMI-1 commands in one write are all served;
//! `abort;isworld=FALSE;` aborts the job too. Commands we do not serve get no
//! reply (as with Slurm) and raise [`ServerEvent::ProtocolError`].

use std::collections::{BTreeSet, HashMap};

use crate::codec::{Message, WireBuffer};
use crate::PmiVersion;

/// Values a PMI-1 client may ask for with `get_maxes`.
pub const KVSNAME_MAX: usize = 256;
/// Longest key a PMI-1 client is told it may use.
pub const KEYLEN_MAX: usize = 64;
/// Longest value a client is told it may use (both protocols).
pub const VALLEN_MAX: usize = 1024;

/// PMI-2 return code for a missing or invalid argument (`PMI2_ERR_INVALID_ARG`).
const PMI2_ERR_INVALID_ARG: i32 = 3;

/// What the launcher knows about the job, served to every rank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// Job id (PMI-2 `jobid`, PMI-1 `kvsname`); also exported as `PMI_JOBID`.
    pub jobid: String,
    /// Number of ranks; a fence completes when this many ranks entered it.
    pub size: u32,
    /// `universeSize` / `get_universe_size`.
    pub universe_size: u32,
    /// Application number (MPMD index): `appnum`.
    pub appnum: i32,
    /// `PMI_process_mapping` (job attribute and pre-put KVS key).
    pub process_mapping: String,
}

/// How a fence request ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FenceState {
    /// Not all ranks have entered yet.
    Waiting,
    /// This rank completed the fence: staged puts are now visible. The listed
    /// ranks were waiting and must be resumed (the caller's rank is not listed).
    Completed(Vec<u32>),
    /// A member KVS ([`Kvs::new_member`]): every local rank has entered. The
    /// puts staged since the last fence are handed out for the job-wide
    /// (tree) fence; all local ranks keep waiting until
    /// [`Kvs::complete_fence`].
    Gathered(Vec<(String, String)>),
}

/// The job-wide key-value space, node attributes and fence bookkeeping.
///
/// Puts are staged and become visible to everybody (the putter included) only
/// when a fence completes, that is when all `size` ranks have entered it. A
/// later put of the same key replaces the value.
///
/// A *member* KVS ([`Kvs::new_member`]) serves only one node's ranks of a
/// larger job: when all of its local ranks have entered a fence it hands
/// its staged puts out ([`FenceState::Gathered`]) instead of completing;
/// the launcher combines the nodes' puts (see [`crate::tree`]) and calls
/// [`Kvs::complete_fence`] with the job's merged puts.
#[derive(Debug)]
pub struct Kvs {
    info: JobInfo,
    /// `Some(n)`: a member KVS serving `n` local ranks.
    local_ranks: Option<u32>,
    committed: HashMap<String, String>,
    staged: Vec<(String, String)>,
    in_fence: BTreeSet<u32>,
    epoch: u64,
    node_attrs: HashMap<String, String>,
    node_attr_waiters: BTreeSet<u32>,
}

impl Kvs {
    /// A KVS for `info`, with `PMI_process_mapping` already put and visible.
    pub fn new(info: JobInfo) -> Self {
        let mut committed = HashMap::new();
        committed.insert("PMI_process_mapping".to_string(), info.process_mapping.clone());
        Kvs {
            info,
            local_ranks: None,
            committed,
            staged: Vec::new(),
            in_fence: BTreeSet::new(),
            epoch: 0,
            node_attrs: HashMap::new(),
            node_attr_waiters: BTreeSet::new(),
        }
    }

    /// A member KVS for one node of a multi-node job, serving `local_ranks`
    /// of the job's ranks (see [`FenceState::Gathered`]).
    pub fn new_member(info: JobInfo, local_ranks: u32) -> Self {
        let mut kvs = Kvs::new(info);
        kvs.local_ranks = Some(local_ranks);
        kvs
    }

    /// Ends a gathered fence of a member KVS: `merged` (the puts of every
    /// rank of the job in this fence) becomes visible, and the local ranks
    /// that waited are returned, to be resumed.
    pub fn complete_fence(&mut self, merged: impl IntoIterator<Item = (String, String)>) -> Vec<u32> {
        for (k, v) in merged {
            self.committed.insert(k, v);
        }
        self.epoch += 1;
        std::mem::take(&mut self.in_fence).into_iter().collect()
    }

    /// The job facts.
    pub fn info(&self) -> &JobInfo {
        &self.info
    }

    /// A committed (fenced) value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.committed.get(key).map(String::as_str)
    }

    /// Stage a put; it becomes visible at the next completed fence.
    pub fn stage(&mut self, key: &str, value: &str) {
        self.staged.push((key.to_string(), value.to_string()));
    }

    /// Number of fences completed so far.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Ranks currently waiting in the fence.
    pub fn ranks_in_fence(&self) -> usize {
        self.in_fence.len()
    }

    /// `rank` enters the fence. Completes it when all ranks are in.
    pub fn enter_fence(&mut self, rank: u32) -> FenceState {
        self.in_fence.insert(rank);
        if let Some(local) = self.local_ranks {
            if self.in_fence.len() < local as usize {
                return FenceState::Waiting;
            }
            return FenceState::Gathered(std::mem::take(&mut self.staged));
        }
        if self.in_fence.len() < self.info.size as usize {
            return FenceState::Waiting;
        }
        for (k, v) in self.staged.drain(..) {
            self.committed.insert(k, v);
        }
        self.epoch += 1;
        let waiters = std::mem::take(&mut self.in_fence).into_iter().filter(|&r| r != rank).collect();
        FenceState::Completed(waiters)
    }

    /// Set a node attribute; returns the ranks waiting for node attributes.
    pub fn put_node_attr(&mut self, key: &str, value: &str) -> Vec<u32> {
        self.node_attrs.insert(key.to_string(), value.to_string());
        std::mem::take(&mut self.node_attr_waiters).into_iter().collect()
    }

    /// A node attribute.
    pub fn node_attr(&self, key: &str) -> Option<&str> {
        self.node_attrs.get(key).map(String::as_str)
    }

    fn wait_node_attr(&mut self, rank: u32) {
        self.node_attr_waiters.insert(rank);
    }
}

/// Something the launcher must learn about a rank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// The rank completed the init handshake (it is an MPI process).
    Initialized {
        /// The rank.
        rank: u32,
        /// Protocol it chose.
        version: PmiVersion,
    },
    /// The rank sent `finalize`; the connection is closed after the reply.
    Finalized {
        /// The rank.
        rank: u32,
    },
    /// The rank asked to end the job (`MPI_Abort`).
    Aborted {
        /// The rank.
        rank: u32,
        /// Requested exit code.
        code: i32,
        /// Its message (empty when none was sent).
        msg: String,
    },
    /// The rank sent something we could not serve (no reply was sent).
    ProtocolError {
        /// The rank.
        rank: u32,
        /// What was wrong.
        detail: String,
    },
}

/// One thing for the driver to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOutput {
    /// Write these bytes to the rank.
    Reply(Vec<u8>),
    /// Report an event to the launcher.
    Event(ServerEvent),
    /// Call [`PmiServerConn::resume`] on the connections of these ranks.
    Resume(Vec<u32>),
    /// Close the connection after writing the replies before this.
    Close,
    /// Member KVS only: every local rank is in the fence; these are the
    /// node's puts for the job-wide fence. The ranks stay waiting until the
    /// driver calls [`Kvs::complete_fence`] and resumes them.
    Gathered(Vec<(String, String)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pending {
    Fence { entered_at: u64 },
    NodeAttr { key: String },
}

/// The server state of one rank's PMI connection.
#[derive(Debug)]
pub struct PmiServerConn {
    rank: u32,
    wire: WireBuffer,
    version: Option<PmiVersion>,
    pending: Option<Pending>,
    done: bool,
}

impl PmiServerConn {
    /// A fresh connection for `rank` (the launcher knows the rank: it gave
    /// the socket to exactly one process).
    pub fn new(rank: u32) -> Self {
        PmiServerConn { rank, wire: WireBuffer::new(), version: None, pending: None, done: false }
    }

    /// The rank this connection belongs to.
    pub fn rank(&self) -> u32 {
        self.rank
    }

    /// The protocol chosen by the init handshake, once it happened.
    pub fn version(&self) -> Option<PmiVersion> {
        self.version
    }

    /// True after finalize, abort or a fatal protocol error: input is ignored.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// True while a reply is deferred (fence, waiting node attribute).
    pub fn is_waiting(&self) -> bool {
        self.pending.is_some()
    }

    /// Feed bytes read from the rank; returns what to do.
    pub fn feed(&mut self, bytes: &[u8], kvs: &mut Kvs) -> Vec<ServerOutput> {
        let mut out = Vec::new();
        if !self.done {
            self.wire.push(bytes);
            self.process(kvs, &mut out);
        }
        out
    }

    /// Retry a deferred request after the KVS changed (see
    /// [`ServerOutput::Resume`]); then serve any buffered requests.
    pub fn resume(&mut self, kvs: &mut Kvs) -> Vec<ServerOutput> {
        let mut out = Vec::new();
        match self.pending.clone() {
            Some(Pending::Fence { entered_at }) if kvs.epoch() > entered_at => {
                self.pending = None;
                self.reply_fence(&mut out);
            }
            Some(Pending::NodeAttr { key }) => match kvs.node_attr(&key) {
                Some(v) => {
                    let v = v.to_string();
                    self.pending = None;
                    out.push(ServerOutput::Reply(
                        Message::new("info-getnodeattr-response")
                            .with("rc", "0")
                            .with("found", "TRUE")
                            .with("value", v)
                            .encode_v2(),
                    ));
                }
                None => kvs.wait_node_attr(self.rank),
            },
            _ => {}
        }
        if !self.done {
            self.process(kvs, &mut out);
        }
        out
    }

    fn protocol_error(&self, out: &mut Vec<ServerOutput>, detail: String) {
        out.push(ServerOutput::Event(ServerEvent::ProtocolError { rank: self.rank, detail }));
    }

    fn process(&mut self, kvs: &mut Kvs, out: &mut Vec<ServerOutput>) {
        while !self.done && self.pending.is_none() {
            let next = match self.version {
                None | Some(PmiVersion::V1) => self.wire.next_line(),
                Some(PmiVersion::V2) => self.wire.next_frame(),
            };
            match next {
                Ok(None) => break,
                Ok(Some(msg)) => match self.version {
                    None => self.handle_init(msg, out),
                    Some(PmiVersion::V1) => self.handle_v1(msg, kvs, out),
                    Some(PmiVersion::V2) => self.handle_v2(msg, kvs, out),
                },
                Err(e) => {
                    // The byte stream cannot be resynchronised: give up on it.
                    self.protocol_error(out, format!("{e}; closing the PMI connection"));
                    self.done = true;
                    out.push(ServerOutput::Close);
                }
            }
        }
    }

    fn handle_init(&mut self, msg: Message, out: &mut Vec<ServerOutput>) {
        let chosen = match (msg.cmd.as_str(), msg.get("pmi_version"), msg.get("pmi_subversion")) {
            ("init", Some("2"), Some("0")) => Some(PmiVersion::V2),
            ("init", Some("1"), Some("1")) => Some(PmiVersion::V1),
            _ => None,
        };
        let (rc, v, sv) = match chosen {
            Some(PmiVersion::V2) => ("0", "2", "0"),
            Some(PmiVersion::V1) => ("0", "1", "1"),
            None => ("-1", "2", "0"),
        };
        out.push(ServerOutput::Reply(
            Message::new("response_to_init")
                .with("rc", rc)
                .with("pmi_version", v)
                .with("pmi_subversion", sv)
                .encode_v1(),
        ));
        match chosen {
            Some(version) => {
                self.version = Some(version);
                out.push(ServerOutput::Event(ServerEvent::Initialized { rank: self.rank, version }));
            }
            None => self
                .protocol_error(out, format!("unsupported PMI init: {:?}", String::from_utf8_lossy(&msg.encode_v1()))),
        }
    }

    fn enter_fence(&mut self, kvs: &mut Kvs, out: &mut Vec<ServerOutput>) {
        let entered_at = kvs.epoch();
        match kvs.enter_fence(self.rank) {
            FenceState::Waiting => self.pending = Some(Pending::Fence { entered_at }),
            FenceState::Gathered(delta) => {
                self.pending = Some(Pending::Fence { entered_at });
                out.push(ServerOutput::Gathered(delta));
            }
            FenceState::Completed(waiters) => {
                self.reply_fence(out);
                if !waiters.is_empty() {
                    out.push(ServerOutput::Resume(waiters));
                }
            }
        }
    }

    fn reply_fence(&self, out: &mut Vec<ServerOutput>) {
        let bytes = match self.version {
            Some(PmiVersion::V1) => Message::new("barrier_out").with("rc", "0").encode_v1(),
            _ => Message::new("kvs-fence-response").with("rc", "0").encode_v2(),
        };
        out.push(ServerOutput::Reply(bytes));
    }

    fn abort(&mut self, code: i32, msg: String, out: &mut Vec<ServerOutput>) {
        out.push(ServerOutput::Event(ServerEvent::Aborted { rank: self.rank, code, msg }));
        // No reply (none is expected); the launcher ends the job.
        self.done = true;
    }

    fn handle_v1(&mut self, msg: Message, kvs: &mut Kvs, out: &mut Vec<ServerOutput>) {
        let reply = |m: Message| ServerOutput::Reply(m.encode_v1());
        match msg.cmd.as_str() {
            "init" => {
                // A repeated init: answer it again.
                self.handle_init(msg, out);
            }
            "get_maxes" => out.push(reply(
                Message::new("maxes")
                    .with("rc", "0")
                    .with("kvsname_max", KVSNAME_MAX.to_string())
                    .with("keylen_max", KEYLEN_MAX.to_string())
                    .with("vallen_max", VALLEN_MAX.to_string()),
            )),
            "get_universe_size" => out.push(reply(
                Message::new("universe_size").with("rc", "0").with("size", kvs.info().universe_size.to_string()),
            )),
            "get_appnum" => {
                out.push(reply(Message::new("appnum").with("rc", "0").with("appnum", kvs.info().appnum.to_string())))
            }
            "get_my_kvsname" => {
                out.push(reply(Message::new("my_kvsname").with("rc", "0").with("kvsname", kvs.info().jobid.clone())))
            }
            "put" => match (msg.get("key"), msg.get("value")) {
                (Some(k), Some(v)) if !k.is_empty() => {
                    kvs.stage(k, v);
                    out.push(reply(Message::new("put_result").with("rc", "0")));
                }
                _ => out.push(reply(Message::new("put_result").with("rc", "-1").with("msg", "missing_key_or_value"))),
            },
            "barrier_in" => self.enter_fence(kvs, out),
            "get" => {
                let found = msg.get("key").and_then(|k| kvs.get(k));
                let m = match found {
                    Some(v) => Message::new("get_result").with("rc", "0").with("value", v),
                    None => Message::new("get_result").with("rc", "1"),
                };
                out.push(reply(m));
            }
            "finalize" => {
                out.push(reply(Message::new("finalize_ack").with("rc", "0")));
                out.push(ServerOutput::Event(ServerEvent::Finalized { rank: self.rank }));
                out.push(ServerOutput::Close);
                self.done = true;
            }
            "abort" => {
                let code = msg.get("exitcode").or_else(|| msg.get("code")).and_then(|c| c.parse().ok()).unwrap_or(1);
                let text = msg
                    .get("error_msg")
                    .or_else(|| msg.get("msg"))
                    .or_else(|| msg.get("message"))
                    .unwrap_or("")
                    .to_string();
                self.abort(code, text, out);
            }
            other => {
                let detail = format!("PMI-1 command {other:?} is not served (no reply sent)");
                self.protocol_error(out, detail);
            }
        }
    }

    fn handle_v2(&mut self, msg: Message, kvs: &mut Kvs, out: &mut Vec<ServerOutput>) {
        let reply = |m: Message| ServerOutput::Reply(m.encode_v2());
        let ok = |cmd: &str| Message::new(cmd).with("rc", "0");
        let invalid = |cmd: &str, what: &str| {
            Message::new(cmd).with("rc", PMI2_ERR_INVALID_ARG.to_string()).with("errmsg", what.replace(';', "_"))
        };
        match msg.cmd.as_str() {
            "fullinit" => {
                let m = if ["pmijobid", "pmirank", "threaded"].iter().all(|k| msg.get(k).is_some()) {
                    let info = kvs.info();
                    ok("fullinit-response")
                        .with("pmi-version", "2")
                        .with("pmi-subversion", "0")
                        .with("rank", self.rank.to_string())
                        .with("size", info.size.to_string())
                        .with("appnum", info.appnum.to_string())
                        .with("debugged", "FALSE")
                        .with("pmiverbose", "FALSE")
                } else {
                    invalid("fullinit-response", "fullinit needs pmijobid, pmirank and threaded")
                };
                out.push(reply(m));
            }
            "job-getid" => out.push(reply(ok("job-getid-response").with("jobid", kvs.info().jobid.clone()))),
            "info-getjobattr" => {
                let value = match msg.get("key") {
                    Some("universeSize") => Some(kvs.info().universe_size.to_string()),
                    Some("PMI_process_mapping") => Some(kvs.info().process_mapping.clone()),
                    _ => None,
                };
                let m = match value {
                    Some(v) => ok("info-getjobattr-response").with("found", "TRUE").with("value", v),
                    None => ok("info-getjobattr-response").with("found", "FALSE"),
                };
                out.push(reply(m));
            }
            "info-putnodeattr" => match (msg.get("key"), msg.get("value")) {
                (Some(k), Some(v)) => {
                    let waiters = kvs.put_node_attr(k, v);
                    out.push(reply(ok("info-putnodeattr-response")));
                    let waiters: Vec<u32> = waiters.into_iter().filter(|&r| r != self.rank).collect();
                    if !waiters.is_empty() {
                        out.push(ServerOutput::Resume(waiters));
                    }
                }
                _ => out.push(reply(invalid("info-putnodeattr-response", "info-putnodeattr needs key and value"))),
            },
            "info-getnodeattr" => {
                let Some(key) = msg.get("key") else {
                    out.push(reply(invalid("info-getnodeattr-response", "info-getnodeattr needs key")));
                    return;
                };
                match kvs.node_attr(key) {
                    Some(v) => out.push(reply(ok("info-getnodeattr-response").with("found", "TRUE").with("value", v))),
                    None if msg.get("wait") == Some("TRUE") => {
                        self.pending = Some(Pending::NodeAttr { key: key.to_string() });
                        kvs.wait_node_attr(self.rank);
                    }
                    None => out.push(reply(ok("info-getnodeattr-response").with("found", "FALSE"))),
                }
            }
            "kvs-put" => match (msg.get("key"), msg.get("value")) {
                (Some(k), Some(v)) if !k.is_empty() => {
                    kvs.stage(k, v);
                    out.push(reply(ok("kvs-put-response")));
                }
                _ => out.push(reply(invalid("kvs-put-response", "kvs-put needs key and value"))),
            },
            "kvs-fence" => self.enter_fence(kvs, out),
            "kvs-get" => {
                let m = match msg.get("key").and_then(|k| kvs.get(k)) {
                    Some(v) => ok("kvs-get-response").with("found", "TRUE").with("value", v),
                    None => ok("kvs-get-response").with("found", "FALSE"),
                };
                out.push(reply(m));
            }
            "finalize" => {
                out.push(reply(ok("finalize-response")));
                out.push(ServerOutput::Event(ServerEvent::Finalized { rank: self.rank }));
                out.push(ServerOutput::Close);
                self.done = true;
            }
            "abort" => {
                let code = msg.get("code").or_else(|| msg.get("exitcode")).and_then(|c| c.parse().ok()).unwrap_or(1);
                let text = msg.get("msg").unwrap_or("").to_string();
                self.abort(code, text, out);
            }
            other => {
                let detail = format!("PMI-2 command {other:?} is not served (no reply sent)");
                self.protocol_error(out, detail);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(size: u32) -> Kvs {
        Kvs::new(JobInfo {
            jobid: "3.0".into(),
            size,
            universe_size: size,
            appnum: -1,
            process_mapping: format!("(vector,(0,1,{size}))"),
        })
    }

    fn replies(out: &[ServerOutput]) -> Vec<u8> {
        out.iter()
            .filter_map(|o| match o {
                ServerOutput::Reply(b) => Some(b.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// Replays rank 0's requests of the PMI-FACTS.md §2 transcript against a
    /// one-rank job and checks the exact reply bytes (with `size=1`).
    #[test]
    fn pmi2_transcript_exact_replies() {
        let mut kvs = job(1);
        let mut c = PmiServerConn::new(0);
        let steps: &[(&[u8], &[u8])] = &[
            (
                b"cmd=init pmi_version=2 pmi_subversion=0\n",
                b"cmd=response_to_init rc=0 pmi_version=2 pmi_subversion=0\n",
            ),
            (
                b"51    cmd=fullinit;pmijobid=3.0;pmirank=0;threaded=FALSE;",
                b"114   cmd=fullinit-response;rc=0;pmi-version=2;pmi-subversion=0;rank=0;size=1;appnum=-1;debugged=FALSE;pmiverbose=FALSE;",
            ),
            (b"14    cmd=job-getid;", b"38    cmd=job-getid-response;rc=0;jobid=3.0;"),
            (
                b"37    cmd=info-getjobattr;key=universeSize;",
                b"53    cmd=info-getjobattr-response;rc=0;found=TRUE;value=1;",
            ),
            (
                b"44    cmd=info-getjobattr;key=PMI_process_mapping;",
                b"68    cmd=info-getjobattr-response;rc=0;found=TRUE;value=(vector,(0,1,1));",
            ),
            (
                b"43    cmd=info-getjobattr;key=mpi_reserved_ports;",
                b"46    cmd=info-getjobattr-response;rc=0;found=FALSE;",
            ),
            (
                b"35    cmd=info-getjobattr;key=aaa_nosuch;",
                b"46    cmd=info-getjobattr-response;rc=0;found=FALSE;",
            ),
            (
                b"57    cmd=info-putnodeattr;key=nodeattr-test;value=from-rank-0;",
                b"35    cmd=info-putnodeattr-response;rc=0;",
            ),
            (
                b"49    cmd=info-getnodeattr;key=nodeattr-test;wait=TRUE;",
                b"64    cmd=info-getnodeattr-response;rc=0;found=TRUE;value=from-rank-0;",
            ),
            (
                b"53    cmd=info-getnodeattr;key=no-such-nodeattr;wait=FALSE;",
                b"47    cmd=info-getnodeattr-response;rc=0;found=FALSE;",
            ),
            (
                b"45    cmd=kvs-put;key=key-0;value=val-of-0:a=b,c d;",
                b"26    cmd=kvs-put-response;rc=0;",
            ),
            (
                b"41    cmd=kvs-get;jobid=3.0;srcid=-1;key=key-0;",
                b"38    cmd=kvs-get-response;rc=0;found=FALSE;",
            ),
            (
                b"55    cmd=kvs-get;jobid=3.0;srcid=-1;key=PMI_process_mapping;",
                b"60    cmd=kvs-get-response;rc=0;found=TRUE;value=(vector,(0,1,1));",
            ),
            (b"14    cmd=kvs-fence;", b"28    cmd=kvs-fence-response;rc=0;"),
            (
                b"41    cmd=kvs-get;jobid=3.0;srcid=-1;key=key-0;",
                b"60    cmd=kvs-get-response;rc=0;found=TRUE;value=val-of-0:a=b,c d;",
            ),
            (
                b"47    cmd=kvs-get;jobid=3.0;srcid=-1;key=no-such-key;",
                b"38    cmd=kvs-get-response;rc=0;found=FALSE;",
            ),
            (
                b"37    cmd=kvs-put;key=key-0;value=epoch2-0;",
                b"26    cmd=kvs-put-response;rc=0;",
            ),
            (b"14    cmd=kvs-fence;", b"28    cmd=kvs-fence-response;rc=0;"),
            (
                b"39    cmd=kvs-get;jobid=x;srcid=-1;key=key-0;",
                b"52    cmd=kvs-get-response;rc=0;found=TRUE;value=epoch2-0;",
            ),
            (b"13    cmd=finalize;", b"27    cmd=finalize-response;rc=0;"),
        ];
        for (req, want) in steps {
            let out = c.feed(req, &mut kvs);
            assert_eq!(
                String::from_utf8_lossy(&replies(&out)),
                String::from_utf8_lossy(want),
                "request {:?}",
                String::from_utf8_lossy(req)
            );
        }
        assert!(c.is_done());
    }

    /// PMI-FACTS.md §4 replayed for a 3-rank job (kvsname 4.0).
    #[test]
    fn pmi1_transcript_exact_replies() {
        let mut kvs = job(3);
        kvs.info.jobid = "4.0".into();
        kvs.info.process_mapping = "(vector,(0,1,3))".into();
        kvs.committed.insert("PMI_process_mapping".into(), "(vector,(0,1,3))".into());
        let mut conns: Vec<_> = (0..3).map(PmiServerConn::new).collect();
        for c in conns.iter_mut() {
            let out = c.feed(b"cmd=init pmi_version=1 pmi_subversion=1\n", &mut kvs);
            assert_eq!(replies(&out), b"cmd=response_to_init rc=0 pmi_version=1 pmi_subversion=1\n");
        }
        let c0 = &mut conns[0];
        for (req, want) in [
            (&b"cmd=get_maxes\n"[..], &b"cmd=maxes rc=0 kvsname_max=256 keylen_max=64 vallen_max=1024\n"[..]),
            (b"cmd=get_universe_size\n", b"cmd=universe_size rc=0 size=3\n"),
            (b"cmd=get_appnum\n", b"cmd=appnum rc=0 appnum=-1\n"),
            (b"cmd=get_my_kvsname\n", b"cmd=my_kvsname rc=0 kvsname=4.0\n"),
            (b"cmd=put kvsname=4.0 key=key-0 value=val-of-0\n", b"cmd=put_result rc=0\n"),
        ] {
            assert_eq!(replies(&c0.feed(req, &mut kvs)), want);
        }
        // Fence: rank 0 and 1 wait, rank 2 completes it and resumes 0 and 1.
        assert!(replies(&conns[0].feed(b"cmd=barrier_in\n", &mut kvs)).is_empty());
        assert!(replies(&conns[1].feed(b"cmd=barrier_in\n", &mut kvs)).is_empty());
        let out = conns[2].feed(b"cmd=barrier_in\n", &mut kvs);
        assert_eq!(replies(&out), b"cmd=barrier_out rc=0\n");
        assert!(out.contains(&ServerOutput::Resume(vec![0, 1])));
        for r in [0, 1] {
            assert_eq!(replies(&conns[r].resume(&mut kvs)), b"cmd=barrier_out rc=0\n");
        }
        let c1 = &mut conns[1];
        for (req, want) in [
            (&b"cmd=get kvsname=4.0 key=key-0\n"[..], &b"cmd=get_result rc=0 value=val-of-0\n"[..]),
            (b"cmd=get kvsname=4.0 key=no-such-key\n", b"cmd=get_result rc=1\n"),
            (b"cmd=get kvsname=4.0 key=PMI_process_mapping\n", b"cmd=get_result rc=0 value=(vector,(0,1,3))\n"),
            (b"cmd=finalize\n", b"cmd=finalize_ack rc=0\n"),
        ] {
            assert_eq!(replies(&c1.feed(req, &mut kvs)), want);
        }
    }

    /// A member KVS gathers its node's puts when its local ranks are all
    /// in, and answers the fence only when the job-wide merge comes back.
    #[test]
    fn member_kvs_gathers_then_completes_with_the_merge() {
        let info = job(4).info.clone();
        let mut kvs = Kvs::new_member(info, 2);
        let mut a = PmiServerConn::new(0);
        let mut b = PmiServerConn::new(1);
        a.feed(b"cmd=init pmi_version=2 pmi_subversion=0\n", &mut kvs);
        b.feed(b"cmd=init pmi_version=1 pmi_subversion=1\n", &mut kvs);
        a.feed(&Message::new("kvs-put").with("key", "k0").with("value", "v0").encode_v2(), &mut kvs);
        b.feed(b"cmd=put kvsname=x key=k1 value=v1\n", &mut kvs);
        assert!(replies(&a.feed(&Message::new("kvs-fence").encode_v2(), &mut kvs)).is_empty());
        let out = b.feed(b"cmd=barrier_in\n", &mut kvs);
        assert!(replies(&out).is_empty(), "no reply before the job-wide fence");
        let gathered: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                ServerOutput::Gathered(d) => Some(d.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(gathered, vec![vec![("k0".to_string(), "v0".to_string()), ("k1".to_string(), "v1".to_string())]]);
        assert!(a.is_waiting() && b.is_waiting());
        // Not visible yet; then the merge (with another node's key) arrives.
        assert_eq!(kvs.get("k0"), None);
        let mut waiters = kvs.complete_fence(vec![
            ("k0".to_string(), "v0".to_string()),
            ("k1".to_string(), "v1".to_string()),
            ("k2".to_string(), "v2".to_string()),
        ]);
        waiters.sort();
        assert_eq!(waiters, vec![0, 1]);
        assert_eq!(replies(&a.resume(&mut kvs)), b"28    cmd=kvs-fence-response;rc=0;");
        assert_eq!(replies(&b.resume(&mut kvs)), b"cmd=barrier_out rc=0\n");
        assert_eq!(kvs.get("k2"), Some("v2"));
        // The next fence gathers only what was put since.
        a.feed(&Message::new("kvs-fence").encode_v2(), &mut kvs);
        let out = b.feed(b"cmd=barrier_in\n", &mut kvs);
        assert!(out.contains(&ServerOutput::Gathered(vec![])));
    }

    #[test]
    fn bad_init_gets_rc_minus_one_and_may_retry() {
        let mut kvs = job(1);
        let mut c = PmiServerConn::new(0);
        let out = c.feed(b"cmd=init pmi_version=3 pmi_subversion=0\n", &mut kvs);
        assert_eq!(replies(&out), b"cmd=response_to_init rc=-1 pmi_version=2 pmi_subversion=0\n");
        assert!(c.version().is_none());
        let out = c.feed(b"cmd=init pmi_version=1 pmi_subversion=1\n", &mut kvs);
        assert_eq!(replies(&out), b"cmd=response_to_init rc=0 pmi_version=1 pmi_subversion=1\n");
        assert_eq!(c.version(), Some(PmiVersion::V1));
    }

    #[test]
    fn pipelined_v2_get_after_fence_waits_for_the_fence() {
        let mut kvs = job(2);
        let mut a = PmiServerConn::new(0);
        let mut b = PmiServerConn::new(1);
        a.feed(b"cmd=init pmi_version=2 pmi_subversion=0\n", &mut kvs);
        b.feed(b"cmd=init pmi_version=2 pmi_subversion=0\n", &mut kvs);
        let mut req = Message::new("kvs-put").with("key", "a").with("value", "1").encode_v2();
        req.extend(Message::new("kvs-fence").encode_v2());
        req.extend(Message::new("kvs-get").with("jobid", "x").with("srcid", "-1").with("key", "b").encode_v2());
        let out = a.feed(&req, &mut kvs);
        assert_eq!(replies(&out), b"26    cmd=kvs-put-response;rc=0;");
        assert!(a.is_waiting());
        let mut req = Message::new("kvs-put").with("key", "b").with("value", "2").encode_v2();
        req.extend(Message::new("kvs-fence").encode_v2());
        let out = b.feed(&req, &mut kvs);
        assert!(out.contains(&ServerOutput::Resume(vec![0])));
        let out = a.resume(&mut kvs);
        assert_eq!(
            String::from_utf8(replies(&out)).unwrap(),
            "28    cmd=kvs-fence-response;rc=0;45    cmd=kvs-get-response;rc=0;found=TRUE;value=2;"
        );
    }

    #[test]
    fn getnodeattr_wait_is_deferred_until_put() {
        let mut kvs = job(2);
        let mut a = PmiServerConn::new(0);
        let mut b = PmiServerConn::new(1);
        a.feed(b"cmd=init pmi_version=2 pmi_subversion=0\n", &mut kvs);
        b.feed(b"cmd=init pmi_version=2 pmi_subversion=0\n", &mut kvs);
        let get = Message::new("info-getnodeattr").with("key", "k").with("wait", "TRUE").encode_v2();
        assert!(replies(&a.feed(&get, &mut kvs)).is_empty());
        let put = Message::new("info-putnodeattr").with("key", "k").with("value", "v").encode_v2();
        let out = b.feed(&put, &mut kvs);
        assert!(out.contains(&ServerOutput::Resume(vec![0])));
        assert_eq!(
            String::from_utf8(replies(&a.resume(&mut kvs))).unwrap(),
            "54    cmd=info-getnodeattr-response;rc=0;found=TRUE;value=v;"
        );
    }

    #[test]
    fn abort_and_unknown_get_no_reply() {
        let mut kvs = job(1);
        let mut c = PmiServerConn::new(0);
        c.feed(b"cmd=init pmi_version=2 pmi_subversion=0\n", &mut kvs);
        let out = c.feed(&Message::new("job-connect").encode_v2(), &mut kvs);
        assert!(replies(&out).is_empty());
        assert!(matches!(out[0], ServerOutput::Event(ServerEvent::ProtocolError { rank: 0, .. })));
        let out = c.feed(b"44    cmd=abort;isworld=TRUE;msg=bad thing;code=7;", &mut kvs);
        assert_eq!(out, vec![ServerOutput::Event(ServerEvent::Aborted { rank: 0, code: 7, msg: "bad thing".into() })]);
    }

    #[test]
    fn pmi1_abort_exitcode() {
        let mut kvs = job(1);
        let mut c = PmiServerConn::new(0);
        c.feed(b"cmd=init pmi_version=1 pmi_subversion=1\n", &mut kvs);
        let out = c.feed(b"cmd=abort exitcode=9\n", &mut kvs);
        assert_eq!(out, vec![ServerOutput::Event(ServerEvent::Aborted { rank: 0, code: 9, msg: String::new() })]);
    }

    #[test]
    fn fullinit_missing_keys_is_rc3() {
        let mut kvs = job(1);
        let mut c = PmiServerConn::new(0);
        c.feed(b"cmd=init pmi_version=2 pmi_subversion=0\n", &mut kvs);
        let out = c.feed(&Message::new("fullinit").with("pmirank", "0").encode_v2(), &mut kvs);
        let mut wb = WireBuffer::new();
        wb.push(&replies(&out));
        let m = wb.next_frame().unwrap().unwrap();
        assert_eq!(m.get("rc"), Some("3"));
    }

    #[test]
    fn garbage_header_closes_connection() {
        let mut kvs = job(1);
        let mut c = PmiServerConn::new(0);
        c.feed(b"cmd=init pmi_version=2 pmi_subversion=0\n", &mut kvs);
        let out = c.feed(b"hello world", &mut kvs);
        assert!(out.contains(&ServerOutput::Close));
        assert!(c.is_done());
    }
}
