//! Helpers shared by the example programs: a small argument parser and a
//! way to fail loudly.
#![allow(dead_code)]

use std::str::FromStr;

/// `--name value` arguments of the program.
pub struct Args {
    pairs: Vec<(String, String)>,
}

impl Args {
    /// Parse `--name value` pairs; exits with a message on anything else.
    pub fn parse() -> Args {
        let raw: Vec<String> = std::env::args().skip(1).collect();
        let mut pairs = Vec::new();
        let mut it = raw.into_iter();
        while let Some(a) = it.next() {
            let Some(name) = a.strip_prefix("--") else {
                eprintln!("unexpected argument {a:?} (expected --name value)");
                std::process::exit(2);
            };
            let (name, value) = match name.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => match it.next() {
                    Some(v) => (name.to_string(), v),
                    None => {
                        eprintln!("--{name} needs a value");
                        std::process::exit(2);
                    }
                },
            };
            pairs.push((name, value));
        }
        Args { pairs }
    }

    /// The value of `--name`, or `default`.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> T {
        match self.pairs.iter().rev().find(|(n, _)| n == name) {
            None => default,
            Some((_, v)) => v.parse().unwrap_or_else(|_| {
                eprintln!("invalid value {v:?} for --{name}");
                std::process::exit(2);
            }),
        }
    }

    /// The value of `--name` as a string, or `default`.
    pub fn get_str(&self, name: &str, default: &str) -> String {
        self.pairs.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_else(|| default.into())
    }
}

/// Report a failed check and end the whole job with exit code 1.
pub fn fail(world: &impl rmpi::Communicator, msg: &str) -> ! {
    eprintln!("rank {}: check failed: {msg}", world.rank());
    world.abort(1)
}
