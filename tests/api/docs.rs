//! The README and docs/: short enough to read, and every link in them
//! leads somewhere (a file moved between docs/ pages breaks no reader).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every Markdown file a reader starts from: the README and docs/*.md.
fn documents() -> Vec<PathBuf> {
    let mut found = vec![root().join("README.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            found.push(path);
        }
    }
    found
}

/// The targets of `](target)` links and images that are not web addresses.
fn relative_links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|target| target.split_whitespace().next().unwrap_or_default().to_owned())
        .filter(|target| !target.contains("://") && !target.starts_with("mailto:") && !target.starts_with('#'))
        .collect()
}

#[test]
fn the_readme_fits_on_a_screen_of_scrolling() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines <= 250, "README.md has {lines} lines; move detail to docs/ (by audience)");
}

#[test]
fn every_relative_link_in_the_readme_and_docs_leads_to_a_file() {
    let mut broken = Vec::new();
    for document in documents() {
        let text = std::fs::read_to_string(&document).unwrap();
        let dir = document.parent().unwrap_or(Path::new("."));
        for link in relative_links(&text) {
            let file = link.split('#').next().unwrap_or_default();
            if !file.is_empty() && !dir.join(file).exists() {
                broken.push(format!("{}: {link}", document.strip_prefix(root()).unwrap().display()));
            }
        }
    }
    assert!(broken.is_empty(), "links to nothing:\n{}", broken.join("\n"));
}
