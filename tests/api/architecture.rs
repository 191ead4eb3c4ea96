//! The layering written in docs/architecture.md, enforced: no module
//! imports a layer above its own, no two modules import each other (round
//! any circle), and every module has a layer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module → layer, from the table in docs/architecture.md.
fn layers() -> BTreeMap<String, u32> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let mut layers = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Ok(layer) = cells[1].parse::<u32>() else { continue };
        for module in cells[3].split(',') {
            layers.insert(module.trim().trim_matches('`').to_owned(), layer);
        }
    }
    assert!(layers.len() > 20, "the layer table in docs/architecture.md did not parse: {layers:?}");
    layers
}

/// Top-level module → the top-level modules it names as `crate::x`,
/// outside `#[cfg(test)]` (tests may reach anywhere).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, files);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_str().unwrap();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let entry = graph.entry(module.clone()).or_default();
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            let named: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !named.is_empty() && named != module {
                entry.insert(named);
            }
        }
    }
    graph
}

#[test]
fn no_module_imports_a_layer_above_its_own_and_every_module_has_a_layer() {
    let layers = layers();
    let mut wrong = Vec::new();
    for (module, imported) in imports() {
        let Some(&mine) = layers.get(&module) else {
            wrong.push(format!("{module} has no layer in docs/architecture.md"));
            continue;
        };
        for other in imported {
            match layers.get(&other) {
                Some(&theirs) if theirs > mine => {
                    wrong.push(format!("{module} (layer {mine}) imports {other} (layer {theirs})"))
                }
                Some(_) => {}
                None => wrong.push(format!("{module} imports {other}, which has no layer")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_module_imports_have_no_circle() {
    let graph = imports();
    // Depth-first search; a module met again while still on the path closes a circle.
    fn visit<'a>(
        module: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| *m == module) {
            let mut circle: Vec<String> = path[start..].iter().map(|m| m.to_string()).collect();
            circle.push(module.to_owned());
            return Some(circle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module);
        for next in graph.get(module).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(module);
        None
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if let Some(circle) = visit(module, &graph, &mut Vec::new(), &mut done) {
            panic!("an import circle: {}", circle.join(" -> "));
        }
    }
}
