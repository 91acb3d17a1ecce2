//! `evalform export --format cekura-spec`: the selected evaluators as Cekura's test-suite spec, offline.
//!
//! One spec per agent (and per 200 test cases). A single spec goes to stdout; several need `--agent` or
//! `--out DIR`. Notes on what the spec cannot express go to stderr, always (they say what is missing from the
//! data on stdout).

use std::collections::BTreeMap;
use std::path::PathBuf;

use evalform::export::{cekura_specs, Spec, SpecOptions};
use evalform::manifest::EnvMode;
use evalform::plan::Secrets;
use evalform::runner::Selection;

use crate::cli::{ExportArgs, SelectArgs};
use crate::error::{CliError, Outcome};
use crate::printer::Printer;

pub fn run(p: &Printer, args: ExportArgs) -> Result<Outcome, CliError> {
    let selection = selection(&args.select)?;
    let Some(manifests) = super::load_manifests(p, &args.paths.paths, EnvMode::Deferred) else {
        return Ok(Outcome::Failure);
    };
    let state = &manifests.state;
    if let Some(agent) = args.agent {
        if !state.agents.contains_key(&agent) {
            let named: Vec<String> = state.agents.keys().map(u64::to_string).collect();
            return Err(CliError::new(format!("--agent {agent}: the manifests name no such agent")).hint(format!(
                "the manifests name agent{} {}",
                plural(named.len()),
                named.join(", ")
            )));
        }
    }
    let mut specs: Vec<Spec> = Vec::new();
    for (id, agent) in &state.agents {
        if args.agent.is_some_and(|want| want != *id) {
            continue;
        }
        let chosen: Vec<_> = agent.evaluators.iter().filter(|e| selection.takes_declared(e)).collect();
        if !chosen.is_empty() {
            specs.extend(cekura_specs(agent, &chosen, SpecOptions { secrets: Secrets::Mask, catalog: None }));
        }
    }
    if specs.is_empty() {
        return Err(CliError::new(format!("{} selects no evaluator in the manifests", selection.describe()))
            .hint("check the filters against the manifests' tags, folders and names"));
    }
    for line in notes(&specs, false) {
        p.warn(&line);
    }
    match &args.out {
        Some(dir) => {
            for spec in &specs {
                let path = dir.join(file_name(spec));
                evalform::fsutil::write_atomic(&path, (pretty(spec) + "\n").as_bytes())?;
                p.data_line(&path.display().to_string());
            }
        }
        None if specs.len() == 1 => p.data_line(&pretty(&specs[0])),
        None => {
            let agents: std::collections::BTreeSet<u64> = specs.iter().map(|s| s.agent).collect();
            let why = if agents.len() > 1 {
                format!("the manifests name {} agents", agents.len())
            } else {
                "more than 200 test cases are selected (the spec's limit)".to_string()
            };
            return Err(CliError::new(format!("the selection makes {} specs: {why}", specs.len()))
                .hint("choose one agent with --agent ID, or write every spec with --out DIR"));
        }
    }
    Ok(Outcome::Success)
}

/// The notes of every spec, one line per agent and kind of note, naming the evaluators it is about.
pub fn notes(specs: &[Spec], only_what_affects_runs: bool) -> Vec<String> {
    let mut grouped: BTreeMap<(u64, &str), Vec<&str>> = BTreeMap::new();
    for spec in specs {
        for n in spec.notes.iter().filter(|n| n.affects_run || !only_what_affects_runs) {
            grouped.entry((spec.agent, n.what.as_str())).or_default().push(n.evaluator.as_str());
        }
    }
    grouped
        .into_iter()
        .map(|((agent, what), names)| {
            let shown: Vec<String> = names.iter().take(3).map(|n| format!("{n:?}")).collect();
            let more = if names.len() > 3 { format!(" and {} more", names.len() - 3) } else { String::new() };
            format!("note: agent {agent}: {what}: {}{more}", shown.join(", "))
        })
        .collect()
}

pub fn selection(args: &SelectArgs) -> Result<Selection, CliError> {
    Selection::new(args.tags.clone(), args.folder.clone(), args.name.as_deref()).map_err(|e| CliError::from_error(&e))
}

fn pretty(spec: &Spec) -> String {
    serde_json::to_string_pretty(&spec.value).unwrap_or_else(|_| "{}".into())
}

fn file_name(spec: &Spec) -> PathBuf {
    if spec.parts == 1 {
        PathBuf::from(format!("agent-{}.json", spec.agent))
    } else {
        PathBuf::from(format!("agent-{}-part{}.json", spec.agent, spec.part))
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
