//! The rank side of PMI: [`PmiClient`] speaks PMI-1 or PMI-2 over the file
//! descriptor a launcher hands over in `PMI_FD`.
//!
//! The client follows the rules that keep Slurm's `slurmstepd` happy (see
//! PMI-FACTS.md §5): the init line is written alone and its answer awaited
//! before anything else; each request is one write and its reply is awaited
//! before the next request; every PMI-2 pair ends with `;`; values carry no
//! `;`, spaces or newlines; `abort` does not wait for a reply (none comes).
//! Writes use `send(MSG_NOSIGNAL)` on sockets so a dead launcher shows up as
//! an error instead of a `SIGPIPE`; `EINTR` is retried everywhere.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::codec::{Message, WireBuffer};
use crate::error::PmiError;
use crate::PmiVersion;

/// Longest value [`PmiClient::put`] accepts (Slurm's `vallen_max`).
pub const MAX_VALUE_LEN: usize = 1024;
/// Longest key [`PmiClient::put`] accepts (Slurm's `keylen_max`).
pub const MAX_KEY_LEN: usize = 64;
/// Longest PMI-1 command line Slurm reads (newline included).
pub const MAX_V1_LINE: usize = 1024;
/// PMI-2 `kvs-get` requests [`PmiClient::get_many`] writes at once (their
/// replies, up to ~1 KiB each, must fit the socket buffer meanwhile).
pub const GET_PIPELINE: usize = 64;

/// What the environment says about this rank before we ask the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHints {
    /// `PMI_RANK` (required for PMI-1, which has no other way to learn it).
    pub rank: Option<u32>,
    /// `PMI_SIZE` (required for PMI-1).
    pub size: Option<u32>,
    /// `PMI_JOBID` (sent in PMI-2 `fullinit`).
    pub jobid: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    Finalized,
    Aborted,
}

/// A connected PMI client (one per rank).
#[derive(Debug)]
pub struct PmiClient {
    file: File,
    rbuf: WireBuffer,
    version: PmiVersion,
    rank: u32,
    size: u32,
    jobid: String,
    appnum: i32,
    max_value_len: usize,
    max_key_len: usize,
    reply_timeout: Option<Duration>,
    state: State,
}

static FD_ADOPTED: AtomicBool = AtomicBool::new(false);

/// Take ownership of the descriptor named by `PMI_FD` and mark it close-on-exec.
fn adopt_env_fd(fd: RawFd) -> Result<OwnedFd, PmiError> {
    // SAFETY: F_GETFD only inspects the descriptor table; any integer is a
    // valid argument (an unused number yields EBADF).
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(PmiError::BadEnv {
            var: "PMI_FD",
            value: fd.to_string(),
            reason: format!("not an open descriptor ({})", io::Error::last_os_error()),
        });
    }
    if FD_ADOPTED.swap(true, Ordering::SeqCst) {
        return Err(PmiError::BadEnv {
            var: "PMI_FD",
            value: fd.to_string(),
            reason: "already taken by an earlier PmiClient::from_env".into(),
        });
    }
    // SAFETY: the launcher gave this open descriptor to the process for PMI
    // and nothing else in the process owns it; the FD_ADOPTED flag makes sure
    // we wrap it only once, so it is closed exactly once.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: plain fcntl on a descriptor we now own. Children we exec must
    // not inherit the PMI channel (they would keep it open after we die).
    unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) };
    Ok(owned)
}

/// Write all of `bytes`, without raising SIGPIPE on a socket, retrying EINTR.
fn write_all_nosignal(fd: RawFd, mut bytes: &[u8]) -> io::Result<()> {
    let mut use_send = true;
    while !bytes.is_empty() {
        let n = if use_send {
            // SAFETY: the pointer and length describe the live `bytes` slice.
            unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) }
        } else {
            // SAFETY: as above.
            unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) }
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ENOTSOCK) if use_send => {
                    use_send = false;
                    continue;
                }
                _ => return Err(err),
            }
        }
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "wrote 0 bytes"));
        }
        bytes = &bytes[n as usize..];
    }
    Ok(())
}

/// Wait until `fd` is readable or `deadline` passes; false on timeout.
fn wait_readable(fd: RawFd, deadline: Option<Instant>) -> io::Result<bool> {
    loop {
        let timeout_ms: libc::c_int = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    0
                } else {
                    left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int
                }
            }
        };
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, count 1.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if rc > 0 {
            return Ok(true);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(false);
        }
    }
}

fn check_rc(msg: &Message, cmd: &'static str) -> Result<(), PmiError> {
    let rc: i32 = msg.require_int("rc")?;
    if rc != 0 {
        return Err(PmiError::Server {
            cmd,
            rc,
            msg: msg.get("errmsg").or_else(|| msg.get("msg")).map(str::to_string),
        });
    }
    Ok(())
}

fn parse_env_u32(var: &'static str) -> Result<Option<u32>, PmiError> {
    match std::env::var(var) {
        Ok(v) => v.trim().parse().map(Some).map_err(|_| PmiError::BadEnv {
            var,
            value: v,
            reason: "not a non-negative integer".into(),
        }),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => {
            Err(PmiError::BadEnv { var, value: v.to_string_lossy().into_owned(), reason: "not UTF-8".into() })
        }
    }
}

/// Check a key for [`PmiClient::put`] / [`PmiClient::get`].
fn check_key(key: &str, max: usize) -> Result<(), PmiError> {
    let bad = |reason| Err(PmiError::Invalid { what: "key", text: key.chars().take(80).collect(), reason });
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > max {
        return bad("too long");
    }
    if key.contains([';', ' ', '\n', '=', '\r', '\t']) {
        return bad("contains ';', '=', whitespace or a newline");
    }
    Ok(())
}

fn check_value(value: &str, max: usize) -> Result<(), PmiError> {
    let bad = |reason| Err(PmiError::Invalid { what: "value", text: value.chars().take(80).collect(), reason });
    if value.len() > max {
        return bad("longer than the PMI value limit (see PmiClient::max_value_len)");
    }
    if value.contains([';', ' ', '\n', '\r']) {
        return bad("contains ';', a space or a newline");
    }
    Ok(())
}

impl PmiClient {
    /// Connects using `PMI_FD` (+`PMI_RANK`, `PMI_SIZE`, `PMI_JOBID` when
    /// present). Version: env `RMPI_PMI_VERSION=1|2`, default 2.
    ///
    /// `Ok(None)` when there is no `PMI_FD` (a singleton). `PMI_PORT` without
    /// `PMI_FD` is reported as [`PmiError::PmiPortUnsupported`] (TODO).
    /// The descriptor is taken over (and made close-on-exec), so call this
    /// once per process.
    pub fn from_env() -> Result<Option<PmiClient>, PmiError> {
        let fd = match parse_env_u32("PMI_FD")? {
            Some(fd) => fd,
            None => {
                if let Ok(port) = std::env::var("PMI_PORT") {
                    return Err(PmiError::PmiPortUnsupported(port));
                }
                return Ok(None);
            }
        };
        let fd = RawFd::try_from(fd).map_err(|_| PmiError::BadEnv {
            var: "PMI_FD",
            value: fd.to_string(),
            reason: "out of range".into(),
        })?;
        let version = match std::env::var("RMPI_PMI_VERSION") {
            Err(_) => PmiVersion::V2,
            Ok(v) => match v.trim() {
                "2" | "" => PmiVersion::V2,
                "1" => PmiVersion::V1,
                _ => {
                    return Err(PmiError::BadEnv { var: "RMPI_PMI_VERSION", value: v, reason: "must be 1 or 2".into() })
                }
            },
        };
        let hints = ClientHints {
            rank: parse_env_u32("PMI_RANK")?,
            size: parse_env_u32("PMI_SIZE")?,
            jobid: std::env::var("PMI_JOBID").ok(),
        };
        let owned = adopt_env_fd(fd)?;
        PmiClient::connect(owned, version, hints).map(Some)
    }

    /// Performs the init handshake on an already open PMI channel.
    ///
    /// Used by [`PmiClient::from_env`]; also handy for tests over a
    /// socketpair.
    pub fn connect(fd: OwnedFd, version: PmiVersion, hints: ClientHints) -> Result<PmiClient, PmiError> {
        let mut c = PmiClient {
            file: File::from(fd),
            rbuf: WireBuffer::new(),
            version,
            rank: hints.rank.unwrap_or(0),
            size: hints.size.unwrap_or(1),
            jobid: hints.jobid.clone().unwrap_or_default(),
            appnum: -1,
            max_value_len: MAX_VALUE_LEN,
            max_key_len: MAX_KEY_LEN,
            reply_timeout: None,
            state: State::Active,
        };
        let (v, sv) = match version {
            PmiVersion::V1 => ("1", "1"),
            PmiVersion::V2 => ("2", "0"),
        };
        let init = Message::new("init").with("pmi_version", v).with("pmi_subversion", sv);
        c.send(&init.encode_v1())?;
        let resp = c.recv_line(None)?;
        if resp.cmd != "response_to_init" {
            return Err(PmiError::UnexpectedReply { expected: "response_to_init", got: resp.cmd });
        }
        if resp.get("rc") != Some("0") {
            return Err(PmiError::Handshake(String::from_utf8_lossy(&resp.encode_v1()).trim().to_string()));
        }
        match version {
            PmiVersion::V2 => c.init_v2(&hints)?,
            PmiVersion::V1 => c.init_v1(&hints)?,
        }
        Ok(c)
    }

    fn init_v2(&mut self, hints: &ClientHints) -> Result<(), PmiError> {
        let full = self.request(
            Message::new("fullinit")
                .with("pmijobid", hints.jobid.clone().unwrap_or_default())
                .with("pmirank", hints.rank.unwrap_or(0).to_string())
                .with("threaded", "FALSE"),
            "fullinit-response",
        )?;
        check_rc(&full, "fullinit")?;
        self.rank = full.require_int("rank")?;
        self.size = full.require_int("size")?;
        self.appnum = full.get("appnum").and_then(|a| a.parse().ok()).unwrap_or(-1);
        let id = self.request(Message::new("job-getid"), "job-getid-response")?;
        check_rc(&id, "job-getid")?;
        self.jobid = id.require("jobid")?.to_string();
        Ok(())
    }

    fn init_v1(&mut self, hints: &ClientHints) -> Result<(), PmiError> {
        self.rank = hints.rank.ok_or(PmiError::MissingEnv("PMI_RANK"))?;
        self.size = hints.size.ok_or(PmiError::MissingEnv("PMI_SIZE"))?;
        let maxes = self.request(Message::new("get_maxes"), "maxes")?;
        check_rc(&maxes, "get_maxes")?;
        if let Some(v) = maxes.get("vallen_max").and_then(|v| v.parse::<usize>().ok()) {
            self.max_value_len = self.max_value_len.min(v);
        }
        if let Some(k) = maxes.get("keylen_max").and_then(|v| v.parse::<usize>().ok()) {
            self.max_key_len = self.max_key_len.min(k);
        }
        let app = self.request(Message::new("get_appnum"), "appnum")?;
        check_rc(&app, "get_appnum")?;
        self.appnum = app.require_int("appnum")?;
        let name = self.request(Message::new("get_my_kvsname"), "my_kvsname")?;
        check_rc(&name, "get_my_kvsname")?;
        self.jobid = name.require("kvsname")?.to_string();
        Ok(())
    }

    /// Bound the wait for replies to ordinary requests (not fences, which
    /// wait as long as the slowest rank). `None` (the default) waits forever;
    /// a dead launcher is still noticed since its end of the socket closes.
    pub fn set_reply_timeout(&mut self, timeout: Option<Duration>) {
        self.reply_timeout = timeout;
    }

    /// The wire protocol in use.
    pub fn version(&self) -> PmiVersion {
        self.version
    }

    /// This process's rank in the job.
    pub fn rank(&self) -> u32 {
        self.rank
    }

    /// Number of ranks in the job.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The job id (PMI-2 `jobid`, PMI-1 `kvsname`).
    pub fn jobid(&self) -> &str {
        &self.jobid
    }

    /// The application number (`-1` under Slurm).
    pub fn appnum(&self) -> i32 {
        self.appnum
    }

    /// The descriptor of the PMI channel. The runtime may poll it: EOF (or
    /// `POLLHUP`) means the launcher died.
    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// `universeSize` (PMI-2 job attribute) / `get_universe_size` (PMI-1).
    pub fn universe_size(&mut self) -> Result<u32, PmiError> {
        match self.version {
            PmiVersion::V2 => {
                let v = self
                    .job_attr("universeSize")?
                    .ok_or(PmiError::MissingKey { cmd: "info-getjobattr-response".into(), key: "value" })?;
                v.parse().map_err(|_| PmiError::Malformed(format!("universeSize {v:?} is not an integer")))
            }
            PmiVersion::V1 => {
                let m = self.request(Message::new("get_universe_size"), "universe_size")?;
                check_rc(&m, "get_universe_size")?;
                m.require_int("size")
            }
        }
    }

    /// PMI-2: `info-getjobattr` `PMI_process_mapping`; PMI-1: `get` of the
    /// key `PMI_process_mapping`. `None` if not found.
    pub fn process_mapping(&mut self) -> Result<Option<String>, PmiError> {
        match self.version {
            PmiVersion::V2 => self.job_attr("PMI_process_mapping"),
            PmiVersion::V1 => self.get("PMI_process_mapping"),
        }
    }

    /// PMI-2 `info-getjobattr`. Only ask for keys the server knows: Slurm
    /// answers `found=TRUE` with garbage for many unknown keys.
    pub fn job_attr(&mut self, key: &str) -> Result<Option<String>, PmiError> {
        self.check_active()?;
        if self.version != PmiVersion::V2 {
            return Err(PmiError::Invalid {
                what: "key",
                text: key.to_string(),
                reason: "job attributes exist only in PMI-2",
            });
        }
        check_key(key, usize::MAX)?;
        let m = self.request(Message::new("info-getjobattr").with("key", key), "info-getjobattr-response")?;
        check_rc(&m, "info-getjobattr")?;
        if m.get("found") == Some("TRUE") {
            Ok(Some(m.require("value")?.to_string()))
        } else {
            Ok(None)
        }
    }

    /// The longest value [`put`](Self::put) accepts under `key`: 1024 bytes
    /// with PMI-2; with PMI-1 less, since the whole `cmd=put` line must fit
    /// in 1024 bytes (Slurm reads one command with one 1024-byte read).
    pub fn max_value_len(&self, key: &str) -> usize {
        match self.version {
            PmiVersion::V2 => self.max_value_len,
            PmiVersion::V1 => {
                let overhead = "cmd=put kvsname= key= value=\n".len() + self.jobid.len() + key.len();
                self.max_value_len.min(MAX_V1_LINE.saturating_sub(overhead))
            }
        }
    }

    /// Stage `key=value`; visible to all ranks after the next [`fence`](Self::fence).
    ///
    /// The value must not contain `;`, spaces or newlines and be at most
    /// [`max_value_len`](Self::max_value_len) bytes (1024 with PMI-2); keys
    /// at most 64 bytes without `;`, `=` or whitespace.
    pub fn put(&mut self, key: &str, value: &str) -> Result<(), PmiError> {
        self.check_active()?;
        check_key(key, self.max_key_len)?;
        check_value(value, self.max_value_len(key))?;
        let m = match self.version {
            PmiVersion::V2 => {
                self.request(Message::new("kvs-put").with("key", key).with("value", value), "kvs-put-response")?
            }
            PmiVersion::V1 => {
                let kvsname = self.jobid.clone();
                self.request(
                    Message::new("put").with("kvsname", kvsname).with("key", key).with("value", value),
                    "put_result",
                )?
            }
        };
        check_rc(&m, "put")
    }

    /// Collective over all ranks: returns when every rank has fenced, after
    /// which everybody's earlier puts are visible (`kvs-fence` / `barrier_in`).
    pub fn fence(&mut self) -> Result<(), PmiError> {
        self.check_active()?;
        let (req, expect, cmd) = match self.version {
            PmiVersion::V2 => (Message::new("kvs-fence"), "kvs-fence-response", "kvs-fence"),
            PmiVersion::V1 => (Message::new("barrier_in"), "barrier_out", "barrier_in"),
        };
        self.send(&self.encode(&req))?;
        let m = self.recv_reply(expect, None)?;
        check_rc(&m, cmd)
    }

    /// The value of `key` as of the last completed fence; `None` when no
    /// rank put it.
    pub fn get(&mut self, key: &str) -> Result<Option<String>, PmiError> {
        self.check_active()?;
        check_key(key, usize::MAX)?;
        let jobid = self.jobid.clone();
        match self.version {
            PmiVersion::V2 => {
                let m = self.request(
                    Message::new("kvs-get").with("jobid", jobid).with("srcid", "-1").with("key", key),
                    "kvs-get-response",
                )?;
                check_rc(&m, "kvs-get")?;
                if m.get("found") == Some("TRUE") {
                    Ok(Some(m.require("value")?.to_string()))
                } else {
                    Ok(None)
                }
            }
            PmiVersion::V1 => {
                let m = self.request(Message::new("get").with("kvsname", jobid).with("key", key), "get_result")?;
                // Slurm answers a missing key with rc=1 (Hydra with rc=-1).
                if m.get("rc") == Some("0") {
                    Ok(Some(m.require("value")?.to_string()))
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// The values of several keys as of the last completed fence, as
    /// [`get`](Self::get) gives them one by one. With PMI-2 the requests are
    /// pipelined, [`GET_PIPELINE`] per write, and their replies read in
    /// order (Slurm's stepd reads one frame at a time and answers each; so
    /// does rmpirun): one round trip instead of one per key. PMI-1 servers
    /// take one command per read, so there the keys go one by one.
    pub fn get_many(&mut self, keys: &[String]) -> Result<Vec<Option<String>>, PmiError> {
        self.check_active()?;
        if self.version == PmiVersion::V1 {
            return keys.iter().map(|k| self.get(k)).collect();
        }
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(GET_PIPELINE) {
            let mut bytes = Vec::new();
            for k in chunk {
                check_key(k, usize::MAX)?;
                let m = Message::new("kvs-get").with("jobid", self.jobid.clone()).with("srcid", "-1").with("key", k);
                bytes.extend_from_slice(&m.encode_v2());
            }
            self.send(&bytes)?;
            let deadline = self.reply_timeout.map(|t| Instant::now() + t);
            for _ in chunk {
                let m = self.recv_reply("kvs-get-response", deadline)?;
                check_rc(&m, "kvs-get")?;
                out.push(if m.get("found") == Some("TRUE") { Some(m.require("value")?.to_string()) } else { None });
            }
        }
        Ok(out)
    }

    /// Ask the launcher to end the job: PMI-1 `cmd=abort exitcode=N`; PMI-2
    /// `cmd=abort;isworld=TRUE;msg=...;code=N;` (`;` and newlines in `msg`
    /// become `_`/space). Does not wait for a reply: none comes.
    pub fn abort(&mut self, code: i32, msg: &str) -> Result<(), PmiError> {
        if self.state != State::Active {
            return Err(PmiError::Finished(self.state_name()));
        }
        let bytes = match self.version {
            PmiVersion::V1 => Message::new("abort").with("exitcode", code.to_string()).encode_v1(),
            PmiVersion::V2 => {
                let clean: String = msg
                    .chars()
                    .take(900)
                    .map(|c| match c {
                        ';' => '_',
                        '\n' | '\r' => ' ',
                        c => c,
                    })
                    .collect();
                Message::new("abort")
                    .with("isworld", "TRUE")
                    .with("msg", clean)
                    .with("code", code.to_string())
                    .encode_v2()
            }
        };
        self.state = State::Aborted;
        self.send(&bytes)
    }

    /// Leave PMI (`finalize` / `finalize_ack`). The server then closes the
    /// channel; the client must not be used afterwards.
    pub fn finalize(&mut self) -> Result<(), PmiError> {
        self.check_active()?;
        let (req, expect) = match self.version {
            PmiVersion::V2 => (Message::new("finalize"), "finalize-response"),
            PmiVersion::V1 => (Message::new("finalize"), "finalize_ack"),
        };
        let m = self.request(req, expect)?;
        self.state = State::Finalized;
        check_rc(&m, "finalize")
    }

    fn state_name(&self) -> &'static str {
        match self.state {
            State::Active => "nothing",
            State::Finalized => "finalize",
            State::Aborted => "abort",
        }
    }

    fn check_active(&self) -> Result<(), PmiError> {
        if self.state == State::Active {
            Ok(())
        } else {
            Err(PmiError::Finished(self.state_name()))
        }
    }

    fn encode(&self, m: &Message) -> Vec<u8> {
        match self.version {
            PmiVersion::V1 => m.encode_v1(),
            PmiVersion::V2 => m.encode_v2(),
        }
    }

    /// One request, one reply (with the ordinary reply timeout).
    fn request(&mut self, m: Message, expect: &'static str) -> Result<Message, PmiError> {
        self.send(&self.encode(&m))?;
        let deadline = self.reply_timeout.map(|t| Instant::now() + t);
        self.recv_reply(expect, deadline)
    }

    fn send(&self, bytes: &[u8]) -> Result<(), PmiError> {
        write_all_nosignal(self.file.as_raw_fd(), bytes).map_err(|e| {
            if matches!(e.raw_os_error(), Some(libc::EPIPE) | Some(libc::ECONNRESET)) {
                PmiError::Closed("writing")
            } else {
                PmiError::io("writing", e)
            }
        })
    }

    /// Read more bytes into the buffer; error on EOF or timeout.
    fn fill(&mut self, deadline: Option<Instant>, what: &'static str) -> Result<(), PmiError> {
        if !wait_readable(self.file.as_raw_fd(), deadline).map_err(|e| PmiError::io("polling", e))? {
            return Err(PmiError::Timeout(what));
        }
        let mut buf = [0u8; 4096];
        loop {
            match (&self.file).read(&mut buf) {
                Ok(0) => return Err(PmiError::Closed("reading")),
                Ok(n) => {
                    self.rbuf.push(&buf[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => return Err(PmiError::Closed("reading")),
                Err(e) => return Err(PmiError::io("reading", e)),
            }
        }
    }

    fn recv_line(&mut self, deadline: Option<Instant>) -> Result<Message, PmiError> {
        loop {
            if let Some(m) = self.rbuf.next_line()? {
                return Ok(m);
            }
            self.fill(deadline, "the init handshake")?;
        }
    }

    fn recv_reply(&mut self, expect: &'static str, deadline: Option<Instant>) -> Result<Message, PmiError> {
        let m = loop {
            let next = match self.version {
                PmiVersion::V1 => self.rbuf.next_line()?,
                PmiVersion::V2 => self.rbuf.next_frame()?,
            };
            if let Some(m) = next {
                break m;
            }
            self.fill(deadline, expect)?;
        };
        if m.cmd != expect {
            return Err(PmiError::UnexpectedReply { expected: expect, got: m.cmd });
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_value_checks() {
        assert!(check_key("k-1", 64).is_ok());
        assert!(check_key("", 64).is_err());
        assert!(check_key("a b", 64).is_err());
        assert!(check_key("a=b", 64).is_err());
        assert!(check_key(&"k".repeat(65), 64).is_err());
        assert!(check_value("v:a=b,c(d)", 1024).is_ok());
        assert!(check_value("", 1024).is_ok());
        assert!(check_value("a;b", 1024).is_err());
        assert!(check_value("a b", 1024).is_err());
        assert!(check_value("a\nb", 1024).is_err());
        assert!(check_value(&"v".repeat(1024), 1024).is_ok());
        assert!(check_value(&"v".repeat(1025), 1024).is_err());
    }
}
