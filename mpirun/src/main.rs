//! `rmpirun`: start an MPI job of rmpi ranks on this host.
//!
//! `rmpirun -n 5 ./app args...` starts five ranks, serves them PMI-1/PMI-2
//! over one socketpair each, forwards their output line by line and stdin to
//! rank 0, and ends the whole job quickly and loudly when one rank fails.
//! See `rmpirun --help` for the options and the exit statuses.
//!
//! The control plane (PMI connections, stdio streams, child exits, signals,
//! timers) runs on a tokio current-thread runtime on the main thread: one
//! loop, no locks, and `PR_SET_PDEATHSIG` tied to the thread that forks.
//! Only stdin forwarding and output writing use plain threads, because their
//! blocking reads and writes must not stall the loop.
//!
//! Modules: [`cli`] (command line), [`job`] (policy, main loop), [`layout`]
//! and [`hosts`] (hosts and placement), [`node`] (one host's ranks and PMI
//! server), [`remote`] (starting and talking to node proxies), [`proxy`]
//! (`rmpirun --proxy`, the node proxy), [`wire`] and [`conn`] (the control
//! protocol), [`addrs`] (addresses), [`spawn`] (fork/exec of a rank), [`bind`]
//! (binding ranks to cores),
//! [`stdio`] (output and stdin forwarding).

mod addrs;
mod bind;
mod cli;
mod conn;
mod hosts;
mod job;
mod layout;
mod node;
mod proxy;
mod remote;
mod spawn;
mod stdio;
mod wire;

use anyhow::{Context, Result};

fn main() {
    let args: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    if args.first().map(String::as_str) == Some("--proxy") {
        std::process::exit(proxy::main(&args));
    }
    let code = match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rmpirun: error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

fn real_main() -> Result<i32> {
    let opts = cli::parse(std::env::args_os().collect())?;
    spawn::raise_fd_limit();
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the tokio runtime")?;
    let (code, output) = rt.block_on(job::run(opts))?;
    // Dropping the runtime drops any forwarder still waiting on a pipe held
    // by a stray process, so that the output thread can finish.
    drop(rt);
    output.finish();
    Ok(code)
}
