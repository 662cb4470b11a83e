//! `PMI_process_mapping`: which node each rank runs on.
//!
//! Grammar: `(vector,(S,N,K),(S,N,K),...)`. Triples are read in order and
//! hand out ranks consecutively from 0: `(S,N,K)` puts the next `K` ranks on
//! node `S`, the next `K` on node `S+1`, ..., for `N` nodes.

use crate::error::PmiError;

fn mapping_err(text: &str, reason: impl Into<String>) -> PmiError {
    PmiError::Mapping { text: text.to_string(), reason: reason.into() }
}

/// Parse a `PMI_process_mapping` value into the node id of every rank.
///
/// The result has exactly `size` entries. Whitespace between tokens is
/// tolerated. It is an error when the text is malformed or when the triples
/// describe fewer or more than `size` ranks.
pub fn parse_process_mapping(s: &str, size: u32) -> Result<Vec<u32>, PmiError> {
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let inner = compact
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| mapping_err(s, "not enclosed in parentheses"))?;
    let rest = inner.strip_prefix("vector").ok_or_else(|| mapping_err(s, "does not start with \"vector\""))?;
    let mut nodes = Vec::with_capacity(size as usize);
    let mut rest = rest;
    while !rest.is_empty() {
        let r = rest.strip_prefix(",(").ok_or_else(|| mapping_err(s, "expected \",(\" before a triple"))?;
        let close = r.find(')').ok_or_else(|| mapping_err(s, "unterminated triple"))?;
        let nums: Vec<&str> = r[..close].split(',').collect();
        if nums.len() != 3 {
            return Err(mapping_err(s, format!("triple ({}) does not have 3 numbers", &r[..close])));
        }
        let mut v = [0u32; 3];
        for (slot, n) in v.iter_mut().zip(&nums) {
            *slot = n.parse().map_err(|_| mapping_err(s, format!("{n:?} is not a non-negative integer")))?;
        }
        let [start, count, per_node] = v;
        if count == 0 || per_node == 0 {
            return Err(mapping_err(s, "a triple with a zero count"));
        }
        for node in 0..count {
            let id = start.checked_add(node).ok_or_else(|| mapping_err(s, "node id overflows"))?;
            for _ in 0..per_node {
                if nodes.len() >= size as usize {
                    return Err(mapping_err(s, format!("describes more than the job's {size} ranks")));
                }
                nodes.push(id);
            }
        }
        rest = &r[close + 1..];
    }
    if nodes.len() != size as usize {
        return Err(mapping_err(s, format!("describes {} ranks but the job has {size}", nodes.len())));
    }
    Ok(nodes)
}

/// Build a `PMI_process_mapping` value from the node id of every rank.
///
/// Runs of ranks on one node become `(S,1,K)`; consecutive runs of the same
/// length on consecutive nodes merge into `(S,N,K)`. The inverse of
/// [`parse_process_mapping`] (the text may differ from Slurm's for the same
/// placement, the meaning does not).
pub fn format_process_mapping(node_of_rank: &[u32]) -> String {
    // (start node, node count, ranks per node)
    let mut triples: Vec<(u32, u32, u32)> = Vec::new();
    let mut i = 0;
    while i < node_of_rank.len() {
        let node = node_of_rank[i];
        let run = node_of_rank[i..].iter().take_while(|&&n| n == node).count();
        let run = u32::try_from(run).unwrap_or(u32::MAX);
        match triples.last_mut() {
            Some((s, n, k)) if *k == run && s.checked_add(*n) == Some(node) => *n += 1,
            _ => triples.push((node, 1, run)),
        }
        i += run as usize;
    }
    let mut out = String::from("(vector");
    for (s, n, k) in triples {
        out.push_str(&format!(",({s},{n},{k})"));
    }
    out.push(')');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The observed rows of PMI-FACTS.md §3: (mapping, size, placement).
    const SLURM_ROWS: &[(&str, u32, &[u32])] = &[
        ("(vector,(0,1,3))", 3, &[0, 0, 0]),
        ("(vector,(0,1,3),(1,2,1))", 5, &[0, 0, 0, 1, 2]),
        ("(vector,(0,2,2))", 4, &[0, 0, 1, 1]),
        ("(vector,(0,3,1),(0,1,1),(0,1,1),(0,1,1))", 6, &[0, 1, 2, 0, 0, 0]),
        ("(vector,(0,1,2),(1,1,1),(0,1,3))", 6, &[0, 0, 1, 0, 0, 0]),
        ("(vector,(0,1,2),(1,2,1))", 4, &[0, 0, 1, 2]),
    ];

    #[test]
    fn slurm_table_rows_parse() {
        for (text, size, want) in SLURM_ROWS {
            assert_eq!(&parse_process_mapping(text, *size).unwrap()[..], *want, "{text}");
        }
    }

    #[test]
    fn slurm_table_rows_format_and_reparse() {
        for (text, size, want) in SLURM_ROWS {
            let formatted = format_process_mapping(want);
            assert_eq!(&parse_process_mapping(&formatted, *size).unwrap()[..], *want);
            // Where Slurm's own text is already compressed, we produce the same bytes.
            if !text.contains("(0,1,1),(0,1,1)") {
                assert_eq!(&formatted, text);
            }
        }
        assert_eq!(format_process_mapping(&[0, 1, 2, 0, 0, 0]), "(vector,(0,3,1),(0,1,3))");
    }

    #[test]
    fn arbitrary_slurm_mapping_every_rank_own_node() {
        assert_eq!(parse_process_mapping("(vector,(0,4,1))", 4).unwrap(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn whitespace_is_tolerated() {
        assert_eq!(parse_process_mapping(" ( vector, (0, 2, 1) ) ", 2).unwrap(), vec![0, 1]);
    }

    #[test]
    fn wrong_coverage_is_an_error() {
        assert!(parse_process_mapping("(vector,(0,1,3))", 4).is_err());
        assert!(parse_process_mapping("(vector,(0,1,3))", 2).is_err());
        assert!(parse_process_mapping("(vector)", 1).is_err());
        assert_eq!(parse_process_mapping("(vector)", 0).unwrap(), Vec::<u32>::new());
    }

    #[test]
    fn malformed_is_an_error() {
        for bad in [
            "",
            "vector,(0,1,3)",
            "(vec,(0,1,3))",
            "(vector,(0,1))",
            "(vector,(0,1,3,4))",
            "(vector,(0,1,x))",
            "(vector,(0,-1,3))",
            "(vector,(0,1,3)",
            "(vector,(0,0,3))",
            "(vector(0,1,3))",
        ] {
            assert!(parse_process_mapping(bad, 3).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn format_edge_cases() {
        assert_eq!(format_process_mapping(&[]), "(vector)");
        assert_eq!(format_process_mapping(&[5]), "(vector,(5,1,1))");
        assert_eq!(format_process_mapping(&[0, 0, 1, 1, 2]), "(vector,(0,2,2),(2,1,1))");
        assert_eq!(format_process_mapping(&[1, 0]), "(vector,(1,1,1),(0,1,1))");
    }
}
