//! The `mcp_server` example as a running HTTP replica: free loopback ports, a child
//! ended on drop, its probes and its Prometheus metrics.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// A free loopback port (bound, read and released: a small race, fine on loopback).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `mcp_server http` process; killed when dropped.
pub struct Replica {
    pub child: Child,
    pub addr: SocketAddr,
    pub metrics: SocketAddr,
    pub log: std::path::PathBuf,
}

/// A command for the example over HTTP on `addr` with metrics on `metrics`, the test tool
/// on, no cluster, no database, logs to `log`.
pub fn command(
    server: &Path,
    addr: SocketAddr,
    metrics: SocketAddr,
    home: &Path,
    extra: &[&str],
) -> Command {
    let mut cmd = Command::new(server);
    cmd.arg("http")
        .arg(addr.to_string())
        .arg("--metrics-addr")
        .arg(metrics.to_string())
        .args(extra)
        .env("TOOLCALL_TEST_SLOW_TOOL", "1")
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("DATABASE_URL")
        .env_remove("MCP_BEARER_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true);
    cmd
}

impl Replica {
    /// Starts `cmd` (from [`command`]) and waits until `/healthz` answers.
    pub async fn start(
        mut cmd: Command,
        addr: SocketAddr,
        metrics: SocketAddr,
        log: &Path,
    ) -> Replica {
        cmd.stderr(std::fs::File::create(log).unwrap());
        let child = cmd.spawn().unwrap();
        let replica = Replica {
            child,
            addr,
            metrics,
            log: log.to_owned(),
        };
        replica.wait_healthy().await;
        replica
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id().expect("running")).unwrap()
    }

    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    async fn wait_healthy(&self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = http
                .get(format!("http://{}/healthz", self.addr))
                .send()
                .await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the replica on {} did not become healthy: {}",
            self.addr,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// The text of `/metrics`.
    pub async fn scrape(&self) -> String {
        let response = reqwest::get(format!("http://{}/metrics", self.metrics))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/openmetrics-text"),
            "{:?}",
            response.headers()
        );
        response.text().await.unwrap()
    }

    /// Sends `signal` (`TERM`, `KILL`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// The value of the sample `name{labels}` (labels as printed, e.g.
/// `tool="test_slow",outcome="ok"`), 0 when absent; panics on a malformed exposition.
pub fn sample(text: &str, name: &str, labels: &str) -> f64 {
    assert!(text.ends_with("# EOF\n"), "not OpenMetrics text: {text}");
    let key = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    text.lines()
        .find_map(|line| line.strip_prefix(&key))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// Every sample of the exposition as (name with labels, value); checks each line parses.
pub fn samples(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let (key, value) = line.rsplit_once(' ').expect("name value");
            (key.to_owned(), value.parse::<f64>().expect("a number"))
        })
        .collect()
}
