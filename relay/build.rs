//! Rebuilds the relay whenever the app in `dist/` changes (or appears), so
//! that the embedded app is never stale. Cargo scans a watched folder's
//! whole tree.

fn main() {
    println!("cargo:rerun-if-changed=../dist");
}
