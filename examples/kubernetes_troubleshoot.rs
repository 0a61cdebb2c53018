//! Kubernetes troubleshooting example (work in progress).
fn main() {}
