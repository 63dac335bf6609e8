//! Rebuilds the crate when a template is added to or removed from `report-templates/`:
//! `include_dir!` tracks the files it embedded, not new ones.
fn main() {
    println!("cargo:rerun-if-changed=../../report-templates");
}
