//! The README and docs/: short enough to read, and every link in them
//! leads somewhere (a file moved between docs/ pages breaks no reader).
//! The integration pages (docs/integrations/): each carries one mark, and
//! every `yaml` block on them is a config ferrid's own loader accepts.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown files in `dir`, sorted.
fn markdown_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    found.sort();
    found
}

/// Every Markdown file a reader starts from: the README, docs/*.md and
/// docs/integrations/*.md.
fn documents() -> Vec<PathBuf> {
    let mut found = vec![root().join("README.md")];
    found.extend(markdown_in(&root().join("docs")));
    found.extend(markdown_in(&root().join("docs/integrations")));
    found
}

/// One page per application: docs/integrations/*.md but its index.
fn integration_pages() -> Vec<PathBuf> {
    markdown_in(&root().join("docs/integrations")).into_iter().filter(|p| !p.ends_with("README.md")).collect()
}

fn name_of(path: &Path) -> String {
    path.file_name().unwrap_or_default().to_string_lossy().into_owned()
}

/// The fenced code blocks of a Markdown text: (info string, body).
fn fenced_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        match open.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some((info.trim().to_owned(), String::new()));
                }
            }
            Some((info, body)) if trimmed.starts_with("```") => blocks.push((info, body)),
            Some((info, mut body)) => {
                body.push_str(line);
                body.push('\n');
                open = Some((info, body));
            }
        }
    }
    assert!(open.is_none(), "a code block is never closed");
    blocks
}

/// The two marks an integration page carries, one of them, at the top.
const MARKS: [&str; 2] = ["**Run here**", "**Checked against the docs**"];

/// Secrets named in `client_secret_env` exist; nothing else is set (the
/// FERRID_* overrides stay off).
struct AnySecret;

impl ferrid::config::Env for AnySecret {
    fn var(&self, name: &str) -> Option<String> {
        name.ends_with("_SECRET").then(|| "a-client-secret-for-the-docs-test".to_owned())
    }
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

#[test]
fn every_integration_page_carries_exactly_one_mark_at_the_top() {
    let pages = integration_pages();
    assert!(pages.len() >= 9, "docs/integrations/ has {} pages", pages.len());
    let mut wrong = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        let counts: Vec<usize> = MARKS.iter().map(|mark| text.matches(mark).count()).collect();
        // The mark sits in the first lines: the title, a blank, the mark.
        let top: String = text.lines().take(4).collect::<Vec<_>>().join("\n");
        let at_top = MARKS.iter().filter(|mark| top.contains(*mark)).count();
        if counts.iter().sum::<usize>() != 1 || at_top != 1 {
            wrong.push(format!("{}: marks {counts:?}, {at_top} at the top", name_of(page)));
        }
    }
    assert!(wrong.is_empty(), "each page needs exactly one of {MARKS:?}, at the top:\n{}", wrong.join("\n"));
}

#[test]
fn the_integrations_index_lists_every_page_with_its_mark() {
    let index = std::fs::read_to_string(root().join("docs/integrations/README.md")).unwrap();
    for page in integration_pages() {
        let name = name_of(&page);
        let text = std::fs::read_to_string(&page).unwrap();
        let mark = MARKS.iter().find(|mark| text.contains(*mark)).map(|m| m.trim_matches('*')).unwrap_or("?");
        let row = index.lines().find(|line| line.starts_with('|') && line.contains(&format!("]({name})")));
        let row = row.unwrap_or_else(|| panic!("docs/integrations/README.md has no row for {name}"));
        assert!(row.contains(mark), "{name} is marked {mark:?} but its row says: {row}");
    }
}

/// Every `yaml` block on an integration page, put after a `public_url`, is
/// a config ferrid's loader accepts (known keys, declared groups, redirect
/// URIs that parse, switches that fit the client), with an application in
/// it; every page has one. Blocks of the application's own YAML carry more
/// in their info string (`yaml title=configuration.yaml`) and are not read.
#[test]
fn every_yaml_block_on_the_integration_pages_is_valid_ferrid_config() {
    let mut refused = Vec::new();
    for page in integration_pages() {
        let name = name_of(&page);
        let text = std::fs::read_to_string(&page).unwrap();
        let ours: Vec<String> =
            fenced_blocks(&text).into_iter().filter(|(info, _)| info == "yaml").map(|(_, body)| body).collect();
        if ours.is_empty() {
            refused.push(format!("{name}: no ```yaml block with the ferrid side"));
        }
        for (i, block) in ours.iter().enumerate() {
            let yaml = format!("public_url: https://id.home.lan\n{block}");
            match ferrid::config::Config::from_yaml(&yaml, &AnySecret) {
                Ok(config) if config.applications.is_empty() => {
                    refused.push(format!("{name}, yaml block {}: declares no application", i + 1))
                }
                Ok(_) => {}
                Err(e) => refused.push(format!("{name}, yaml block {}: {e}", i + 1)),
            }
        }
    }
    assert!(refused.is_empty(), "integration pages with config ferrid refuses:\n{}", refused.join("\n"));
}
