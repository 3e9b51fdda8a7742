//! A small request validator for Microsoft's stable Sentinel incidents API:
//! `Incidents.json` (api-version 2025-09-01), with its `$ref`s resolved
//! into the sibling files under `tests/fixtures/azure-specs/openapi/`.
//!
//! Declare it from a test with `#[path = "common/openapi.rs"] mod openapi;`.
//!
//! [`Spec::check`] finds the operation whose path template and method match
//! a request and checks:
//! - path: literal segments match (ASCII case-insensitively, as ARM routes);
//!   every path parameter, percent-decoded, is non-empty and meets its
//!   `pattern`, `minLength`/`maxLength` and `format: uuid`;
//! - query: keys and values are form-decoded (`%24top` is `$top`); no key
//!   twice; every key is a parameter the operation declares (names compared
//!   case-insensitively, as ARM does); every required one is present
//!   (`api-version`, which must also be this document's version); integers
//!   parse and stay within `minimum`/`maximum` (`$top` <= 1000); strings meet
//!   their pattern, lengths and enum;
//! - body: an operation without a body parameter gets an empty body (the
//!   alerts/entities/bookmarks POSTs); one with a body parameter gets JSON
//!   that meets the schema: every `required` property (through `$ref`,
//!   `allOf` and nested objects) present and not null, the declared JSON
//!   type, `format: uuid`, `enum` values (case-insensitively; `modelAsString`
//!   enums too: this checks what a client sends, and a client should send
//!   only the values the spec lists), no `readOnly` property sent, and no
//!   property the schema does not declare (unless it allows
//!   `additionalProperties`).
//!
//! Two deliberate readings, stricter than plain JSON Schema:
//! - an object property whose schema has `required` fields is itself
//!   required when its parent is sent (an Incident body without
//!   `properties` lacks the `properties.title` the service requires);
//! - `null` counts as absent: allowed for optional properties, refused for
//!   required ones.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

/// The mirrored `specification/` folder of Azure/azure-rest-api-specs.
pub const OPENAPI_DIR: &str = "tests/fixtures/azure-specs/openapi";
/// The document the connector's ARM calls are checked against by default
/// (the connector's default api-version), under [`OPENAPI_DIR`].
pub const INCIDENTS_SPEC: &str =
    "securityinsights/resource-manager/Microsoft.SecurityInsights/stable/2025-09-01/Incidents.json";
/// The other areas' documents, checked whatever api-version the connector
/// is configured for: only 2025-12-01's are mirrored here, and their paths
/// and bodies are those of 2025-09-01 (the version the connector defaults to).
pub const EXTRA_SPECS: &[&str] = &[
    "securityinsights/resource-manager/Microsoft.SecurityInsights/stable/2025-12-01/AlertRules.json",
    // 2025-09-01's Watchlists.json is not in the fixtures; its paths and
    // bodies are the same as 2025-12-01's, checked here for both versions.
    "securityinsights/resource-manager/Microsoft.SecurityInsights/stable/2025-12-01/Watchlists.json",
    // The same for ThreatIntelligence.json (2025-09-01's is not mirrored either).
    "securityinsights/resource-manager/Microsoft.SecurityInsights/stable/2025-12-01/ThreatIntelligence.json",
];
/// The stable api-versions whose `Incidents.json` is mirrored here.
pub const STABLE_VERSIONS: &[&str] = &["2025-09-01", "2025-12-01"];
/// The x-ms-example folders of the stable incidents API, under `tests/fixtures/azure-specs`.
pub const EXAMPLE_DIRS: &[&str] = &["incidents", "incident-comments", "incident-relations", "incident-tasks"];

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

/// A JSON value of the spec and the file it came from (relative `$ref`s resolve from that file).
#[derive(Clone, Debug)]
struct Node {
    file: PathBuf,
    value: Value,
}

#[derive(Clone, Debug)]
enum Segment {
    Literal(String),
    Param(String),
}

/// One operation of the spec, its parameters resolved.
#[derive(Clone, Debug)]
pub struct Operation {
    pub id: String,
    /// Upper-case.
    pub method: String,
    pub template: String,
    segments: Vec<Segment>,
    parameters: Vec<Node>,
    /// File names of its x-ms-examples (`GetIncidents.json`).
    pub examples: Vec<String>,
    /// `x-ms-pageable`: its nextLink may carry the service's own paging
    /// parameters (`$skipToken`), which the spec need not declare.
    pub pageable: bool,
}

impl Operation {
    fn params_in<'a>(&'a self, location: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.parameters.iter().map(|p| &p.value).filter(move |p| p["in"] == location)
    }

    fn body_parameter(&self) -> Option<&Node> {
        self.parameters.iter().find(|p| p.value["in"] == "body")
    }
}

/// A request as the validator sees it: the path and query exactly as sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub body: Vec<u8>,
}

/// The spec, every file it references loaded.
pub struct Spec {
    root: PathBuf,
    main: PathBuf,
    files: HashMap<PathBuf, Value>,
    /// `info.version`: the api-version this document describes.
    pub version: String,
    pub operations: Vec<Operation>,
    /// Accepts any of [`STABLE_VERSIONS`] as the api-version ([`EXTRA_SPECS`]).
    any_stable_version: bool,
}

impl Spec {
    /// Loads `Incidents.json` from the package's fixtures.
    pub fn load() -> Spec {
        Spec::load_from(&Path::new(env!("CARGO_MANIFEST_DIR")).join(OPENAPI_DIR), INCIDENTS_SPEC)
    }

    /// Loads the stable `Incidents.json` of `version` (one of [`STABLE_VERSIONS`]).
    pub fn load_version(version: &str) -> Spec {
        let document = INCIDENTS_SPEC.replace("2025-09-01", version);
        let spec = Spec::load_from(&Path::new(env!("CARGO_MANIFEST_DIR")).join(OPENAPI_DIR), &document);
        assert_eq!(spec.version, version, "{document} describes {}", spec.version);
        spec
    }

    /// Loads `document` (relative to `root`) and every file its `$ref`s
    /// reach; panics if one resolves outside `root` or is missing.
    pub fn load_from(root: &Path, document: &str) -> Spec {
        let root = normalize(root);
        let main = normalize(&root.join(document));
        let mut files = HashMap::new();
        let mut pending = vec![main.clone()];
        while let Some(path) = pending.pop() {
            if files.contains_key(&path) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let json: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            let mut refs = Vec::new();
            collect_refs(&json, &mut refs);
            for reference in refs {
                let (file, _) = reference.split_once('#').unwrap_or((&reference, ""));
                if file.is_empty() {
                    continue;
                }
                let target = normalize(&path.parent().expect("a file has a folder").join(file));
                assert!(target.starts_with(&root), "$ref {reference} in {} leaves {}", path.display(), root.display());
                pending.push(target);
            }
            files.insert(path, json);
        }
        let mut spec = Spec {
            root,
            main: main.clone(),
            files,
            version: String::new(),
            operations: Vec::new(),
            any_stable_version: false,
        };
        let document = spec.files[&main].clone();
        spec.version = document["info"]["version"].as_str().expect("info.version").to_owned();
        let paths = document["paths"].as_object().expect("paths");
        for (template, item) in paths {
            let shared: Vec<Value> = item["parameters"].as_array().cloned().unwrap_or_default();
            for method in METHODS {
                let Some(operation) = item.get(*method) else { continue };
                let mut parameters: Vec<Node> = Vec::new();
                let own = operation["parameters"].as_array().cloned().unwrap_or_default();
                for parameter in shared.iter().chain(own.iter()) {
                    let resolved = spec.resolve(&Node { file: main.clone(), value: parameter.clone() });
                    // An operation's parameter replaces a path-level one of the same name and location.
                    parameters.retain(|p| {
                        !(p.value["name"] == resolved.value["name"] && p.value["in"] == resolved.value["in"])
                    });
                    parameters.push(resolved);
                }
                let segments: Vec<Segment> = template
                    .trim_start_matches('/')
                    .split('/')
                    .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(name) => Segment::Param(name.to_owned()),
                        None => Segment::Literal(s.to_owned()),
                    })
                    .collect();
                for segment in &segments {
                    if let Segment::Param(name) = segment {
                        assert!(
                            parameters.iter().any(|p| p.value["in"] == "path" && p.value["name"] == name.as_str()),
                            "{template}: {{{name}}} is not a declared path parameter"
                        );
                    }
                }
                let examples = operation["x-ms-examples"]
                    .as_object()
                    .map(|examples| {
                        examples
                            .values()
                            .filter_map(|e| e["$ref"].as_str())
                            .filter_map(|r| r.rsplit('/').next())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                spec.operations.push(Operation {
                    id: operation["operationId"].as_str().expect("operationId").to_owned(),
                    method: method.to_ascii_uppercase(),
                    template: template.clone(),
                    segments,
                    parameters,
                    examples,
                    pageable: operation["x-ms-pageable"].is_object(),
                });
            }
        }
        spec
    }

    /// Every operationId of the document, sorted.
    pub fn operation_ids(&self) -> BTreeSet<String> {
        self.operations.iter().map(|o| o.id.clone()).collect()
    }

    pub fn operation(&self, id: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.id == id)
    }

    /// Follows `$ref`s until a node without one. Keywords beside a `$ref`
    /// (Azure puts `readOnly` and `description` there) are kept where the
    /// target does not set them.
    fn resolve(&self, node: &Node) -> Node {
        let mut current = node.clone();
        for _ in 0..64 {
            let Some(reference) = current.value.get("$ref").and_then(Value::as_str).map(str::to_owned) else {
                return current;
            };
            let (file, pointer) = reference.split_once('#').unwrap_or((&reference, ""));
            let target = if file.is_empty() {
                current.file.clone()
            } else {
                normalize(&current.file.parent().expect("a folder").join(file))
            };
            let document = self
                .files
                .get(&target)
                .unwrap_or_else(|| panic!("$ref {reference}: {} is not loaded", target.display()));
            let mut found =
                document.pointer(pointer).unwrap_or_else(|| panic!("$ref {reference} points at nothing")).clone();
            if let (Some(siblings), Some(object)) = (current.value.as_object(), found.as_object_mut()) {
                for (key, value) in siblings {
                    if key != "$ref" && !object.contains_key(key) {
                        object.insert(key.clone(), value.clone());
                    }
                }
            }
            current = Node { file: target, value: found };
        }
        panic!("$ref chain too long from {}", node.value)
    }

    /// The operation for `method` and a path as sent, with the raw (still
    /// percent-encoded) path parameter values.
    /// Whether an operation of this document has `method` and `path`.
    pub fn has_operation(&self, method: &str, path: &str) -> bool {
        self.find(method, path).is_ok()
    }

    /// Loads each of [`EXTRA_SPECS`].
    pub fn load_extras() -> Vec<Spec> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(OPENAPI_DIR);
        let load = |document: &&str| Spec { any_stable_version: true, ..Spec::load_from(&root, document) };
        EXTRA_SPECS.iter().map(load).collect()
    }

    fn find(&self, method: &str, path: &str) -> Result<(&Operation, BTreeMap<String, String>), String> {
        let Some(rest) = path.strip_prefix('/') else {
            return Err(format!("the path '{path}' does not start with '/'"));
        };
        let actual: Vec<&str> = rest.split('/').collect();
        let mut candidates: Vec<(&Operation, BTreeMap<String, String>)> = Vec::new();
        for operation in &self.operations {
            if operation.segments.len() != actual.len() {
                continue;
            }
            let mut params = BTreeMap::new();
            let matched = operation.segments.iter().zip(&actual).all(|(segment, value)| match segment {
                Segment::Literal(literal) => literal.eq_ignore_ascii_case(value),
                Segment::Param(name) => {
                    params.insert(name.clone(), (*value).to_owned());
                    true
                }
            });
            if matched {
                candidates.push((operation, params));
            }
        }
        if candidates.is_empty() {
            return Err(format!(
                "no operation of {} has a path like {path}",
                self.main.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
        let templates: BTreeSet<&str> = candidates.iter().map(|(o, _)| o.template.as_str()).collect();
        // The most literal template first, should two ever overlap.
        candidates.sort_by_key(|(o, _)| o.segments.iter().filter(|s| matches!(s, Segment::Param(_))).count());
        let allowed: Vec<&str> = candidates.iter().map(|(o, _)| o.method.as_str()).collect();
        candidates
            .into_iter()
            .find(|(o, _)| o.method.eq_ignore_ascii_case(method))
            .ok_or_else(|| format!("{templates:?} has no {method} operation (only {})", allowed.join(", ")))
    }

    /// Checks a request; the operationId if it conforms, else why not.
    pub fn check(&self, request: &Request) -> Result<String, String> {
        self.check_parts(&request.method, &request.path, request.query.as_deref(), &request.body)
    }

    pub fn check_parts(&self, method: &str, path: &str, query: Option<&str>, body: &[u8]) -> Result<String, String> {
        let (operation, raw_params) = self.find(method, path)?;
        let id = &operation.id;
        let fail = |reason: String| Err(format!("{id}: {reason}"));

        // Path parameters.
        for parameter in operation.params_in("path") {
            let name = parameter["name"].as_str().unwrap_or_default();
            let raw = &raw_params[name];
            // Strict: every `%` starts an escape (percent-encoding keeps a stray one as is), and the bytes are UTF-8.
            let escapes = raw
                .match_indices('%')
                .all(|(at, _)| raw.get(at + 1..at + 3).is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit())));
            let decoded = percent_encoding::percent_decode_str(raw).decode_utf8().ok().filter(|_| escapes);
            let Some(value) = decoded else {
                return fail(format!("path parameter {name} '{raw}' is not valid percent-encoded UTF-8"));
            };
            if value.is_empty() {
                return fail(format!("path parameter {name} is empty"));
            }
            if let Err(reason) = check_simple(parameter, &value) {
                return fail(format!("path parameter {name}: {reason}"));
            }
        }

        // Query parameters.
        let mut seen: Vec<String> = Vec::new();
        for piece in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (raw_key, raw_value) = piece.split_once('=').unwrap_or((piece, ""));
            let key = form_decode(raw_key);
            let value = form_decode(raw_value);
            if seen.iter().any(|k| k.eq_ignore_ascii_case(&key)) {
                return fail(format!("query parameter {key} is sent twice"));
            }
            seen.push(key.clone());
            let Some(parameter) =
                operation.params_in("query").find(|p| p["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(&key)))
            else {
                if operation.pageable && key.eq_ignore_ascii_case("$skipToken") {
                    continue;
                }
                let declared: Vec<&str> = operation.params_in("query").filter_map(|p| p["name"].as_str()).collect();
                return fail(format!("query parameter '{key}' is not declared (declared: {})", declared.join(", ")));
            };
            if let Err(reason) = check_simple(parameter, &value) {
                return fail(format!("query parameter {key}: {reason}"));
            }
            let known_version = self.any_stable_version && STABLE_VERSIONS.contains(&value.as_str());
            if key.eq_ignore_ascii_case("api-version") && value != self.version && !known_version {
                return fail(format!(
                    "api-version '{value}' is not {}, the version this document describes",
                    self.version
                ));
            }
        }
        for parameter in operation.params_in("query").filter(|p| p["required"] == true) {
            let name = parameter["name"].as_str().unwrap_or_default();
            if !seen.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                return fail(format!("required query parameter {name} is missing"));
            }
        }

        // Body.
        match operation.body_parameter() {
            None if body.is_empty() => {}
            None => return fail(format!("the operation takes no request body, but {} bytes were sent", body.len())),
            Some(parameter) => {
                let name = parameter.value["name"].as_str().unwrap_or("body");
                if body.is_empty() {
                    if parameter.value["required"] == true {
                        return fail(format!("the body parameter '{name}' is required, but the body is empty"));
                    }
                } else {
                    let json: Value = match serde_json::from_slice(body) {
                        Ok(json) => json,
                        Err(e) => return fail(format!("the body is not JSON: {e}")),
                    };
                    let schema = Node { file: parameter.file.clone(), value: parameter.value["schema"].clone() };
                    let mut problems = Vec::new();
                    self.check_schema(&schema, &json, "body", &mut problems);
                    if !problems.is_empty() {
                        return fail(problems.join("; "));
                    }
                }
            }
        }
        Ok(id.clone())
    }

    /// A schema with its `$ref`s followed and its `allOf` parts merged.
    fn flatten(&self, node: &Node) -> Flat {
        let node = self.resolve(node);
        let mut flat = Flat::default();
        for part in node.value["allOf"].as_array().cloned().unwrap_or_default() {
            let inner = self.flatten(&Node { file: node.file.clone(), value: part });
            flat.merge(inner);
        }
        let value = &node.value;
        if let Some(kind) = value["type"].as_str() {
            flat.kind = Some(kind.to_owned());
        }
        if let Some(values) = value["enum"].as_array() {
            flat.enumeration = Some(values.clone());
        }
        if let Some(format) = value["format"].as_str() {
            flat.format = Some(format.to_owned());
        }
        if value["readOnly"] == true {
            flat.read_only = true;
        }
        for name in value["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            flat.required.insert(name.to_owned());
        }
        if let Some(properties) = value["properties"].as_object() {
            flat.declares_properties = true;
            for (name, property) in properties {
                flat.properties.insert(name.clone(), Node { file: node.file.clone(), value: property.clone() });
            }
        }
        if let Some(items) = value.get("items") {
            flat.items = Some(Node { file: node.file.clone(), value: items.clone() });
        }
        match value.get("additionalProperties") {
            Some(Value::Bool(allowed)) => flat.additional = if *allowed { Additional::Any } else { Additional::None },
            Some(schema @ Value::Object(_)) => {
                flat.additional = Additional::Schema(Node { file: node.file.clone(), value: schema.clone() })
            }
            _ => {}
        }
        for key in ["minLength", "maxLength", "pattern", "minimum", "maximum"] {
            if let Some(v) = value.get(key) {
                flat.simple.insert(key.to_owned(), v.clone());
            }
        }
        flat
    }

    /// A polymorphic schema (one with a `discriminator`) is checked as the
    /// subtype the value names: the definition of the same file whose
    /// `x-ms-discriminator-value` (or name) it is and whose `allOf` extends
    /// the base, as ARM reads `kind`.
    fn subtype(&self, node: &Node, value: &Value) -> Option<Node> {
        let base = self.resolve(node);
        let field = base.value.get("discriminator")?.as_str()?;
        let named = value.get(field)?.as_str()?;
        let definitions = self.files.get(&base.file)?.get("definitions")?.as_object()?;
        definitions.iter().find_map(|(name, definition)| {
            let tag = definition.get("x-ms-discriminator-value").and_then(Value::as_str).unwrap_or(name);
            let parents = definition.get("allOf")?.as_array()?;
            let extends = parents.iter().any(|parent| {
                self.resolve(&Node { file: base.file.clone(), value: parent.clone() }).value == base.value
            });
            (tag == named && extends).then(|| Node { file: base.file.clone(), value: definition.clone() })
        })
    }

    fn check_schema(&self, node: &Node, value: &Value, at: &str, problems: &mut Vec<String>) {
        if value.is_null() {
            return;
        }
        if let Some(subtype) = self.subtype(node, value) {
            return self.check_schema(&subtype, value, at, problems);
        }
        let schema = self.flatten(node);
        let kind = schema.kind.clone().or_else(|| schema.declares_properties.then(|| "object".to_owned()));
        if let Some(kind) = &kind {
            let fits = match kind.as_str() {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                _ => true,
            };
            if !fits {
                problems.push(format!("{at} should be {kind}, is {}", json_type(value)));
                return;
            }
        }
        if let Some(allowed) = &schema.enumeration {
            let listed = match value.as_str() {
                Some(text) => allowed.iter().any(|a| a.as_str().is_some_and(|a| a.eq_ignore_ascii_case(text))),
                None => allowed.contains(value),
            };
            if !listed {
                problems
                    .push(format!("{at} {value} is not one of the spec's values {}", Value::Array(allowed.clone())));
            }
        }
        if let Some(text) = value.as_str() {
            let mut as_parameter = serde_json::Map::new();
            as_parameter.insert("type".into(), Value::String("string".into()));
            if let Some(format) = &schema.format {
                as_parameter.insert("format".into(), Value::String(format.clone()));
            }
            for (key, v) in &schema.simple {
                as_parameter.insert(key.clone(), v.clone());
            }
            if let Err(reason) = check_simple(&Value::Object(as_parameter), text) {
                problems.push(format!("{at}: {reason}"));
            }
        }
        if let Some(object) = value.as_object() {
            for name in &schema.required {
                if object.get(name).is_none_or(Value::is_null) {
                    problems.push(format!("{at}.{name} is required"));
                }
            }
            for (name, property) in &schema.properties {
                if object.get(name).is_some_and(|v| !v.is_null()) || schema.required.contains(name) {
                    continue;
                }
                // An object whose own fields are required cannot be left out.
                let inner = self.flatten(property);
                if let Some(first) = inner.required.iter().next() {
                    if inner.kind.as_deref().unwrap_or("object") == "object" && !inner.read_only {
                        problems.push(format!("{at}.{name}.{first} is required ({at}.{name} is missing)"));
                    }
                }
            }
            for (name, inner_value) in object {
                let path = format!("{at}.{name}");
                match schema.properties.get(name) {
                    Some(property) => {
                        if !inner_value.is_null() && self.flatten(property).read_only {
                            problems.push(format!("{path} is read-only and must not be sent"));
                            continue;
                        }
                        self.check_schema(property, inner_value, &path, problems);
                    }
                    None => match &schema.additional {
                        Additional::Any => {}
                        Additional::Schema(extra) => self.check_schema(extra, inner_value, &path, problems),
                        Additional::None | Additional::Undeclared
                            if schema.declares_properties || !schema.required.is_empty() =>
                        {
                            problems.push(format!("{path} is not a property the spec declares"))
                        }
                        _ => {}
                    },
                }
            }
        }
        if let (Some(items), Some(array)) = (&schema.items, value.as_array()) {
            for (index, item) in array.iter().enumerate() {
                self.check_schema(items, item, &format!("{at}[{index}]"), problems);
            }
        }
    }

    /// The request Microsoft's x-ms-example `file_name` describes (its
    /// operation is the one whose `x-ms-examples` names the file): the path
    /// template filled and percent-encoded, the query parameters it gives
    /// form-encoded, the body parameter as JSON.
    pub fn example_request(&self, file_name: &str, example: &Value) -> Result<(String, Request), String> {
        let operation = self
            .operations
            .iter()
            .find(|o| o.examples.iter().any(|e| e == file_name))
            .ok_or_else(|| format!("no operation lists {file_name} in its x-ms-examples"))?;
        let parameters = &example["parameters"];
        let text = |name: &str| -> Option<String> {
            match &parameters[name] {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            }
        };
        let mut path = String::new();
        for segment in &operation.segments {
            path.push('/');
            match segment {
                Segment::Literal(literal) => path.push_str(literal),
                Segment::Param(name) => {
                    path.push_str(&percent_encode(&text(name).ok_or_else(|| format!("{file_name} has no {name}"))?))
                }
            }
        }
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for parameter in operation.params_in("query") {
            let name = parameter["name"].as_str().unwrap_or_default();
            if let Some(value) = text(name) {
                query.append_pair(name, &value);
            }
        }
        let body = match operation.body_parameter() {
            Some(parameter) => {
                let name = parameter.value["name"].as_str().unwrap_or_default();
                serde_json::to_vec(&parameters[name]).map_err(|e| e.to_string())?
            }
            None => Vec::new(),
        };
        Ok((
            operation.id.clone(),
            Request { method: operation.method.clone(), path, query: Some(query.finish()), body },
        ))
    }
}

#[derive(Clone, Debug, Default)]
enum Additional {
    /// No `additionalProperties`: Azure's model validation refuses unknown properties.
    #[default]
    Undeclared,
    None,
    Any,
    Schema(Node),
}

#[derive(Clone, Debug, Default)]
struct Flat {
    kind: Option<String>,
    enumeration: Option<Vec<Value>>,
    format: Option<String>,
    read_only: bool,
    required: BTreeSet<String>,
    properties: BTreeMap<String, Node>,
    declares_properties: bool,
    items: Option<Node>,
    additional: Additional,
    /// String constraints, in parameter form.
    simple: BTreeMap<String, Value>,
}

impl Flat {
    fn merge(&mut self, other: Flat) {
        self.kind = self.kind.take().or(other.kind);
        self.enumeration = self.enumeration.take().or(other.enumeration);
        self.format = self.format.take().or(other.format);
        self.read_only |= other.read_only;
        self.required.extend(other.required);
        self.properties.extend(other.properties);
        self.declares_properties |= other.declares_properties;
        self.items = self.items.take().or(other.items);
        if matches!(self.additional, Additional::Undeclared) {
            self.additional = other.additional;
        }
        for (key, value) in other.simple {
            self.simple.entry(key).or_insert(value);
        }
    }
}

/// A path or query parameter's value (or a string property) against
/// `type`, `pattern`, `minLength`/`maxLength`, `minimum`/`maximum`,
/// `format` (uuid, int32) and `enum`.
fn check_simple(parameter: &Value, value: &str) -> Result<(), String> {
    match parameter["type"].as_str().unwrap_or("string") {
        "integer" => {
            let number: i64 = value.trim().parse().map_err(|_| format!("'{value}' is not an integer"))?;
            if parameter["format"] == "int32" && i32::try_from(number).is_err() {
                return Err(format!("{number} is not an int32"));
            }
            if let Some(maximum) = parameter["maximum"].as_f64() {
                if number as f64 > maximum {
                    return Err(format!("{number} is over the maximum {maximum}"));
                }
            }
            if let Some(minimum) = parameter["minimum"].as_f64() {
                if (number as f64) < minimum {
                    return Err(format!("{number} is under the minimum {minimum}"));
                }
            }
        }
        "number" => {
            value.trim().parse::<f64>().map_err(|_| format!("'{value}' is not a number"))?;
        }
        "boolean" => {
            if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
                return Err(format!("'{value}' is not a boolean"));
            }
        }
        _ => {
            let length = value.chars().count() as u64;
            if let Some(min) = parameter["minLength"].as_u64() {
                if length < min {
                    return Err(format!("'{value}' is shorter than minLength {min}"));
                }
            }
            if let Some(max) = parameter["maxLength"].as_u64() {
                if length > max {
                    return Err(format!("'{value}' is longer than maxLength {max}"));
                }
            }
            if let Some(pattern) = parameter["pattern"].as_str() {
                let regex = regex::Regex::new(pattern)
                    .map_err(|e| format!("the spec's pattern {pattern} does not compile: {e}"))?;
                if !regex.is_match(value) {
                    return Err(format!("'{value}' does not match the pattern {pattern}"));
                }
            }
            // The 8-4-4-4-12 hex form only (what ARM means by `format: uuid`):
            // uuid also reads the simple, braced and URN forms, none 36 long.
            if parameter["format"] == "uuid" && !(value.len() == 36 && uuid::Uuid::try_parse(value).is_ok()) {
                return Err(format!("'{value}' is not a uuid"));
            }
        }
    }
    if let Some(allowed) = parameter["enum"].as_array() {
        if !allowed
            .iter()
            .any(|a| a.as_str().map(str::to_owned).unwrap_or_else(|| a.to_string()).eq_ignore_ascii_case(value))
        {
            return Err(format!("'{value}' is not one of {}", Value::Array(allowed.clone())));
        }
    }
    Ok(())
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Encodes everything but RFC 3986's unreserved characters.
pub fn percent_encode(text: &str) -> String {
    const ESCAPED: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    percent_encoding::utf8_percent_encode(text, ESCAPED).to_string()
}

/// `application/x-www-form-urlencoded` decoding of one query key or value.
fn form_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// Lexical `..`/`.` removal (the files need not exist for this).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Every `$ref` string, except under `x-ms-examples` (the examples are not mirrored there).
fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "x-ms-examples" {
                    continue;
                }
                if key == "$ref" {
                    if let Some(reference) = inner.as_str() {
                        out.push(reference.to_owned());
                    }
                } else {
                    collect_refs(inner, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, out)),
        _ => {}
    }
}

/// The x-ms-example files of the stable incidents API: (folder/file name, JSON).
pub fn example_files() -> Vec<(String, Value)> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/azure-specs");
    let mut out = Vec::new();
    for dir in EXAMPLE_DIRS {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(base.join(dir))
            .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        entries.sort();
        for path in entries {
            let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("readable")).expect("JSON");
            out.push((format!("{dir}/{}", path.file_name().unwrap_or_default().to_string_lossy()), json));
        }
    }
    out
}

/// Reads one fixture of `tests/fixtures/azure-specs` (`incidents/GetIncidentById.json`).
pub fn fixture(path: &str) -> Value {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/azure-specs").join(path);
    serde_json::from_str(
        &std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("cannot read {}: {e}", full.display())),
    )
    .expect("JSON")
}

#[cfg(test)]
mod validator_tests {
    use super::*;

    const WS: &str = "/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/myRg/providers/Microsoft.OperationalInsights/workspaces/myWorkspace/providers/Microsoft.SecurityInsights";
    const INCIDENT: &str = "73e01a99-5cd7-4139-a149-9f2736ff2ab5";

    fn request(method: &str, rest: &str, query: &str, body: &str) -> Request {
        Request {
            method: method.into(),
            path: format!("{WS}{rest}"),
            query: Some(query.into()),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn every_ref_resolves_and_every_operation_is_known() {
        let spec = Spec::load();
        assert_eq!(spec.version, "2025-09-01");
        assert_eq!(spec.operations.len(), 19, "{:?}", spec.operation_ids());
        for operation in &spec.operations {
            for parameter in &operation.parameters {
                assert!(parameter.value.get("$ref").is_none(), "{}: unresolved {}", operation.id, parameter.value);
                if let Some(schema) = parameter.value.get("schema") {
                    spec.flatten(&Node { file: parameter.file.clone(), value: schema.clone() });
                }
            }
        }
    }

    #[test]
    fn microsofts_example_requests_conform() {
        let spec = Spec::load();
        let examples = example_files();
        assert!(examples.len() >= 19, "{} examples", examples.len());
        let mut covered = BTreeSet::new();
        for (name, example) in &examples {
            let file_name = name.rsplit('/').next().unwrap_or_default();
            let (expected, request) =
                spec.example_request(file_name, example).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(spec.check(&request), Ok(expected.clone()), "{name}: {request:?}");
            covered.insert(expected);
        }
        assert_eq!(covered, spec.operation_ids(), "every operation has an example that passes");
    }

    #[test]
    fn percent_encoded_query_keys_and_path_parameters_are_decoded() {
        let spec = Spec::load();
        let list = request("GET", "/incidents", "api-version=2025-09-01&%24filter=properties%2Fseverity+eq+%27High%27&%24orderby=properties%2FcreatedTimeUtc+desc&%24top=1000&%24skipToken=abc%3D%3D", "");
        assert_eq!(spec.check(&list), Ok("Incidents_List".into()));
        let encoded = request("GET", &format!("/incidents/{INCIDENT}/relations/%61bc"), "api-version=2025-09-01", "");
        assert_eq!(spec.check(&encoded), Ok("IncidentRelations_Get".into()));
        let comments = request(
            "GET",
            &format!("/incidents/{INCIDENT}/comments"),
            "api-version=2025-09-01&%24top=5&%24skipToken=x",
            "",
        );
        assert_eq!(spec.check(&comments), Ok("IncidentComments_List".into()));
    }

    #[test]
    fn broken_requests_are_refused() {
        let spec = Spec::load();
        let incident = format!("/incidents/{INCIDENT}");
        let good_incident = r#"{"properties":{"title":"t","severity":"High","status":"New"}}"#;
        assert_eq!(
            spec.check(&request("PUT", &incident, "api-version=2025-09-01", good_incident)),
            Ok("Incidents_CreateOrUpdate".into())
        );
        let relation = format!("{incident}/relations/");
        let related = r#"{"properties":{"relatedResourceId":"/subscriptions/x/bookmarks/y"}}"#;
        let cases: Vec<(&str, Request, &str)> = vec![
            ("missing api-version", request("GET", "/incidents", "", ""), "api-version is missing"),
            ("another api-version", request("GET", "/incidents", "api-version=2024-03-01", ""), "is not 2025-09-01"),
            (
                "api-version twice",
                request("GET", "/incidents", "api-version=2025-09-01&api-version=2025-09-01", ""),
                "twice",
            ),
            (
                "unknown query parameter",
                request("GET", "/incidents", "api-version=2025-09-01&%24expand=x", ""),
                "'$expand' is not declared",
            ),
            (
                "$skip is not declared",
                request("GET", "/incidents", "api-version=2025-09-01&%24skip=10", ""),
                "not declared",
            ),
            ("$top over 1000", request("GET", "/incidents", "api-version=2025-09-01&%24top=1001", ""), "maximum"),
            (
                "$top not a number",
                request("GET", "/incidents", "api-version=2025-09-01&%24top=ten", ""),
                "not an integer",
            ),
            (
                "relation name with an underscore",
                request("PUT", &format!("{relation}a_b"), "api-version=2025-09-01", related),
                "pattern",
            ),
            (
                "relation name too short",
                request("GET", &format!("{relation}ab"), "api-version=2025-09-01", ""),
                "minLength 3",
            ),
            (
                "relation name too long",
                request("DELETE", &format!("{relation}{}", "a".repeat(64)), "api-version=2025-09-01", ""),
                "maxLength 63",
            ),
            (
                "relation without relatedResourceId",
                request("PUT", &format!("{relation}abc"), "api-version=2025-09-01", r#"{"properties":{}}"#),
                "relatedResourceId is required",
            ),
            (
                "incident without title",
                request(
                    "PUT",
                    &incident,
                    "api-version=2025-09-01",
                    r#"{"properties":{"severity":"High","status":"New"}}"#,
                ),
                "body.properties.title is required",
            ),
            (
                "incident with a null title",
                request(
                    "PUT",
                    &incident,
                    "api-version=2025-09-01",
                    r#"{"properties":{"title":null,"severity":"High","status":"New"}}"#,
                ),
                "title is required",
            ),
            (
                "incident without properties",
                request("PUT", &incident, "api-version=2025-09-01", "{}"),
                "body.properties.severity is required",
            ),
            (
                "incident with an unknown severity",
                request(
                    "PUT",
                    &incident,
                    "api-version=2025-09-01",
                    r#"{"properties":{"title":"t","severity":"Critical","status":"New"}}"#,
                ),
                "Critical",
            ),
            (
                "incident with a read-only label type",
                request(
                    "PUT",
                    &incident,
                    "api-version=2025-09-01",
                    r#"{"properties":{"title":"t","severity":"High","status":"New","labels":[{"labelName":"a","labelType":"User"}]}}"#,
                ),
                "labelType is read-only",
            ),
            (
                "incident with a read-only incidentNumber",
                request(
                    "PUT",
                    &incident,
                    "api-version=2025-09-01",
                    r#"{"properties":{"title":"t","severity":"High","status":"New","incidentNumber":1}}"#,
                ),
                "read-only",
            ),
            (
                "incident with an unknown property",
                request(
                    "PUT",
                    &incident,
                    "api-version=2025-09-01",
                    r#"{"properties":{"title":"t","severity":"High","status":"New","priority":1}}"#,
                ),
                "priority is not a property",
            ),
            (
                "incident title not a string",
                request(
                    "PUT",
                    &incident,
                    "api-version=2025-09-01",
                    r#"{"properties":{"title":7,"severity":"High","status":"New"}}"#,
                ),
                "should be string",
            ),
            (
                "owner objectId not a uuid",
                request(
                    "PUT",
                    &incident,
                    "api-version=2025-09-01",
                    r#"{"properties":{"title":"t","severity":"High","status":"New","owner":{"objectId":"me"}}}"#,
                ),
                "not a uuid",
            ),
            ("incident body not JSON", request("PUT", &incident, "api-version=2025-09-01", "title=t"), "not JSON"),
            ("incident PUT without a body", request("PUT", &incident, "api-version=2025-09-01", ""), "body is empty"),
            (
                "comment without message",
                request("PUT", &format!("{incident}/comments/c1"), "api-version=2025-09-01", r#"{"properties":{}}"#),
                "message is required",
            ),
            (
                "task without title",
                request(
                    "PUT",
                    &format!("{incident}/tasks/t1"),
                    "api-version=2025-09-01",
                    r#"{"properties":{"status":"New"}}"#,
                ),
                "title is required",
            ),
            (
                "task with an unknown status",
                request(
                    "PUT",
                    &format!("{incident}/tasks/t1"),
                    "api-version=2025-09-01",
                    r#"{"properties":{"title":"t","status":"Done"}}"#,
                ),
                "Done",
            ),
            (
                "task without properties",
                request("PUT", &format!("{incident}/tasks/t1"), "api-version=2025-09-01", "{}"),
                "body.properties is required",
            ),
            (
                "body on the alerts POST",
                request("POST", &format!("{incident}/alerts"), "api-version=2025-09-01", "{}"),
                "takes no request body",
            ),
            (
                "body on the entities POST",
                request("POST", &format!("{incident}/entities"), "api-version=2025-09-01", "{}"),
                "takes no request body",
            ),
            (
                "query parameter on the alerts POST",
                request("POST", &format!("{incident}/alerts"), "api-version=2025-09-01&%24top=5", ""),
                "not declared",
            ),
            (
                "subscription not a uuid",
                Request {
                    method: "GET".into(),
                    path: WS.replace("d0cfe6b2-9ac0-4464-9919-dccaee2e48c0", "my-sub") + "/incidents",
                    query: Some("api-version=2025-09-01".into()),
                    body: vec![],
                },
                "not a uuid",
            ),
            (
                "workspace name with an underscore",
                Request {
                    method: "GET".into(),
                    path: WS.replace("myWorkspace", "my_workspace") + "/incidents",
                    query: Some("api-version=2025-09-01".into()),
                    body: vec![],
                },
                "pattern",
            ),
            ("bad percent-encoding", request("GET", "/incidents/%zz", "api-version=2025-09-01", ""), "percent-encoded"),
            ("empty incident id", request("GET", "/incidents/", "api-version=2025-09-01", ""), "is empty"),
            (
                "PATCH is not an operation",
                request("PATCH", &incident, "api-version=2025-09-01", "{}"),
                "no PATCH operation",
            ),
            (
                "unknown child",
                request("POST", &format!("{incident}/comments2"), "api-version=2025-09-01", ""),
                "no operation",
            ),
            ("preview entities endpoint", request("GET", "/entities", "api-version=2025-09-01", ""), "no operation"),
        ];
        for (what, bad, expected) in cases {
            match spec.check(&bad) {
                Ok(operation) => panic!(
                    "{what}: {} {}?{} passed as {operation}",
                    bad.method,
                    bad.path,
                    bad.query.unwrap_or_default()
                ),
                Err(reason) => {
                    assert!(reason.contains(expected), "{what}: the reason '{reason}' does not mention '{expected}'")
                }
            }
        }
    }
}
