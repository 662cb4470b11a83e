//! `RMPI_NODE_MAP`: pretend the job spans several nodes, for testing the
//! node-aware paths on one machine. `RMPI_NODE_MAP=K` puts ranks in nodes
//! of K consecutive ranks; `RMPI_NODE_MAP=0,0,1,1,2` names each world
//! rank's node. It replaces the launcher's process mapping everywhere:
//! shared memory joins only ranks of one (pretended) node, TCP carries the
//! rest (still over loopback when every rank really is on this host), and
//! collectives choose their two-level forms.

use crate::error::{err, ErrorClass, MpiResult};

/// The node of each of `size` ranks from `RMPI_NODE_MAP`, if it is set.
pub(crate) fn from_env(size: u32) -> MpiResult<Option<Vec<u32>>> {
    let Ok(v) = std::env::var("RMPI_NODE_MAP") else { return Ok(None) };
    parse(v.trim(), size).map(Some)
}

fn parse(v: &str, size: u32) -> MpiResult<Vec<u32>> {
    let bad = || err(ErrorClass::Arg, format!("RMPI_NODE_MAP={v:?}: expected ranks per node, or one node id per rank"));
    if !v.contains(',') {
        return match v.parse::<u32>() {
            Ok(k) if k > 0 => Ok((0..size).map(|r| r / k).collect()),
            _ => bad(),
        };
    }
    let ids: Result<Vec<u32>, _> = v.split(',').map(|x| x.trim().parse::<u32>()).collect();
    match ids {
        Ok(ids) if ids.len() == size as usize => Ok(ids),
        _ => bad(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn blocks_and_lists() {
        assert_eq!(parse("2", 5).unwrap(), vec![0, 0, 1, 1, 2]);
        assert_eq!(parse("0, 1,0", 3).unwrap(), vec![0, 1, 0]);
        assert!(parse("0,1", 3).is_err());
        assert!(parse("0", 3).is_err());
        assert!(parse("x", 3).is_err());
    }
}
