//! Every released template set is kept under `report-templates/history/DIGEST/`, the current
//! one included, and each folder's name is the digest of what it holds: an edition names its
//! templates by digest only, so a set that is missing or altered here is an edition that can no
//! longer be reproduced. `UPDATE_EXPECT=1` adds the current set after a template change.

use std::path::{Path, PathBuf};

use lagesbild_render::report::{RELEASED_DIR, TemplateSet};

fn history_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../report-templates")
        .join(RELEASED_DIR)
}

#[test]
fn the_current_templates_are_a_released_set() {
    let current = TemplateSet::embedded();
    let digest = current.digest();
    let folder = history_dir().join(&digest);
    if !folder.exists() && std::env::var_os("UPDATE_EXPECT").is_some() {
        current.write_to(&folder).expect("writes the current set");
        eprintln!("added {}; rebuild to compile it in", folder.display());
        return;
    }
    assert!(
        folder.is_dir(),
        "the templates in report-templates/ (digest {digest}) are not kept in {}: editions \
         published with them could not be reproduced after the next change. Run \
         `UPDATE_EXPECT=1 cargo test -p lagesbild-render --test released_templates` and commit \
         the new folder (never edit an existing one)",
        history_dir().display()
    );
    let released = TemplateSet::released();
    assert!(
        released.iter().any(|set| set.files == current.files),
        "the folder {digest} is on disk but not compiled in; rebuild"
    );
}

#[test]
fn every_released_folder_is_named_by_the_digest_of_its_templates() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(history_dir()).expect("report-templates/history") {
        let path = entry.expect("entry").path();
        if !path.is_dir() {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).expect("UTF-8");
        let set = TemplateSet::from_dir(&path).expect("a template set");
        assert_eq!(
            set.digest(),
            name,
            "{} holds templates of another digest: a released set was edited",
            path.display()
        );
        names.push(name.to_owned());
    }
    names.sort();
    let mut compiled: Vec<String> = TemplateSet::released()
        .iter()
        .map(TemplateSet::digest)
        .collect();
    compiled.sort();
    assert_eq!(
        compiled, names,
        "the compiled-in sets are the folders on disk"
    );
    // The five sets shipped before this history was kept, and the current one.
    assert!(names.len() >= 6, "{names:?}");
    for set in TemplateSet::released() {
        assert!(
            set.origin.starts_with("report-templates/history/"),
            "{}",
            set.origin
        );
    }
}
