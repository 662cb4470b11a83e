//! Ports, names and `MPI_Comm_join` between the processes of one job:
//! `MPI_Open_port` names a port of this process, `MPI_Comm_accept` and
//! `MPI_Comm_connect` meet there and build an intercommunicator over
//! `MPI_COMM_WORLD` (as `MPI_Intercomm_create` does), `MPI_Comm_join` does
//! the same for the two ends of a socket, and published names live in a
//! directory of the job under the system's temporary directory. Processes
//! of different jobs cannot meet yet (that needs spawning; see
//! docs/COVERAGE.md): connecting to another job's port fails with
//! `MPI_ERR_PORT`.
//!
//! The connecting root sends its world rank to the port's process on a tag
//! of the port; the accepting root takes it from any source on that tag.

use std::ffi::{c_char, c_int};
use std::io::{Read, Write};
use std::os::unix::io::FromRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use rmpi_runtime::{api, SendMode};

use crate::consts::*;
use crate::errors::{fail, guard, read_cstr, write_cstr, AbiResult};
use crate::handles::comm_id;

const MAX_PORT_NAME: usize = 256;
const ERR_PORT: c_int = 38;
const ERR_NAME: c_int = 33;
/// Tags of the connection requests to ports (`PORT_TAG - seq`) and of the
/// leaders' exchange that follows (`PORT_TAG - PORT_SPAN - seq`).
const PORT_TAG: c_int = i32::MAX - 4096;
const PORT_SPAN: c_int = 1 << 20;
const JOIN_TAG: c_int = PORT_TAG - 2 * PORT_SPAN;

static NEXT_PORT: AtomicU32 = AtomicU32::new(0);

/// This job's identity, shared by its processes.
fn job() -> String {
    std::env::var("PMI_JOBID").unwrap_or_else(|_| format!("singleton-{}", std::process::id()))
}

fn world_rank() -> AbiResult<c_int> {
    Ok(api::comm_rank(rmpi_runtime::COMM_WORLD)?)
}

/// A port name: `rmpi-port:JOB:WORLD_RANK:SEQ`.
fn port_name(seq: u32) -> AbiResult<String> {
    Ok(format!("rmpi-port:{}:{}:{}", job(), world_rank()?, seq))
}

/// The world rank and sequence number of a port of this job.
fn parse_port(name: &str) -> AbiResult<(c_int, c_int)> {
    let bad = || crate::errors::AbiError { code: ERR_PORT, msg: format!("invalid port name {name:?}") };
    let rest = name.strip_prefix("rmpi-port:").ok_or_else(bad)?;
    let mut it = rest.rsplitn(3, ':');
    let seq: u32 = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let rank: c_int = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let job_of = it.next().ok_or_else(bad)?;
    if job_of != job() {
        return fail(ERR_PORT, format!("port {name:?} belongs to another job (connecting jobs is not supported yet)"));
    }
    let n = api::comm_size(rmpi_runtime::COMM_WORLD)?;
    if rank < 0 || rank >= n {
        return Err(bad());
    }
    Ok((rank, (seq % PORT_SPAN as u32) as c_int))
}

export! { fn MPI_Open_port / PMPI_Open_port(_info: MpiInfo, port: *mut c_char) -> c_int {
    guard("MPI_Open_port", MPI_COMM_SELF, || {
        if port.is_null() {
            return fail(class::ARG, "null port name buffer");
        }
        let name = port_name(NEXT_PORT.fetch_add(1, Ordering::Relaxed))?;
        // SAFETY: MPI gives MPI_MAX_PORT_NAME bytes at `port`.
        unsafe { write_cstr(port, MAX_PORT_NAME, &name) };
        Ok(())
    })
}}

export! { fn MPI_Close_port / PMPI_Close_port(port: *const c_char) -> c_int {
    guard("MPI_Close_port", MPI_COMM_SELF, || {
        // SAFETY: MPI passes a NUL-terminated string.
        parse_port(unsafe { read_cstr(port) }?).map(|_| ())
    })
}}

/// Build the intercommunicator between `comm` (whose `root` knows the other
/// side's leader, a world rank) and the other side, on leaders' tag `tag`.
fn join_groups(comm: MpiComm, root: c_int, remote_world: c_int, tag: c_int, new: *mut MpiComm) -> AbiResult<()> {
    if new.is_null() {
        return fail(class::ARG, "null output argument");
    }
    // SAFETY: the profiling name of our own entry point, with valid arguments.
    let rc = unsafe { crate::inter::PMPI_Intercomm_create(comm, root, MPI_COMM_WORLD, remote_world, tag, new) };
    if rc != MPI_SUCCESS {
        return fail(rc, "the two sides could not build an intercommunicator");
    }
    Ok(())
}

fn check_root(comm: MpiComm, root: c_int) -> AbiResult<bool> {
    let c = comm_id(comm)?;
    let n = api::comm_size(c)?;
    if root < 0 || root >= n {
        return fail(class::ROOT, format!("invalid root {root} (communicator of size {n})"));
    }
    Ok(api::comm_rank(c)? == root)
}

export! { fn MPI_Comm_accept / PMPI_Comm_accept(port: *const c_char, _info: MpiInfo, root: c_int, comm: MpiComm, new: *mut MpiComm) -> c_int {
    guard("MPI_Comm_accept", comm, || {
        let me_root = check_root(comm, root)?;
        let mut remote = 0;
        let mut seq = 0;
        if me_root {
            // SAFETY: MPI passes a NUL-terminated string at the root.
            let (rank, s) = parse_port(unsafe { read_cstr(port) }?)?;
            if rank != world_rank()? {
                return fail(ERR_PORT, "MPI_Comm_accept on a port another process opened");
            }
            seq = s;
            let mut b = [0u8; 4];
            api::recv(&mut b, MPI_ANY_SOURCE, PORT_TAG - seq, rmpi_runtime::COMM_WORLD)?;
            remote = c_int::from_ne_bytes(b);
        }
        // Every process learns the tag of the leaders' exchange from the root.
        let mut b = seq.to_ne_bytes();
        api::bcast(&mut b, root, comm_id(comm)?)?;
        let seq = c_int::from_ne_bytes(b);
        join_groups(comm, root, remote, PORT_TAG - PORT_SPAN - seq, new)
    })
}}

export! { fn MPI_Comm_connect / PMPI_Comm_connect(port: *const c_char, _info: MpiInfo, root: c_int, comm: MpiComm, new: *mut MpiComm) -> c_int {
    guard("MPI_Comm_connect", comm, || {
        let me_root = check_root(comm, root)?;
        let mut remote = 0;
        let mut seq = 0;
        if me_root {
            // SAFETY: MPI passes a NUL-terminated string at the root.
            let (rank, s) = parse_port(unsafe { read_cstr(port) }?)?;
            remote = rank;
            seq = s;
            let me = world_rank()?.to_ne_bytes();
            api::send(&me, rank, PORT_TAG - seq, rmpi_runtime::COMM_WORLD, SendMode::Standard)?;
        }
        let mut b = seq.to_ne_bytes();
        api::bcast(&mut b, root, comm_id(comm)?)?;
        let seq = c_int::from_ne_bytes(b);
        join_groups(comm, root, remote, PORT_TAG - PORT_SPAN - seq, new)
    })
}}

export! { fn MPI_Comm_join / PMPI_Comm_join(fd: c_int, new: *mut MpiComm) -> c_int {
    guard("MPI_Comm_join", MPI_COMM_SELF, || {
        if fd < 0 {
            return fail(class::ARG, format!("invalid file descriptor {fd}"));
        }
        // Borrow the descriptor: ManuallyDrop keeps it open when this handle goes.
        // SAFETY: the application passes a connected socket it keeps owning.
        let mut sock = std::mem::ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(fd) });
        let mine = format!("{}\n{}\n", job(), world_rank()?);
        sock.write_all(&(mine.len() as u32).to_be_bytes()).and_then(|_| sock.write_all(mine.as_bytes())).map_err(
            |e| crate::errors::AbiError { code: class::OTHER, msg: format!("MPI_Comm_join: write failed: {e}") },
        )?;
        let mut len = [0u8; 4];
        let mut theirs = Vec::new();
        sock.read_exact(&mut len)
            .and_then(|_| {
                theirs = vec![0u8; u32::from_be_bytes(len).min(4096) as usize];
                sock.read_exact(&mut theirs)
            })
            .map_err(|e| crate::errors::AbiError { code: class::OTHER, msg: format!("MPI_Comm_join: read failed: {e}") })?;
        let theirs = String::from_utf8_lossy(&theirs).into_owned();
        let mut it = theirs.lines();
        let (their_job, their_rank) = (it.next().unwrap_or(""), it.next().and_then(|r| r.parse::<c_int>().ok()));
        let Some(their_rank) = their_rank.filter(|_| their_job == job()) else {
            return fail(class::OTHER, "MPI_Comm_join: the other end is in another job (not supported yet)");
        };
        join_groups(MPI_COMM_SELF, 0, their_rank, JOIN_TAG, new)
    })
}}

// ---------------------------------------------------------------- names

/// This job's directory of published names.
fn names_dir() -> PathBuf {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    std::env::temp_dir().join(format!("rmpi-names-{uid}-{}", job()))
}

/// The file of a service name (names are hex-encoded so any string is a file name).
fn name_file(service: &str) -> PathBuf {
    let hex: String = service.bytes().map(|b| format!("{b:02x}")).collect();
    names_dir().join(hex)
}

export! { fn MPI_Publish_name / PMPI_Publish_name(service: *const c_char, _info: MpiInfo, port: *const c_char) -> c_int {
    guard("MPI_Publish_name", MPI_COMM_SELF, || {
        // SAFETY: MPI passes NUL-terminated strings.
        let (service, port) = unsafe { (read_cstr(service)?, read_cstr(port)?) };
        let path = name_file(service);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        // Another process may remove the (then empty) directory meanwhile: try again.
        let mut tries = 0;
        loop {
            let r = std::fs::create_dir_all(names_dir())
                .and_then(|_| std::fs::write(&tmp, port))
                .and_then(|_| std::fs::rename(&tmp, &path));
            match r {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 10 => tries += 1,
                Err(e) => return fail(ERR_NAME, format!("cannot publish {service:?}: {e}")),
            }
        }
    })
}}

export! { fn MPI_Unpublish_name / PMPI_Unpublish_name(service: *const c_char, _info: MpiInfo, _port: *const c_char) -> c_int {
    guard("MPI_Unpublish_name", MPI_COMM_SELF, || {
        // SAFETY: MPI passes a NUL-terminated string.
        let service = unsafe { read_cstr(service) }?;
        std::fs::remove_file(name_file(service))
            .map_err(|_| crate::errors::AbiError { code: ERR_NAME, msg: format!("service {service:?} is not published") })?;
        let _ = std::fs::remove_dir(names_dir());
        Ok(())
    })
}}

export! { fn MPI_Lookup_name / PMPI_Lookup_name(service: *const c_char, _info: MpiInfo, port: *mut c_char) -> c_int {
    guard("MPI_Lookup_name", MPI_COMM_SELF, || {
        // SAFETY: MPI passes a NUL-terminated string.
        let service = unsafe { read_cstr(service) }?;
        if port.is_null() {
            return fail(class::ARG, "null port name buffer");
        }
        let name = std::fs::read_to_string(name_file(service))
            .map_err(|_| crate::errors::AbiError { code: ERR_NAME, msg: format!("service {service:?} is not published") })?;
        // SAFETY: MPI gives MPI_MAX_PORT_NAME bytes at `port`.
        unsafe { write_cstr(port, MAX_PORT_NAME, &name) };
        Ok(())
    })
}}
