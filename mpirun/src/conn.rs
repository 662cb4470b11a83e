//! Control connections over TCP: framed reads and writes, the secret
//! handshake, and a reader and a writer task per established connection.
//!
//! A writer task owns the write half and drains an unbounded queue, so the
//! event loop never blocks on a slow peer; a reader task decodes frames
//! and hands them to the loop's channel tagged with the connection's id.
//! The end of a connection (EOF, error, bad frame) is one last event with
//! the reason.

use std::io;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::wire::{nonce, proof, same_proof, Msg, MAX_FRAME};

/// How long a peer may take to complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub async fn read_msg<R: AsyncReadExt + Unpin>(r: &mut R) -> io::Result<Option<Msg>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let n = u32::from_be_bytes(len) as usize;
    if n == 0 || n > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("control frame of {n} bytes")));
    }
    let mut body = vec![0u8; n];
    r.read_exact(&mut body).await?;
    Msg::decode(&body).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Writes one message.
pub async fn write_msg<W: AsyncWriteExt + Unpin>(w: &mut W, m: &Msg) -> io::Result<()> {
    w.write_all(&m.encode()).await
}

async fn expect_msg(s: &mut TcpStream, what: &str) -> Result<Msg> {
    match read_msg(s).await.with_context(|| format!("reading {what}"))? {
        Some(m) => Ok(m),
        None => bail!("connection closed before {what}"),
    }
}

/// The connecting side: proves the secret, checks the listener's proof,
/// and sends `Hello`. Returns the listener's answer (`Welcome` or `Redirect`).
pub async fn client_handshake(s: &mut TcpStream, node: u32, secret: &str, port: u16, hostname: &str) -> Result<Msg> {
    let fut = async {
        let mine = nonce();
        write_msg(s, &Msg::Hi { node, nonce: mine }).await?;
        let Msg::ServerProof { nonce: theirs, proof: p } = expect_msg(s, "the launcher's proof").await? else {
            bail!("protocol error: expected the launcher's proof");
        };
        if !same_proof(&p, &proof(secret, b"server", &mine, node)) {
            bail!("the launcher at the other end does not know the job secret");
        }
        write_msg(s, &Msg::ClientProof { proof: proof(secret, b"proxy", &theirs, node) }).await?;
        write_msg(s, &Msg::Hello { port, hostname: hostname.to_string() }).await?;
        expect_msg(s, "the welcome").await
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, fut).await.context("handshake timed out")?
}

/// What a listener learned from a proxy that passed the handshake.
#[derive(Debug)]
pub struct Greeting {
    /// The proxy's tree node id.
    pub node: u32,
    /// The port it listens on for its children.
    pub port: u16,
    /// Its host name.
    pub hostname: String,
}

/// The listening side: checks the proxy's proof and reads its `Hello`.
pub async fn server_handshake(s: &mut TcpStream, secret: &str) -> Result<Greeting> {
    let fut = async {
        let Msg::Hi { node, nonce: theirs } = expect_msg(s, "the proxy's greeting").await? else {
            bail!("protocol error: expected a greeting");
        };
        let mine = nonce();
        write_msg(s, &Msg::ServerProof { nonce: mine, proof: proof(secret, b"server", &theirs, node) }).await?;
        let Msg::ClientProof { proof: p } = expect_msg(s, "the proxy's proof").await? else {
            bail!("protocol error: expected the proxy's proof");
        };
        if !same_proof(&p, &proof(secret, b"proxy", &mine, node)) {
            bail!("a connection from {} failed the job-secret proof", peer(s));
        }
        let Msg::Hello { port, hostname } = expect_msg(s, "the proxy's hello").await? else {
            bail!("protocol error: expected hello");
        };
        Ok(Greeting { node, port, hostname })
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, fut).await.context("handshake timed out")?
}

fn peer(s: &TcpStream) -> String {
    s.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into())
}

/// An event from a connection's reader task.
#[derive(Debug)]
pub enum ConnEvent {
    /// A message.
    Msg(usize, Msg),
    /// The connection ended (the reason, for messages).
    Closed(usize, String),
}

/// The write side of an established connection.
#[derive(Debug, Clone)]
pub struct Link {
    tx: mpsc::UnboundedSender<Option<Vec<u8>>>,
    /// Becomes true (or its sender is dropped) when the writer task ends.
    written: tokio::sync::watch::Receiver<bool>,
}

impl Link {
    /// Queues a message (dropped silently if the connection is gone).
    pub fn send(&self, m: &Msg) {
        let _ = self.tx.send(Some(m.encode()));
    }
    /// Queues an already encoded frame.
    pub fn send_frame(&self, frame: Vec<u8>) {
        let _ = self.tx.send(Some(frame));
    }
    /// Shuts the connection's write side after what is queued.
    pub fn close(&self) {
        let _ = self.tx.send(None);
    }
    /// Waits until the writer task has ended: after [`Link::close`], every
    /// queued frame is written (or the connection failed).
    pub async fn flushed(&self) {
        let mut w = self.written.clone();
        while !*w.borrow_and_update() {
            if w.changed().await.is_err() {
                return;
            }
        }
    }
}

/// Starts the reader and writer tasks of an established connection.
pub fn establish(stream: TcpStream, id: usize, events: mpsc::UnboundedSender<ConnEvent>) -> Link {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::unbounded_channel();
    let (done, written) = tokio::sync::watch::channel(false);
    tokio::spawn(reader(rd, id, events));
    tokio::spawn(async move {
        writer(wr, rx).await;
        let _ = done.send(true);
    });
    Link { tx, written }
}

async fn reader(mut rd: OwnedReadHalf, id: usize, events: mpsc::UnboundedSender<ConnEvent>) {
    let mut rd = tokio::io::BufReader::with_capacity(64 * 1024, &mut rd);
    loop {
        match read_msg(&mut rd).await {
            Ok(Some(m)) => {
                if events.send(ConnEvent::Msg(id, m)).is_err() {
                    return;
                }
            }
            Ok(None) => {
                let _ = events.send(ConnEvent::Closed(id, "connection closed".into()));
                return;
            }
            Err(e) => {
                let _ = events.send(ConnEvent::Closed(id, e.to_string()));
                return;
            }
        }
    }
}

async fn writer(mut wr: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Option<Vec<u8>>>) {
    while let Some(frame) = rx.recv().await {
        match frame {
            Some(bytes) => {
                if wr.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            None => break,
        }
    }
    let _ = wr.shutdown().await;
}
