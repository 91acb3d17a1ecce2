//! Planning for Tela prompt test cases: matched by title within the prompt, new cases created in one call per
//! prompt, changed cases patched with only their changed fields.
//!
//! With `prune: true`, a remote case that no manifest declares is deleted (`DELETE /test-case/{id}`) when evalform
//! created it (its `metadata` carries `{"managed_by": "evalform"}`, which every create sends); any other is listed
//! as not managed, never deleted.

use std::collections::BTreeMap;

use super::build::{map_changes, Builder};
use super::target::Selection;
use super::{Action, Call, FieldChange, FieldValue, PlanError, TestCaseBody, Unmanaged};
use crate::model::{Address, Message, State, TestCase, Text};

pub(super) fn plan_prompts(
    desired: &State,
    observed: &State,
    selection: &Selection,
    b: &mut Builder,
    errors: &mut Vec<PlanError>,
) {
    for (prompt, want) in &desired.prompts {
        let have: &[TestCase] = observed.prompts.get(prompt).map(|p| p.test_cases.as_slice()).unwrap_or_default();
        let mut titled: BTreeMap<&str, Vec<&TestCase>> = BTreeMap::new();
        for c in have {
            titled.entry(c.title.as_str()).or_default().push(c);
        }
        // A declared title the platform has twice: which copy to change is not evalform's guess to make.
        for case in &want.test_cases {
            if let Some(copies) = titled.get(case.title.as_str()).filter(|c| c.len() > 1) {
                errors.push(PlanError::DuplicateRemoteTitle {
                    address: Address::TestCase { prompt: prompt.clone(), title: case.title.clone() },
                    location: case.source.clone(),
                    ids: copies.iter().filter_map(|c| c.id.clone()).collect(),
                });
            }
        }
        let by_title: BTreeMap<&str, &TestCase> = have.iter().map(|c| (c.title.as_str(), c)).collect();
        let mut new_cases = Vec::new();
        let mut new_addresses = Vec::new();
        for case in &want.test_cases {
            let address = Address::TestCase { prompt: prompt.clone(), title: case.title.clone() };
            if !selection.selects(&address) {
                continue;
            }
            match by_title.get(case.title.as_str()) {
                None => {
                    let body = TestCaseBody {
                        title: Some(case.title.clone()),
                        messages: case.messages.clone(),
                        variables: case.variables.clone(),
                        expected_output: case.expected_output.clone(),
                    };
                    b.change(address.clone(), Action::Create, None, case_changes(None, case));
                    new_cases.push(body);
                    new_addresses.push(address);
                }
                Some(remote) => {
                    let fields = case_changes(Some(remote), case);
                    if fields.is_empty() {
                        continue;
                    }
                    let body = TestCaseBody {
                        title: None,
                        messages: case.messages.clone().filter(|m| Some(m) != remote.messages.as_ref()),
                        variables: case.variables.clone().filter(|v| Some(v) != remote.variables.as_ref()),
                        expected_output: case
                            .expected_output
                            .clone()
                            .filter(|e| Some(e) != remote.expected_output.as_ref()),
                    };
                    let id = remote.id.clone().unwrap_or_default();
                    b.change(address.clone(), Action::Update, Some(id.clone()), fields);
                    b.op(Call::PatchTestCase { id, body }, [], vec![address]);
                }
            }
        }
        if !new_cases.is_empty() {
            b.op(Call::CreateTestCases { prompt: prompt.clone(), cases: new_cases }, [], new_addresses);
        }
        if want.prune {
            for remote in have.iter().filter(|r| !want.test_cases.iter().any(|c| c.title == r.title)) {
                let address = Address::TestCase { prompt: prompt.clone(), title: remote.title.clone() };
                if !selection.selects(&address) {
                    continue;
                }
                let Some(id) = remote.id.clone() else { continue };
                let owned = observed.prompts.get(prompt).is_some_and(|p| p.owned.contains(&id));
                if owned {
                    b.op(Call::DeleteTestCase { id: id.clone() }, [], vec![address.clone()]);
                    b.change(address, Action::Delete, Some(id), Vec::new());
                } else {
                    let note = "prune leaves it: evalform did not create it (no managed_by: evalform in its metadata)";
                    b.unmanaged.push(Unmanaged { address, remote_id: Some(id), note: Some(note.into()) });
                }
            }
        }
    }
}

/// Messages as a transcript a reviewer reads (`role: content`, continuation lines indented), so a changed message
/// shows as one changed line of the diff. When any content is sensitive the whole transcript is, with the
/// `${env:...}` templates standing in for the values, so nothing secret is shown or saved.
fn messages_value(m: &[Message]) -> FieldValue {
    let line = |role: &str, content: &str| format!("{role}: {}", content.replace('\n', "\n  "));
    let value: Vec<String> = m.iter().map(|msg| line(&msg.role, msg.content.expose())).collect();
    let value = value.join("\n");
    if m.iter().any(|msg| msg.content.is_sensitive()) {
        let template: Vec<String> =
            m.iter().map(|msg| line(&msg.role, msg.content.template().unwrap_or(msg.content.expose()))).collect();
        FieldValue::Text(Text::sensitive(value, template.join("\n")))
    } else {
        FieldValue::Text(Text::new(value))
    }
}

/// Field changes of a test case: `messages` (an ordered list) as a whole, `variables.NAME` per key,
/// `expected_output`. For a create (`remote` None), every managed field.
fn case_changes(remote: Option<&TestCase>, want: &TestCase) -> Vec<FieldChange> {
    let mut out = Vec::new();
    if remote.is_none() {
        out.push(FieldChange {
            field: "title".into(),
            before: None,
            after: Some(FieldValue::Text(want.title.clone().into())),
        });
    }
    if let Some(m) = &want.messages {
        let before = remote.and_then(|r| r.messages.as_ref());
        if before != Some(m) {
            out.push(FieldChange {
                field: "messages".into(),
                before: before.map(|b| messages_value(b)),
                after: Some(messages_value(m)),
            });
        }
    }
    if let Some(v) = &want.variables {
        let before = remote.and_then(|r| r.variables.clone()).unwrap_or_default();
        let mut changes = map_changes(&before, v);
        for c in &mut changes {
            c.field = format!("variables.{}", c.field);
        }
        out.extend(changes);
    }
    if let Some(e) = &want.expected_output {
        let before = remote.and_then(|r| r.expected_output.as_ref());
        if before != Some(e) {
            out.push(FieldChange {
                field: "expected_output".into(),
                before: before.cloned().map(FieldValue::Text),
                after: Some(FieldValue::Text(e.clone())),
            });
        }
    }
    out
}
