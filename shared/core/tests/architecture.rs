//! The architecture test: the domain crate names no AWS SDK or Lambda runtime crate, and its
//! folders depend downward only.
//!
//! Layers, bottom up (a module may use its own layer's modules and any layer below, never one
//! above; the four stages do not use each other):
//!
//! | layer | modules |
//! | --- | --- |
//! | base | `error`, `config`, `clock`, `ids`, `metrics` |
//! | model | `model` |
//! | format | `format` |
//! | ports | `storage`, `catalog` |
//! | tables | `tables` |
//! | stages | `ingest`, `stream`, `compaction`, `discovery` (each on its own) |
//!
//! `testing` (in-memory ports for tests) may use anything.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Crates the domain may never depend on, directly or through another crate.
const FORBIDDEN: &[&str] = &["aws-config", "lambda_runtime", "lambda_http"];
const FORBIDDEN_PREFIX: &str = "aws-sdk-";

/// The rank of a top-level module; stages share a rank but may not use one another.
fn rank(module: &str) -> Option<u32> {
    Some(match module {
        "error" | "config" | "clock" | "ids" | "faults" | "metrics" => 0,
        "model" => 1,
        "format" => 2,
        "storage" | "catalog" => 3,
        "tables" => 4,
        "ingest" | "stream" | "compaction" | "discovery" => 5,
        _ => return None,
    })
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`src/ingest/cdc.rs` → `ingest`).
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(src()).expect("under src");
    let first = rel.components().next().expect("a component");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

/// Every top-level module named by a `crate::<module>` path in `text` (comments included: a doc
/// link is a dependency of the reader's mind too).
fn used_modules(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        if text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `tributary_crate::`
        }
        let rest = &text[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

#[test]
fn folders_depend_downward_only() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let from = module_of(file);
        if from == "lib" || from == "testing" {
            continue;
        }
        let Some(from_rank) = rank(&from) else {
            violations.push(format!(
                "{}: top-level module `{from}` has no layer (add it to the table)",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("readable");
        for to in used_modules(&text) {
            if to == from || to == "testing" {
                continue;
            }
            let Some(to_rank) = rank(&to) else {
                violations.push(format!("{}: uses unknown module `{to}`", file.display()));
                continue;
            };
            if to_rank > from_rank || (to_rank == from_rank && from_rank == 5) {
                violations.push(format!(
                    "{}: `{from}` may not use `{to}`",
                    file.strip_prefix(src()).unwrap().display()
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "dependency direction broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_domain_names_no_aws_sdk_or_lambda_runtime() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable");
        for needle in ["aws_sdk_", "aws_config", "lambda_runtime", "lambda_http"] {
            let named = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .any(|l| l.contains(needle));
            assert!(!named, "{} names `{needle}`", file.display());
        }
    }
}

#[test]
fn the_domain_crate_depends_on_no_aws_sdk_or_lambda_runtime() {
    // The resolved graph, not just the manifest: a dependency could bring one in.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "tree",
            "-p",
            "tributary",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let crates: BTreeSet<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        crates.contains("tributary"),
        "the tree lists the crate itself"
    );
    let bad: Vec<&&str> = crates
        .iter()
        .filter(|c| FORBIDDEN.contains(c) || c.starts_with(FORBIDDEN_PREFIX))
        .collect();
    assert!(bad.is_empty(), "tributary depends on {bad:?}");
}

#[test]
fn the_checker_sees_paths() {
    let used = used_modules("use crate::ingest::cdc;\n/// [`crate::tables`]\nfoo_crate::x");
    assert_eq!(
        used,
        BTreeSet::from(["ingest".to_string(), "tables".to_string()])
    );
    assert_eq!(rank("stream"), rank("discovery"));
    assert!(rank("model") < rank("tables"));
}
