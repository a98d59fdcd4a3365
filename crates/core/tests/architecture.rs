//! `ARCHITECTURE.md` stays true of the code: every file or folder it names
//! exists.

use std::path::Path;

#[test]
fn every_path_the_architecture_guide_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let guide = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let paths: Vec<&str> = guide
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|quoted| quoted.starts_with("crates/") || quoted.starts_with("examples/"))
        .collect();
    assert!(paths.len() > 20, "the guide names the code it describes");
    let missing: Vec<&&str> = paths
        .iter()
        .filter(|path| !root.join(path).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "named in ARCHITECTURE.md but missing: {missing:?}"
    );
}
