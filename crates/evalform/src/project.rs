//! The project file, `evalform.toml`: which files are manifests (`paths`, `exclude`) and which environments exist
//! (`[environments.NAME]`: agent and Tela prompt names, where each platform's key is, base URLs, `vars`).
//!
//! Found by walking up from a directory the caller gives (the library reads no environment, not even the current
//! directory). Problems are [`Diagnostics`] pointing at `evalform.toml:LINE:COLUMN`, like manifest problems.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;

use crate::manifest::{Diagnostic, Diagnostics, Environment};
use crate::yaml::Pos;

/// The file name looked for in each directory on the way up.
pub const FILE_NAME: &str = "evalform.toml";

/// The project file as written. Unknown keys are errors that name the nearest valid key.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "evalform project file (evalform.toml)")]
pub struct ProjectFile {
    /// Where manifests are: directories (every *.yaml / *.yml below them), files or globs, relative to this file.
    /// Default: the directory of this file.
    #[serde(default)]
    pub paths: Option<Vec<String>>,
    /// Globs of files that are never manifests, relative to this file (`suites/drafts/**`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// The environment used when neither `--env` nor `EVALFORM_ENV` names one.
    #[serde(default)]
    pub default_env: Option<String>,
    /// The environments the suite is applied to, by name (`staging`, `production`).
    #[serde(default)]
    pub environments: BTreeMap<String, EnvironmentSpec>,
}

/// One environment: what the names in manifests mean there, and how to reach its platforms.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    /// Agent names used in manifests (`agent: support`) -> this environment's Cekura agent ids.
    #[serde(default)]
    pub agents: BTreeMap<String, u64>,
    /// The Cekura project of this environment (informational; manifests may still set `project`).
    #[serde(default)]
    pub project: Option<u64>,
    /// The environment variable that holds this environment's Cekura key (default `CEKURA_API_KEY`).
    #[serde(default)]
    pub cekura_api_key_env: Option<String>,
    /// The Cekura API root for this environment (default: as without a project file).
    #[serde(default)]
    pub cekura_base_url: Option<String>,
    /// The environment variable that holds this environment's Tela key (default `TELA_API_KEY`).
    #[serde(default)]
    pub tela_api_key_env: Option<String>,
    /// The Tela API root for this environment.
    #[serde(default)]
    pub tela_base_url: Option<String>,
    /// Tela prompt names used in manifests (`tela.prompt: orders`) -> this environment's prompt uuids.
    #[serde(default)]
    pub tela_prompts: BTreeMap<String, String>,
    /// Values of `${var:NAME}` in manifests. Not secret: they are shown in plans.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

/// A project file, read and checked.
#[derive(Debug, Clone)]
pub struct Project {
    /// The file itself.
    pub path: PathBuf,
    /// Its directory: `paths` and `exclude` are relative to it.
    pub dir: PathBuf,
    pub file: ProjectFile,
}

/// Why an environment could not be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvironmentError {
    #[error("environment `{name}` is not declared in {file}")]
    Unknown { name: String, file: String, known: Vec<String> },
    #[error("environment `{name}` was asked for (--env or EVALFORM_ENV), but there is no project file (evalform.toml) here or in a parent directory")]
    NoProjectFile { name: String },
}

const TOP_KEYS: &[&str] = &["paths", "exclude", "default_env", "environments"];
const ENV_KEYS: &[&str] = &[
    "agents",
    "project",
    "cekura_api_key_env",
    "cekura_base_url",
    "tela_api_key_env",
    "tela_base_url",
    "tela_prompts",
    "vars",
];

/// The nearest `evalform.toml` in `start` or a parent directory.
pub fn find(start: &Path) -> Option<PathBuf> {
    start.ancestors().map(|d| d.join(FILE_NAME)).find(|p| p.is_file())
}

impl Project {
    /// Read and check the project file at `path`; `shown` is how messages name it.
    pub fn load(path: &Path, shown: &str) -> Result<Project, Diagnostics> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| Diagnostics::new(vec![Diagnostic::file(shown, format!("cannot read the file: {err}"))]))?;
        let file = parse(&text, shown)?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(Project { path: path.to_path_buf(), dir, file })
    }

    /// The environment names, sorted.
    pub fn environment_names(&self) -> Vec<String> {
        self.file.environments.keys().cloned().collect()
    }

    /// The environment to use: `asked` (from `--env` or `EVALFORM_ENV`), else `default_env`, else none.
    pub fn choose(&self, asked: Option<&str>) -> Result<Option<(String, &EnvironmentSpec)>, EnvironmentError> {
        let Some(name) = asked.or(self.file.default_env.as_deref()) else { return Ok(None) };
        match self.file.environments.get(name) {
            Some(spec) => Ok(Some((name.to_string(), spec))),
            None => Err(EnvironmentError::Unknown {
                name: name.to_string(),
                file: self.path.display().to_string(),
                known: self.environment_names(),
            }),
        }
    }

    /// The manifest files the project declares below `roots` (absolute, or relative to the process's directory,
    /// as the caller gives them): directories are searched for *.yaml / *.yml, files are taken as they are, and
    /// anything matching an `exclude` glob is left out. `None` for `roots` means the project's own `paths`.
    pub fn manifest_files(&self, roots: Option<&[PathBuf]>) -> Vec<PathBuf> {
        let own: Vec<PathBuf>;
        let roots = match roots {
            Some(r) => r,
            None => {
                own = self.declared_roots();
                &own
            }
        };
        let excludes: Vec<glob::Pattern> =
            self.file.exclude.iter().filter_map(|g| glob::Pattern::new(g.trim_start_matches("./")).ok()).collect();
        let mut out = Vec::new();
        for root in roots {
            if root.is_dir() {
                walk(root, &mut out);
            } else {
                // A file, or a path that does not exist (the loader reports it where it is read).
                out.push(root.clone());
                continue;
            }
        }
        out.retain(|p| !self.excluded(p, &excludes));
        out.sort();
        out.dedup();
        out
    }

    /// `paths` (default: the file's directory), globs expanded, relative to the file's directory.
    fn declared_roots(&self) -> Vec<PathBuf> {
        let Some(paths) = &self.file.paths else { return vec![self.dir.clone()] };
        let mut out = Vec::new();
        for p in paths {
            let joined = self.dir.join(p.trim_start_matches("./"));
            let pattern = joined.to_string_lossy().to_string();
            if p.contains(['*', '?', '[']) {
                let mut found: Vec<PathBuf> = glob::glob(&pattern).into_iter().flatten().flatten().collect();
                found.sort();
                out.extend(found);
            } else {
                out.push(joined);
            }
        }
        out
    }

    fn excluded(&self, path: &Path, excludes: &[glob::Pattern]) -> bool {
        let relative = relative_to(path, &self.dir);
        let Some(relative) = relative else { return false };
        let shown = relative.to_string_lossy().replace('\\', "/");
        let options = glob::MatchOptions { require_literal_separator: true, ..glob::MatchOptions::new() };
        excludes.iter().any(|g| g.matches_with(&shown, options))
    }

    /// The loader's view of environment `name`.
    pub fn environment(name: &str, spec: &EnvironmentSpec) -> Environment {
        Environment {
            name: name.to_string(),
            agents: spec.agents.clone(),
            tela_prompts: spec.tela_prompts.clone(),
            vars: spec.vars.clone(),
        }
    }
}

/// The name environment `env` gives agent `id` (the first, by name, when several map to it).
pub fn agent_name(env: &Environment, id: u64) -> Option<&str> {
    env.agents.iter().find(|(_, v)| **v == id).map(|(k, _)| k.as_str())
}

/// The name environment `env` gives Tela prompt `uuid`.
pub fn prompt_name<'e>(env: &'e Environment, uuid: &str) -> Option<&'e str> {
    env.tela_prompts.iter().find(|(_, v)| v.eq_ignore_ascii_case(uuid)).map(|(k, _)| k.as_str())
}

/// Imported manifests made portable: `agent:` and `tela.prompt:` written as the environment's names for them, so the
/// same files load in every environment. Files whose id the environment does not name are left as they are; the
/// ids left are returned (as text) for a note.
pub fn name_imported(files: &mut [crate::import::ImportedFile], env: &Environment) -> Vec<String> {
    use crate::yaml::edit::{apply, Edit, Value};
    let mut unnamed = Vec::new();
    for file in files.iter_mut() {
        let Ok(Some(root)) = crate::yaml::parse_tree(&file.contents) else { continue };
        let agent = root.get("cekura").and_then(|c| c.get("agent")).and_then(|a| a.as_str()).map(str::to_string);
        let prompt = root.get("tela").and_then(|t| t.get("prompt")).and_then(|p| p.as_str()).map(str::to_string);
        let mut edits = Vec::new();
        if let Some(id) = agent.and_then(|a| a.parse::<u64>().ok()) {
            match agent_name(env, id) {
                Some(name) => edits.push(Edit::set("cekura.agent", Value::Str(name.to_string()))),
                None => unnamed.push(id.to_string()),
            }
        }
        if let Some(uuid) = prompt {
            match prompt_name(env, &uuid) {
                Some(name) => edits.push(Edit::set("tela.prompt", Value::Str(name.to_string()))),
                None => unnamed.push(uuid),
            }
        }
        if let Ok(text) = apply(&file.contents, &edits) {
            file.contents = text;
        }
    }
    unnamed.sort();
    unnamed.dedup();
    unnamed
}

/// Manifest texts with `agent:` and `tela.prompt:` names replaced by the environment's ids, for code that reads
/// the files themselves rather than the loaded state (`pull` finds each agent's files by their `agent:` id). Edits
/// are addressed by path, so edits computed on these texts apply to the originals.
pub fn with_ids(files: &[crate::manifest::ManifestFile], env: &Environment) -> Vec<crate::manifest::ManifestFile> {
    use crate::yaml::edit::{apply, Edit, Value};
    let mut out = files.to_vec();
    for file in &mut out {
        let Ok(Some(root)) = crate::yaml::parse_tree(&file.text) else { continue };
        let mut edits = Vec::new();
        let agent = root.get("cekura").and_then(|c| c.get("agent")).and_then(|a| a.as_str());
        if let Some(id) = agent.and_then(|a| env.agents.get(a)) {
            edits.push(Edit::set("cekura.agent", Value::Int(*id)));
        }
        let prompt = root.get("tela").and_then(|t| t.get("prompt")).and_then(|p| p.as_str());
        if let Some(uuid) = prompt.and_then(|p| env.tela_prompts.get(p)) {
            edits.push(Edit::set("tela.prompt", Value::Str(uuid.to_lowercase())));
        }
        if let Ok(text) = apply(&file.text, &edits) {
            file.text = text;
        }
    }
    out
}

/// `path` relative to `base`, both absolute or both relative to the same directory.
fn relative_to(path: &Path, base: &Path) -> Option<PathBuf> {
    let clean =
        |p: &Path| -> PathBuf { p.components().filter(|c| !matches!(c, std::path::Component::CurDir)).collect() };
    clean(path).strip_prefix(clean(base)).ok().map(Path::to_path_buf)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')) {
            continue;
        }
        let linked = std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink());
        if p.is_dir() {
            if !linked {
                walk(&p, out);
            }
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

/// Parse and check a project file's text; `shown` names it in diagnostics.
pub fn parse(text: &str, shown: &str) -> Result<ProjectFile, Diagnostics> {
    let at = |span: Option<std::ops::Range<usize>>, message: String| -> Diagnostic {
        match span {
            Some(span) => {
                let pos = position(text, span.start);
                let width = text[span.clone()].lines().next().map_or(1, |l| l.chars().count());
                Diagnostic::at(shown, text, pos, width, message)
            }
            None => Diagnostic::file(shown, message),
        }
    };
    let table = match toml::de::DeTable::parse(text) {
        Ok(t) => t,
        Err(err) => return Err(Diagnostics::new(vec![at(err.span(), err.message().trim().to_string())])),
    };
    let mut problems = Vec::new();
    for (key, value) in table.get_ref() {
        let k = key.get_ref().as_ref();
        if !TOP_KEYS.contains(&k) {
            problems.push(unknown(at(Some(key.span()), format!("unknown key `{k}`")), k, TOP_KEYS, "the top level"));
            continue;
        }
        if k != "environments" {
            continue;
        }
        let Some(envs) = value.get_ref().as_table() else { continue };
        for (name, env) in envs {
            let Some(env) = env.get_ref().as_table() else { continue };
            let table_name = format!("[environments.{}]", name.get_ref().as_ref());
            for (key, _) in env {
                let k = key.get_ref().as_ref();
                if !ENV_KEYS.contains(&k) {
                    problems.push(unknown(
                        at(Some(key.span()), format!("unknown key `{k}`")),
                        k,
                        ENV_KEYS,
                        &table_name,
                    ));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(Diagnostics::new(problems));
    }
    let file: ProjectFile = match toml::from_str(text) {
        Ok(f) => f,
        Err(err) => return Err(Diagnostics::new(vec![at(err.span(), err.message().trim().to_string())])),
    };
    if let Some(default) = &file.default_env {
        if !file.environments.contains_key(default) {
            let span = table.get_ref().get("default_env").map(|v| v.span());
            let known: Vec<String> = file.environments.keys().cloned().collect();
            problems.push(
                at(span, format!("`default_env` names `{default}`, which is not an environment of this file"))
                    .label("expected the name of an `[environments.NAME]` table")
                    .help(format!("the environments are {}", crate::manifest::environment::list(&known))),
            );
        }
    }
    for (env_name, spec) in &file.environments {
        for (name, uuid) in &spec.tela_prompts {
            if is_uuid(uuid) {
                continue;
            }
            let span = table
                .get_ref()
                .get("environments")
                .and_then(|e| e.get_ref().as_table())
                .and_then(|e| e.get(env_name.as_str()))
                .and_then(|e| e.get_ref().as_table())
                .and_then(|e| e.get("tela_prompts"))
                .and_then(|p| p.get_ref().as_table())
                .and_then(|p| p.get(name.as_str()))
                .map(|v| v.span());
            problems.push(
                at(span, format!("`{uuid}` is not a Tela prompt id"))
                    .label("expected a uuid such as 5f0c2a4e-0000-4000-8000-000000000001"),
            );
        }
    }
    for pattern in file.exclude.iter().chain(file.paths.iter().flatten()) {
        if let Err(err) = glob::Pattern::new(pattern) {
            problems.push(Diagnostic::file(shown, format!("`{pattern}` is not a valid glob: {err}")));
        }
    }
    if problems.is_empty() {
        Ok(file)
    } else {
        Err(Diagnostics::new(problems))
    }
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn unknown(d: Diagnostic, key: &str, valid: &[&str], place: &str) -> Diagnostic {
    let nearest = valid.iter().map(|v| (strsim::levenshtein(key, v), *v)).min().filter(|(d, _)| *d <= 3);
    let d = d.label(format!("not a key of {place}"));
    match nearest {
        Some((_, v)) => d.help(format!("did you mean `{v}`?")),
        None => d.help(format!("the keys of {place} are {}", valid.join(", "))),
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn position(text: &str, offset: usize) -> Pos {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Pos { line, column }
}

/// The project file's JSON Schema as pretty-printed JSON, as `evalform schema --project-file` prints it and as
/// `docs/evalform-project.schema.json` holds it.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(ProjectFile);
    serde_json::to_string_pretty(&schema).expect("a schema is JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_EXAMPLE: &str = r#"
paths = ["suites"]                  # where manifests are; default: the directory of this file
exclude = ["suites/drafts/**"]      # globs, relative to this file
default_env = "staging"

[environments.staging]
agents = { support = 12, sales = 14 }
project = 1376
cekura_api_key_env = "CEKURA_STAGING_KEY"
cekura_base_url = "https://api.cekura.ai"
tela_prompts = { orders = "5f0c2a4e-0000-4000-8000-000000000001" }
vars = { outbound_phone = "44", greeting = "Hi there" }

[environments.production]
agents = { support = 31, sales = 33 }
cekura_api_key_env = "CEKURA_PROD_KEY"
tela_prompts = { orders = "9a1d7c00-0000-4000-8000-000000000002" }
vars = { outbound_phone = "45", greeting = "Hello" }
"#;

    fn rendered(d: &Diagnostics) -> String {
        d.render(false)
    }

    #[test]
    fn the_example_of_the_contract_reads() {
        let file = parse(SPEC_EXAMPLE, "evalform.toml").unwrap();
        assert_eq!(file.paths, Some(vec!["suites".to_string()]));
        assert_eq!(file.default_env.as_deref(), Some("staging"));
        let prod = &file.environments["production"];
        assert_eq!(prod.agents["support"], 31);
        assert_eq!(prod.cekura_api_key_env.as_deref(), Some("CEKURA_PROD_KEY"));
        assert_eq!(prod.vars["greeting"], "Hello");
        assert_eq!(file.environments["staging"].project, Some(1376));
    }

    #[test]
    fn unknown_keys_are_located_and_name_the_nearest_key() {
        let text = "pahts = [\"suites\"]\n\n[environments.staging]\nagnets = { support = 12 }\nflavour = 1\n";
        let err = parse(text, "evalform.toml").unwrap_err();
        insta::assert_snapshot!(rendered(&err), @r#"
        error: unknown key `pahts`
         --> evalform.toml:1:1
          |
        1 | pahts = ["suites"]
          | ^^^^^ not a key of the top level
          = help: did you mean `paths`?

        error: unknown key `agnets`
         --> evalform.toml:4:1
          |
        4 | agnets = { support = 12 }
          | ^^^^^^ not a key of [environments.staging]
          = help: did you mean `agents`?

        error: unknown key `flavour`
         --> evalform.toml:5:1
          |
        5 | flavour = 1
          | ^^^^^^^ not a key of [environments.staging]
          = help: the keys of [environments.staging] are agents, project, cekura_api_key_env, cekura_base_url, tela_api_key_env, tela_base_url, tela_prompts, vars

        error: 3 problems in 1 file
        "#);
    }

    #[test]
    fn wrong_types_syntax_and_a_bad_default_are_located() {
        let err = parse("[environments.staging]\nagents = { support = \"twelve\" }\n", "evalform.toml").unwrap_err();
        assert_eq!(err.0[0].location(), "evalform.toml:2:22", "{}", rendered(&err));
        let err = parse("[environments.staging]\ntela_prompts = { orders = \"not-a-uuid\" }\n", "x.toml").unwrap_err();
        assert_eq!(err.0[0].location(), "x.toml:2:27", "{}", rendered(&err));
        assert!(err.0[0].message.contains("`not-a-uuid` is not a Tela prompt id"), "{}", rendered(&err));
        let err = parse("paths = [\n", "evalform.toml").unwrap_err();
        assert!(err.0[0].pos.is_some(), "{}", rendered(&err));
        let err = parse("default_env = \"prod\"\n[environments.staging]\n", "evalform.toml").unwrap_err();
        insta::assert_snapshot!(rendered(&err), @r#"
        error: `default_env` names `prod`, which is not an environment of this file
         --> evalform.toml:1:15
          |
        1 | default_env = "prod"
          |               ^^^^^^ expected the name of an `[environments.NAME]` table
          = help: the environments are `staging`

        error: 1 problem in 1 file
        "#);
    }

    #[test]
    fn the_chosen_environment_is_the_asked_one_else_the_default() {
        let project =
            Project { path: "evalform.toml".into(), dir: ".".into(), file: parse(SPEC_EXAMPLE, "x").unwrap() };
        assert_eq!(project.choose(None).unwrap().unwrap().0, "staging");
        assert_eq!(project.choose(Some("production")).unwrap().unwrap().0, "production");
        let err = project.choose(Some("prod")).unwrap_err();
        assert_eq!(
            err,
            EnvironmentError::Unknown {
                name: "prod".into(),
                file: "evalform.toml".into(),
                known: vec!["production".into(), "staging".into()]
            }
        );
    }

    #[test]
    fn paths_and_excludes_decide_which_files_are_manifests() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in ["docker-compose.yml", "mkdocs.yml", "suites/a.yaml", "suites/b.yml", "suites/drafts/c.yaml"] {
            let path = root.join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x").unwrap();
        }
        let text = "paths = [\"suites\"]\nexclude = [\"suites/drafts/**\"]\n";
        std::fs::write(root.join(FILE_NAME), text).unwrap();
        let found = find(&root.join("suites/drafts")).unwrap();
        assert_eq!(found, root.join(FILE_NAME));
        let project = Project::load(&found, "evalform.toml").unwrap();
        let files: Vec<String> = project
            .manifest_files(None)
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"))
            .collect();
        assert_eq!(files, ["suites/a.yaml", "suites/b.yml"]);
        // Without `paths`, the whole directory, still without what `exclude` names.
        std::fs::write(root.join(FILE_NAME), "exclude = [\"*.yml\", \"suites/drafts/**\"]\n").unwrap();
        let project = Project::load(&found, "evalform.toml").unwrap();
        let files: Vec<String> = project
            .manifest_files(None)
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"))
            .collect();
        assert_eq!(files, ["suites/a.yaml", "suites/b.yml"]);
    }
}
