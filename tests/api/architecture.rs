//! The layering written in docs/architecture.md, enforced: no module
//! imports a layer above its own, no two modules import each other (round
//! any circle), every module has a layer, and inside a folder no two files
//! import each other (round any circle) either.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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

/// Every `.rs` file under `dir`, sorted.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// Top-level module → the top-level modules it names as `crate::x`,
/// outside `#[cfg(test)]` (tests may reach anywhere).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
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
        let ident = |text: &str| -> String {
            text.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
        };
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            // `crate::x`, or each first name of a group: `crate::{x, y::z}`.
            let named: Vec<String> = match rest.strip_prefix('{') {
                Some(group) => {
                    let (mut depth, mut items, mut start) = (0, Vec::new(), 0);
                    for (i, c) in group.char_indices() {
                        match c {
                            '{' => depth += 1,
                            '}' if depth == 0 => {
                                items.push(&group[start..i]);
                                break;
                            }
                            '}' => depth -= 1,
                            ',' if depth == 0 => {
                                items.push(&group[start..i]);
                                start = i + 1;
                            }
                            _ => {}
                        }
                    }
                    items.into_iter().map(ident).collect()
                }
                None => vec![ident(rest)],
            };
            for named in named {
                if !named.is_empty() && named != module && named != "self" {
                    entry.insert(named);
                }
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

/// The "Who imports whom" block of docs/architecture.md: module → what it
/// imports. A line starting at column 0 names a layer, then a module; at
/// column 10 a module; further in, more of the line above.
fn documented_imports() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let section = doc.split("## Who imports whom").nth(1).expect("a 'Who imports whom' section");
    let block = section.split("```").nth(1).expect("its code block");
    let mut documented: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current = String::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let indent = line.len() - line.trim_start().len();
        let mut words = line.split_whitespace();
        if indent == 0 {
            words.next(); // the layer's name
        }
        if indent < 20 {
            current = words.next().unwrap_or_default().to_owned();
        }
        documented.entry(current.clone()).or_default().extend(words.map(str::to_owned));
    }
    documented
}

#[test]
fn the_documented_imports_are_the_imports() {
    let code: BTreeMap<String, BTreeSet<String>> =
        imports().into_iter().filter(|(_, imported)| !imported.is_empty()).collect();
    let documented = documented_imports();
    let mut wrong = Vec::new();
    for module in code.keys().chain(documented.keys()).collect::<BTreeSet<_>>() {
        let (said, done) = (documented.get(module), code.get(module));
        if said != done {
            let list = |s: Option<&BTreeSet<String>>| s.map(|s| s.iter().cloned().collect::<Vec<_>>().join(" "));
            wrong.push(format!(
                "{module}: docs say [{}], the code imports [{}]",
                list(said).unwrap_or_default(),
                list(done).unwrap_or_default()
            ));
        }
    }
    assert!(wrong.is_empty(), "docs/architecture.md 'Who imports whom' is out of date:\n{}", wrong.join("\n"));
}

// Inside a folder. The files of one folder (`src/admin/catalog.rs`,
// `src/admin/commands.rs`, …, `src/admin/mod.rs`; a subfolder such as
// `src/oidc/account/` counts as one file of its parent) import each other
// without circles, like the top-level modules do.

/// One file of `src/`, read into tokens.
struct SourceFile {
    /// `src/admin/catalog.rs` is `admin::catalog`; `src/admin/mod.rs` is `admin`.
    module: Vec<String>,
    is_mod_rs: bool,
    /// The paths of its `use` statements, expanded, with the name each binds
    /// and whether the statement is `pub`.
    uses: Vec<(Vec<String>, String, bool)>,
    /// The other paths in its code (`super::x::f`, `crate::admin::x`), and
    /// every identifier that does not follow `::` or `.` (as a path of one).
    paths: Vec<Vec<String>>,
    /// The names it declares `pub` (for `pub use x::*` in a mod.rs).
    public_names: Vec<String>,
}

/// Rust source with comments and the insides of string and character
/// literals blanked, so that neither can make an import.
fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
        let raw_start = c == 'r'
            && at(i + 1 + hashes) == '"'
            && (i == 0 || !ident(chars[i - 1]) || (chars[i - 1] == 'b' && (i < 2 || !ident(chars[i - 2]))));
        if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if raw_start {
            i += 2 + hashes;
            while i < chars.len() && !(chars[i] == '"' && (1..=hashes).all(|h| at(i + h) == '#')) {
                i += 1;
            }
            i += 1 + hashes;
            out.push_str("\"\"");
        } else if c == '\'' && at(i + 1) == '\\' {
            i += 3;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else if c == '\'' && at(i + 2) == '\'' {
            i += 3;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Identifiers, `::`, and every other character on its own; whitespace dropped.
fn tokens(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push("::".to_owned());
            i += 2;
        } else {
            tokens.push(c.to_string());
            i += 1;
        }
    }
    tokens
}

fn is_ident(token: &str) -> bool {
    token.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

/// The tokens with every item marked `#[cfg(test)]` left out (tests may
/// reach anywhere).
fn without_tests(tokens: Vec<String>) -> Vec<String> {
    const MARK: [&str; 7] = ["#", "[", "cfg", "(", "test", ")", "]"];
    let mut kept = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if !tokens[i..].starts_with(&MARK.map(String::from)) {
            kept.push(tokens[i].clone());
            i += 1;
            continue;
        }
        // Skip the item: to a `;` outside brackets, or to the end of its first block.
        let mut depth = 0;
        i += MARK.len();
        while i < tokens.len() {
            let token = tokens[i].as_str();
            i += 1;
            match token {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" => depth -= 1,
                "}" => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                ";" if depth == 0 => break,
                _ => {}
            }
        }
    }
    kept
}

/// Expands the use tree at `tokens[*at]` below `prefix` into (path, the name it binds).
fn use_tree(tokens: &[String], at: &mut usize, prefix: Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    let token = |i: usize| tokens.get(i).map(String::as_str).unwrap_or(";");
    let mut path = prefix;
    loop {
        match token(*at) {
            "::" => *at += 1,
            "{" => {
                *at += 1;
                while !matches!(token(*at), "}" | ";") {
                    use_tree(tokens, at, path.clone(), out);
                    if token(*at) == "," {
                        *at += 1;
                    }
                }
                *at += 1;
                return;
            }
            "*" => {
                *at += 1;
                path.push("*".to_owned());
                out.push((path, "*".to_owned()));
                return;
            }
            name if is_ident(name) => {
                *at += 1;
                if token(*at) == "::" {
                    path.push(name.to_owned());
                    continue;
                }
                if name != "self" || path.is_empty() {
                    path.push(name.to_owned());
                }
                let mut bound = path.last().cloned().unwrap_or_default();
                if token(*at) == "as" {
                    bound = token(*at + 1).to_owned();
                    *at += 2;
                }
                out.push((path, bound));
                return;
            }
            _ => {
                // Not a use tree this reader knows; skip the token.
                *at += 1;
                return;
            }
        }
    }
}

fn read_source(src: &Path, file: &Path) -> Option<SourceFile> {
    let relative = file.strip_prefix(src).unwrap();
    let mut module: Vec<String> =
        relative.components().map(|c| c.as_os_str().to_str().unwrap().trim_end_matches(".rs").to_owned()).collect();
    let is_mod_rs = module.last().is_some_and(|m| m == "mod");
    if is_mod_rs {
        module.pop();
    }
    if module == ["lib"] || module == ["main"] {
        return None;
    }
    let tokens = without_tests(tokens(&strip(&std::fs::read_to_string(file).unwrap())));
    let token = |i: usize| tokens.get(i).map(String::as_str).unwrap_or("");
    let (mut uses, mut paths, mut public_names) = (Vec::new(), Vec::new(), Vec::new());
    let mut i = 0;
    while i < tokens.len() {
        let here = token(i);
        let after_path_or_dot = i > 0 && matches!(token(i - 1), "::" | ".");
        // (Not `impl Future + use<S, B>`, which captures, not imports.)
        if here == "use" && token(i + 1) != "<" {
            // `pub use`, `pub(crate) use`
            let public = token(i.wrapping_sub(1)) == "pub"
                || (token(i.wrapping_sub(1)) == ")"
                    && tokens[..i].iter().rev().skip_while(|t| *t != "(").nth(1).is_some_and(|t| t == "pub"));
            let mut at = i + 1;
            let mut expanded = Vec::new();
            while !matches!(token(at), ";" | "") {
                use_tree(&tokens, &mut at, Vec::new(), &mut expanded);
            }
            if public {
                public_names.extend(expanded.iter().map(|(_, name)| name.clone()));
            }
            uses.extend(expanded.into_iter().map(|(path, name)| (path, name, public)));
            i = at + 1;
        } else if is_ident(here) && !after_path_or_dot {
            if here == "pub" {
                let mut at = i + 1;
                if token(at) == "(" {
                    while !matches!(token(at), ")" | "") {
                        at += 1;
                    }
                    at += 1;
                }
                while matches!(token(at), "async" | "unsafe" | "extern")
                    || (token(at) == "const" && token(at + 1) == "fn")
                {
                    at += 1;
                }
                if matches!(
                    token(at),
                    "struct" | "enum" | "fn" | "const" | "static" | "type" | "trait" | "mod" | "union"
                ) {
                    public_names.push(token(at + 1).to_owned());
                }
                // `pub(super)` and `pub(in crate::x)` name no import.
                i += 1;
                if token(i) == "(" {
                    while !matches!(token(i), ")" | "") {
                        i += 1;
                    }
                }
                continue;
            }
            // `tracing::warn!(user = …)` and `Shown { error: … }` name no import.
            if token(i + 1) == ":" || (token(i + 1) == "=" && token(i + 2) != "=") {
                i += 1;
                continue;
            }
            let mut path = vec![here.to_owned()];
            i += 1;
            while token(i) == "::" && is_ident(token(i + 1)) {
                path.push(token(i + 1).to_owned());
                i += 2;
            }
            paths.push(path);
        } else {
            i += 1;
        }
    }
    Some(SourceFile { module, is_mod_rs, uses, paths, public_names })
}

/// The files of `src/` and what each names, resolved.
struct Tree {
    src: PathBuf,
    files: Vec<SourceFile>,
    /// Folder → name → what the name stands for there, from the folder's
    /// mod.rs: its `use` statements (a `pub use x::*` adds every `pub` name
    /// of `x`).
    names: BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>>,
}

impl Tree {
    fn read() -> Tree {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        walk(&src, &mut found);
        let files: Vec<SourceFile> = found.iter().filter_map(|f| read_source(&src, f)).collect();
        let mut tree = Tree { src, files, names: BTreeMap::new() };
        let mut names = BTreeMap::new();
        for file in tree.files.iter().filter(|f| f.is_mod_rs) {
            let mut here: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (path, name, _) in &file.uses {
                let Some(target) = tree.absolute(file, path) else { continue };
                if name != "*" {
                    here.insert(name.clone(), target);
                } else if let Some(child) = tree.files.iter().find(|f| f.module[..] == target[..target.len() - 1]) {
                    for public in &child.public_names {
                        let mut named = child.module.clone();
                        named.push(public.clone());
                        here.entry(public.clone()).or_insert(named);
                    }
                }
            }
            names.insert(file.module.clone(), here);
        }
        tree.names = names;
        tree
    }

    /// The files and subfolders directly in `folder`, by module name (mod.rs not among them).
    fn children(&self, folder: &[String]) -> BTreeSet<String> {
        let dir = folder.iter().fold(self.src.clone(), |dir, part| dir.join(part));
        let mut children = BTreeSet::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            if path.is_dir() || (path.extension().is_some_and(|e| e == "rs") && name != "mod") {
                children.insert(name);
            }
        }
        children
    }

    /// The path as written in `file`, from the crate root; `None` for a path
    /// that does not start at `crate`, `super` or `self` (or, in a mod.rs, at
    /// one of its own files).
    fn absolute(&self, file: &SourceFile, path: &[String]) -> Option<Vec<String>> {
        let first = path.first()?.as_str();
        let (mut base, rest) = match first {
            "crate" => (Vec::new(), &path[1..]),
            "self" => (file.module.clone(), &path[1..]),
            "super" => {
                let ups = path.iter().take_while(|p| *p == "super").count();
                (file.module[..file.module.len().checked_sub(ups)?].to_vec(), &path[ups..])
            }
            // `catalog::run`, not `mod catalog;`
            _ if file.is_mod_rs && path.len() > 1 && self.children(&file.module).contains(first) => {
                (file.module.clone(), path)
            }
            _ => return None,
        };
        base.extend_from_slice(rest);
        Some(base)
    }

    /// Which file of `folder` `target` lies in: one of its files or
    /// subfolders, or `mod` for an item of its mod.rs. A name that mod.rs
    /// imports or re-exports is followed to where it comes from. `None` when
    /// `target` is outside `folder`.
    fn file_in(&self, folder: &[String], target: &[String], depth: u32) -> Option<String> {
        if !target.starts_with(folder) {
            return None;
        }
        let Some(part) = target.get(folder.len()) else { return Some("mod".to_owned()) };
        if self.children(folder).contains(part) {
            return Some(part.clone());
        }
        if let Some(found) = self.names.get(folder).and_then(|names| names.get(part))
            && depth < 8
        {
            let mut followed = found.clone();
            followed.extend_from_slice(&target[folder.len() + 1..]);
            return self.file_in(folder, &followed, depth + 1);
        }
        Some("mod".to_owned())
    }

    /// Folder → file → the files of the same folder it imports, each with
    /// the first path that makes the edge.
    fn edges(&self) -> BTreeMap<Vec<String>, BTreeMap<String, BTreeMap<String, String>>> {
        let mut edges: BTreeMap<Vec<String>, BTreeMap<String, BTreeMap<String, String>>> = BTreeMap::new();
        for file in &self.files {
            // A mod.rs's `pub use` lines are the folder's front door, not an edge.
            let used = file.uses.iter().filter(|(_, _, public)| !(file.is_mod_rs && *public)).map(|(path, _, _)| path);
            for path in used.chain(&file.paths) {
                let Some(target) = self.absolute(file, path).or_else(|| {
                    // In a mod.rs, a name it re-exports, used by its own code.
                    let reexported = file.is_mod_rs && path.len() == 1;
                    let known = self.names.get(&file.module).is_some_and(|names| names.contains_key(&path[0]));
                    (reexported && known).then(|| [file.module.clone(), path.clone()].concat())
                }) else {
                    continue;
                };
                for depth in 1..=file.module.len() {
                    let folder = &file.module[..depth];
                    let from = match file.module.get(depth) {
                        Some(part) => part.clone(),
                        None if file.is_mod_rs => "mod".to_owned(),
                        None => continue,
                    };
                    let Some(to) = self.file_in(folder, &target, 0) else { continue };
                    if to != from {
                        let by_folder = edges.entry(folder.to_vec()).or_default();
                        by_folder.entry(from).or_default().entry(to).or_insert_with(|| path.join("::"));
                    }
                }
            }
        }
        edges
    }

    /// `src/admin/catalog.rs`, `src/admin/mod.rs`, `src/oidc/account/`.
    fn shown(&self, folder: &[String], file: &str) -> String {
        let dir = format!("src/{}/", folder.join("/"));
        if file == "mod" {
            format!("{dir}mod.rs")
        } else if folder.iter().fold(self.src.clone(), |d, p| d.join(p)).join(file).is_dir() {
            format!("{dir}{file}/")
        } else {
            format!("{dir}{file}.rs")
        }
    }
}

/// Every circle among the files of one folder, each once (by its set of files).
fn circles(graph: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Vec<String>> {
    let mut found: Vec<Vec<String>> = Vec::new();
    let mut seen: BTreeSet<BTreeSet<String>> = BTreeSet::new();
    for start in graph.keys() {
        // Breadth first from `start`, back to `start`: its shortest circle.
        let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start.as_str()]);
        let mut closed = None;
        while let Some(at) = queue.pop_front() {
            for next in graph.get(at).into_iter().flat_map(|n| n.keys()) {
                if next == start {
                    closed = Some(at);
                    break;
                }
                if !came_from.contains_key(next.as_str()) {
                    came_from.insert(next, at);
                    queue.push_back(next);
                }
            }
            if closed.is_some() {
                break;
            }
        }
        let Some(mut at) = closed else { continue };
        let mut circle = vec![start.clone()];
        while at != start {
            circle.push(at.to_owned());
            at = came_from[at];
        }
        circle[1..].reverse();
        circle.push(start.clone());
        if seen.insert(circle.iter().cloned().collect()) {
            found.push(circle);
        }
    }
    found
}

/// Two files in one folder must not import each other, directly or round a
/// longer circle, just as two top-level modules must not.
///
/// What is an edge from a file to a sibling (a file or subfolder of the
/// same folder, or the folder's mod.rs, called `mod`): any path in its code
/// or its `use` statements that reaches the sibling, written `super::x`,
/// `crate::admin::x`, or from a mod.rs `self::x` or plainly `x::`; an item
/// named through mod.rs (`super::Shown`) is an edge to mod.rs. A subfolder
/// is one file of its parent folder: `oidc/account/home.rs` naming
/// `super::super::login` is an edge from `account/` to `login.rs` in
/// `src/oidc/`.
///
/// mod.rs re-exports: a `pub use x::Y` in mod.rs is the folder's front door,
/// not a dependency of mod.rs's own code, so it is no edge (else every file
/// that names `super::Something` would close a circle with every file mod.rs
/// re-exports from). A sibling naming `super::Y` depends on the file that
/// defines `Y`, so that edge goes through the re-export to `x` (else
/// `commands.rs` naming `super::AppUpdate` and `catalog.rs` naming
/// `super::AdminError` would be two edges to mod.rs, and their circle would
/// hide). mod.rs's own code using `Y` is an edge from mod.rs to `x`, as is
/// any `use` in mod.rs that is not `pub`. Code under `#[cfg(test)]`,
/// comments and string literals are not read.
#[test]
fn the_files_of_a_folder_import_each_other_without_a_circle() {
    let tree = Tree::read();
    let edges = tree.edges();
    assert!(
        edges.get(&vec!["admin".to_owned()]).is_some_and(|g| g.len() > 3),
        "the reader found almost no edges inside src/admin/: {edges:?}"
    );
    let mut wrong = Vec::new();
    for (folder, graph) in &edges {
        for circle in circles(graph) {
            let files: Vec<String> = circle.iter().map(|f| tree.shown(folder, f)).collect();
            let why: Vec<String> = circle
                .windows(2)
                .map(|pair| format!("    {} names {}", tree.shown(folder, &pair[0]), graph[&pair[0]][&pair[1]]))
                .collect();
            wrong.push(format!(
                "an import circle in src/{}/: {}\n{}",
                folder.join("/"),
                files.join(" -> "),
                why.join("\n")
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
