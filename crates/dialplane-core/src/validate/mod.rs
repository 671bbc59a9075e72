//! Validation: turns an untrusted candidate document into an [`AgentSpec`], or reports every problem.
//!
//! A create body and a PATCH body take the same road: the body is merged (RFC 7396) onto a base (an
//! empty object, or the stored agent), and the merged candidate is read as a whole. Read-only fields may
//! appear only with the values the base already has.

mod changes;
mod formats;
mod reader;
mod spec;

use crate::agent::{Agent, AgentSpec};
use crate::ids::AgentId;
use crate::merge::merge;
use crate::problems::{Pointer, ProblemCode, Problems, Reference};
use reader::{Absence, Ctx, Obj};
use serde_json::{Map, Value};

pub use changes::changed_paths;

/// Checks an operator-typed label (a workspace, a user id): what is wrong with it, if anything.
pub fn check_label(s: &str) -> Result<(), String> {
    formats::label(s).map_err(|(_, why)| why)
}

/// Checks a resource's name as an agent's is checked (1..=200 characters after trimming, no control
/// characters): the problem with it, if any.
pub fn check_name(s: &str) -> Result<(), (ProblemCode, String)> {
    formats::name(s)
}

/// Checks a phone number as the API checks its fields (E.164): the problem with it, if any.
pub fn check_e164(s: &str) -> Result<(), (ProblemCode, String)> {
    formats::e164(s)
}

/// Checks a webhook endpoint's URL by the rule of an agent's `postCallWebhook` (absolute, with a
/// host, no spaces or control characters, https, or http to a loopback host), with http to any
/// host if `any_http_host` (`--allow-private-urls`): the problem with it, if any.
pub fn check_webhook_url(s: &str, any_http_host: bool) -> Result<(), (ProblemCode, String)> {
    formats::webhook_url(s, any_http_host)
}

/// Checks an e-mail address as the API checks its fields: what is wrong with it, if anything.
pub fn check_email(s: &str) -> Result<(), String> {
    formats::email(s).map_err(|(_, why)| why)
}

/// Fields that clients can see but not change.
pub const READ_ONLY: [&str; 3] = ["agentId", "phoneNumbers", "metadata"];

/// Server-wide settings that validation depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// The models `prompt.llm` may name.
    pub llm_models: Vec<String>,
    /// The most bytes an agent's stored document may take (`--max-agent-bytes`). A create body is
    /// bounded by the body limit already; changes merged in one after another, or copied in by a JSON
    /// Patch, are bounded by this.
    pub max_agent_bytes: usize,
    /// The most operations one JSON Patch may have (`--max-patch-operations`): each costs CPU, and a
    /// body of a megabyte holds tens of thousands.
    pub max_patch_operations: usize,
}

/// The default of [`Rules::max_agent_bytes`]: twice the default body limit, so that any create
/// body fits with its defaults filled in.
pub const DEFAULT_MAX_AGENT_BYTES: usize = 2 << 20;

/// The models allowed when the server is not told otherwise (`--llm-models`).
pub const DEFAULT_LLM_MODELS: &[&str] = &[
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.5-pro",
    "gemini-2.0-flash",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-5",
    "gpt-5-mini",
    "claude-sonnet-4-5",
    "claude-haiku-4-5",
];

impl Default for Rules {
    fn default() -> Self {
        Self {
            llm_models: DEFAULT_LLM_MODELS.iter().map(|m| (*m).to_owned()).collect(),
            max_agent_bytes: DEFAULT_MAX_AGENT_BYTES,
            max_patch_operations: crate::json_patch::DEFAULT_MAX_OPERATIONS,
        }
    }
}

impl Rules {
    /// The model of an agent that names none: the built-in default if this server allows it, else
    /// the first model it allows (else every agent created without `llm` would be invalid).
    pub fn default_llm(&self) -> &str {
        match self.llm_models.first() {
            Some(first)
                if !self
                    .llm_models
                    .iter()
                    .any(|m| m == crate::agent::DEFAULT_LLM) =>
            {
                first
            }
            _ => crate::agent::DEFAULT_LLM,
        }
    }
}

/// `a, b or c`.
pub(crate) fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Reads a whole candidate document. Read-only keys are skipped here and checked by [`check_read_only`].
pub fn read_candidate(candidate: &Value, rules: &Rules) -> Result<AgentSpec, Problems> {
    let (spec, problems) = read_merged(candidate, &Map::new(), rules, None);
    problems.into_result(spec)
}

/// Every key that `body` sets to `null` inside nested objects (not inside arrays), with its object.
fn null_keys(body: &Map<String, Value>, at: &Pointer, out: &mut Vec<(Pointer, String)>) {
    for (key, value) in body {
        match value {
            Value::Null => out.push((at.clone(), key.clone())),
            Value::Object(inner) => null_keys(inner, &at.key(key), out),
            _ => {}
        }
    }
}

/// Reads `candidate`, the result of merging `body` onto a base. With `stored`, `body` is a merge
/// patch onto that stored spec: what it leaves alone, at any depth, is taken as stored.
fn read_merged(
    candidate: &Value,
    body: &Map<String, Value>,
    rules: &Rules,
    stored: Option<&AgentSpec>,
) -> (AgentSpec, Problems) {
    let mut cx = Ctx::new(rules);
    null_keys(body, &Pointer::root(), &mut cx.null_keys);
    let spec = match candidate.as_object() {
        Some(map) => {
            let mut obj = Obj::new(&mut cx, Some(map), Pointer::root(), Absence::Present)
                .under(stored.map(|_| body));
            let spec = spec::agent_spec(&mut obj, stored);
            obj.finish();
            spec
        }
        None => {
            cx.report(
                &Pointer::root(),
                ProblemCode::InvalidType,
                "must be an object",
            );
            AgentSpec::default()
        }
    };
    (spec, cx.problems)
}

/// Reports every read-only field that the request `touched` and whose value in `candidate` differs
/// from `base`'s.
pub fn check_read_only(
    touched: &dyn Fn(&str) -> bool,
    candidate: &Value,
    base: &Value,
    problems: &mut Problems,
) {
    for key in READ_ONLY {
        let (got, stored) = (candidate.get(key), base.get(key));
        if touched(key) && got != stored {
            let path = first_difference(got, stored, Pointer::root().key(key));
            problems.push(
                &path,
                ProblemCode::ReadOnly,
                "is read-only: send it unchanged or leave it out",
            );
        }
    }
}

/// The deepest pointer at which `a` and `b` differ, following objects that both sides have.
fn first_difference(a: Option<&Value>, b: Option<&Value>, path: Pointer) -> Pointer {
    if let (Some(Value::Object(a)), Some(Value::Object(b))) = (a, b) {
        let keys = a.keys().chain(b.keys());
        for key in keys {
            if a.get(key) != b.get(key) {
                return first_difference(a.get(key), b.get(key), path.key(key));
            }
        }
    }
    path
}

/// Validates a create body: the body read as a whole document, with no read-only values of its own.
pub fn validate_create(body: &Map<String, Value>, rules: &Rules) -> Result<AgentSpec, Problems> {
    let candidate = merge(&Value::Object(Map::new()), &Value::Object(body.clone()));
    let base = serde_json::json!({ "phoneNumbers": [] });
    finish(
        body,
        // `null` means absent, in a create body too: a read-only field sent as null is left out.
        &|k| body.get(k).is_some_and(|v| !v.is_null()),
        candidate,
        &base,
        rules,
        None,
        None,
    )
}

/// Validates a PATCH body: merged onto the stored agent, the result read as a whole.
///
/// `Ok(None)` means the patch changes nothing.
///
/// A merge patch changes only the members it names: only the top-level ones it names are merged, and
/// only the sections it reaches are read again; the rest is the stored spec's as it is (reading it
/// back would give it unchanged).
pub fn validate_patch(
    stored: &Agent,
    patch: &Map<String, Value>,
    rules: &Rules,
) -> Result<Option<AgentSpec>, Problems> {
    let mut candidate = Map::new();
    for (key, change) in patch {
        // `null` removes the member: it is read as absent (its default, or `required`).
        if change.is_null() {
            continue;
        }
        let mut merged = member(stored, key).unwrap_or(Value::Null);
        crate::merge::merge_in_place(&mut merged, change);
        candidate.insert(key.clone(), merged);
    }
    let base = read_only_values(stored);
    let spec = finish(
        patch,
        &|k| patch.contains_key(k),
        Value::Object(candidate),
        &base,
        rules,
        Some(stored.agent_id),
        Some(&stored.spec),
    )?;
    Ok((spec != stored.spec).then_some(spec))
}

/// The top-level member `key` of `stored`'s document, `None` for a key the document does not have.
fn member(stored: &Agent, key: &str) -> Option<Value> {
    let spec = &stored.spec;
    let value = match key {
        "agentId" => serde_json::to_value(stored.agent_id),
        "phoneNumbers" => serde_json::to_value(&stored.phone_numbers),
        "metadata" => serde_json::to_value(&stored.metadata),
        "name" => serde_json::to_value(&spec.name),
        "direction" => serde_json::to_value(spec.direction),
        "tags" => serde_json::to_value(&spec.tags),
        "conversationConfig" => serde_json::to_value(&spec.conversation_config),
        "platformSettings" => serde_json::to_value(&spec.platform_settings),
        "workflow" => serde_json::to_value(&spec.workflow),
        _ => return None,
    };
    value.ok()
}

/// The stored agent's read-only fields, as its document has them: all that [`check_read_only`] reads
/// of the base.
fn read_only_values(stored: &Agent) -> Value {
    READ_ONLY
        .iter()
        .filter_map(|key| Some(((*key).to_owned(), member(stored, key)?)))
        .collect::<Map<_, _>>()
        .into()
}

/// Validates a whole new document for a stored agent (the result of a JSON Patch, or a restored
/// version): every read-only field must keep its stored value.
///
/// `Ok(None)` means the document changes nothing.
pub fn validate_document(
    stored: &Agent,
    candidate: Value,
    rules: &Rules,
) -> Result<Option<AgentSpec>, Problems> {
    let base = read_only_values(stored);
    // `null` means absent here too, as in a create body or a merge patch: a member set to `null`
    // (inside a free-form map as well) is left out, not stored. An unknown one is still reported.
    let empty = Map::new();
    let body = candidate.as_object().unwrap_or(&empty);
    let spec = finish(
        body,
        &|_| true,
        merge(&Value::Object(Map::new()), &candidate),
        &base,
        rules,
        Some(stored.agent_id),
        None,
    )?;
    Ok((spec != stored.spec).then_some(spec))
}

fn finish(
    body: &Map<String, Value>,
    touched: &dyn Fn(&str) -> bool,
    candidate: Value,
    base: &Value,
    rules: &Rules,
    own_id: Option<AgentId>,
    stored: Option<&AgentSpec>,
) -> Result<AgentSpec, Problems> {
    // The spec is read even from a faulty document (faulty fields at their defaults), so that its
    // references can be checked and reported together with the other problems.
    let (spec, mut problems) = read_merged(&candidate, body, rules, stored);
    check_read_only(touched, &candidate, base, &mut problems);
    let mut references = Vec::new();
    for (path, target) in spec.transfer_targets() {
        match target.parse::<AgentId>() {
            Ok(id) if Some(id) == own_id => problems.push(
                &path,
                ProblemCode::SelfReference,
                "an agent cannot transfer to itself",
            ),
            Ok(id) => references.push((path, Reference::Agent(id))),
            // An empty id is a missing or faulty one, already reported.
            Err(_) if target.is_empty() => {}
            Err(_) => problems.push(&path, ProblemCode::NotFound, missing_agent(target)),
        }
    }
    if problems.is_empty() {
        return Ok(spec);
    }
    for (path, id) in knowledge_base(&spec) {
        // An empty id is a faulty one, already reported.
        if !id.is_empty() {
            references.push((path, Reference::Document(id.clone())));
        }
    }
    for (path, reference) in references {
        problems.defer_reference(&path, reference);
    }
    Err(problems)
}

/// The agents `references` name, each once, to be looked up.
pub fn referenced(references: &[(Pointer, Reference)]) -> Vec<AgentId> {
    let mut ids: Vec<AgentId> = references
        .iter()
        .filter_map(|(_, r)| match r {
            Reference::Agent(id) => Some(*id),
            Reference::Document(_) => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The knowledge-base documents `references` name, each once, to be looked up.
pub fn referenced_documents(references: &[(Pointer, Reference)]) -> Vec<String> {
    let mut ids: Vec<String> = references
        .iter()
        .filter_map(|(_, r)| match r {
            Reference::Document(id) => Some(id.clone()),
            Reference::Agent(_) => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Reports each deferred reference that is not among those found: agents `agents`, documents
/// `documents`.
pub fn report_missing(
    problems: &mut Problems,
    references: &[(Pointer, Reference)],
    agents: &[AgentId],
    documents: &[String],
) {
    for (path, reference) in references {
        match reference {
            Reference::Agent(id) if !agents.contains(id) => {
                problems.push(path, ProblemCode::NotFound, missing_agent(&id.to_string()))
            }
            Reference::Document(id) if !documents.contains(id) => {
                problems.push(path, ProblemCode::NotFound, missing_document(id))
            }
            _ => {}
        }
    }
}

fn missing_agent(id: &str) -> String {
    format!("names no agent of this workspace: {id:?}")
}

/// The agents `spec` transfers to (each once), for the store to check that they exist.
pub fn transfer_targets(spec: &AgentSpec) -> Vec<AgentId> {
    let mut ids: Vec<AgentId> = spec
        .transfer_targets()
        .filter_map(|(_, t)| t.parse().ok())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The problems to report when the store finds that `missing` agents do not exist.
pub fn missing_targets(spec: &AgentSpec, missing: &[AgentId]) -> Problems {
    let mut problems = Problems::new();
    for (path, target) in spec.transfer_targets() {
        if missing.iter().any(|m| m.to_string() == target) {
            problems.push(&path, ProblemCode::NotFound, missing_agent(target));
        }
    }
    problems
}

/// The knowledge-base documents `spec` names (each once), for the store to check that they exist.
pub fn named_documents(spec: &AgentSpec) -> Vec<String> {
    let mut ids = spec.conversation_config.agent.prompt.knowledge_base.clone();
    ids.sort();
    ids.dedup();
    ids
}

/// The knowledge-base documents an agent names, each with where it names it.
fn knowledge_base(spec: &AgentSpec) -> impl Iterator<Item = (Pointer, &String)> {
    let base = Pointer::root()
        .key("conversationConfig")
        .key("agent")
        .key("prompt")
        .key("knowledgeBase");
    let ids = &spec.conversation_config.agent.prompt.knowledge_base;
    ids.iter()
        .enumerate()
        .map(move |(i, id)| (base.index(i), id))
}

fn missing_document(id: &str) -> String {
    format!("names no knowledge-base document of this workspace: {id:?}")
}

/// A `not_found` problem at each index of `knowledgeBase` that names one of `missing`.
pub fn missing_documents(spec: &AgentSpec, missing: &[String]) -> Problems {
    let mut problems = Problems::new();
    for (path, id) in knowledge_base(spec) {
        if missing.contains(id) {
            problems.push(&path, ProblemCode::NotFound, missing_document(id));
        }
    }
    problems
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_changes;
