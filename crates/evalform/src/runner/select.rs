//! Which evaluators a run covers: those the manifests declare, narrowed by `--tags`, `--folder` and `--name`, each
//! resolved to its platform id through the agent's evaluator list (by `id` pin, else by name).
//!
//! Pure: the caller reads the lists. A field the manifest does not manage (no `tags:`, no `folder:`) is judged by
//! the platform's value, since that is what the run will use. A selected evaluator that is not on the platform is
//! an error listing every such evaluator; this module never selects an evaluator the manifests do not declare.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cekura::wire::ScenarioListItem;
use crate::model::{AgentId, Evaluator, SourceSpan, State};

/// The filters of `evalform run`; an empty selection takes every declared evaluator.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Any of these tags.
    pub tags: Vec<String>,
    /// This folder (dot path) or one below it.
    pub folder: Option<String>,
    /// A glob on the evaluator's name.
    pub name: Option<glob::Pattern>,
}

impl Selection {
    pub fn new(tags: Vec<String>, folder: Option<String>, name: Option<&str>) -> Result<Self, SelectError> {
        let name = name
            .map(|p| {
                glob::Pattern::new(p)
                    .map_err(|e| SelectError::BadPattern { pattern: p.to_string(), reason: e.msg.to_string() })
            })
            .transpose()?;
        let tags = tags.into_iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
        let folder = folder.map(|f| f.trim_matches('.').to_string()).filter(|f| !f.is_empty());
        Ok(Selection { tags, folder, name })
    }

    fn matches(&self, name: &str, folder: Option<&str>, tags: &[&str]) -> bool {
        let by_name = self.name.as_ref().is_none_or(|p| p.matches(name));
        let by_tags = self.tags.is_empty() || self.tags.iter().any(|t| tags.contains(&t.as_str()));
        let by_folder = self.folder.as_deref().is_none_or(|want| {
            folder.is_some_and(|f| f == want || f.strip_prefix(want).is_some_and(|rest| rest.starts_with('.')))
        });
        by_name && by_tags && by_folder
    }

    /// Whether the selection takes `evaluator` as the manifests declare it (for what runs the manifests' own text:
    /// `export`, `test`). A field the manifest does not manage counts as empty.
    pub fn takes_declared(&self, evaluator: &Evaluator) -> bool {
        selected(self, evaluator, None)
    }

    /// The selection as the user typed it, for messages.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.tags.is_empty() {
            parts.push(format!("--tags {}", self.tags.join(",")));
        }
        if let Some(f) = &self.folder {
            parts.push(format!("--folder {f}"));
        }
        if let Some(n) = &self.name {
            parts.push(format!("--name {}", n.as_str()));
        }
        if parts.is_empty() {
            "all declared evaluators".into()
        } else {
            parts.join(" ")
        }
    }
}

/// One evaluator a run covers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    pub id: u64,
    pub name: String,
    /// Where the manifests declare it (`FILE:LINE:COLUMN`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The evaluators of one agent a run covers, in declaration order: one `run_scenarios` call.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentTargets {
    pub agent: AgentId,
    pub project: Option<u64>,
    pub targets: Vec<Target>,
}

/// A selected evaluator that the platform does not have.
#[derive(Debug, Clone, PartialEq)]
pub struct Missing {
    pub agent: AgentId,
    pub name: String,
    pub pinned: Option<u64>,
    pub source: Option<SourceSpan>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SelectError {
    #[error("--name {pattern:?} is not a valid glob: {reason}")]
    BadPattern { pattern: String, reason: String },
    #[error("{} selected evaluator{} not on the platform", missing.len(), if missing.len() == 1 { " is" } else { "s are" })]
    NotOnPlatform { missing: Vec<Missing> },
    #[error("no declared evaluator matches {selection}")]
    NothingSelected { selection: String },
}

impl Missing {
    /// `"Refund request" of agent 101 (evaluators.yaml:12:7)`.
    pub fn describe(&self) -> String {
        let pin = self.pinned.map(|id| format!(" (id {id})")).unwrap_or_default();
        let at = self.source.as_ref().map(|s| format!(", declared at {s}")).unwrap_or_default();
        format!("{:?}{pin} of agent {}{at}", self.name, self.agent)
    }
}

/// The platform's evaluators of every agent the manifests declare evaluators for: what [`select`] resolves
/// names and pins against. One list read per agent, the agents' lists read at once; the first agent's error (in
/// agent order) when several fail.
pub async fn list_declared_agents(
    client: &crate::cekura::CekuraClient,
    state: &State,
) -> Result<BTreeMap<AgentId, Vec<ScenarioListItem>>, crate::http::ApiError> {
    let agents = state.agents.values().filter(|a| !a.evaluators.is_empty()).map(|a| a.agent);
    super::read_each(agents, "/test_framework/v1/scenarios/", |agent| {
        let client = client.clone();
        async move { client.list_scenarios(agent).await }
    })
    .await
}

/// The targets of every agent the manifests name, from `remote` (each agent's evaluator list). Agents with no
/// selected evaluator are left out.
pub fn select(
    state: &State,
    remote: &BTreeMap<AgentId, Vec<ScenarioListItem>>,
    selection: &Selection,
) -> Result<Vec<AgentTargets>, SelectError> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for (agent, desired) in &state.agents {
        let listed = remote.get(agent).map(Vec::as_slice).unwrap_or_default();
        let mut targets = Vec::new();
        for evaluator in &desired.evaluators {
            let found = find(evaluator, listed);
            if !selected(selection, evaluator, found) {
                continue;
            }
            match found {
                Some(item) => targets.push(Target {
                    id: item.id,
                    name: evaluator.name.clone(),
                    source: evaluator.source.as_ref().map(ToString::to_string),
                }),
                None => missing.push(Missing {
                    agent: *agent,
                    name: evaluator.name.clone(),
                    pinned: evaluator.id,
                    source: evaluator.source.clone(),
                }),
            }
        }
        if !targets.is_empty() {
            out.push(AgentTargets { agent: *agent, project: desired.project, targets });
        }
    }
    if !missing.is_empty() {
        return Err(SelectError::NotOnPlatform { missing });
    }
    if out.is_empty() {
        return Err(SelectError::NothingSelected { selection: selection.describe() });
    }
    Ok(out)
}

/// The platform's evaluator for a declared one: the `id` pin decides when there is one, else the name.
fn find<'a>(evaluator: &Evaluator, listed: &'a [ScenarioListItem]) -> Option<&'a ScenarioListItem> {
    match evaluator.id {
        Some(id) => listed.iter().find(|i| i.id == id),
        None => listed.iter().find(|i| i.name == evaluator.name),
    }
}

fn selected(selection: &Selection, evaluator: &Evaluator, remote: Option<&ScenarioListItem>) -> bool {
    let spec = &evaluator.spec;
    let folder = match (&spec.folder, remote) {
        (Some(f), _) => Some(f.as_str()).filter(|f| !f.is_empty()),
        (None, Some(r)) => r.folder_path.as_deref().filter(|f| !f.is_empty()),
        (None, None) => None,
    };
    let tags: Vec<&str> = match (&spec.tags, remote) {
        (Some(t), _) => t.iter().map(String::as_str).collect(),
        (None, Some(r)) => r.tags.iter().map(String::as_str).collect(),
        (None, None) => Vec::new(),
    };
    selection.matches(&evaluator.name, folder, &tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AgentState, EvaluatorSpec};

    fn evaluator(name: &str, id: Option<u64>, tags: Option<&[&str]>, folder: Option<&str>) -> Evaluator {
        Evaluator {
            id,
            name: name.into(),
            spec: EvaluatorSpec {
                tags: tags.map(|t| t.iter().map(|s| s.to_string()).collect()),
                folder: folder.map(str::to_string),
                ..EvaluatorSpec::default()
            },
            ignore_changes: Default::default(),
            source: Some(SourceSpan { file: "a.yaml".into(), line: 3, column: 7 }),
        }
    }

    fn item(id: u64, name: &str, tags: &[&str], folder: Option<&str>) -> ScenarioListItem {
        serde_json::from_value(serde_json::json!({"id": id, "name": name, "tags": tags, "folder_path": folder}))
            .unwrap()
    }

    fn world() -> (State, BTreeMap<AgentId, Vec<ScenarioListItem>>) {
        let mut state = State::default();
        state.agents.insert(
            101,
            AgentState {
                agent: 101,
                evaluators: vec![
                    evaluator("Order status", None, Some(&["smoke"]), Some("Sales.Inbound")),
                    evaluator("Renamed here", Some(7), None, None),
                    evaluator("Refund", None, Some(&["slow"]), Some("Salesforce")),
                ],
                ..AgentState::default()
            },
        );
        let remote = BTreeMap::from([(
            101,
            vec![
                item(5, "Order status", &["smoke"], Some("Sales.Inbound")),
                item(7, "Old name", &["smoke", "nightly"], Some("Sales")),
                item(9, "Refund", &["slow"], Some("Salesforce")),
                item(11, "Undeclared", &["smoke"], None),
            ],
        )]);
        (state, remote)
    }

    fn ids(sel: Selection) -> Result<Vec<u64>, SelectError> {
        let (state, remote) = world();
        select(&state, &remote, &sel).map(|a| a.iter().flat_map(|a| a.targets.iter().map(|t| t.id)).collect())
    }

    #[test]
    fn selects_declared_evaluators_only_by_pin_or_name() {
        assert_eq!(ids(Selection::default()), Ok(vec![5, 7, 9]));
    }

    #[test]
    fn unmanaged_tags_and_folders_are_judged_by_the_platform() {
        let smoke = Selection::new(vec!["smoke".into()], None, None).unwrap();
        assert_eq!(ids(smoke), Ok(vec![5, 7]));
        let sales = Selection::new(vec![], Some("Sales".into()), None).unwrap();
        assert_eq!(ids(sales), Ok(vec![5, 7]), "Salesforce is not below Sales");
        let name = Selection::new(vec![], None, Some("Re*")).unwrap();
        assert_eq!(ids(name), Ok(vec![7, 9]));
    }

    #[test]
    fn missing_and_empty_selections_are_errors() {
        let (mut state, remote) = world();
        state.agents.get_mut(&101).unwrap().evaluators.push(evaluator("New one", None, Some(&["smoke"]), None));
        let sel = Selection::new(vec!["smoke".into()], None, None).unwrap();
        let err = select(&state, &remote, &sel).unwrap_err();
        assert_eq!(err.to_string(), "1 selected evaluator is not on the platform");
        let SelectError::NotOnPlatform { missing } = err else { panic!() };
        assert_eq!(missing[0].describe(), "\"New one\" of agent 101, declared at a.yaml:3:7");
        let none = Selection::new(vec!["nope".into()], None, Some("x*")).unwrap();
        assert_eq!(
            select(&state, &remote, &none).unwrap_err().to_string(),
            "no declared evaluator matches --tags nope --name x*"
        );
        assert!(Selection::new(vec![], None, Some("[")).is_err());
    }
}
