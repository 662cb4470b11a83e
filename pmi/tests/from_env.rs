//! `PmiClient::from_env` (one test in its own binary: it changes the
//! process environment and takes over a descriptor).

use std::io::{Read, Write};
use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixStream;
use std::thread;

use rmpi_pmi::{PmiClient, PmiError, PmiVersion};

#[test]
fn from_env_singleton_port_and_fd() {
    std::env::remove_var("PMI_FD");
    std::env::remove_var("PMI_PORT");
    assert!(PmiClient::from_env().unwrap().is_none(), "no PMI_FD: singleton");

    std::env::set_var("PMI_PORT", "localhost:1234");
    assert!(matches!(PmiClient::from_env(), Err(PmiError::PmiPortUnsupported(_))));
    std::env::remove_var("PMI_PORT");

    std::env::set_var("PMI_FD", "987");
    assert!(matches!(PmiClient::from_env(), Err(PmiError::BadEnv { .. })));

    // A scripted PMI-1 server.
    let (a, mut b) = UnixStream::pair().unwrap();
    let server = thread::spawn(move || {
        let script: &[(&str, &str)] = &[
            ("cmd=init pmi_version=1 pmi_subversion=1\n", "cmd=response_to_init rc=0 pmi_version=1 pmi_subversion=1\n"),
            ("cmd=get_maxes\n", "cmd=maxes rc=0 kvsname_max=256 keylen_max=64 vallen_max=1024\n"),
            ("cmd=get_appnum\n", "cmd=appnum rc=0 appnum=-1\n"),
            ("cmd=get_my_kvsname\n", "cmd=my_kvsname rc=0 kvsname=4.0\n"),
        ];
        for (want, answer) in script {
            // One command per read, as Slurm requires.
            let mut buf = [0u8; 1024];
            let n = b.read(&mut buf).unwrap();
            assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), *want);
            b.write_all(answer.as_bytes()).unwrap();
        }
        b
    });
    let fd = a.into_raw_fd();
    std::env::set_var("PMI_FD", fd.to_string());
    std::env::set_var("PMI_RANK", "2");
    std::env::set_var("PMI_SIZE", "3");
    std::env::set_var("RMPI_PMI_VERSION", "1");
    let c = PmiClient::from_env().unwrap().unwrap();
    assert_eq!(c.version(), PmiVersion::V1);
    assert_eq!((c.rank(), c.size(), c.jobid(), c.appnum()), (2, 3, "4.0", -1));
    assert_eq!(c.raw_fd(), fd);
    // The descriptor is now close-on-exec.
    // SAFETY: F_GETFD only reads the descriptor flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    assert!(flags & libc::FD_CLOEXEC != 0);
    let _b = server.join().unwrap();
    // A second from_env must not adopt the same descriptor twice.
    assert!(PmiClient::from_env().is_err());
}
