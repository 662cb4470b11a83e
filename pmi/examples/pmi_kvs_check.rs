//! Checks a launcher's key-value space from inside a job, with no MPI:
//! every rank puts a short value and a 5000-byte one (stored in segments by
//! `put_split`, as Slurm takes at most 1024 bytes per value), fences, and
//! reads back every rank's values one by one; then a second epoch replaces
//! them and reads them in one batch (`get_split_many`, pipelined with PMI-2).
//!
//!   srun --mpi=pmi2 -n 6 pmi_kvs_check          (RMPI_PMI_VERSION=1 for PMI-1)
//!
//! Prints `kvs ok: rank R of N (PMI-V, mapping M)` or exits 1 with the reason.
use rmpi_pmi::{PmiClient, PmiVersion};

fn long_value(rank: u32, epoch: u32) -> String {
    (0..5000u32).map(|i| char::from(b'a' + ((i + 7 * rank + 13 * epoch) % 26) as u8)).collect()
}

fn run() -> Result<String, String> {
    let mut pmi = PmiClient::from_env().map_err(|e| e.to_string())?.ok_or("no PMI_FD: start me with a launcher")?;
    let (rank, size) = (pmi.rank(), pmi.size());
    let mapping = pmi.process_mapping().map_err(|e| e.to_string())?.unwrap_or_default();
    for epoch in 0..2 {
        pmi.put_split(&format!("short-{rank}"), &format!("tcp1,{epoch},{rank}")).map_err(|e| e.to_string())?;
        pmi.put_split(&format!("long-{rank}"), &long_value(rank, epoch)).map_err(|e| e.to_string())?;
        pmi.fence().map_err(|e| e.to_string())?;
        // Epoch 0 reads key by key, epoch 1 in one pipelined batch.
        let keys: Vec<String> = (0..size).flat_map(|p| [format!("short-{p}"), format!("long-{p}")]).collect();
        let values = if epoch == 0 {
            keys.iter().map(|k| pmi.get_split(k)).collect::<Result<Vec<_>, _>>()
        } else {
            pmi.get_split_many(&keys)
        }
        .map_err(|e| e.to_string())?;
        for peer in 0..size {
            let short = &values[2 * peer as usize];
            if short.as_deref() != Some(format!("tcp1,{epoch},{peer}").as_str()) {
                return Err(format!("epoch {epoch}: short value of rank {peer} is {short:?}"));
            }
            let long = &values[2 * peer as usize + 1];
            if long.as_deref() != Some(long_value(peer, epoch).as_str()) {
                return Err(format!(
                    "epoch {epoch}: long value of rank {peer} is wrong ({:?} bytes)",
                    long.as_ref().map(|l| l.len())
                ));
            }
        }
        // Nobody overwrites before everybody has read.
        pmi.fence().map_err(|e| e.to_string())?;
    }
    let v = if pmi.version() == PmiVersion::V1 { 1 } else { 2 };
    pmi.finalize().map_err(|e| e.to_string())?;
    Ok(format!("kvs ok: rank {rank} of {size} (PMI-{v}, mapping {mapping})"))
}

fn main() {
    match run() {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("pmi_kvs_check: {e}");
            std::process::exit(1);
        }
    }
}
