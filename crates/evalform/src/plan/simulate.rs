//! A model of the platform's write semantics: applies a plan's calls, in order, to an observed [`State`] and
//! returns the state the platform would then report.
//!
//! It exists to test plans without a server (the planner's property tests, and later the executor's): append
//! concatenates, metric add/remove are set operations, `adv_update` with `agent` moves evaluators to that
//! agent, PATCH cannot set first_message/max_duration/language, folders must exist before use. It checks what
//! the platform would reject (a missing folder, a create without personality, an unknown id, a dependency that
//! points forward) and reports it as a [`SimError`]. It is a model, not the sandbox: no HTTP, no persistence.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    BulkScope, BulkUpdate, Call, EvaluatorBody, EvaluatorRef, Information, Plan, TestCaseBody, TestProfileRef,
};
use crate::model::{
    normalize_long_text, AgentId, AgentState, Evaluator, EvaluatorSpec, MetricRef, NamedRef, ProfileRef, Script, State,
    TestCase, TestProfile, Text,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("operation {op}: depends on operation {dep}, which does not run before it")]
    ForwardDependency { op: usize, dep: usize },
    #[error("operation {op}: no evaluator {what}")]
    UnknownEvaluator { op: usize, what: String },
    #[error("operation {op}: no test profile {what}")]
    UnknownTestProfile { op: usize, what: String },
    #[error("operation {op}: folder `{path}` does not exist")]
    MissingFolder { op: usize, path: String },
    #[error("operation {op}: {message}")]
    Rejected { op: usize, message: String },
}

/// Language, max duration and the like that a new evaluator gets when create does not set them.
pub const DEFAULT_LANGUAGE: &str = "en";
pub const DEFAULT_MAX_DURATION: u32 = 300;

/// The platform after `plan` ran on `observed`.
pub fn apply(observed: &State, plan: &Plan) -> Result<State, SimError> {
    let mut sim = Simulator::new(observed.clone());
    for (i, op) in plan.operations.iter().enumerate() {
        if let Some(dep) = op.depends_on.iter().find(|d| **d >= i) {
            return Err(SimError::ForwardDependency { op: i, dep: *dep });
        }
        sim.call(i, &op.call)?;
    }
    Ok(sim.state)
}

/// The platform model. `state` is what a fetch would return now.
#[derive(Debug, Clone)]
pub struct Simulator {
    pub state: State,
    next_id: u64,
    created_evaluators: BTreeMap<String, u64>,
    created_profiles: BTreeMap<String, u64>,
    created_metrics: BTreeMap<String, u64>,
}

impl Simulator {
    pub fn new(state: State) -> Self {
        let max_id = state
            .agents
            .values()
            .flat_map(|a| a.evaluators.iter().filter_map(|e| e.id).chain(a.test_profiles.iter().filter_map(|p| p.id)))
            .max()
            .unwrap_or(0);
        Simulator {
            state,
            next_id: max_id.max(100_000) + 1,
            created_evaluators: BTreeMap::new(),
            created_profiles: BTreeMap::new(),
            created_metrics: BTreeMap::new(),
        }
    }

    /// The id given to a resource this simulator created, by the name the plan used.
    pub fn created_id(&self, r: super::CreatedRef<'_>) -> Option<u64> {
        match r {
            super::CreatedRef::Evaluator(n) => self.created_evaluators.get(n).copied(),
            super::CreatedRef::TestProfile(n) => self.created_profiles.get(n).copied(),
            super::CreatedRef::Metric(n) => self.created_metrics.get(n).copied(),
        }
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn evaluator_id(&self, op: usize, r: &EvaluatorRef) -> Result<u64, SimError> {
        match r {
            EvaluatorRef::Id(id) => Ok(*id),
            EvaluatorRef::Created(n) => self
                .created_evaluators
                .get(n)
                .copied()
                .ok_or_else(|| SimError::UnknownEvaluator { op, what: format!("created as \"{n}\"") }),
        }
    }

    fn profile_id(&self, op: usize, r: &TestProfileRef) -> Result<u64, SimError> {
        match r {
            TestProfileRef::Id(id) => Ok(*id),
            TestProfileRef::Created(n) => self
                .created_profiles
                .get(n)
                .copied()
                .ok_or_else(|| SimError::UnknownTestProfile { op, what: format!("created as \"{n}\"") }),
        }
    }

    fn locate(&self, op: usize, id: u64) -> Result<(AgentId, usize), SimError> {
        self.state
            .agents
            .iter()
            .find_map(|(a, st)| st.evaluators.iter().position(|e| e.id == Some(id)).map(|i| (*a, i)))
            .ok_or_else(|| SimError::UnknownEvaluator { op, what: format!("with id {id}") })
    }

    fn check_folder(&self, op: usize, agent: AgentId, path: &str) -> Result<(), SimError> {
        let exists = path.is_empty() || self.state.agents.get(&agent).is_some_and(|a| a.folders.contains(path));
        if exists {
            Ok(())
        } else {
            Err(SimError::MissingFolder { op, path: path.to_string() })
        }
    }

    fn agent_mut(&mut self, agent: AgentId) -> &mut AgentState {
        self.state.agents.entry(agent).or_insert_with(|| AgentState { agent, ..AgentState::default() })
    }

    /// Apply one call, as the platform would.
    pub fn call(&mut self, op: usize, call: &Call) -> Result<(), SimError> {
        match call {
            Call::CreateFolder { project, name, parent_path } => {
                self.create_folder(op, *project, name, parent_path.as_deref())
            }
            Call::RenameFolder { path, name, .. } => {
                let to = match path.rsplit_once('.') {
                    Some((parent, _)) => format!("{parent}.{name}"),
                    None => name.clone(),
                };
                self.move_folder_tree(path, &to);
                Ok(())
            }
            Call::MoveFolder { path, new_parent_path, .. } => {
                let leaf = path.rsplit_once('.').map_or(path.as_str(), |(_, l)| l);
                let to = match new_parent_path {
                    Some(p) => format!("{p}.{leaf}"),
                    None => leaf.to_string(),
                };
                self.move_folder_tree(path, &to);
                Ok(())
            }
            Call::DeleteFolder { path, .. } => {
                self.delete_folder_tree(op, path)?;
                Ok(())
            }
            Call::CreateTestProfile { agent, name, information } => {
                let id = self.fresh_id();
                self.created_profiles.insert(name.clone(), id);
                let p = TestProfile {
                    id: Some(id),
                    name: name.clone(),
                    information: Some(information.clone()),
                    source: None,
                };
                self.agent_mut(*agent).test_profiles.push(p);
                Ok(())
            }
            Call::UpdateTestProfile { id, name, information } => {
                self.update_test_profile(op, *id, name.as_ref(), information.as_ref())
            }
            Call::DeleteTestProfile { id } => self.delete_test_profile(op, *id),
            Call::CreateEvaluator { agent, body } => self.create_evaluator(op, *agent, body),
            Call::PatchEvaluator { evaluator, body } => self.patch_evaluator(op, evaluator, body),
            Call::AdoptEvaluator { id } => {
                let (agent, _) = self.locate(op, *id)?;
                self.agent_mut(agent).owned.insert(*id);
                Ok(())
            }
            Call::SetLanguage { evaluator, language } => {
                let id = self.evaluator_id(op, evaluator)?;
                let (agent, i) = self.locate(op, id)?;
                self.agent_mut(agent).evaluators[i].spec.language = Some(language.clone());
                Ok(())
            }
            Call::BulkUpdate(b) => self.bulk_update(op, b),
            Call::DeleteEvaluators { agent, ids } => self.delete_evaluators(op, *agent, ids),
            Call::CreateTestCases { prompt, cases } => {
                self.create_test_cases(prompt, cases);
                Ok(())
            }
            Call::PatchTestCase { id, body } => self.patch_test_case(op, id, body),
            Call::DeleteTestCase { id } => {
                for p in self.state.prompts.values_mut() {
                    p.test_cases.retain(|c| c.id.as_deref() != Some(id.as_str()));
                }
                Ok(())
            }
            Call::CreateSchedule { agent, body } => {
                let id = self.fresh_id();
                let name = body.name.clone().unwrap_or_default();
                let s = crate::model::Schedule { id: Some(id), name, spec: Default::default(), source: None };
                self.agent_mut(*agent).schedules.push(s);
                self.patch_schedule(op, id, body)
            }
            Call::UpdateSchedule { id, body } => self.patch_schedule(op, *id, body),
            Call::CreateMetric { agent, body, shared_with, .. } => {
                let id = self.fresh_id();
                let name = body.name.clone().unwrap_or_default();
                self.created_metrics.insert(name.clone(), id);
                let mut m = crate::model::Metric {
                    id: Some(id),
                    name,
                    spec: Default::default(),
                    source: None,
                    configuration: body.configuration.clone(),
                };
                patch_metric(&mut m, body);
                // Every agent of the project lists the project's metrics.
                for agent in std::iter::once(agent).chain(shared_with) {
                    let a = self.agent_mut(*agent);
                    a.metrics.push(m.clone());
                    a.owned_metrics.insert(id);
                }
                Ok(())
            }
            Call::UpdateMetric { id, body } => {
                // Every agent of the project lists the project's metric: each copy changes.
                let mut found = false;
                for a in self.state.agents.values_mut() {
                    let Some(i) = a.metrics.iter().position(|m| m.id == Some(*id)) else { continue };
                    found = true;
                    patch_metric(&mut a.metrics[i], body);
                    if body.configuration.is_some() {
                        a.owned_metrics.insert(*id);
                    }
                }
                if !found {
                    return Err(SimError::Rejected { op, message: format!("no metric with id {id}") });
                }
                Ok(())
            }
            Call::DeleteMetric { id } => {
                for a in self.state.agents.values_mut() {
                    a.metrics.retain(|m| m.id != Some(*id));
                    for e in &mut a.evaluators {
                        if let Some(ms) = &mut e.spec.metrics {
                            ms.remove(&MetricRef::Id(*id));
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// A cron job create or PATCH: every field it sends; evaluators by their names.
    fn patch_schedule(&mut self, op: usize, id: u64, body: &super::ScheduleBody) -> Result<(), SimError> {
        let mut names = None;
        if let Some(refs) = &body.scenarios {
            let mut set = BTreeSet::new();
            for r in refs {
                let eid = self.evaluator_id(op, r)?;
                let (agent, i) = self.locate(op, eid)?;
                set.insert(self.agent_mut(agent).evaluators[i].name.clone());
            }
            names = Some(set);
        }
        let found = self.state.agents.values_mut().find_map(|a| a.schedules.iter_mut().find(|s| s.id == Some(id)));
        let Some(s) = found else {
            return Err(SimError::Rejected { op, message: format!("no schedule with id {id}") });
        };
        if let Some(n) = &body.name {
            s.name = n.clone();
        }
        if body.crontab_expression.is_some() {
            s.spec.cron.clone_from(&body.crontab_expression);
        }
        if names.is_some() {
            s.spec.evaluators = names;
        }
        if let Some(t) = &body.tags {
            s.spec.tags = Some(t.iter().cloned().collect());
        }
        if body.execution_mode.is_some() {
            s.spec.mode.clone_from(&body.execution_mode);
        }
        if body.is_active.is_some() {
            s.spec.active = body.is_active;
        }
        Ok(())
    }

    /// A folder, its subfolders and every evaluator in them, gone (of every agent: folders are the project's).
    fn delete_folder_tree(&mut self, op: usize, path: &str) -> Result<(), SimError> {
        if !self.state.agents.values().any(|a| a.folders.contains(path)) {
            return Err(SimError::MissingFolder { op, path: path.to_string() });
        }
        let inside = |f: &str| crate::plan::folders::within(f, path);
        for a in self.state.agents.values_mut() {
            a.folders.retain(|f| !inside(f));
            a.evaluators.retain(|e| !e.spec.folder.as_deref().is_some_and(inside));
        }
        Ok(())
    }

    /// A folder, its subfolders and their evaluators, from path `from` to path `to`.
    fn move_folder_tree(&mut self, from: &str, to: &str) {
        for a in self.state.agents.values_mut() {
            a.folders = a.folders.iter().map(|f| crate::plan::folders::moved(f, from, to)).collect();
            for e in &mut a.evaluators {
                if let Some(f) = &mut e.spec.folder {
                    *f = crate::plan::folders::moved(f, from, to);
                }
            }
        }
    }

    fn create_folder(
        &mut self,
        op: usize,
        project: u64,
        name: &str,
        parent_path: Option<&str>,
    ) -> Result<(), SimError> {
        let path = match parent_path {
            Some(p) => format!("{p}.{name}"),
            None => name.to_string(),
        };
        let agents: Vec<AgentId> =
            self.state.agents.iter().filter(|(_, a)| a.project == Some(project)).map(|(id, _)| *id).collect();
        if agents.is_empty() {
            return Err(SimError::Rejected { op, message: format!("no agent in project {project}") });
        }
        for a in agents {
            if let Some(p) = parent_path {
                self.check_folder(op, a, p)?;
            }
            self.agent_mut(a).folders.insert(path.clone());
        }
        Ok(())
    }

    fn update_test_profile(
        &mut self,
        op: usize,
        id: u64,
        name: Option<&String>,
        information: Option<&Information>,
    ) -> Result<(), SimError> {
        let p = self
            .state
            .agents
            .values_mut()
            .flat_map(|a| a.test_profiles.iter_mut())
            .find(|p| p.id == Some(id))
            .ok_or_else(|| SimError::UnknownTestProfile { op, what: format!("with id {id}") })?;
        if let Some(n) = name {
            p.name = n.clone();
        }
        if let Some(i) = information {
            p.information = Some(i.clone());
        }
        Ok(())
    }

    fn delete_test_profile(&mut self, op: usize, id: u64) -> Result<(), SimError> {
        let mut found = false;
        for a in self.state.agents.values_mut() {
            let before = a.test_profiles.len();
            a.test_profiles.retain(|p| p.id != Some(id));
            found |= a.test_profiles.len() != before;
        }
        if !found {
            return Err(SimError::UnknownTestProfile { op, what: format!("with id {id}") });
        }
        Ok(())
    }

    fn create_evaluator(&mut self, op: usize, agent: AgentId, body: &EvaluatorBody) -> Result<(), SimError> {
        let name = body.name.clone().ok_or(SimError::Rejected { op, message: "create without name".into() })?;
        if body.personality.is_none() {
            return Err(SimError::Rejected { op, message: "create without personality".into() });
        }
        let folder = body.folder_path.clone().unwrap_or_default();
        self.check_folder(op, agent, &folder)?;
        let mut spec = EvaluatorSpec {
            folder: Some(String::new()),
            script: Some(Script::Text(Text::new(""))),
            instruction_parts: None,
            expected_outcome: Some(Text::new("")),
            first_message: Some(Text::new("")),
            personality: None,
            test_profile: None,
            metrics: Some(crate::model::SmallSet::new()),
            tools: Some(crate::model::SmallSet::new()),
            tags: Some(crate::model::SmallSet::new()),
            language: Some(DEFAULT_LANGUAGE.into()),
            max_duration: Some(DEFAULT_MAX_DURATION),
            phone_number: None,
        };
        self.write_body(op, &mut spec, body)?;
        let id = self.fresh_id();
        self.created_evaluators.insert(name.clone(), id);
        let e = Evaluator { id: Some(id), name, spec, ignore_changes: BTreeSet::new(), source: None };
        // Every create carries the ownership tag (see `plan::wire`).
        self.agent_mut(agent).owned.insert(id);
        self.agent_mut(agent).evaluators.push(e);
        Ok(())
    }

    fn patch_evaluator(&mut self, op: usize, evaluator: &EvaluatorRef, body: &EvaluatorBody) -> Result<(), SimError> {
        let id = self.evaluator_id(op, evaluator)?;
        let (agent, i) = self.locate(op, id)?;
        if body.tags.is_some() {
            // A write of `tags` carries the ownership tag.
            self.agent_mut(agent).owned.insert(id);
        }
        if let Some(f) = &body.folder_path {
            self.check_folder(op, agent, f)?;
        }
        let mut e = self.state.agents[&agent].evaluators[i].clone();
        if let Some(n) = &body.name {
            e.name = n.clone();
        }
        self.write_body(op, &mut e.spec, body)?;
        self.agent_mut(agent).evaluators[i] = e;
        Ok(())
    }

    fn bulk_update(&mut self, op: usize, b: &BulkUpdate) -> Result<(), SimError> {
        let profile = b.test_profile.as_ref().map(|p| self.profile_id(op, p)).transpose()?;
        for r in &b.scenarios {
            let id = self.evaluator_id(op, r)?;
            let (mut agent, i) = self.locate(op, id)?;
            if let BulkScope::Agent(to) = b.scope {
                if to != agent {
                    // The trap the planner must avoid: `agent` moves the evaluator.
                    let e = self.agent_mut(agent).evaluators.remove(i);
                    self.agent_mut(to).evaluators.push(e);
                    agent = to;
                }
            }
            if let Some(f) = &b.folder_path {
                self.check_folder(op, agent, f)?;
            }
            let (_, i) = self.locate(op, id)?;
            let mut created_ids = Vec::new();
            for name in &b.created_metrics_to_add {
                let id = self
                    .created_metrics
                    .get(name)
                    .ok_or_else(|| SimError::Rejected { op, message: format!("no metric created as \"{name}\"") })?;
                created_ids.push(MetricRef::Id(*id));
            }
            let s = &mut self.agent_mut(agent).evaluators[i].spec;
            let metrics = s.metrics.get_or_insert_with(crate::model::SmallSet::new);
            metrics.extend(b.metric_ids_to_add.iter().map(|m| MetricRef::Id(*m)));
            metrics.extend(created_ids);
            metrics.retain(|m| !matches!(m, MetricRef::Id(id) if b.metric_ids_to_remove.contains(id)));
            if let Some(p) = b.personality {
                s.personality = Some(NamedRef::Id(p));
            }
            if let Some(p) = profile {
                s.test_profile = Some(ProfileRef::Id(p));
            }
            if let Some(tail) = &b.append_instruction {
                match &mut s.script {
                    Some(Script::Text(t)) => {
                        *t = Text::new(normalize_long_text(&format!("{}{}", t.expose(), tail.expose())))
                    }
                    _ => return Err(SimError::Rejected { op, message: "append to a non-text script".into() }),
                }
            }
            if let Some(v) = &b.first_message {
                s.first_message = Some(Text::new(v.expose()));
            }
            if let Some(v) = b.phone_number {
                s.phone_number = Some(v);
            }
            if let Some(v) = &b.folder_path {
                s.folder = Some(v.clone());
            }
            if let Some(v) = b.max_duration {
                s.max_duration = Some(v);
            }
        }
        Ok(())
    }

    fn delete_evaluators(&mut self, op: usize, agent: AgentId, ids: &[u64]) -> Result<(), SimError> {
        for id in ids {
            let (a, i) = self.locate(op, *id)?;
            if a != agent {
                return Err(SimError::Rejected { op, message: format!("evaluator {id} is not in agent {agent}") });
            }
            self.agent_mut(a).evaluators.remove(i);
        }
        Ok(())
    }

    fn create_test_cases(&mut self, prompt: &str, cases: &[TestCaseBody]) {
        let p = self.state.prompts.entry(prompt.to_string()).or_default();
        p.prompt = prompt.to_string();
        for c in cases {
            let n = p.test_cases.len();
            p.test_cases.push(TestCase {
                id: Some(format!("case-{n}")),
                title: c.title.clone().unwrap_or_default(),
                messages: Some(c.messages.clone().unwrap_or_default()),
                variables: Some(c.variables.clone().unwrap_or_default()),
                expected_output: Some(c.expected_output.clone().unwrap_or_default()),
                source: None,
            });
        }
    }

    fn patch_test_case(&mut self, op: usize, id: &str, body: &TestCaseBody) -> Result<(), SimError> {
        let case = self
            .state
            .prompts
            .values_mut()
            .flat_map(|p| p.test_cases.iter_mut())
            .find(|c| c.id.as_deref() == Some(id))
            .ok_or_else(|| SimError::Rejected { op, message: format!("no test case {id}") })?;
        if let Some(t) = &body.title {
            case.title = t.clone();
        }
        if let Some(m) = &body.messages {
            case.messages = Some(m.clone());
        }
        if let Some(v) = &body.variables {
            case.variables = Some(v.clone());
        }
        if let Some(e) = &body.expected_output {
            case.expected_output = Some(e.clone());
        }
        Ok(())
    }

    /// The fields a create or PATCH body sets (never first_message, max_duration or language: the API ignores
    /// them on these routes).
    fn write_body(&self, op: usize, s: &mut EvaluatorSpec, body: &EvaluatorBody) -> Result<(), SimError> {
        if let Some(p) = body.personality {
            s.personality = Some(NamedRef::Id(p));
        }
        if let Some(t) = &body.instructions {
            s.script = Some(Script::Text(Text::new(t.expose())));
        }
        if let Some(f) = &body.conditional_actions {
            s.script = Some(Script::Flow(f.clone()));
        }
        if let Some(t) = &body.expected_outcome_prompt {
            s.expected_outcome = Some(Text::new(t.expose()));
        }
        if let Some(m) = &body.metrics {
            s.metrics = Some(m.iter().map(|id| MetricRef::Id(*id)).collect());
        }
        if let Some(t) = &body.tags {
            s.tags = Some(t.iter().cloned().collect());
        }
        if let Some(t) = &body.tool_ids {
            s.tools = Some(t.iter().cloned().collect());
        }
        if let Some(p) = &body.test_profile {
            s.test_profile = Some(ProfileRef::Id(self.profile_id(op, p)?));
        }
        if let Some(p) = body.phone_number {
            s.phone_number = Some(p);
        }
        if let Some(f) = &body.folder_path {
            s.folder = Some(f.clone());
        }
        Ok(())
    }
}

/// What a metric create or PATCH changes: every field it sends.
fn patch_metric(m: &mut crate::model::Metric, body: &super::MetricBody) {
    if let Some(n) = &body.name {
        m.name = n.clone();
    }
    let s = &mut m.spec;
    let set = |slot: &mut Option<String>, v: &Option<String>| {
        if v.is_some() {
            slot.clone_from(v);
        }
    };
    set(&mut s.kind, &body.kind);
    set(&mut s.eval_type, &body.eval_type);
    set(&mut s.evaluation_trigger, &body.evaluation_trigger);
    if let Some(d) = &body.description {
        s.description = Some(Text::new(normalize_long_text(d.expose())));
    }
    if let Some(c) = &body.custom_code {
        s.custom_code = Some(Text::new(normalize_long_text(c.expose())));
    }
    if body.enum_values.is_some() {
        s.enum_values.clone_from(&body.enum_values);
    }
    if body.simulation_enabled.is_some() {
        s.simulation_enabled = body.simulation_enabled;
    }
    if body.observability_enabled.is_some() {
        s.observability_enabled = body.observability_enabled;
    }
}
