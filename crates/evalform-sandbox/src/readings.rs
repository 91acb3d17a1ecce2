//! Readings: where the vendor's sources disagree (the OpenAPI subset, the vendor's SDK and CLI, the usage notes),
//! the sandbox serves one reading by default and can be started with the other, so that clients are tested against
//! both. Each [`Reading`] names the alternative; an empty set is the default behaviour. `docs/sandbox.md` lists
//! every reading with its sources.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One alternative reading of a point the sources leave open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Reading {
    /// `GET .../folders` without `parent_path` lists only the top level (default: every depth).
    FoldersTopLevel,
    /// Result and run statuses are upper case and there is no `timeout` (a timed-out run reads `FAILED`)
    /// (default: lower case with `timeout`, as the OpenAPI has it).
    StatusUpper,
    /// `delete_scenarios` takes `{"scenario_ids": [...]}` with an optional scope, as the vendor CLI sends it
    /// (default: `{"scenarios": [...], "agent_id" | "project_id"}`).
    DeleteScenarioIds,
    /// `adv_update.scenarios` is a list of objects `[{"id": 1}, ...]`, as the vendor CLI's hint shows
    /// (default: a list of integer ids).
    AdvUpdateObjects,
    /// `adv_update` answers one `ScenarioList` object (the first updated evaluator), as the OpenAPI names it
    /// (default: a JSON array of every updated item).
    AdvUpdateObjectReply,
    /// Tool ids are spelt as the vendor CLI spells them (`end_call`, `dtmf`, ...: the catalog without `TOOL_`, in
    /// lower case, plus the CLI's own ids) (default: `TOOL_END_CALL`, ...).
    ToolsLowerCase,
    /// Create honours `first_message`, as the vendor CLI's interactive create sends it (default: read only on PUT).
    FirstMessageOnCreate,
    /// Tela's run bodies (`POST /test-case/{id}/run`, `POST /test-case/run-all`) require a string
    /// `promptVersionId`, as the reference marks them (default: optional; without one the prompt runs as it is).
    TelaRunRequiresVersion,
}

impl Reading {
    pub const ALL: [Reading; 8] = [
        Reading::FoldersTopLevel,
        Reading::StatusUpper,
        Reading::DeleteScenarioIds,
        Reading::AdvUpdateObjects,
        Reading::AdvUpdateObjectReply,
        Reading::ToolsLowerCase,
        Reading::FirstMessageOnCreate,
        Reading::TelaRunRequiresVersion,
    ];

    /// The name used on the command line (`evalform sandbox --reading NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Reading::FoldersTopLevel => "folders-top-level",
            Reading::StatusUpper => "status-upper",
            Reading::DeleteScenarioIds => "delete-scenario-ids",
            Reading::AdvUpdateObjects => "adv-update-objects",
            Reading::AdvUpdateObjectReply => "adv-update-object-reply",
            Reading::ToolsLowerCase => "tools-lower-case",
            Reading::FirstMessageOnCreate => "first-message-on-create",
            Reading::TelaRunRequiresVersion => "tela-run-requires-version",
        }
    }

    /// Every valid name, comma-separated, for error messages.
    pub fn names() -> String {
        Reading::ALL.map(Reading::name).join(", ")
    }
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reading `{name}` (valid: {valid})", valid = Reading::names())]
pub struct UnknownReading {
    pub name: String,
}

impl FromStr for Reading {
    type Err = UnknownReading;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reading::ALL.into_iter().find(|r| r.name() == s).ok_or_else(|| UnknownReading { name: s.to_string() })
    }
}

/// The readings a sandbox follows (empty: the default of every point).
pub type Readings = BTreeSet<Reading>;

/// The tool ids of the lower-case reading, in the vendor CLI's order.
pub const LOWER_CASE_TOOLS: [&str; 5] =
    ["dtmf", "receive_dtmf", "end_call", "end_call_only_on_transfer", "send_sms_tool_call"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_valid_ones() {
        for r in Reading::ALL {
            assert_eq!(r.name().parse::<Reading>(), Ok(r));
        }
        let err = "nope".parse::<Reading>().unwrap_err().to_string();
        assert!(err.starts_with("unknown reading `nope` (valid: folders-top-level, status-upper,"), "{err}");
    }
}
