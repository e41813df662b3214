//! `sockcheck explain`'s pure parts: a case told in plain words beside what its fixture
//! expects ([`words`]), a run's every chunk as a hexdump ([`wire`]), and a standalone
//! Python 3 script that plays the peer's side of the case ([`peer_script`]). They read a
//! case through [`crate::syntax::Action`], so no family is named here; the command that
//! prints them (and runs the case for `--verbose`) is `cli/explain.rs`.

pub mod peer_script;
pub mod wire;
pub mod words;

use crate::catalog::Suite;
use crate::observation::Observation;
use crate::script::Case;

/// What the fixture expects of each step (`None` for a step that observes nothing), or why
/// there is nothing to read: no fixture, or one that does not belong to the case.
pub fn expectations(suite: &Suite, case: &Case) -> Result<Vec<Option<Observation>>, String> {
    let fixture = suite.fixtures.get(&case.name).ok_or_else(|| {
        format!(
            "no fixture `fixtures/{}/{}.snap` (record it from the reference)",
            suite.info.id, case.name
        )
    })?;
    fixture.expectations(case).map_err(|stale| {
        format!("the fixture does not belong to this case ({stale}): record it again")
    })
}
