//! Starting one rank: environment, PMI socketpair, process group, parent
//! death signal.
//!
//! The child gets its end of an `AF_UNIX` socketpair as `PMI_FD` (the only
//! descriptor beyond 0-2 it inherits from us), joins the job's process group
//! so that `kill(-pgid)` reaches every rank and whatever they started, and
//! asks the kernel for `SIGKILL` when rmpirun dies. Being in their own
//! process group, ranks do not receive the terminal's Ctrl-C directly:
//! rmpirun catches it and ends the job in order.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::{Child, Command};

/// Environment variables of an outer launcher that must not leak to ranks.
const SCRUBBED_ENV: &[&str] = &["PMI_PORT", "PMI_ID", "PMI_SPAWNED", "PMI_SUBVERSION"];

/// Everything needed to start one rank.
#[derive(Debug, Clone)]
pub struct RankLaunch {
    /// Program and arguments.
    pub program: OsString,
    /// Arguments.
    pub args: Vec<OsString>,
    /// Environment to add (user's first, then ours, so ours wins).
    pub env: Vec<(OsString, OsString)>,
    /// Working directory.
    pub wdir: Option<PathBuf>,
    /// Give the rank a stdin pipe (rank 0) instead of /dev/null.
    pub stdin_pipe: bool,
    /// Process group to join; `None` makes the rank the leader of a new one.
    pub pgid: Option<i32>,
    /// CPUs to bind the rank to (`--bind-to`); `None`: inherit ours.
    pub cpus: Option<Vec<usize>>,
}

/// A started rank.
pub struct SpawnedRank {
    /// The child process (stdio pipes still attached).
    pub child: Child,
    /// Its pid.
    pub pid: u32,
    /// Our end of the PMI socketpair.
    pub pmi: UnixStream,
}

/// rmpirun's soft limit on open files before [`raise_fd_limit`], restored in
/// every rank.
static ORIGINAL_NOFILE: std::sync::OnceLock<libc::rlimit> = std::sync::OnceLock::new();

/// Raises rmpirun's soft limit on open files to the hard limit: each rank
/// costs about three descriptors (stdout, stderr, PMI), so the default 1024
/// would cap a job at ~300 ranks. Ranks get the original limit back.
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        let _ = ORIGINAL_NOFILE.set(lim);
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            libc::setrlimit(libc::RLIMIT_NOFILE, &raised);
        }
    }
}

/// In the child, after fork and before exec. Only async-signal-safe calls.
fn child_setup(
    pmi_fd: RawFd,
    launcher_pid: libc::pid_t,
    nofile: Option<libc::rlimit>,
    cpus: Option<&libc::cpu_set_t>,
) -> io::Result<()> {
    // SAFETY: prctl/getppid/fcntl/setrlimit/sched_setaffinity are
    // async-signal-safe system calls on plain integers and structs made
    // before the fork; nothing is allocated.
    unsafe {
        if let Some(set) = cpus {
            // Binding is a performance hint: a refusal (a cpuset that
            // changed meanwhile) leaves the rank unbound, not failed.
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set);
        }
        if let Some(lim) = nofile {
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        // The launcher may have died between fork and prctl: then nobody
        // would ever kill us.
        if libc::getppid() != launcher_pid {
            return Err(io::Error::other("rmpirun exited while starting the rank"));
        }
        // The socketpair was made close-on-exec; keep the child's end open.
        if libc::fcntl(pmi_fd, libc::F_SETFD, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Starts one rank. Its stdout and stderr are pipes; stdin is a pipe when
/// `stdin_pipe`, else `/dev/null`.
pub fn spawn_rank(launch: &RankLaunch, pmi_env: &[(String, String)]) -> io::Result<SpawnedRank> {
    let (ours, theirs) = UnixStream::pair()?;
    let child_fd = theirs.as_raw_fd();
    let mut cmd = Command::new(&launch.program);
    cmd.args(&launch.args);
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    for (k, v) in &launch.env {
        cmd.env(k, v);
    }
    for (k, v) in pmi_env {
        cmd.env(k, v);
    }
    cmd.env("PMI_FD", child_fd.to_string());
    if let Some(dir) = &launch.wdir {
        cmd.current_dir(dir);
    }
    cmd.stdin(if launch.stdin_pipe { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped());
    cmd.stderr(Stdio::piped());
    cmd.process_group(launch.pgid.unwrap_or(0));
    // Read before the fork: the child may only make async-signal-safe calls.
    let launcher_pid = std::process::id() as libc::pid_t;
    let nofile = ORIGINAL_NOFILE.get().copied();
    let cpus = launch.cpus.as_deref().map(crate::bind::cpu_set);
    // SAFETY: `child_setup` only makes async-signal-safe system calls and
    // touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(move || child_setup(child_fd, launcher_pid, nofile, cpus.as_ref()));
    }
    let child = cmd.spawn()?;
    drop::<OwnedFd>(theirs.into());
    let pid = child.id().ok_or_else(|| io::Error::other("child exited before its pid was read"))?;
    Ok(SpawnedRank { child, pid, pmi: ours })
}

/// Sends `sig` to a process group.
pub fn kill_group(pgid: i32, sig: libc::c_int) {
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid addresses the process group;
        // errors (ESRCH: group already gone) are harmless.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

/// Sends `sig` to one process that we have not reaped yet.
pub fn kill_pid(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        if pid > 1 {
            // SAFETY: kill(2) on a child that has not been reaped, so the pid
            // cannot have been reused.
            unsafe {
                libc::kill(pid, sig);
            }
        }
    }
}

/// `SIGKILL`-style name of a signal number.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => return format!("SIG{sig}"),
    };
    name.to_string()
}
