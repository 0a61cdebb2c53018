//! Kubernetes troubleshooting tools on kube-rs.
