//! Values longer than one PMI value: [`PmiClient::put_split`] /
//! [`PmiClient::get_split`].
//!
//! Slurm's `mpi/pmi2` plugin takes values of at most 1024 bytes (and PMI-1
//! puts must fit one 1024-byte line), and a node's staging buffer breaks on
//! much larger puts (PMI-FACTS.md quirk 7). A longer value is stored as
//! segments: `KEY#0`, `KEY#1`, ... each within the limit, and `KEY` itself
//! holds `rmpi-segments:N`. A value that fits is stored unchanged under
//! `KEY`, so short business cards cost one put and one get as before.

use crate::client::PmiClient;
use crate::error::PmiError;

/// Prefix of the value stored under `KEY` when the real value is split.
pub const SEGMENTS_MARK: &str = "rmpi-segments:";
/// Most segments one value may have (bounds what a reader fetches).
pub const MAX_SEGMENTS: usize = 1024;

fn segment_key(key: &str, i: usize) -> String {
    format!("{key}#{i}")
}

impl PmiClient {
    /// Stage `value` under `key` like [`put`](Self::put), splitting it into
    /// segments when it is longer than [`max_value_len`](Self::max_value_len)
    /// (or starts with the segment marker). The value must still be free of
    /// `;`, spaces and newlines; read it back with [`get_split`](Self::get_split).
    pub fn put_split(&mut self, key: &str, value: &str) -> Result<(), PmiError> {
        if value.len() <= self.max_value_len(key) && !value.starts_with(SEGMENTS_MARK) {
            return self.put(key, value);
        }
        // Every segment key is at most this long, so one size fits all.
        let longest_key = segment_key(key, MAX_SEGMENTS - 1);
        let per = self.max_value_len(&longest_key);
        if per == 0 {
            return Err(PmiError::Invalid { what: "key", text: key.into(), reason: "too long to split a value under" });
        }
        let mut pieces = Vec::new();
        let mut rest = value;
        while !rest.is_empty() {
            let mut cut = per.min(rest.len());
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            pieces.push(&rest[..cut]);
            rest = &rest[cut..];
        }
        if pieces.len() > MAX_SEGMENTS {
            return Err(PmiError::Invalid {
                what: "value",
                text: value.chars().take(80).collect(),
                reason: "needs more than MAX_SEGMENTS segments",
            });
        }
        for (i, piece) in pieces.iter().enumerate() {
            self.put(&segment_key(key, i), piece)?;
        }
        self.put(key, &format!("{SEGMENTS_MARK}{}", pieces.len()))
    }

    /// The value [`put_split`](Self::put_split) stored under `key` as of the
    /// last completed fence, joined from its segments; `None` when no rank
    /// put it. A missing segment is an error.
    pub fn get_split(&mut self, key: &str) -> Result<Option<String>, PmiError> {
        let Some(head) = self.get(key)? else { return Ok(None) };
        let Some(count) = head.strip_prefix(SEGMENTS_MARK) else { return Ok(Some(head)) };
        let n: usize =
            count.parse().ok().filter(|&n| n <= MAX_SEGMENTS).ok_or_else(|| {
                PmiError::Malformed(format!("{key}={head:?}: not a segment count up to {MAX_SEGMENTS}"))
            })?;
        let mut value = String::new();
        for i in 0..n {
            let k = segment_key(key, i);
            let piece = self.get(&k)?.ok_or_else(|| PmiError::Malformed(format!("segment {k} of {n} is missing")))?;
            value.push_str(&piece);
        }
        Ok(Some(value))
    }

    /// [`get_split`](Self::get_split) for several keys, with the heads
    /// fetched by [`get_many`](Self::get_many) (pipelined with PMI-2).
    pub fn get_split_many(&mut self, keys: &[String]) -> Result<Vec<Option<String>>, PmiError> {
        let mut values = self.get_many(keys)?;
        for (key, value) in keys.iter().zip(values.iter_mut()) {
            if value.as_deref().is_some_and(|v| v.starts_with(SEGMENTS_MARK)) {
                *value = self.get_split(key)?;
            }
        }
        Ok(values)
    }
}
