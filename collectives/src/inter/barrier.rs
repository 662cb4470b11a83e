//! Intercommunicator barrier: the intra-communicator barrier over the
//! union of both groups (no process leaves before every process of both
//! groups has entered, which is MPI's requirement).

use super::{embed_over, Sides};
use crate::schedule::ScheduleBuilder;
use crate::select::{CollArgs, CollectiveKind};
use crate::CollError;

/// Registry key.
pub const KEY: &str = "inter_barrier:union";

/// Adds the barrier to `b`.
pub fn build_into(b: &mut ScheduleBuilder, sides: Sides) -> Result<(), CollError> {
    let all: Vec<usize> = (0..sides.size()).collect();
    embed_over(b, &all, CollectiveKind::Barrier, CollArgs::default(), 0, None)?;
    Ok(())
}
