//! Sleeping on the union of the transports' wait fds: a thin `poll(2)`
//! helper the runtime (and the tests) use between `prepare_sleep` and
//! `end_sleep`.

use std::os::fd::RawFd;
use std::time::Duration;

use crate::TransportError;

/// Block until one of `fds` is readable (or has an error or hang-up), or
/// `timeout` passes (`None` waits forever). Returns how many fds are ready
/// (0 on timeout). An interrupted wait (`EINTR`) returns `Ok(0)`.
pub fn wait_readable(fds: &[RawFd], timeout: Option<Duration>) -> Result<usize, TransportError> {
    let mut pfds: Vec<libc::pollfd> =
        fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    let ms = match timeout {
        None => -1,
        Some(t) => (t.as_millis().min(i32::MAX as u128 - 1) as i32) + i32::from(t.subsec_nanos() % 1_000_000 != 0),
    };
    // SAFETY: `pfds` is a live, exclusively borrowed array of `len` pollfds.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(TransportError::io("poll", e));
    }
    Ok(n as usize)
}
