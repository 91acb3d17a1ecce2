//! The sandbox's catalog: agents, personalities, metrics, phone numbers, Tela prompts and tools that exist before
//! any test writes anything. The API can read the catalog but never change it; only a [`Seed`] given at start does.
//!
//! The default seed is the built-in world every example, the demo and the test suite share.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub id: u64,
    pub project: u64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Personality {
    pub id: u64,
    pub name: String,
    pub language: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metric {
    pub id: u64,
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumber {
    /// The row id: what writes send as `phone_number`.
    pub id: u64,
    /// The number string: what reads return as `phone_number`.
    pub number: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub id: String,
    pub name: String,
}

/// What exists before the first request. Personalities, metrics and phone numbers exist in every project and for
/// every agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seed {
    pub agents: Vec<Agent>,
    pub personalities: Vec<Personality>,
    pub metrics: Vec<Metric>,
    pub phone_numbers: Vec<PhoneNumber>,
    pub prompts: Vec<Prompt>,
    pub tools: Vec<String>,
}

impl Default for Seed {
    /// The built-in world (see the project's shared-world notes).
    fn default() -> Self {
        let agent = |id, project, name: &str| Agent { id, project, name: name.into() };
        let personality = |id, name: &str| Personality { id, name: name.into(), language: "en".into() };
        let metric = |id, slug: &str, name: &str| Metric { id, slug: slug.into(), name: name.into() };
        Seed {
            agents: vec![
                agent(1, 1, "Sandbox agent"),
                agent(12, 1376, "Support line"),
                agent(101, 7, "Acme Shop support"),
                agent(202, 7, "Bright Smile Dental reception"),
            ],
            personalities: vec![
                personality(7, "Normal Male"),
                personality(8, "Normal Female"),
                personality(9, "Impatient Caller"),
                personality(10, "Elderly Caller"),
            ],
            metrics: vec![
                metric(501, "call_success", "Call success"),
                metric(502, "appointment_booked", "Appointment booked"),
                metric(503, "latency", "Latency"),
                metric(504, "politeness", "Politeness"),
                metric(505, "order_number_confirmed", "Order number confirmed"),
                metric(506, "escalation_handled", "Escalation handled"),
                metric(507, "identity_verified", "Identity verified"),
            ],
            phone_numbers: vec![
                PhoneNumber { id: 44, number: "+14155550144".into() },
                PhoneNumber { id: 45, number: "+14155550145".into() },
            ],
            prompts: vec![
                Prompt { id: "5f0c2a4e-0000-4000-8000-000000000001".into(), name: "Order support reply".into() },
                Prompt { id: "5f0c2a4e-0000-4000-8000-000000000002".into(), name: "Appointment reminder".into() },
            ],
            tools: ["TOOL_END_CALL", "TOOL_DTMF", "TOOL_END_CALL_ONLY_ON_TRANSFER", "TOOL_TRANSFER_CALL"]
                .map(String::from)
                .to_vec(),
        }
    }
}

impl Seed {
    pub fn agent(&self, id: u64) -> Option<&Agent> {
        self.agents.iter().find(|a| a.id == id)
    }

    pub fn project_exists(&self, project: u64) -> bool {
        self.agents.iter().any(|a| a.project == project)
    }

    pub fn personality(&self, id: u64) -> Option<&Personality> {
        self.personalities.iter().find(|p| p.id == id)
    }

    pub fn metric(&self, id: u64) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.id == id)
    }

    pub fn phone_number(&self, id: u64) -> Option<&PhoneNumber> {
        self.phone_numbers.iter().find(|p| p.id == id)
    }

    pub fn prompt(&self, id: &str) -> Option<&Prompt> {
        self.prompts.iter().find(|p| p.id == id)
    }
}
