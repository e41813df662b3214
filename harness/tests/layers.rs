//! The layers of `harness/src` import one way: each module names only modules of its own
//! layer or of a layer below it (README, *Invariants*). This test reads every `crate::…`
//! path of every module and fails on one the table forbids, naming the file and the import.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, from the bottom, and the top-level modules of each. A module not listed here
/// fails the test: a new module takes its place in the table when it is written.
const LAYERS: &[(&str, &[&str])] = &[
    // Processes, namespaces, cgroups, folders: knows nothing of cases or verdicts.
    (
        "containment",
        &["cgroup", "init", "interrupt", "poll", "sandbox", "workdir"],
    ),
    // Bytes, sockets, the program's process and what it prints; `End`/`PeerEnd` live here.
    ("wire", &["payload", "trace", "session", "iut", "stdout"]),
    // The case language, pure: what a case and a fixture say (each family's steps as
    // written, in `syntax/`), the hints it may name.
    (
        "language",
        &[
            "observation",
            "script",
            "syntax",
            "hints",
            "tolerance",
            "fixture",
            "framing",
        ],
    ),
    // Each family's steps run, against the context this layer defines (`steps::context`).
    ("steps", &["steps"]),
    // The engine: loops over a case's steps and names no family.
    ("engine", &["engine"]),
    // Many cases: the catalogue of suites, a submission's manifest, the batch, a course's
    // own suites folder and its recording, a class's grading; a case explained (its plain
    // words, its wire log, its peer as a Python script), pure, from the catalogue's suites;
    // generated cases played against the reference and an implementation (fuzz).
    (
        "batch",
        &[
            "catalog", "manifest", "batch", "variant", "grade", "explain", "fuzz",
        ],
    ),
    // What people use: reports, the demo, the binary.
    ("cli", &["report", "demo", "cli", "main"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

/// The top-level module a source file belongs to (`steps/tcp.rs` → `steps`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("a component");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_string()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its line comments, so that a doc link is not an import. A
/// file's `#[cfg(test)]` module is code of the file and keeps its layer.
fn code_lines(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a file's code names through `crate::`: in `use crate::a::b`,
/// `use crate::{a::b, c}` and inline paths such as `crate::a::f()`.
fn imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The first segment of each item of the group, at its top level.
            let mut depth = 0;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        rest = &group[j..];
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => {
                        let word: String = group[j..]
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        found.insert(word);
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !word.is_empty() {
                found.insert(word);
            }
        }
    }
    found
}

/// Every forbidden import of the source tree at `src`, as `file: a imports b (layer → layer)`.
fn forbidden_imports(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in &files {
        let module = module_of(src, file);
        if module == "lib" {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            found.push(format!(
                "{}: module `{module}` has no layer in the table",
                file.display()
            ));
            continue;
        };
        let code = code_lines(&fs::read_to_string(file).expect("readable file"));
        for target in imports(&code) {
            let Some(theirs) = layer_of(&target) else {
                found.push(format!(
                    "{}: imports `{target}`, which has no layer",
                    file.display()
                ));
                continue;
            };
            if theirs > own {
                found.push(format!(
                    "{}: `{module}` ({}) imports `{target}` ({}), a layer above it",
                    file.display(),
                    LAYERS[own].0,
                    LAYERS[theirs].0
                ));
            }
        }
    }
    found
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("harness")
        .join("src")
}

#[test]
fn every_module_imports_only_its_own_layer_and_those_below() {
    let found = forbidden_imports(&src());
    assert!(
        found.is_empty(),
        "imports the layer table forbids:\n{}",
        found.join("\n")
    );
}

/// The step families: the modules of `steps/` (their run halves) besides its registry
/// (`mod.rs`) and the context they run against (`context.rs`); `syntax/` has the same.
fn families() -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&src().join("steps"), &mut files);
    files
        .iter()
        .filter_map(|f| f.file_stem().map(|s| s.to_string_lossy().to_string()))
        .filter(|name| name != "mod" && name != "context")
        .collect()
}

/// Whether `code` names `family` as a module: `family::` not after another path segment
/// (`std::process::` is not the process family), or inside a `use crate::steps::{…}` or
/// `use crate::syntax::{…}`.
fn names_family(code: &str, family: &str) -> bool {
    let needle = format!("{family}::");
    let bare = code.match_indices(&needle).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        !before.is_some_and(|c| c == ':' || c.is_alphanumeric() || c == '_')
    });
    bare || ["steps", "syntax"].iter().any(|registry| {
        code.contains(&format!("{registry}::{family}"))
            || code
                .split(&format!("{registry}::{{"))
                .skip(1)
                .any(|group| group.split('}').next().unwrap_or("").contains(family))
    })
}

#[test]
fn no_module_outside_the_registry_names_a_family() {
    let src = src();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let families = families();
    assert!(families.contains(&"tcp".to_string()), "{families:?}");
    let mut found = Vec::new();
    let registries = [src.join("steps"), src.join("syntax")];
    for file in files
        .iter()
        .filter(|f| !registries.iter().any(|r| f.starts_with(r)))
    {
        let code = code_lines(&fs::read_to_string(file).unwrap());
        for family in families.iter().filter(|f| names_family(&code, f)) {
            found.push(format!("{}: names the `{family}` family", file.display()));
        }
    }
    assert!(
        found.is_empty(),
        "only the registries, steps/mod.rs and syntax/mod.rs, name the families:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_family_named_outside_the_registry_is_found() {
    assert!(names_family("if let Some(f) = tcp::unread(ctx) {}", "tcp"));
    assert!(names_family("use crate::steps::{self, udp, Step};", "udp"));
    assert!(names_family("crate::steps::udp::pending(ctx)", "udp"));
    assert!(!names_family("use std::process::ExitCode;", "process"));
    assert!(names_family("use crate::syntax::{self, tcp};", "tcp"));
    assert!(!names_family("use crate::steps::{self, Step};", "udp"));
}

#[test]
fn the_reader_finds_grouped_nested_and_inline_imports_and_skips_comments() {
    let code = code_lines(
        "use crate::a::b;\nuse crate::{c::{d, e}, f};\nlet x = crate::g::h();\n// crate::i\n/// [`crate::j::K`]\n",
    );
    let got: Vec<String> = imports(&code).into_iter().collect();
    assert_eq!(got, ["a", "c", "f", "g"]);
}

#[test]
fn an_upward_import_is_found_and_named() {
    // A copy of the tree where the wire's trace imports the engine.
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["trace.rs", "engine.rs"] {
        fs::write(dir.path().join(name), "").unwrap();
    }
    fs::write(
        dir.path().join("trace.rs"),
        "use crate::engine::Ctx;\nuse crate::payload;\n",
    )
    .unwrap();
    let found = forbidden_imports(dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("`trace` (wire) imports `engine` (engine)"));
}
