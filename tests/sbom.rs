//! The software bill of materials published beside the build,
//! `release/sbom.cdx.json` (CycloneDX 1.5), lists exactly the crates cargo
//! resolves for a build of the component (`wasm32-wasip2`), and names the
//! hash in `release/component.sha256`.
//!
//! The crates and their graph come from `cargo tree` (what a build of the
//! component alone compiles), their details from `cargo metadata` and their
//! checksums from `Cargo.lock`. This test is also the generator (no tool to
//! install, runs offline):
//! `SENTINEL_WRITE_SBOM=1 cargo test --test sbom` rewrites the file, and
//! `scripts/component-hash --write` refreshes both release files.
//!
//! Scope: `required` for the crates compiled into the `.wasm` (normal
//! dependencies, transitively); `excluded` for what only runs while building
//! it (proc macros, build scripts' dependencies, and what only they use).
//! Dev-dependencies are left out.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

const TARGET: &str = "wasm32-wasip2";
const COMPONENT: &str = "sentinel-connector";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cargo() -> String {
    std::env::var("CARGO").ok().or(option_env!("CARGO").map(str::to_owned)).unwrap_or_else(|| "cargo".into())
}

fn cargo_output(args: &[&str]) -> String {
    let output = Command::new(cargo()).current_dir(root()).args(args).output().expect("cargo runs");
    assert!(output.status.success(), "cargo {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("cargo prints UTF-8")
}

/// Name, version, description, license and repository of every package.
fn metadata() -> Value {
    let text = cargo_output(&["metadata", "--format-version", "1", "--locked", "--filter-platform", TARGET]);
    serde_json::from_str(&text).expect("cargo metadata prints JSON")
}

/// The component's dependency graph over the given edge kinds, as `cargo
/// tree` resolves it for a build of the component alone (the features
/// `cargo metadata` reports are those of the whole workspace, dev-dependencies
/// included, which would list crates the `.wasm` does not contain).
struct Tree {
    /// The component, `name@version`.
    root: String,
    /// `name@version` → the packages it depends on.
    edges: BTreeMap<String, BTreeSet<String>>,
    proc_macros: BTreeSet<String>,
}

fn tree(edges: &str) -> Tree {
    let text = cargo_output(&[
        "tree", "--locked", "-p", COMPONENT, "--target", TARGET, "-e", edges, "--prefix", "depth", "--format", "{p}",
    ]);
    let mut tree = Tree { root: String::new(), edges: BTreeMap::new(), proc_macros: BTreeSet::new() };
    let mut path: Vec<String> = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let digits = line.bytes().take_while(u8::is_ascii_digit).count();
        let depth: usize =
            line[..digits].parse().unwrap_or_else(|_| panic!("a cargo tree line without its depth: {line:?}"));
        let mut words = line[digits..].split_whitespace();
        let (name, version) = (words.next().unwrap(), words.next().unwrap().trim_start_matches('v'));
        let key = format!("{name}@{version}");
        if line.ends_with("(proc-macro)") || line.contains("(proc-macro) ") {
            tree.proc_macros.insert(key.clone());
        }
        path.truncate(depth);
        match path.last() {
            Some(parent) => _ = tree.edges.get_mut(parent).unwrap().insert(key.clone()),
            None => tree.root = key.clone(),
        }
        tree.edges.entry(key.clone()).or_default();
        path.push(key);
    }
    tree
}

/// `name@version` → the `.crate` file's SHA-256, from `Cargo.lock`.
fn lockfile_checksums() -> HashMap<String, String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).expect("Cargo.lock is readable");
    let mut checksums = HashMap::new();
    for block in lock.split("[[package]]").skip(1) {
        let field = |key: &str| {
            block.lines().find_map(|line| {
                line.strip_prefix(key)?.trim().strip_prefix("= \"")?.strip_suffix('"').map(str::to_owned)
            })
        };
        if let (Some(name), Some(version), Some(checksum)) = (field("name "), field("version "), field("checksum ")) {
            checksums.insert(format!("{name}@{version}"), checksum);
        }
    }
    checksums
}

fn committed_hash() -> String {
    let text = std::fs::read_to_string(root().join("release/component.sha256"))
        .expect("release/component.sha256 is committed");
    let hash = text.split_whitespace().next().unwrap_or_default().to_owned();
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "release/component.sha256 holds a SHA-256: {text:?}"
    );
    hash
}

fn tool_version(tool: &str) -> String {
    let program = if tool == "cargo" { cargo() } else { tool.to_owned() };
    let output = Command::new(program).current_dir(root()).arg("-V").output().expect("the toolchain runs");
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace().nth(1).unwrap_or("unknown").to_owned()
}

fn purl(key: &str) -> String {
    format!("pkg:cargo/{key}")
}

fn generate() -> Value {
    let metadata = metadata();
    let packages: HashMap<String, &Value> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (format!("{}@{}", p["name"].as_str().unwrap(), p["version"].as_str().unwrap()), p))
        .collect();
    let built = tree("normal,build");
    let normal = tree("normal");
    let root_key = built.root.clone();
    // In the `.wasm`: reached from the component over normal edges, never
    // through a proc macro (which runs in the compiler, with its dependencies).
    let mut in_wasm = BTreeSet::new();
    let mut queue = VecDeque::from([root_key.clone()]);
    while let Some(key) = queue.pop_front() {
        if normal.proc_macros.contains(&key) || !in_wasm.insert(key.clone()) {
            continue;
        }
        queue.extend(normal.edges[&key].iter().cloned());
    }
    let checksums = lockfile_checksums();

    let mut components = Vec::new();
    let mut dependencies = Vec::new();
    for (key, depends_on) in &built.edges {
        let depends_on: Vec<String> = depends_on.iter().map(|k| purl(k)).collect();
        dependencies.push(json!({"ref": purl(key), "dependsOn": depends_on}));
        if *key == root_key {
            continue;
        }
        let package = packages.get(key).unwrap_or_else(|| panic!("cargo metadata lists {key}"));
        let mut component = json!({
            "type": "library",
            "bom-ref": purl(key),
            "name": package["name"],
            "version": package["version"],
            "scope": if in_wasm.contains(key) { "required" } else { "excluded" },
            "purl": purl(key),
        });
        if let Some(description) = package["description"].as_str() {
            component["description"] = json!(description.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        if let Some(license) = package["license"].as_str() {
            component["licenses"] = json!([{"expression": license}]);
        }
        if let Some(checksum) = checksums.get(key) {
            component["hashes"] = json!([{"alg": "SHA-256", "content": checksum}]);
        }
        if let Some(repository) = package["repository"].as_str() {
            component["externalReferences"] = json!([{"type": "vcs", "url": repository}]);
        }
        components.push(component);
    }
    components.sort_by(|a, b| a["bom-ref"].as_str().cmp(&b["bom-ref"].as_str()));
    dependencies.sort_by(|a, b| a["ref"].as_str().cmp(&b["ref"].as_str()));

    let root = packages[&root_key];
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "tools": {"components": [
                {"type": "application", "name": "cargo", "version": tool_version("cargo")},
                {"type": "application", "name": "rustc", "version": tool_version("rustc")},
            ]},
            "component": {
                "type": "library",
                "bom-ref": purl(&root_key),
                "name": root["name"],
                "version": root["version"],
                "description": root["description"],
                "licenses": [{"expression": root["license"]}],
                "purl": purl(&root_key),
                "hashes": [{"alg": "SHA-256", "content": committed_hash()}],
                "properties": [
                    {"name": "target", "value": TARGET},
                    {"name": "file", "value": "sentinel_connector.wasm"},
                ],
            },
        },
        "components": components,
        "dependencies": dependencies,
    })
}

fn sbom_path() -> PathBuf {
    root().join("release/sbom.cdx.json")
}

#[test]
fn the_committed_sbom_lists_exactly_the_components_crates() {
    let generated = generate();
    if std::env::var_os("SENTINEL_WRITE_SBOM").is_some_and(|v| !v.is_empty() && v != "0") {
        let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
        std::fs::write(sbom_path(), text).expect("release/sbom.cdx.json is writable");
        eprintln!("wrote {}", sbom_path().display());
        return;
    }
    let regenerate =
        "regenerate with `SENTINEL_WRITE_SBOM=1 cargo test --test sbom` (or `scripts/component-hash --write`)";
    let text = std::fs::read_to_string(sbom_path())
        .unwrap_or_else(|_| panic!("release/sbom.cdx.json is missing; {regenerate}"));
    let committed: Value = serde_json::from_str(&text).expect("release/sbom.cdx.json is JSON");
    assert_eq!(committed["bomFormat"], "CycloneDX");
    assert_eq!(committed["specVersion"], "1.5");

    let crates = |bom: &Value| -> BTreeMap<String, String> {
        bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["purl"].as_str().unwrap().to_owned(), c["scope"].as_str().unwrap().to_owned()))
            .collect()
    };
    let (want, have) = (crates(&generated), crates(&committed));
    let missing: Vec<_> = want.iter().filter(|(purl, scope)| have.get(*purl) != Some(scope)).collect();
    let extra: Vec<_> = have.iter().filter(|(purl, scope)| want.get(*purl) != Some(scope)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "the SBOM is stale: missing or changed {missing:?}, not in the build {extra:?}; {regenerate}"
    );
    assert_eq!(committed["components"], generated["components"], "a crate's details changed; {regenerate}");
    assert_eq!(committed["dependencies"], generated["dependencies"], "the dependency graph changed; {regenerate}");
    assert_eq!(
        committed["metadata"]["component"], generated["metadata"]["component"],
        "the SBOM names another component hash than release/component.sha256; {regenerate}"
    );
}
