//! The PMI wire codec, shared by the client and the server.
//!
//! Two wire formats exist and both carry the same thing, a [`Message`]: a
//! command name and ordered `key=value` pairs.
//!
//! * **PMI-1** (and the PMI-2 init handshake): one line per message,
//!   `cmd=NAME key=value key=value\n`, fields separated by spaces. Values
//!   cannot contain spaces or newlines; there is no escaping.
//! * **PMI-2**: a 6-byte header holding the decimal length of the body,
//!   left-justified and space-padded (`"%-6d"`), then the body
//!   `cmd=NAME;key=value;...;` where every pair, the last one too, ends with
//!   `;`. A key ends at the first `=`, its value at the next `;`; there is no
//!   escaping, so values cannot contain `;`.
//!
//! [`WireBuffer`] accumulates bytes read from a stream and cuts complete lines
//! or frames out of it, so one reader can switch from the line-based handshake
//! to PMI-2 frames without losing bytes.

use crate::error::PmiError;

/// Length of the PMI-2 frame header (decimal body length, space padded).
pub const V2_HEADER_LEN: usize = 6;
/// Largest PMI-2 body accepted (the header has room for 6 digits).
pub const V2_MAX_BODY: usize = 999_999;
/// Largest PMI-1 line accepted by [`WireBuffer::next_line`], newline included.
///
/// Slurm reads at most 1024 bytes per PMI-1 command; we are more lenient but
/// still bounded.
pub const V1_MAX_LINE: usize = 64 * 1024;

/// One PMI message: a command and its `key=value` pairs, in wire order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The command name (the value of the leading `cmd=`, or `mcmd=` in PMI-1).
    pub cmd: String,
    /// The remaining pairs, in the order they appeared.
    pub pairs: Vec<(String, String)>,
}

impl Message {
    /// A message with a command and no pairs.
    pub fn new(cmd: impl Into<String>) -> Self {
        Message { cmd: cmd.into(), pairs: Vec::new() }
    }

    /// Builder: append one `key=value` pair.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.pairs.push((key.into(), value.into()));
        self
    }

    /// The value of the first pair named `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value of `key`, or [`PmiError::MissingKey`].
    pub fn require(&self, key: &'static str) -> Result<&str, PmiError> {
        self.get(key).ok_or_else(|| PmiError::MissingKey { cmd: self.cmd.clone(), key })
    }

    /// The integer value of `key` (PMI `rc`, `size`, ...).
    pub fn require_int<T: std::str::FromStr>(&self, key: &'static str) -> Result<T, PmiError> {
        let v = self.require(key)?;
        v.trim().parse().map_err(|_| PmiError::Malformed(format!("cmd={}: {key}={v:?} is not an integer", self.cmd)))
    }

    /// Encode as one PMI-1 line: `cmd=NAME k=v ...\n`.
    pub fn encode_v1(&self) -> Vec<u8> {
        let mut s = String::with_capacity(16 + self.cmd.len());
        s.push_str("cmd=");
        s.push_str(&self.cmd);
        for (k, v) in &self.pairs {
            s.push(' ');
            s.push_str(k);
            s.push('=');
            s.push_str(v);
        }
        s.push('\n');
        s.into_bytes()
    }

    /// Encode the PMI-2 body only: `cmd=NAME;k=v;...;`.
    pub fn encode_v2_body(&self) -> String {
        let mut s = String::with_capacity(16 + self.cmd.len());
        s.push_str("cmd=");
        s.push_str(&self.cmd);
        s.push(';');
        for (k, v) in &self.pairs {
            s.push_str(k);
            s.push('=');
            s.push_str(v);
            s.push(';');
        }
        s
    }

    /// Encode as a complete PMI-2 frame (header + body).
    pub fn encode_v2(&self) -> Vec<u8> {
        let body = self.encode_v2_body();
        let mut out = format!("{:<6}", body.len()).into_bytes();
        out.extend_from_slice(body.as_bytes());
        out
    }

    /// Parse one PMI-1 line. A trailing `\n` (and `\r`) is allowed and ignored.
    ///
    /// Fields are separated by runs of spaces; each must be `key=value`. The
    /// first field must be `cmd=NAME` (or `mcmd=NAME`, which PMI-1 spawn uses).
    pub fn parse_v1_line(line: &[u8]) -> Result<Message, PmiError> {
        let text = std::str::from_utf8(line).map_err(|_| PmiError::Malformed("PMI-1 line is not UTF-8".into()))?;
        let text = text.trim_end_matches(['\n', '\r']);
        let mut fields = text.split(' ').filter(|f| !f.is_empty());
        let first = fields.next().ok_or_else(|| PmiError::Malformed("empty PMI-1 line".into()))?;
        let cmd = first
            .strip_prefix("cmd=")
            .or_else(|| first.strip_prefix("mcmd="))
            .ok_or_else(|| PmiError::Malformed(format!("PMI-1 line does not start with cmd=: {text:?}")))?;
        let mut msg = Message::new(cmd);
        for f in fields {
            let (k, v) = f
                .split_once('=')
                .ok_or_else(|| PmiError::Malformed(format!("PMI-1 field {f:?} has no '=' in {text:?}")))?;
            msg.pairs.push((k.to_string(), v.to_string()));
        }
        Ok(msg)
    }

    /// Parse a PMI-2 body (without its header).
    ///
    /// Every pair should end with `;`. Slurm silently drops a final pair that
    /// lacks its `;`; we are more lenient and keep it. The first pair must be
    /// `cmd=NAME`.
    pub fn parse_v2_body(body: &[u8]) -> Result<Message, PmiError> {
        let text = std::str::from_utf8(body).map_err(|_| PmiError::Malformed("PMI-2 body is not UTF-8".into()))?;
        let mut rest = text;
        let mut pairs = Vec::new();
        while !rest.is_empty() {
            let eq = rest
                .find('=')
                .ok_or_else(|| PmiError::Malformed(format!("PMI-2 pair {rest:?} has no '=' in {text:?}")))?;
            let key = &rest[..eq];
            let after = &rest[eq + 1..];
            let (value, next) = match after.find(';') {
                Some(semi) => (&after[..semi], &after[semi + 1..]),
                None => (after, ""),
            };
            pairs.push((key.to_string(), value.to_string()));
            rest = next;
        }
        let mut it = pairs.into_iter();
        match it.next() {
            Some((k, cmd)) if k == "cmd" => Ok(Message { cmd, pairs: it.collect() }),
            _ => Err(PmiError::Malformed(format!("PMI-2 body does not start with cmd=: {text:?}"))),
        }
    }
}

/// Parse a PMI-2 frame header: decimal digits, possibly space padded on either
/// side (`"14    "`, and `"000014"` as Slurm's `atoi` also accepts).
pub fn parse_v2_header(header: &[u8]) -> Result<usize, PmiError> {
    let text = std::str::from_utf8(header)
        .map_err(|_| PmiError::Malformed(format!("PMI-2 header {header:?} is not ASCII")))?;
    let digits = text.trim_matches(' ');
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PmiError::Malformed(format!("PMI-2 header {text:?} is not a decimal length")));
    }
    let len: usize = digits.parse().map_err(|_| PmiError::Malformed(format!("PMI-2 header {text:?} out of range")))?;
    if len > V2_MAX_BODY {
        return Err(PmiError::Malformed(format!("PMI-2 body length {len} exceeds {V2_MAX_BODY}")));
    }
    Ok(len)
}

/// A receive buffer that yields complete PMI-1 lines or PMI-2 frames.
#[derive(Debug, Default)]
pub struct WireBuffer {
    buf: Vec<u8>,
}

impl WireBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append bytes received from the peer.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not consumed yet.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Cut the next complete line (up to and including `\n`), without the
    /// newline. `Ok(None)` when no complete line is buffered yet.
    pub fn next_line_raw(&mut self) -> Result<Option<Vec<u8>>, PmiError> {
        match self.buf.iter().position(|&b| b == b'\n') {
            Some(nl) => {
                let mut line: Vec<u8> = self.buf.drain(..=nl).collect();
                line.pop();
                Ok(Some(line))
            }
            None if self.buf.len() > V1_MAX_LINE => {
                Err(PmiError::Malformed(format!("PMI-1 line longer than {V1_MAX_LINE} bytes")))
            }
            None => Ok(None),
        }
    }

    /// Cut and parse the next complete PMI-1 line.
    pub fn next_line(&mut self) -> Result<Option<Message>, PmiError> {
        match self.next_line_raw()? {
            Some(line) => Message::parse_v1_line(&line).map(Some),
            None => Ok(None),
        }
    }

    /// Cut and parse the next complete PMI-2 frame.
    pub fn next_frame(&mut self) -> Result<Option<Message>, PmiError> {
        if self.buf.len() < V2_HEADER_LEN {
            return Ok(None);
        }
        let len = parse_v2_header(&self.buf[..V2_HEADER_LEN])?;
        if self.buf.len() < V2_HEADER_LEN + len {
            return Ok(None);
        }
        let frame: Vec<u8> = self.buf.drain(..V2_HEADER_LEN + len).collect();
        Message::parse_v2_body(&frame[V2_HEADER_LEN..]).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_round_trip() {
        let m = Message::new("put").with("kvsname", "4.0").with("key", "key-1").with("value", "val-of-1");
        let wire = m.encode_v1();
        assert_eq!(wire, b"cmd=put kvsname=4.0 key=key-1 value=val-of-1\n");
        assert_eq!(Message::parse_v1_line(&wire).unwrap(), m);
    }

    #[test]
    fn v2_round_trip_with_awkward_values() {
        let m = Message::new("kvs-put").with("key", "key-0").with("value", "val-of-0:a=b,c d");
        let wire = m.encode_v2();
        assert_eq!(wire, b"45    cmd=kvs-put;key=key-0;value=val-of-0:a=b,c d;");
        let mut wb = WireBuffer::new();
        wb.push(&wire);
        assert_eq!(wb.next_frame().unwrap().unwrap(), m);
        assert_eq!(wb.pending(), 0);
    }

    #[test]
    fn v2_header_variants() {
        assert_eq!(parse_v2_header(b"14    ").unwrap(), 14);
        assert_eq!(parse_v2_header(b"000014").unwrap(), 14);
        assert_eq!(parse_v2_header(b"   114").unwrap(), 114);
        assert!(parse_v2_header(b"abc   ").is_err());
        assert!(parse_v2_header(b"      ").is_err());
        assert!(parse_v2_header(b"1 4   ").is_err());
    }

    #[test]
    fn v2_frames_split_and_pipelined() {
        let mut wb = WireBuffer::new();
        let two = [&b"14    cmd=kvs-fence;"[..], &b"13    cmd=finalize;"[..]].concat();
        wb.push(&two[..3]);
        assert_eq!(wb.next_frame().unwrap(), None);
        wb.push(&two[3..17]);
        assert_eq!(wb.next_frame().unwrap(), None);
        wb.push(&two[17..]);
        assert_eq!(wb.next_frame().unwrap().unwrap().cmd, "kvs-fence");
        assert_eq!(wb.next_frame().unwrap().unwrap().cmd, "finalize");
        assert_eq!(wb.next_frame().unwrap(), None);
    }

    #[test]
    fn v2_unterminated_last_pair_is_kept() {
        let m = Message::parse_v2_body(b"cmd=kvs-put;key=k;value=v").unwrap();
        assert_eq!(m.get("value"), Some("v"));
    }

    #[test]
    fn v2_value_cut_at_semicolon() {
        // Slurm's quirk 5: `a;;b` stores `a`; the rest must not break parsing.
        let m = Message::parse_v2_body(b"cmd=kvs-put;key=k;value=a;").unwrap();
        assert_eq!(m.get("value"), Some("a"));
    }

    #[test]
    fn malformed_inputs_are_errors() {
        assert!(Message::parse_v2_body(b"key=k;").is_err());
        assert!(Message::parse_v2_body(b"cmd=x;garbage").is_err());
        assert!(Message::parse_v1_line(b"hello\n").is_err());
        assert!(Message::parse_v1_line(b"cmd=put key\n").is_err());
        assert!(Message::parse_v1_line(b"\n").is_err());
    }

    #[test]
    fn v1_lines_split_across_pushes() {
        let mut wb = WireBuffer::new();
        wb.push(b"cmd=init pmi_ver");
        assert_eq!(wb.next_line().unwrap(), None);
        wb.push(b"sion=1 pmi_subversion=1\ncmd=get_maxes\n");
        let m = wb.next_line().unwrap().unwrap();
        assert_eq!(m.cmd, "init");
        assert_eq!(m.get("pmi_version"), Some("1"));
        assert_eq!(wb.next_line().unwrap().unwrap().cmd, "get_maxes");
    }

    /// Every message of the PMI-FACTS.md §2 transcript (PMI-2, rank 0) parses,
    /// and re-encodes to exactly the bytes Slurm sent.
    #[test]
    fn slurm_pmi2_transcript_round_trips() {
        let frames: &[&[u8]] = &[
            b"51    cmd=fullinit;pmijobid=3.0;pmirank=0;threaded=FALSE;",
            b"114   cmd=fullinit-response;rc=0;pmi-version=2;pmi-subversion=0;rank=0;size=3;appnum=-1;debugged=FALSE;pmiverbose=FALSE;",
            b"14    cmd=job-getid;",
            b"38    cmd=job-getid-response;rc=0;jobid=3.0;",
            b"37    cmd=info-getjobattr;key=universeSize;",
            b"53    cmd=info-getjobattr-response;rc=0;found=TRUE;value=3;",
            b"44    cmd=info-getjobattr;key=PMI_process_mapping;",
            b"68    cmd=info-getjobattr-response;rc=0;found=TRUE;value=(vector,(0,1,3));",
            b"43    cmd=info-getjobattr;key=mpi_reserved_ports;",
            b"46    cmd=info-getjobattr-response;rc=0;found=FALSE;",
            b"137   cmd=info-getjobattr-response;rc=0;found=TRUE;value=(vm,(eth0,IP_V4,192.0.2.2),(eth0,IP_V6,fd00::2),(eth0,IP_V6,fe80::fc:ff:fe00:1%eth0));",
            b"57    cmd=info-putnodeattr;key=nodeattr-test;value=from-rank-0;",
            b"35    cmd=info-putnodeattr-response;rc=0;",
            b"49    cmd=info-getnodeattr;key=nodeattr-test;wait=TRUE;",
            b"64    cmd=info-getnodeattr-response;rc=0;found=TRUE;value=from-rank-0;",
            b"53    cmd=info-getnodeattr;key=no-such-nodeattr;wait=FALSE;",
            b"47    cmd=info-getnodeattr-response;rc=0;found=FALSE;",
            b"45    cmd=kvs-put;key=key-0;value=val-of-0:a=b,c d;",
            b"26    cmd=kvs-put-response;rc=0;",
            b"41    cmd=kvs-get;jobid=3.0;srcid=-1;key=key-0;",
            b"38    cmd=kvs-get-response;rc=0;found=FALSE;",
            b"55    cmd=kvs-get;jobid=3.0;srcid=-1;key=PMI_process_mapping;",
            b"60    cmd=kvs-get-response;rc=0;found=TRUE;value=(vector,(0,1,3));",
            b"14    cmd=kvs-fence;",
            b"28    cmd=kvs-fence-response;rc=0;",
            b"60    cmd=kvs-get-response;rc=0;found=TRUE;value=val-of-0:a=b,c d;",
            b"47    cmd=kvs-get;jobid=3.0;srcid=-1;key=no-such-key;",
            b"37    cmd=kvs-put;key=key-0;value=epoch2-0;",
            b"39    cmd=kvs-get;jobid=x;srcid=-1;key=key-1;",
            b"52    cmd=kvs-get-response;rc=0;found=TRUE;value=epoch2-1;",
            b"13    cmd=finalize;",
            b"27    cmd=finalize-response;rc=0;",
        ];
        let mut all = WireBuffer::new();
        for f in frames {
            all.push(f);
        }
        for f in frames {
            let m = all.next_frame().unwrap().unwrap();
            assert_eq!(&m.encode_v2()[..], *f, "re-encoding {m:?}");
        }
        assert_eq!(all.pending(), 0);
    }

    /// The PMI-1 transcript of PMI-FACTS.md §4 and the handshake lines.
    #[test]
    fn slurm_pmi1_transcript_round_trips() {
        let lines: &[&[u8]] = &[
            b"cmd=init pmi_version=2 pmi_subversion=0\n",
            b"cmd=response_to_init rc=0 pmi_version=2 pmi_subversion=0\n",
            b"cmd=init pmi_version=1 pmi_subversion=1\n",
            b"cmd=response_to_init rc=0 pmi_version=1 pmi_subversion=1\n",
            b"cmd=get_maxes\n",
            b"cmd=maxes rc=0 kvsname_max=256 keylen_max=64 vallen_max=1024\n",
            b"cmd=get_universe_size\n",
            b"cmd=universe_size rc=0 size=3\n",
            b"cmd=get_appnum\n",
            b"cmd=appnum rc=0 appnum=-1\n",
            b"cmd=get_my_kvsname\n",
            b"cmd=my_kvsname rc=0 kvsname=4.0\n",
            b"cmd=put kvsname=4.0 key=key-1 value=val-of-1\n",
            b"cmd=put_result rc=0\n",
            b"cmd=barrier_in\n",
            b"cmd=barrier_out rc=0\n",
            b"cmd=get kvsname=4.0 key=key-0\n",
            b"cmd=get_result rc=0 value=val-of-0\n",
            b"cmd=get kvsname=4.0 key=no-such-key\n",
            b"cmd=get_result rc=1\n",
            b"cmd=get kvsname=4.0 key=PMI_process_mapping\n",
            b"cmd=get_result rc=0 value=(vector,(0,1,3))\n",
            b"cmd=finalize\n",
            b"cmd=finalize_ack rc=0\n",
        ];
        let mut wb = WireBuffer::new();
        for l in lines {
            wb.push(l);
        }
        for l in lines {
            let m = wb.next_line().unwrap().unwrap();
            assert_eq!(&m.encode_v1()[..], *l);
        }
    }
}
