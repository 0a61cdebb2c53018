//! MCP test helpers: the `mcp_server` example binary, the Python SDK's venv, a kubeconfig.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The `mcp_server` example, built with every feature (as the tests are) on first use.
pub fn example_server() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "--example",
                    "mcp_server",
                    "--all-features",
                ])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building the mcp_server example failed");
            target_dir().join("debug/examples/mcp_server")
        })
        .clone()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// The Python interpreter of the venv with the official MCP SDK (`mcp` 2.3.0), made by
/// `.ci/mcp-clients.sh`; `None` (and a loud message) when it is missing.
pub fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("TOOLCALL_MCP_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/toolcall/mcp-venv"))
        })?;
    let python = venv.join("bin/python");
    if python.exists() {
        Some(python)
    } else {
        eprintln!(
            "SKIPPED: no Python MCP SDK venv at {} — run `bash .ci/mcp-clients.sh`",
            venv.display()
        );
        None
    }
}

/// Whether a missing venv must fail the test (in CI) rather than skip it: only when
/// `.ci/mcp-clients.sh` did not record that the package registries were unreachable.
pub fn required() -> bool {
    let offline = std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".cache/toolcall/mcp-offline"))
        .is_some_and(|p| p.exists());
    std::env::var_os("CI").is_some() && !offline
}

/// A script under `tests/mcp/`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mcp")
        .join(name)
}

/// A kubeconfig whose current context is the API server at `uri` (no auth).
pub fn kubeconfig(dir: &Path, uri: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: mock\n  cluster:\n    server: {uri}\n\
             contexts:\n- name: mock\n  context:\n    cluster: mock\n    user: mock\n    namespace: default\n\
             current-context: mock\nusers:\n- name: mock\n  user: {{}}\n"
        ),
    )
    .unwrap();
    path
}
