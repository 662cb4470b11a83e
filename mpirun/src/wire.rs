//! The control protocol between rmpirun and its node proxies.
//!
//! Every message is one frame: a 4-byte big-endian body length, then the
//! body: a tag byte and the fields (integers big-endian; byte strings and
//! lists with a 4-byte length first). A connection starts with mutual proof
//! of the job secret (the connecting proxy sends `Hi` with a nonce; the
//! listener answers with its own nonce and SHA-256 over the secret and the
//! proxy's nonce; the proxy answers with SHA-256 over the secret and the
//! listener's nonce), then `Hello`, answered by `Welcome` (you are my child)
//! or `Redirect` (connect to your tree parent there). After that, messages
//! flow up (towards rmpirun) and down (towards the leaves).

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use sha2::{Digest, Sha256};

/// Largest frame accepted (a fence merge of a big job is the largest).
pub const MAX_FRAME: usize = 256 << 20;

/// How a rank ended, as reported by its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RankExit {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
    /// Its node could not wait for it.
    WaitError(String),
}

/// What rmpirun tells every node about the job.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// PMI job id.
    pub jobid: String,
    /// Ranks in the job.
    pub size: u32,
    /// PMI `PMI_process_mapping`.
    pub mapping: String,
    /// Program.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// rmpirun's environment, laid over the proxy's own for the ranks.
    pub base_env: Vec<(OsString, OsString)>,
    /// `-genv` / `-x` settings (applied last).
    pub user_env: Vec<(OsString, OsString)>,
    /// Working directory of the ranks.
    pub wdir: Option<OsString>,
    /// The job secret for the ranks (`RMPI_JOB_SECRET`).
    pub secret: String,
    /// Prefix output lines with `[rank] `.
    pub tag_output: bool,
    /// `--bind-to`, as [`crate::bind::BindPolicy::to_wire`] gives it.
    pub bind: u8,
    /// `--report-bindings`.
    pub report_bindings: bool,
    /// Ranks of every tree node (index = tree node id; 0 is rmpirun).
    pub node_ranks: Vec<Vec<u32>>,
    /// Host name of every tree node, for messages.
    pub node_hosts: Vec<String>,
    /// Tree fan-out.
    pub fanout: u32,
}

/// One control message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    // Handshake.
    /// Proxy → listener: who I am, and a nonce to prove yourself on.
    Hi { node: u32, nonce: [u8; 32] },
    /// Listener → proxy: its nonce and proof over the proxy's nonce.
    ServerProof { nonce: [u8; 32], proof: [u8; 32] },
    /// Proxy → listener: proof over the listener's nonce.
    ClientProof { proof: [u8; 32] },
    /// Proxy → listener: my children may reach me on this port.
    Hello { port: u16, hostname: String },
    /// Listener → proxy: you are my child; stay connected.
    Welcome,
    /// rmpirun → proxy: your tree parent listens here; connect to it.
    Redirect { addr: String, port: u16 },

    // Up.
    /// A proxy (and its reachable address) joined the tree.
    Joined { node: u32, hostname: String },
    /// A line (or piece) of a rank's output, prefix included.
    Output { stderr: bool, bytes: Vec<u8> },
    /// A rank completed PMI init.
    Initialized { rank: u32 },
    /// A rank sent PMI finalize.
    Finalized { rank: u32 },
    /// A rank called `MPI_Abort`.
    Aborted { rank: u32, code: i32, msg: String },
    /// A rank sent something PMI does not serve.
    ProtocolError { rank: u32, detail: String },
    /// A rank ended.
    Exited { rank: u32, pid: u32, how: RankExit },
    /// A rank could not be started (`not_found`: no such program).
    SpawnFailed { rank: u32, not_found: bool, error: String },
    /// A subtree's puts for the current fence.
    FenceIn { delta: Vec<u8> },
    /// All ranks of this node ended and their output was forwarded.
    Done { node: u32 },
    /// The connection to a child node broke.
    Lost { node: u32, reason: String },
    /// A message from a proxy for rmpirun's stderr.
    Warning { node: u32, text: String },

    // Down.
    /// The job: start your ranks.
    Plan(Box<Plan>),
    /// The job's merged puts of the current fence.
    FenceOut { delta: Vec<u8> },
    /// Send this signal to every rank.
    Signal { sig: i32 },
    /// Bytes for rank 0's stdin (empty: end of input).
    Stdin { bytes: Vec<u8> },
    /// The job is over: leave.
    Exit,
}

struct Enc(Vec<u8>);

impl Enc {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u32(u32::try_from(v.len()).expect("control fields are far below 4 GiB"));
        self.0.extend_from_slice(v);
        self
    }
    fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    fn os(&mut self, v: &OsString) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    fn len(&mut self, n: usize) -> &mut Self {
        self.u32(u32::try_from(n).expect("control lists are far below 4 G entries"))
    }
}

/// Why a frame could not be decoded.
#[derive(Debug)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad control message: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

struct Dec<'a>(&'a [u8]);

impl<'a> Dec<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError("truncated".into()));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(self.u32()? as i32)
    }
    fn arr32(&mut self) -> Result<[u8; 32], DecodeError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(a)
    }
    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn str(&mut self) -> Result<String, DecodeError> {
        String::from_utf8(self.bytes()?).map_err(|_| DecodeError("string is not UTF-8".into()))
    }
    fn os(&mut self) -> Result<OsString, DecodeError> {
        Ok(OsString::from_vec(self.bytes()?))
    }
    fn len(&mut self) -> Result<usize, DecodeError> {
        let n = self.u32()? as usize;
        // Every element takes at least one byte: a bound against garbage.
        if n > self.0.len() {
            return Err(DecodeError("list longer than the frame".into()));
        }
        Ok(n)
    }
}

impl Msg {
    /// The whole frame (length prefix included).
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc(vec![0, 0, 0, 0]);
        match self {
            Msg::Hi { node, nonce } => e.u8(1).u32(*node).0.extend_from_slice(nonce),
            Msg::ServerProof { nonce, proof } => {
                e.u8(2);
                e.0.extend_from_slice(nonce);
                e.0.extend_from_slice(proof);
            }
            Msg::ClientProof { proof } => e.u8(3).0.extend_from_slice(proof),
            Msg::Hello { port, hostname } => {
                e.u8(4).u16(*port).str(hostname);
            }
            Msg::Welcome => {
                e.u8(5);
            }
            Msg::Redirect { addr, port } => {
                e.u8(6).str(addr).u16(*port);
            }
            Msg::Joined { node, hostname } => {
                e.u8(10).u32(*node).str(hostname);
            }
            Msg::Output { stderr, bytes } => {
                e.u8(11).u8(u8::from(*stderr)).bytes(bytes);
            }
            Msg::Initialized { rank } => {
                e.u8(12).u32(*rank);
            }
            Msg::Finalized { rank } => {
                e.u8(13).u32(*rank);
            }
            Msg::Aborted { rank, code, msg } => {
                e.u8(14).u32(*rank).i32(*code).str(msg);
            }
            Msg::ProtocolError { rank, detail } => {
                e.u8(15).u32(*rank).str(detail);
            }
            Msg::Exited { rank, pid, how } => {
                e.u8(16).u32(*rank).u32(*pid);
                match how {
                    RankExit::Code(c) => e.u8(0).i32(*c),
                    RankExit::Signal(s) => e.u8(1).i32(*s),
                    RankExit::WaitError(t) => e.u8(2).str(t),
                };
            }
            Msg::SpawnFailed { rank, not_found, error } => {
                e.u8(17).u32(*rank).u8(u8::from(*not_found)).str(error);
            }
            Msg::FenceIn { delta } => {
                e.u8(18).bytes(delta);
            }
            Msg::Done { node } => {
                e.u8(19).u32(*node);
            }
            Msg::Lost { node, reason } => {
                e.u8(20).u32(*node).str(reason);
            }
            Msg::Warning { node, text } => {
                e.u8(21).u32(*node).str(text);
            }
            Msg::Plan(p) => {
                e.u8(30).str(&p.jobid).u32(p.size).str(&p.mapping).os(&p.program);
                e.len(p.args.len());
                for a in &p.args {
                    e.os(a);
                }
                for env in [&p.base_env, &p.user_env] {
                    e.len(env.len());
                    for (k, v) in env {
                        e.os(k).os(v);
                    }
                }
                match &p.wdir {
                    Some(w) => e.u8(1).os(w),
                    None => e.u8(0),
                };
                e.str(&p.secret).u8(u8::from(p.tag_output)).u8(p.bind).u8(u8::from(p.report_bindings));
                e.len(p.node_ranks.len());
                for ranks in &p.node_ranks {
                    e.len(ranks.len());
                    for r in ranks {
                        e.u32(*r);
                    }
                }
                e.len(p.node_hosts.len());
                for h in &p.node_hosts {
                    e.str(h);
                }
                e.u32(p.fanout);
            }
            Msg::FenceOut { delta } => {
                e.u8(31).bytes(delta);
            }
            Msg::Signal { sig } => {
                e.u8(32).i32(*sig);
            }
            Msg::Stdin { bytes } => {
                e.u8(33).bytes(bytes);
            }
            Msg::Exit => {
                e.u8(34);
            }
        }
        let body = u32::try_from(e.0.len() - 4).expect("frames are below MAX_FRAME");
        e.0[..4].copy_from_slice(&body.to_be_bytes());
        e.0
    }

    /// Decodes one frame body (without the length prefix).
    pub fn decode(body: &[u8]) -> Result<Msg, DecodeError> {
        let mut d = Dec(body);
        let tag = d.u8()?;
        let m = match tag {
            1 => Msg::Hi { node: d.u32()?, nonce: d.arr32()? },
            2 => Msg::ServerProof { nonce: d.arr32()?, proof: d.arr32()? },
            3 => Msg::ClientProof { proof: d.arr32()? },
            4 => Msg::Hello { port: d.u16()?, hostname: d.str()? },
            5 => Msg::Welcome,
            6 => Msg::Redirect { addr: d.str()?, port: d.u16()? },
            10 => Msg::Joined { node: d.u32()?, hostname: d.str()? },
            11 => Msg::Output { stderr: d.u8()? != 0, bytes: d.bytes()? },
            12 => Msg::Initialized { rank: d.u32()? },
            13 => Msg::Finalized { rank: d.u32()? },
            14 => Msg::Aborted { rank: d.u32()?, code: d.i32()?, msg: d.str()? },
            15 => Msg::ProtocolError { rank: d.u32()?, detail: d.str()? },
            16 => {
                let (rank, pid) = (d.u32()?, d.u32()?);
                let how = match d.u8()? {
                    0 => RankExit::Code(d.i32()?),
                    1 => RankExit::Signal(d.i32()?),
                    2 => RankExit::WaitError(d.str()?),
                    k => return Err(DecodeError(format!("exit kind {k}"))),
                };
                Msg::Exited { rank, pid, how }
            }
            17 => Msg::SpawnFailed { rank: d.u32()?, not_found: d.u8()? != 0, error: d.str()? },
            18 => Msg::FenceIn { delta: d.bytes()? },
            19 => Msg::Done { node: d.u32()? },
            20 => Msg::Lost { node: d.u32()?, reason: d.str()? },
            21 => Msg::Warning { node: d.u32()?, text: d.str()? },
            30 => {
                let mut p =
                    Plan { jobid: d.str()?, size: d.u32()?, mapping: d.str()?, program: d.os()?, ..Plan::default() };
                for _ in 0..d.len()? {
                    p.args.push(d.os()?);
                }
                for env in [&mut p.base_env, &mut p.user_env] {
                    for _ in 0..d.len()? {
                        env.push((d.os()?, d.os()?));
                    }
                }
                p.wdir = if d.u8()? != 0 { Some(d.os()?) } else { None };
                p.secret = d.str()?;
                p.tag_output = d.u8()? != 0;
                p.bind = d.u8()?;
                p.report_bindings = d.u8()? != 0;
                for _ in 0..d.len()? {
                    let mut ranks = Vec::new();
                    for _ in 0..d.len()? {
                        ranks.push(d.u32()?);
                    }
                    p.node_ranks.push(ranks);
                }
                for _ in 0..d.len()? {
                    p.node_hosts.push(d.str()?);
                }
                p.fanout = d.u32()?;
                Msg::Plan(Box::new(p))
            }
            31 => Msg::FenceOut { delta: d.bytes()? },
            32 => Msg::Signal { sig: d.i32()? },
            33 => Msg::Stdin { bytes: d.bytes()? },
            34 => Msg::Exit,
            t => return Err(DecodeError(format!("unknown tag {t}"))),
        };
        if !d.0.is_empty() {
            return Err(DecodeError(format!("{} trailing bytes after tag {tag}", d.0.len())));
        }
        Ok(m)
    }
}

/// SHA-256 over the secret, a role label, a nonce and the node id.
pub fn proof(secret: &str, role: &[u8], nonce: &[u8; 32], node: u32) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"rmpirun-proxy-v1\0");
    h.update(secret.as_bytes());
    h.update(b"\0");
    h.update(role);
    h.update(nonce);
    h.update(node.to_be_bytes());
    h.finalize().into()
}

/// Constant-time comparison of two proofs.
pub fn same_proof(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A fresh random nonce.
pub fn nonce() -> [u8; 32] {
    use rand::RngCore;
    let mut n = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut n);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips() {
        let plan = Plan {
            jobid: "rmpi-1-ab".into(),
            size: 6,
            mapping: "(vector,(0,3,2))".into(),
            program: "/bin/prog".into(),
            args: vec!["a b".into(), "".into()],
            base_env: vec![("PATH".into(), "/bin".into())],
            user_env: vec![("X".into(), "1".into())],
            wdir: Some("/tmp".into()),
            secret: "00ff".into(),
            tag_output: true,
            bind: 2,
            report_bindings: true,
            node_ranks: vec![vec![], vec![0, 1], vec![2, 3, 4, 5]],
            node_hosts: vec!["here".into(), "n1".into(), "n2".into()],
            fanout: 32,
        };
        let msgs = vec![
            Msg::Hi { node: 3, nonce: [7; 32] },
            Msg::ServerProof { nonce: [1; 32], proof: [2; 32] },
            Msg::ClientProof { proof: [3; 32] },
            Msg::Hello { port: 4242, hostname: "n1".into() },
            Msg::Welcome,
            Msg::Redirect { addr: "10.0.0.2".into(), port: 80 },
            Msg::Joined { node: 2, hostname: "n2".into() },
            Msg::Output { stderr: true, bytes: b"[1] hi\n".to_vec() },
            Msg::Initialized { rank: 1 },
            Msg::Finalized { rank: 1 },
            Msg::Aborted { rank: 1, code: -3, msg: "bye".into() },
            Msg::ProtocolError { rank: 2, detail: "x".into() },
            Msg::Exited { rank: 4, pid: 99, how: RankExit::Code(3) },
            Msg::Exited { rank: 4, pid: 99, how: RankExit::Signal(9) },
            Msg::Exited { rank: 4, pid: 99, how: RankExit::WaitError("e".into()) },
            Msg::SpawnFailed { rank: 0, not_found: true, error: "nope".into() },
            Msg::FenceIn { delta: vec![1, 2, 3] },
            Msg::Done { node: 5 },
            Msg::Lost { node: 5, reason: "eof".into() },
            Msg::Warning { node: 1, text: "w".into() },
            Msg::Plan(Box::new(plan)),
            Msg::FenceOut { delta: vec![] },
            Msg::Signal { sig: 15 },
            Msg::Stdin { bytes: b"input".to_vec() },
            Msg::Exit,
        ];
        for m in msgs {
            let frame = m.encode();
            let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
            assert_eq!(len, frame.len() - 4);
            assert_eq!(Msg::decode(&frame[4..]).unwrap(), m);
            assert!(Msg::decode(&frame[4..frame.len() - 1]).is_err() || frame.len() == 5);
        }
        assert!(Msg::decode(&[99]).is_err());
        assert!(Msg::decode(&[5, 0]).is_err());
    }

    #[test]
    fn proofs_bind_secret_role_nonce_and_node() {
        let p = proof("s", b"server", &[1; 32], 2);
        assert!(same_proof(&p, &proof("s", b"server", &[1; 32], 2)));
        for q in [
            proof("t", b"server", &[1; 32], 2),
            proof("s", b"proxy", &[1; 32], 2),
            proof("s", b"server", &[2; 32], 2),
            proof("s", b"server", &[1; 32], 3),
        ] {
            assert!(!same_proof(&p, &q));
        }
    }
}
