//! The one error type of the crate.

use std::io;

/// Everything that can go wrong while speaking PMI, on either side of the wire.
#[derive(Debug, thiserror::Error)]
pub enum PmiError {
    /// A system call on the PMI file descriptor failed.
    #[error("PMI I/O error while {op}: {source}")]
    Io {
        /// What we were doing ("writing", "reading", ...).
        op: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The peer closed the connection (for a rank: the launcher is gone).
    #[error("PMI connection closed by the peer while {0}")]
    Closed(&'static str),
    /// An environment variable that PMI needs is missing.
    #[error("environment variable {0} is required for PMI but not set")]
    MissingEnv(&'static str),
    /// An environment variable has a value we cannot use.
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    BadEnv {
        /// The variable name.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why it is unusable.
        reason: String,
    },
    /// The launcher offers PMI over TCP (`PMI_PORT`), which is not implemented yet.
    #[error("PMI_PORT={0} (PMI over TCP, as Hydra offers) is not supported yet; start ranks with PMI_FD")]
    PmiPortUnsupported(String),
    /// Bytes on the wire do not follow the PMI-1 / PMI-2 grammar.
    #[error("malformed PMI message: {0}")]
    Malformed(String),
    /// The peer answered with a different command than the one expected.
    #[error("unexpected PMI reply: expected cmd={expected}, got cmd={got}")]
    UnexpectedReply {
        /// The command we waited for.
        expected: &'static str,
        /// The command that came.
        got: String,
    },
    /// The server answered a request with a non-zero `rc`.
    #[error("PMI server refused {cmd} (rc={rc}){}", msg.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Server {
        /// The request's command.
        cmd: &'static str,
        /// The return code.
        rc: i32,
        /// The server's message, if it sent one.
        msg: Option<String>,
    },
    /// A required key is missing from a message.
    #[error("PMI message cmd={cmd} lacks key {key}")]
    MissingKey {
        /// The message's command.
        cmd: String,
        /// The missing key.
        key: &'static str,
    },
    /// A key or value cannot be sent (forbidden characters, too long).
    #[error("invalid PMI {what} {text:?}: {reason}")]
    Invalid {
        /// "key" or "value".
        what: &'static str,
        /// The offending text (possibly shortened).
        text: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// `PMI_process_mapping` could not be parsed or does not fit the job.
    #[error("bad PMI_process_mapping {text:?}: {reason}")]
    Mapping {
        /// The mapping string.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server did not answer in time.
    #[error("PMI server did not answer {0} in time")]
    Timeout(&'static str),
    /// The client was used after `finalize` or `abort`.
    #[error("PMI client used after {0}")]
    Finished(&'static str),
    /// The server rejected the init handshake (e.g. an unsupported version).
    #[error("PMI server refused the init handshake: {0}")]
    Handshake(String),
}

impl PmiError {
    pub(crate) fn io(op: &'static str, source: io::Error) -> Self {
        PmiError::Io { op, source }
    }
}
