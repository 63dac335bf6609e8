//! Rebuilds the binary when a file is added to or removed from `events/`: `include_dir!` tracks
//! the files it embedded, not new ones.
fn main() {
    println!("cargo:rerun-if-changed=events");
}
