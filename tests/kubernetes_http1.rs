//! The Kubernetes tools against a threaded HTTP/1.1 server (std::net, one thread
//! per connection), not only wiremock: a missing pod is answered as soon as its
//! 404 arrives, whatever the other requests of the call do.
//!
//! The server answers the pod at once with a `Status` 404. Every other path
//! (PodMetrics, events) gets a 404 status line at once too, but with no
//! `Content-Length` on a kept-alive connection, so its body never ends: the
//! server has answered within a millisecond, the client can never finish that
//! request. A tool that waited on it answered only at its per-request timeout.
#![cfg(feature = "kubernetes")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use toolcall::Tool;
use toolcall::tools::kubernetes::{Cluster, Error, PodArgs, PodContextArgs};

const NOT_FOUND: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"ghost\" not found","reason":"NotFound","details":{"name":"ghost","kind":"pods"},"code":404}"#;

/// Serves HTTP/1.1 with keep-alive on a thread per connection.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || connection(stream));
        }
    });
    format!("http://{addr}")
}

fn connection(stream: TcpStream) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
        }
        let path = request_line.split(' ').nth(1).unwrap_or("");
        let response = if path == "/api/v1/namespaces/default/pods/ghost" {
            let body = format!("{NOT_FOUND}\n");
            format!(
                "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        } else {
            // Answered, but the body (delimited by a close that never comes) never ends.
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\n".to_owned()
        };
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn cluster(url: &str) -> Cluster {
    let config = kube::Config::new(url.parse().unwrap());
    // A per-request timeout far above anything a prompt answer needs: a call that
    // waited on the unending request would take all of it.
    Cluster::from_config(config)
        .unwrap()
        .timeout(Duration::from_secs(60))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_of_a_missing_pod_does_not_wait_for_its_metrics() {
    let url = serve();
    let tool = cluster(&url).pod_memory();
    let call = tool.call(PodArgs::new("default", "ghost"));
    let result = tokio::time::timeout(Duration::from_secs(30), call).await;
    let err = result
        .expect("the tool waited for the metrics request")
        .unwrap_err();
    assert!(matches!(err, Error::PodNotFound { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_diagnosis_of_a_missing_pod_do_not_wait_either() {
    let url = serve();
    let c = cluster(&url);
    let status = tokio::time::timeout(
        Duration::from_secs(30),
        c.pod_status().call(PodContextArgs::new("default", "ghost")),
    )
    .await;
    let diagnosis = tokio::time::timeout(
        Duration::from_secs(30),
        c.diagnose_pod()
            .call(PodContextArgs::new("default", "ghost")),
    )
    .await;
    assert!(matches!(
        status.expect("status waited").unwrap_err(),
        Error::PodNotFound { .. }
    ));
    assert!(matches!(
        diagnosis.expect("diagnosis waited").unwrap_err(),
        Error::PodNotFound { .. }
    ));
}
