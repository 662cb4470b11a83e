//! Starting and ending MPI, and facts about the environment.
//!
//! [`initialize`](crate::initialize) returns the [`Universe`]; dropping it
//! finalizes MPI. The functions here report the host, the clock and the
//! transports' traffic counters.

use rmpi_runtime::api;
use rmpi_runtime::ThreadLevel;

use crate::topology::SimpleCommunicator;
use crate::{fatal, MpiError};

/// Thread support levels (`MPI_THREAD_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Threading {
    /// Only one thread exists.
    Single,
    /// Only the thread that initialized MPI calls it.
    Funneled,
    /// Any thread calls MPI, one at a time.
    Serialized,
    /// Any thread calls MPI at any time.
    Multiple,
}

impl From<Threading> for ThreadLevel {
    fn from(t: Threading) -> ThreadLevel {
        match t {
            Threading::Single => ThreadLevel::Single,
            Threading::Funneled => ThreadLevel::Funneled,
            Threading::Serialized => ThreadLevel::Serialized,
            Threading::Multiple => ThreadLevel::Multiple,
        }
    }
}

impl From<ThreadLevel> for Threading {
    fn from(t: ThreadLevel) -> Threading {
        match t {
            ThreadLevel::Single => Threading::Single,
            ThreadLevel::Funneled => Threading::Funneled,
            ThreadLevel::Serialized => Threading::Serialized,
            ThreadLevel::Multiple => Threading::Multiple,
        }
    }
}

/// MPI, initialized. Dropping it finalizes MPI (a barrier over the world,
/// then shutdown); an error there is printed, not raised.
#[derive(Debug)]
pub struct Universe {
    threading: Threading,
}

impl Universe {
    /// The world communicator: every process of the job.
    pub fn world(&self) -> SimpleCommunicator {
        SimpleCommunicator::world()
    }

    /// The communicator of this process alone.
    pub fn self_communicator(&self) -> SimpleCommunicator {
        SimpleCommunicator::self_comm()
    }

    /// The thread support MPI provides.
    pub fn threading_support(&self) -> Threading {
        self.threading
    }
}

impl Drop for Universe {
    fn drop(&mut self) {
        if let Err(e) = api::finalize() {
            eprintln!("rmpi: MPI_Finalize failed: {e}");
        }
    }
}

/// Initialize MPI with `threading`; the error if it fails, including when MPI
/// was initialized before.
pub fn try_initialize_with_threading(threading: Threading) -> Result<(Universe, Threading), MpiError> {
    let provided: Threading = api::init(threading.into())?.into();
    Ok((Universe { threading: provided }, provided))
}

/// Initialize MPI (`MPI_Init_thread` with `threading`): the universe and the
/// thread level provided, or `None` if MPI was already initialized (or
/// finalized). Panics if start-up fails.
pub fn initialize_with_threading(threading: Threading) -> Option<(Universe, Threading)> {
    if api::initialized() {
        return None;
    }
    Some(try_initialize_with_threading(threading).unwrap_or_else(|e| fatal("MPI_Init", e)))
}

/// Initialize MPI (single-threaded use); `None` if it was already
/// initialized. Panics if start-up fails.
pub fn initialize() -> Option<Universe> {
    initialize_with_threading(Threading::Single).map(|(u, _)| u)
}

/// Whether MPI has been initialized (it may since have been finalized).
pub fn is_initialized() -> bool {
    api::initialized()
}

/// Whether MPI has been finalized.
pub fn is_finalized() -> bool {
    api::finalized()
}

/// Seconds since an arbitrary point in this process (`MPI_Wtime`).
pub fn time() -> f64 {
    api::wtime()
}

/// Resolution of [`time`] in seconds (`MPI_Wtick`).
pub fn time_resolution() -> f64 {
    api::wtick()
}

/// The name of the host this process runs on (`MPI_Get_processor_name`).
pub fn processor_name() -> String {
    api::processor_name()
}

/// Traffic counters of one transport of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportCounters {
    /// The transport's name (e.g. `shm`, `tcp`).
    pub transport: &'static str,
    /// Packets handed to the transport.
    pub packets_sent: u64,
    /// Bytes handed to the transport.
    pub bytes_sent: u64,
    /// Packets delivered by the transport.
    pub packets_received: u64,
    /// Bytes delivered by the transport.
    pub bytes_received: u64,
    /// Times this process woke a sleeping peer.
    pub doorbells_rung: u64,
}

/// The traffic counters of every transport of this process.
pub fn transport_counters() -> Vec<TransportCounters> {
    api::transport_counters()
        .unwrap_or_else(|e| fatal("transport_counters", e))
        .into_iter()
        .map(|(name, c)| TransportCounters {
            transport: name,
            packets_sent: c.packets_sent,
            bytes_sent: c.bytes_sent,
            packets_received: c.packets_received,
            bytes_received: c.bytes_received,
            doorbells_rung: c.doorbells_rung,
        })
        .collect()
}
