//! Rebuilds the relay when the app in `dist/` changes: a release build
//! embeds its files, and Trunk's hashed names change with each build (a
//! new name is a new file, which Cargo would not otherwise notice).

fn main() {
    println!("cargo:rerun-if-changed=../dist");
}
