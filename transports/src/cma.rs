//! Cross-memory attach (CMA): copy bytes straight out of (or into) another
//! process's address space with `process_vm_readv` / `process_vm_writev`.
//!
//! This is what makes single-copy rendezvous possible between ranks on one
//! node: the receiver learns the sender's buffer address from a packet and
//! reads it directly, with no bounce through the shared-memory rings. The
//! kernel allows it only when the caller may ptrace the target (same uid and,
//! under Yama, a permissive `ptrace_scope`), so [`probe`] checks once per
//! process whether it works and the shm transport advertises the answer as
//! [`crate::Caps::single_copy`].

use std::sync::OnceLock;

use crate::TransportError;

static PROBE: OnceLock<bool> = OnceLock::new();

/// Can this process read the memory of another process of the same user?
///
/// The answer is computed once and cached. The probe forks a short-lived
/// child and reads a known value out of it, and it also honours Yama's
/// `ptrace_scope` (scope 1 lets a process read only its descendants, which
/// sibling ranks are not, so the probe then answers `false`). Setting
/// `RMPI_CMA_DISABLE=1` forces `false`.
pub fn probe() -> bool {
    *PROBE.get_or_init(|| {
        if std::env::var("RMPI_CMA_DISABLE").is_ok_and(|v| v == "1") {
            return false;
        }
        if let Ok(s) = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope") {
            if s.trim() != "0" {
                return false;
            }
        }
        probe_child().unwrap_or(false)
    })
}

/// A value the probe reads back from the forked child (same address there).
static PROBE_PATTERN: [u8; 16] = *b"rmpi-cma-probe!!";

/// Fork a child that blocks on a pipe, read [`PROBE_PATTERN`] out of it, then
/// release and reap it.
fn probe_child() -> Result<bool, TransportError> {
    let (rd, wr) = sys::pipe()?;
    let pid = match sys::fork_blocked_child(rd, wr) {
        Ok(pid) => pid,
        Err(e) => {
            sys::close(rd);
            sys::close(wr);
            return Err(e);
        }
    };
    sys::close(rd);
    let mut got = [0u8; 16];
    let ok = read_remote(pid, PROBE_PATTERN.as_ptr() as usize, &mut got).is_ok() && got == PROBE_PATTERN;
    // Closing the write end gives the child EOF and it exits.
    sys::close(wr);
    sys::reap(pid);
    Ok(ok)
}

/// Copy `local.len()` bytes from address `remote_addr` in process `pid` into
/// `local`. Loops over partial transfers; fails if the remote range is not
/// mapped or the kernel refuses access.
pub fn read_remote(pid: i32, remote_addr: usize, local: &mut [u8]) -> Result<(), TransportError> {
    let mut done = 0;
    while done < local.len() {
        let n = sys::vm_read(pid, remote_addr + done, &mut local[done..])
            .map_err(|e| TransportError::io("process_vm_readv", e))?;
        if n == 0 {
            return Err(TransportError::io(
                "process_vm_readv",
                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no progress"),
            ));
        }
        done += n;
    }
    Ok(())
}

/// Copy `local` to address `remote_addr` in process `pid`. Loops over partial
/// transfers; fails if the remote range is not mapped writable or the kernel
/// refuses access.
pub fn write_remote(pid: i32, remote_addr: usize, local: &[u8]) -> Result<(), TransportError> {
    let mut done = 0;
    while done < local.len() {
        let n = sys::vm_write(pid, remote_addr + done, &local[done..])
            .map_err(|e| TransportError::io("process_vm_writev", e))?;
        if n == 0 {
            return Err(TransportError::io(
                "process_vm_writev",
                std::io::Error::new(std::io::ErrorKind::WriteZero, "no progress"),
            ));
        }
        done += n;
    }
    Ok(())
}

/// The raw system calls, each in a small wrapper.
mod sys {
    use std::io;

    use crate::TransportError;

    /// One `process_vm_readv` call; returns the bytes copied.
    pub fn vm_read(pid: i32, remote: usize, local: &mut [u8]) -> io::Result<usize> {
        let liov = libc::iovec { iov_base: local.as_mut_ptr().cast(), iov_len: local.len() };
        let riov = libc::iovec { iov_base: remote as *mut libc::c_void, iov_len: local.len() };
        // SAFETY: `liov` describes `local`, a live exclusive buffer of exactly
        // `iov_len` bytes; the remote iovec is only interpreted by the kernel
        // in the target's address space (an invalid range gives EFAULT, never
        // touches our memory). Both iovec arrays have length 1 as passed.
        let n = unsafe { libc::process_vm_readv(pid, &liov, 1, &riov, 1, 0) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// One `process_vm_writev` call; returns the bytes copied.
    pub fn vm_write(pid: i32, remote: usize, local: &[u8]) -> io::Result<usize> {
        let liov = libc::iovec { iov_base: local.as_ptr() as *mut libc::c_void, iov_len: local.len() };
        let riov = libc::iovec { iov_base: remote as *mut libc::c_void, iov_len: local.len() };
        // SAFETY: `liov` describes `local`, a live buffer of `iov_len` bytes
        // that the kernel only reads; the remote iovec is interpreted in the
        // target's address space only. Both arrays have length 1.
        let n = unsafe { libc::process_vm_writev(pid, &liov, 1, &riov, 1, 0) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// A close-on-exec pipe: (read end, write end).
    pub fn pipe() -> Result<(i32, i32), TransportError> {
        let mut fds = [0i32; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
        if r != 0 {
            return Err(TransportError::io("pipe2", io::Error::last_os_error()));
        }
        Ok((fds[0], fds[1]))
    }

    /// Close a file descriptor this module created.
    pub fn close(fd: i32) {
        // SAFETY: `fd` came from `pipe` above and is closed exactly once.
        unsafe { libc::close(fd) };
    }

    /// Fork a child that closes its copy of `wr`, blocks reading `rd` until
    /// EOF (the parent closing `wr`), then `_exit`s.
    pub fn fork_blocked_child(rd: i32, wr: i32) -> Result<i32, TransportError> {
        // SAFETY: after fork the child runs only async-signal-safe calls
        // (read, _exit) on memory that is private to it, so forking a
        // multi-threaded parent is sound; it never returns into Rust code.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(TransportError::io("fork", io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: closes the child's own copy of the write end.
            unsafe { libc::close(wr) };
            let mut b = 0u8;
            loop {
                // SAFETY: reads at most one byte into a live local variable.
                let n = unsafe { libc::read(rd, (&mut b as *mut u8).cast(), 1) };
                if n <= 0 {
                    break;
                }
            }
            // SAFETY: terminates the child without running the parent's
            // atexit handlers or destructors (which it must not run).
            unsafe { libc::_exit(0) };
        }
        Ok(pid)
    }

    /// Wait for the probe child to exit.
    pub fn reap(pid: i32) {
        let mut status = 0;
        loop {
            // SAFETY: waits for our own child `pid`; `status` is a live int.
            let r = unsafe { libc::waitpid(pid, &mut status, 0) };
            if r >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_and_write_own_memory() {
        let src: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut dst = vec![0u8; src.len()];
        let pid = std::process::id() as i32;
        read_remote(pid, src.as_ptr() as usize, &mut dst).unwrap();
        assert_eq!(src, dst);

        let mut target = vec![0u8; 4096];
        write_remote(pid, target.as_mut_ptr() as usize, &src[..4096]).unwrap();
        assert_eq!(&target[..], &src[..4096]);
    }

    #[test]
    fn unmapped_address_is_an_error() {
        let mut dst = [0u8; 8];
        let err = read_remote(std::process::id() as i32, 8, &mut dst).unwrap_err();
        assert!(matches!(err, TransportError::Io { op: "process_vm_readv", .. }), "{err}");
    }

    #[test]
    fn probe_reads_a_forked_child() {
        // In this container Yama is absent and we run as one uid, so the
        // probe must succeed; when Yama restricts ptrace it must say no.
        let yama =
            std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope").map(|s| s.trim() == "0").unwrap_or(true);
        if std::env::var("RMPI_CMA_DISABLE").is_err() {
            assert_eq!(probe(), yama);
        }
        // Cached: same answer again.
        assert_eq!(probe(), probe());
    }
}
