//! `Readiness`: a small level-triggered epoll set, so `poll` touches only the
//! sockets that have something to say (one system call however many peers)
//! and the whole TCP transport sleeps on a single fd.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A level-triggered epoll instance.
pub(crate) struct Readiness {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Readiness {
    /// A new, empty, close-on-exec set.
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain system call; the result is checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Readiness { fd, events: Vec::with_capacity(256) })
    }

    /// Watch `fd` for readability (errors and hang-ups are always
    /// reported), tagged with `token`.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: token };
        // SAFETY: `ev` is a live epoll_event; `fd` is a descriptor the
        // caller owns and keeps open while registered.
        let r = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Stop watching `fd` (closing it also does).
    pub fn remove(&self, fd: RawFd) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: as in `add`; a descriptor that is not registered only
        // yields an error, which is ignored.
        unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) };
    }

    /// Collect the tokens of ready descriptors without blocking.
    pub fn ready(&mut self, out: &mut Vec<u64>) -> io::Result<()> {
        out.clear();
        let cap = self.events.capacity();
        // SAFETY: the kernel writes at most `cap` events into the vector's
        // spare capacity; we set the length to what it reports.
        let n = unsafe { libc::epoll_wait(self.fd.as_raw_fd(), self.events.as_mut_ptr(), cap as i32, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted { Ok(()) } else { Err(e) };
        }
        // SAFETY: the first `n <= cap` entries were initialised by the kernel.
        unsafe { self.events.set_len(n as usize) };
        out.extend(self.events.iter().map(|e| e.u64));
        Ok(())
    }

    /// The fd that is readable whenever some watched fd is ready.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
