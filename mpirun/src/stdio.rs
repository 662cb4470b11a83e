//! Standard streams of the ranks.
//!
//! Each rank's stdout and stderr are read by a task that cuts them into
//! lines and hands whole lines to one writer thread ([`OutputWriter`]), which
//! writes each line with a single locked `write_all`; lines of different
//! ranks therefore never mix. A final partial line (no `\n` before EOF) is
//! forwarded as it is (with `--tag-output` a newline is added, so the next
//! tagged line starts on its own line). A line longer than [`MAX_LINE`]
//! bytes is forwarded in pieces so memory stays bounded.
//!
//! rmpirun's stdin goes to rank 0 through a plain thread doing blocking
//! reads ([`forward_stdin`]); EOF closes rank 0's stdin. A plain thread,
//! because a tokio blocking read of stdin cannot be cancelled and would hold
//! up the exit.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

/// A longer line is forwarded in pieces of this size.
pub const MAX_LINE: usize = 1 << 20;

/// Which of rmpirun's streams a line goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One piece of output, ready to be written in one go.
#[derive(Debug)]
pub struct OutputChunk {
    /// Destination.
    pub stream: Stream,
    /// Bytes, prefix included.
    pub bytes: Vec<u8>,
}

/// The thread that owns rmpirun's stdout and stderr for rank output.
pub struct OutputWriter {
    tx: mpsc::Sender<OutputChunk>,
    thread: std::thread::JoinHandle<()>,
}

impl OutputWriter {
    /// Starts the writer thread.
    pub fn start() -> io::Result<Self> {
        let (tx, mut rx) = mpsc::channel::<OutputChunk>(1024);
        let thread = std::thread::Builder::new().name("rmpirun-output".into()).spawn(move || {
            while let Some(chunk) = rx.blocking_recv() {
                // Write errors (closed pipe) are ignored: keep draining so
                // that ranks never block on their output.
                let _ = match chunk.stream {
                    Stream::Stdout => {
                        let mut out = io::stdout().lock();
                        out.write_all(&chunk.bytes).and_then(|()| out.flush())
                    }
                    Stream::Stderr => io::stderr().lock().write_all(&chunk.bytes),
                };
            }
        })?;
        Ok(OutputWriter { tx, thread })
    }

    /// A handle for forwarding tasks.
    pub fn sender(&self) -> mpsc::Sender<OutputChunk> {
        self.tx.clone()
    }

    /// Waits until everything queued so far is written (all senders must
    /// have been dropped for this to return).
    pub fn finish(self) {
        drop(self.tx);
        let _ = self.thread.join();
    }
}

/// Reads `reader` until EOF and forwards it line by line.
pub async fn forward_lines<R: AsyncRead + Unpin>(
    reader: R,
    stream: Stream,
    prefix: Option<String>,
    tx: mpsc::Sender<OutputChunk>,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let prefix = prefix.unwrap_or_default();
    let tagged = !prefix.is_empty();
    let mut line: Vec<u8> = Vec::new();
    loop {
        let (done, used, eof) = {
            let buf = match reader.fill_buf().await {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => &[][..],
            };
            if buf.is_empty() {
                (!line.is_empty(), 0, true)
            } else {
                let room = MAX_LINE.saturating_sub(line.len()).max(1);
                let window = &buf[..buf.len().min(room)];
                match window.iter().position(|&b| b == b'\n') {
                    Some(nl) => {
                        line.extend_from_slice(&window[..=nl]);
                        (true, nl + 1, false)
                    }
                    None => {
                        line.extend_from_slice(window);
                        (line.len() >= MAX_LINE, window.len(), false)
                    }
                }
            }
        };
        reader.consume(used);
        if done {
            let mut bytes = Vec::with_capacity(prefix.len() + line.len() + 1);
            bytes.extend_from_slice(prefix.as_bytes());
            bytes.append(&mut line);
            if eof && tagged && bytes.last() != Some(&b'\n') {
                bytes.push(b'\n');
            }
            if tx.send(OutputChunk { stream, bytes }).await.is_err() {
                return;
            }
        }
        if eof {
            return;
        }
    }
}

/// True when reading our stdin would stop us with `SIGTTIN` (we run in the
/// background of an interactive shell).
pub fn stdin_is_background_tty() -> bool {
    // SAFETY: isatty/tcgetpgrp/getpgrp only query the state of fd 0 and of
    // this process.
    unsafe {
        libc::isatty(0) == 1 && {
            let fg = libc::tcgetpgrp(0);
            fg >= 0 && fg != libc::getpgrp()
        }
    }
}

/// Copies rmpirun's stdin to `dest` (rank 0's stdin pipe) in a thread, and
/// closes `dest` at EOF. Stops quietly when rank 0 closes the pipe.
pub fn forward_stdin(dest: OwnedFd) -> io::Result<()> {
    if stdin_is_background_tty() {
        // Leave rank 0 with an immediately closed stdin instead of stopping.
        return Ok(());
    }
    set_blocking(&dest)?;
    std::thread::Builder::new().name("rmpirun-stdin".into()).spawn(move || {
        let mut dest = std::fs::File::from(dest);
        let mut buf = vec![0u8; 64 * 1024];
        let stdin = io::stdin();
        let mut input = stdin.lock();
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            // EPIPE (rank 0 gone or closed its stdin) ends the copy;
            // SIGPIPE is ignored in Rust programs.
            if dest.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        // Dropping `dest` closes the pipe: rank 0 sees EOF.
    })?;
    Ok(())
}

pub fn set_blocking(fd: &OwnedFd) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own; only the O_NONBLOCK flag changes.
    unsafe {
        let flags = libc::fcntl(raw, libc::F_GETFL);
        if flags < 0 || libc::fcntl(raw, libc::F_SETFL, flags & !libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(input: &'static [u8], prefix: Option<&str>) -> Vec<Vec<u8>> {
        let (tx, mut rx) = mpsc::channel(100);
        forward_lines(input, Stream::Stdout, prefix.map(str::to_string), tx).await;
        let mut out = Vec::new();
        while let Some(c) = rx.recv().await {
            out.push(c.bytes);
        }
        out
    }

    #[tokio::test]
    async fn lines_and_partial_tail() {
        assert_eq!(collect(b"a\nbb\nccc", None).await, vec![b"a\n".to_vec(), b"bb\n".to_vec(), b"ccc".to_vec()]);
        assert_eq!(collect(b"a\nccc", Some("[3] ")).await, vec![b"[3] a\n".to_vec(), b"[3] ccc\n".to_vec()]);
        assert!(collect(b"", Some("[0] ")).await.is_empty());
    }
}
