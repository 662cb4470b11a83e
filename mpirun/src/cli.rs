//! The command line: MPICH / Open MPI style options, parsed with clap.
//!
//! clap only knows `-x` and `--long`, while users type `-np 4`, `-genv A B`,
//! `-wdir d`. [`normalize_args`] first rewrites the launcher's own options
//! (everything before the program name) into clap's spelling and puts a `--`
//! before the program, so that the program's arguments are passed through
//! untouched even when they look like our options.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{ArgAction, Parser};

use crate::bind::BindPolicy;

const EXIT_CODES: &str = "\
Options may also be written with one dash: -np, -genv, -wdir, -tag-output, -timeout,
-hosts, -hostfile, -ppn, -launcher, -launcher-exec.

Hosts: ranks are placed block-wise, host by host, as many per host as its
slots (or -ppn), starting again at the first host while ranks remain
(MPICH Hydra's rule); without -n, one round of slots. Inside a Slurm
allocation (SLURM_JOB_NODELIST set) and without -hosts/-hostfile, the
allocation's nodes are used and the node proxies are started with srun.

Exit status:
  0        all ranks exited with 0
  N        the first failing rank exited with N (a rank that called
           MPI_Init but exited without MPI_Finalize counts as 1)
  128+S    the first failing rank was killed by signal S
  C        a rank called MPI_Abort with code C
  124      the job ran longer than --timeout / MPIEXEC_TIMEOUT
  126/127  the program could not be started (not executable / not found)
  130/143  rmpirun was interrupted by SIGINT / SIGTERM (129: SIGHUP)";

/// The raw clap view of the command line.
#[derive(Debug, Parser)]
#[command(
    name = "rmpirun",
    version,
    about = "Start an MPI job of rmpi ranks, on this host or across hosts",
    override_usage = "rmpirun [OPTIONS] [-n N] [-hosts H1,H2 | -hostfile FILE] [-ppn N] PROGRAM [ARGS]...",
    after_help = EXIT_CODES
)]
struct Cli {
    /// Number of ranks to start (default 1; may exceed the number of cores).
    #[arg(short = 'n', long = "np", value_name = "N")]
    np: Option<u32>,

    /// Set NAME=VALUE in the environment of every rank (repeatable).
    #[arg(long = "genv", num_args = 2, value_names = ["NAME", "VALUE"], action = ArgAction::Append)]
    genv: Vec<String>,

    /// Export NAME (with rmpirun's value) or NAME=VALUE to every rank (repeatable).
    #[arg(short = 'x', value_name = "NAME[=VALUE]", action = ArgAction::Append)]
    export: Vec<String>,

    /// Working directory of the ranks.
    #[arg(long = "wdir", value_name = "DIR")]
    wdir: Option<PathBuf>,

    /// Prefix every forwarded output line with the rank in brackets.
    #[arg(short = 'l', long = "tag-output", help = "Prefix every forwarded output line with \"[RANK] \"")]
    tag_output: bool,

    /// End the job (exit status 124) after SECONDS; also env MPIEXEC_TIMEOUT.
    #[arg(long = "timeout", value_name = "SECONDS")]
    timeout: Option<u64>,

    /// Run on these hosts (`h1,h2:SLOTS,...`).
    #[arg(long = "hosts", alias = "host", value_name = "LIST")]
    hosts: Option<String>,

    /// Run on the hosts of FILE (`host[:slots]` per line, `#` comments).
    #[arg(short = 'f', long = "hostfile", alias = "machinefile", value_name = "FILE")]
    hostfile: Option<PathBuf>,

    /// Ranks per host in each placement round (instead of the host's slots).
    #[arg(long = "ppn", alias = "npernode", value_name = "N")]
    ppn: Option<u32>,

    /// How to start node proxies: ssh (default; see --launcher-exec), slurm
    /// (srun; the default inside an allocation), or fork (this host only).
    #[arg(long = "launcher", value_name = "NAME")]
    launcher: Option<String>,

    /// Remote-start agent, called as `AGENT HOST "COMMAND"` like ssh (may
    /// contain arguments, split at spaces). Default: ssh.
    #[arg(long = "launcher-exec", alias = "bootstrap-exec", value_name = "AGENT")]
    launcher_exec: Option<String>,

    /// Bind each rank to a core: auto (default: only when the host's ranks
    /// fill its cores), core, hwthread or none.
    #[arg(long = "bind-to", value_name = "POLICY")]
    bind_to: Option<String>,

    /// Print each rank's binding on standard error as it starts.
    #[arg(long = "report-bindings")]
    report_bindings: bool,

    /// The program to start, and its arguments.
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, value_name = "PROGRAM")]
    command: Vec<OsString>,
}

/// How node proxies are started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launcher {
    /// `AGENT HOST "command"` (ssh by default); the words of the agent.
    Agent(Vec<String>),
    /// One `srun` step with a proxy per node.
    Slurm,
    /// Everything on this host.
    Fork,
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Number of ranks (`None`: one round of the hosts' slots; 1 on one host).
    pub np: Option<u32>,
    /// `-hosts`.
    pub hosts: Option<String>,
    /// `-hostfile`.
    pub hostfile: Option<PathBuf>,
    /// `-ppn`.
    pub ppn: Option<u32>,
    /// `-launcher` (`None`: slurm inside an allocation without hosts given, else ssh).
    pub launcher: Option<Launcher>,
    /// The remote-start agent's words (default `ssh`).
    pub agent: Vec<String>,
    /// Extra environment for every rank, in order (`-genv` and `-x`).
    pub env: Vec<(OsString, OsString)>,
    /// Working directory of the ranks (default: rmpirun's).
    pub wdir: Option<PathBuf>,
    /// Prefix output lines with `[rank] `.
    pub tag_output: bool,
    /// Job time limit in seconds.
    pub timeout: Option<u64>,
    /// `--bind-to`.
    pub bind: BindPolicy,
    /// `--report-bindings`.
    pub report_bindings: bool,
    /// Program to start.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
}

/// Single-dash long options we accept, and how many values each takes.
const SINGLE_DASH_LONG: &[(&str, usize)] = &[
    ("np", 1),
    ("genv", 2),
    ("wdir", 1),
    ("tag-output", 0),
    ("timeout", 1),
    ("help", 0),
    ("version", 0),
    ("hosts", 1),
    ("host", 1),
    ("hostfile", 1),
    ("machinefile", 1),
    ("ppn", 1),
    ("npernode", 1),
    ("launcher", 1),
    ("launcher-exec", 1),
    ("bootstrap-exec", 1),
    ("bind-to", 1),
    ("report-bindings", 0),
];

/// Number of values taken by a (normalised) option token.
fn values_of(token: &str) -> usize {
    if token.contains('=') {
        return 0;
    }
    match token {
        "-n" | "--np" | "--wdir" | "--timeout" | "-x" | "-f" | "--hosts" | "--host" | "--hostfile"
        | "--machinefile" | "--ppn" | "--npernode" | "--launcher" | "--launcher-exec" | "--bootstrap-exec"
        | "--bind-to" => 1,
        "--genv" => 2,
        _ => 0,
    }
}

/// Rewrite MPICH / Open MPI spellings into clap's and insert `--` before the
/// program name. `args[0]` is the launcher's own name.
pub fn normalize_args(args: Vec<OsString>) -> Vec<OsString> {
    let mut it = args.into_iter();
    let mut out: Vec<OsString> = it.next().into_iter().collect();
    let rest: Vec<OsString> = it.collect();
    let mut i = 0;
    while i < rest.len() {
        let Some(tok) = rest[i].to_str() else {
            // Not UTF-8: cannot be one of our options, so it is the program.
            out.push("--".into());
            out.extend(rest[i..].iter().cloned());
            return out;
        };
        if tok == "--" {
            out.extend(rest[i..].iter().cloned());
            return out;
        }
        if !tok.starts_with('-') || tok == "-" {
            out.push("--".into());
            out.extend(rest[i..].iter().cloned());
            return out;
        }
        let mut norm = tok.to_string();
        if !tok.starts_with("--") {
            let body = &tok[1..];
            let name = body.split('=').next().unwrap_or(body);
            if SINGLE_DASH_LONG.iter().any(|(n, _)| *n == name) {
                norm = format!("-{tok}");
            }
        }
        let n = values_of(&norm);
        out.push(norm.into());
        for v in rest.iter().skip(i + 1).take(n) {
            out.push(v.clone());
        }
        i += 1 + n;
    }
    out
}

/// Parse the command line (after [`normalize_args`]) and the environment
/// (`MPIEXEC_TIMEOUT`). Exits with a usage message on bad syntax, like clap.
pub fn parse(args: Vec<OsString>) -> Result<Options> {
    let cli = Cli::parse_from(normalize_args(args));
    from_cli(cli, |name| std::env::var_os(name))
}

fn from_cli(cli: Cli, getenv: impl Fn(&str) -> Option<OsString>) -> Result<Options> {
    let np = cli.np;
    if np == Some(0) {
        bail!("-n must be at least 1");
    }
    if cli.ppn == Some(0) {
        bail!("-ppn must be at least 1");
    }
    let launcher = match cli.launcher.as_deref() {
        None => None,
        Some("ssh") | Some("rsh") => Some(Launcher::Agent(Vec::new())),
        Some("slurm") | Some("srun") => Some(Launcher::Slurm),
        Some("fork") | Some("local") => Some(Launcher::Fork),
        Some(other) => bail!("unknown launcher {other:?} (ssh, slurm or fork)"),
    };
    let agent: Vec<String> = match &cli.launcher_exec {
        Some(a) => a.split_whitespace().map(String::from).collect(),
        None => vec!["ssh".to_string()],
    };
    if agent.is_empty() {
        bail!("--launcher-exec is empty");
    }
    let mut env = Vec::new();
    for pair in cli.genv.chunks(2) {
        if let [name, value] = pair {
            check_env_name(name)?;
            env.push((name.into(), value.into()));
        }
    }
    for x in &cli.export {
        match x.split_once('=') {
            Some((name, value)) => {
                check_env_name(name)?;
                env.push((name.into(), value.into()));
            }
            None => {
                check_env_name(x)?;
                // Without a value: pass rmpirun's own value (nothing if unset).
                if let Some(v) = getenv(x) {
                    env.push((x.into(), v));
                }
            }
        }
    }
    let timeout = match cli.timeout {
        Some(t) => Some(t),
        None => match getenv("MPIEXEC_TIMEOUT") {
            Some(v) => {
                let s = v.to_string_lossy();
                let t: u64 =
                    s.trim().parse().with_context(|| format!("MPIEXEC_TIMEOUT={s:?} is not a number of seconds"))?;
                (t > 0).then_some(t)
            }
            None => None,
        },
    };
    let bind = match cli.bind_to.as_deref() {
        Some(s) => BindPolicy::parse(s).map_err(anyhow::Error::msg)?,
        None => BindPolicy::default(),
    };
    let mut command = cli.command.into_iter();
    let program = command.next().context("no program given")?;
    Ok(Options {
        np,
        hosts: cli.hosts,
        hostfile: cli.hostfile,
        ppn: cli.ppn,
        launcher,
        agent,
        env,
        wdir: cli.wdir,
        tag_output: cli.tag_output,
        timeout,
        bind,
        report_bindings: cli.report_bindings,
        program,
        args: command.collect(),
    })
}

fn check_env_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('=') || name.contains('\0') {
        bail!("invalid environment variable name {name:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(line: &[&str], env: &[(&str, &str)]) -> Result<Options> {
        let args: Vec<OsString> = std::iter::once("rmpirun").chain(line.iter().copied()).map(OsString::from).collect();
        let cli = Cli::try_parse_from(normalize_args(args))?;
        let env: Vec<(String, String)> = env.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        from_cli(cli, move |n| env.iter().find(|(k, _)| k == n).map(|(_, v)| OsString::from(v)))
    }

    #[test]
    fn mpich_style() {
        let o = opts(
            &["-np", "4", "-genv", "A", "1", "-genv", "B", "x y", "-wdir", "/tmp", "-l", "./app", "-n", "3", "--np"],
            &[],
        )
        .unwrap();
        assert_eq!(o.np, Some(4));
        assert_eq!(o.env, vec![("A".into(), "1".into()), ("B".into(), "x y".into())]);
        assert_eq!(o.wdir, Some(PathBuf::from("/tmp")));
        assert!(o.tag_output);
        assert_eq!(o.program, "./app");
        assert_eq!(o.args, vec!["-n", "3", "--np"]);
    }

    #[test]
    fn open_mpi_style() {
        let o = opts(
            &["-n", "2", "-x", "FOO=bar", "-x", "HOME", "-x", "UNSET_VAR", "--tag-output", "--timeout", "5", "prog"],
            &[("HOME", "/home/u")],
        )
        .unwrap();
        assert_eq!(o.np, Some(2));
        assert_eq!(o.env, vec![("FOO".into(), "bar".into()), ("HOME".into(), "/home/u".into())]);
        assert!(o.tag_output);
        assert_eq!(o.timeout, Some(5));
        assert_eq!(o.program, "prog");
        assert!(o.args.is_empty());
    }

    #[test]
    fn single_dash_variants_and_inline_values() {
        let o = opts(&["-tag-output", "-timeout", "7", "-n5", "a"], &[]).unwrap();
        assert!(o.tag_output);
        assert_eq!(o.timeout, Some(7));
        assert_eq!(o.np, Some(5));
        assert_eq!(opts(&["--np=6", "a"], &[]).unwrap().np, Some(6));
        assert_eq!(opts(&["-np=6", "a"], &[]).unwrap().np, Some(6));
        let o = opts(&["--", "-weird-prog", "-np"], &[]).unwrap();
        assert_eq!(o.program, "-weird-prog");
        assert_eq!(o.args, vec!["-np"]);
    }

    #[test]
    fn host_options() {
        let o = opts(&["-hosts", "n1,n2:2", "-ppn", "2", "-launcher-exec", "ip netns exec", "./a", "-f", "x"], &[])
            .unwrap();
        assert_eq!(o.hosts.as_deref(), Some("n1,n2:2"));
        assert_eq!(o.ppn, Some(2));
        assert_eq!(o.agent, vec!["ip", "netns", "exec"]);
        assert_eq!(o.args, vec!["-f", "x"]);
        assert_eq!(o.np, None);
        let o = opts(&["-f", "hf", "-launcher", "slurm", "a"], &[]).unwrap();
        assert_eq!(o.hostfile, Some(PathBuf::from("hf")));
        assert_eq!(o.launcher, Some(Launcher::Slurm));
        assert_eq!(o.agent, vec!["ssh"]);
        let o = opts(&["--hostfile", "hf", "--host", "a,b", "a"], &[]).unwrap();
        assert_eq!(o.hosts.as_deref(), Some("a,b"));
        assert!(opts(&["-ppn", "0", "a"], &[]).is_err());
        assert!(opts(&["-launcher", "pigeon", "a"], &[]).is_err());
    }

    #[test]
    fn timeout_from_env() {
        let o = opts(&["a"], &[("MPIEXEC_TIMEOUT", "9")]).unwrap();
        assert_eq!(o.timeout, Some(9));
        let o = opts(&["--timeout", "3", "a"], &[("MPIEXEC_TIMEOUT", "9")]).unwrap();
        assert_eq!(o.timeout, Some(3));
        assert!(opts(&["a"], &[("MPIEXEC_TIMEOUT", "soon")]).is_err());
    }

    #[test]
    fn errors() {
        assert!(opts(&["-n", "0", "a"], &[]).is_err());
        assert!(opts(&["-n", "2"], &[]).is_err());
        assert!(opts(&["--bogus", "a"], &[]).is_err());
        assert!(opts(&["-x", "=v", "a"], &[]).is_err());
    }
}
