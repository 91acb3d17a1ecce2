//! Names for ids in what people read: a plan resolves metrics and personalities to the platform's ids, and shows
//! them by the names the manifests use, with the id beside (`politeness (504)`, `Impatient Caller (9)`), typed
//! the same way in every format (strings).
//!
//! Display only: [`named`] returns a copy of the plan whose *changes* carry the names; the operations keep their
//! ids (they are what is sent) and a saved plan keeps the ids too. Without a catalog (a plan shown from a file,
//! the platform not read), the ids are shown as they are.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Address, AgentId, Catalog};
use crate::plan::{FieldValue, Plan};

/// The names of one run's catalogs, by agent and id. Saved with a plan (display only) so that `show` shows it as
/// `plan` did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Names {
    #[serde(with = "keyed")]
    metrics: BTreeMap<(AgentId, u64), String>,
    #[serde(with = "keyed")]
    personalities: BTreeMap<(AgentId, u64), String>,
}

/// `(agent, id)` keys as `"AGENT/ID"` strings, so the map is a JSON object.
mod keyed {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(map: &BTreeMap<(u64, u64), String>, s: S) -> Result<S::Ok, S::Error> {
        let flat: BTreeMap<String, &String> = map.iter().map(|((a, i), n)| (format!("{a}/{i}"), n)).collect();
        flat.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<(u64, u64), String>, D::Error> {
        let flat = BTreeMap::<String, String>::deserialize(d)?;
        Ok(flat
            .into_iter()
            .filter_map(|(k, n)| {
                let (a, i) = k.split_once('/')?;
                Some(((a.parse().ok()?, i.parse().ok()?), n))
            })
            .collect())
    }
}

impl Names {
    /// From the catalogs read with the platform. A metric is named by its slug (what the manifests write), else
    /// its name.
    pub fn from_catalogs(catalogs: &BTreeMap<AgentId, Catalog>) -> Names {
        let mut names = Names::default();
        for (agent, catalog) in catalogs {
            for m in &catalog.metrics {
                names.metrics.insert((*agent, m.id), m.slug.clone().unwrap_or_else(|| m.name.clone()));
            }
            for p in &catalog.personalities {
                names.personalities.insert((*agent, p.id), p.name.clone());
            }
        }
        names
    }

    fn label(table: &BTreeMap<(AgentId, u64), String>, agent: AgentId, id: u64) -> String {
        match table.get(&(agent, id)) {
            Some(name) => format!("{name} ({id})"),
            None => id.to_string(),
        }
    }
}

/// The plan as people read it: metrics and personalities of evaluator changes by name and id. It takes the plan,
/// so that showing a plan that is not kept copies nothing.
pub fn named(mut plan: Plan, names: &Names) -> Plan {
    for change in &mut plan.changes {
        let Address::Evaluator { agent, .. } = change.address else { continue };
        for field in &mut change.fields {
            let relabel = |value: &mut Option<FieldValue>| match (field.field.as_str(), value.as_mut()) {
                ("metrics", Some(FieldValue::Set(ids))) => {
                    *ids = ids
                        .iter()
                        .map(|id| match id.parse() {
                            Ok(n) => Names::label(&names.metrics, agent, n),
                            Err(_) => id.clone(),
                        })
                        .collect();
                }
                ("personality", Some(v @ FieldValue::Number(_))) => {
                    if let FieldValue::Number(id) = v {
                        *v = FieldValue::Label(Names::label(&names.personalities, agent, *id));
                    }
                }
                _ => {}
            };
            relabel(&mut field.before);
            relabel(&mut field.after);
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MetricInfo, PersonalityInfo};
    use crate::plan::{Action, FieldChange, ResourceChange};

    #[test]
    fn metrics_and_personalities_are_shown_by_name_and_id_as_strings() {
        let catalog = Catalog {
            metrics: vec![MetricInfo { id: 504, slug: Some("politeness".into()), name: "Politeness".into() }],
            personalities: vec![PersonalityInfo { id: 9, name: "Impatient Caller".into() }],
        };
        let names = Names::from_catalogs(&[(12, catalog)].into());
        let plan = Plan {
            changes: vec![ResourceChange {
                address: Address::Evaluator { agent: 12, name: "A".into() },
                action: Action::Update,
                remote_id: Some("1".into()),
                fields: vec![
                    FieldChange {
                        field: "metrics".into(),
                        before: Some(FieldValue::Set(["501".to_string()].into())),
                        after: Some(FieldValue::Set(["501".to_string(), "504".to_string()].into())),
                    },
                    FieldChange {
                        field: "personality".into(),
                        before: Some(FieldValue::Number(7)),
                        after: Some(FieldValue::Number(9)),
                    },
                ],
            }],
            ..Plan::default()
        };
        let shown = named(plan.clone(), &names);
        let f = &shown.changes[0].fields;
        assert_eq!(f[0].after, Some(FieldValue::Set(["501".to_string(), "politeness (504)".to_string()].into())));
        assert_eq!(f[1].before, Some(FieldValue::Label("7".into())));
        assert_eq!(f[1].after, Some(FieldValue::Label("Impatient Caller (9)".into())));
        assert_eq!(shown.operations, plan.operations, "what is sent keeps its ids");
    }
}
