//! The library's modules form layers: each top-level module uses only the
//! modules before it in `LAYERS` (the order `src/lib.rs` documents), so
//! there are no import cycles. Doc comments may point anywhere.

use std::collections::BTreeSet;
use std::path::Path;

const LAYERS: &[&str] = &[
    "codec", "headers", "backoff", "clock", "record", "aws", "schema", "event", "letter", "kafka",
    "sink", "consumer", "replay", "metrics", "env", "lambda", "testing",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a file names through `crate::`.
fn uses(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if LAYERS.contains(&name.as_str()) {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    for (rank, module) in LAYERS.iter().enumerate() {
        let mut files = Vec::new();
        let single = src.join(format!("{module}.rs"));
        if single.exists() {
            files.push(single);
        }
        let dir = src.join(module);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
        assert!(!files.is_empty(), "module {module} has no source");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for used in uses(&text) {
                let used_rank = LAYERS.iter().position(|m| *m == used).unwrap();
                if used_rank > rank {
                    violations.push(format!("{} (layer {module}) uses {used}", file.display()));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn every_source_file_is_short_or_says_why() {
    let mut files = Vec::new();
    for dir in ["src", "cli/src", "tools"] {
        rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut files);
    }
    let mut long = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Tests at the end of a file do not count.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let lines = code.lines().count();
        if lines > 450 && !text.contains("Longer than 450 lines because") {
            long.push(format!("{}: {lines} lines", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "files over 450 lines without a reason:\n{}",
        long.join("\n")
    );
}
