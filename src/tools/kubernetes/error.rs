//! [`Error`]: why a Kubernetes tool call failed, in words the model can act on.

use std::time::Duration;

/// Why a Kubernetes tool call produced no result.
///
/// Its `Display` text is what the model is told (after `error: \`tool\` failed: `),
/// so each variant says what happened and what to do next. None of these ends an
/// agent run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The pod does not exist in that namespace (HTTP 404 on the pod or its log).
    #[error(
        "pod `{pod}` not found in namespace `{namespace}`; check the namespace and the pod name"
    )]
    PodNotFound {
        /// The namespace asked for.
        namespace: String,
        /// The pod asked for.
        pod: String,
    },

    /// The named container is not in the pod.
    #[error("pod `{pod}` has no container `{container}`; its containers are: {}", .available.join(", "))]
    ContainerNotFound {
        /// The pod.
        pod: String,
        /// The container asked for.
        container: String,
        /// The pod's containers (init containers last).
        available: Vec<String>,
    },

    /// No container was named, and the pod has several and no
    /// `kubectl.kubernetes.io/default-container` annotation.
    #[error(
        "pod `{pod}` has several containers and no default one; call again with container_name set to one of: {}",
        .containers.join("; ")
    )]
    ContainerRequired {
        /// The pod.
        pod: String,
        /// Each container as `name (state)`.
        containers: Vec<String>,
    },

    /// The API server refused the credentials (HTTP 401): the token is missing,
    /// invalid or expired.
    #[error(
        "the Kubernetes API server rejected the credentials (401 Unauthorized); the user must renew them, retrying will not help"
    )]
    Unauthorized,

    /// The credentials lack a permission (HTTP 403). The message is the API
    /// server's: it names the verb and the resource.
    #[error("forbidden: {message}")]
    Forbidden {
        /// The API server's message.
        message: String,
    },

    /// The API server refused the request as malformed or impossible (HTTP 400),
    /// e.g. the previous log of a container that never restarted.
    #[error("the Kubernetes API server refused the request: {message}")]
    BadRequest {
        /// The API server's message.
        message: String,
    },

    /// The cluster has no `metrics.k8s.io` API (a plain-text 404 on the API group):
    /// metrics-server is not installed.
    #[error(
        "metrics-server is not installed (the cluster has no metrics.k8s.io API), so usage is unknown"
    )]
    MetricsApiAbsent,

    /// metrics-server is up but has no sample for this pod (a `Status` 404): the
    /// pod just started or has no running container.
    #[error(
        "metrics not available for pod `{pod}` in namespace `{namespace}`: metrics-server has no sample for it (it just started or no container is running)"
    )]
    NoMetrics {
        /// The namespace.
        namespace: String,
        /// The pod.
        pod: String,
    },

    /// The `metrics.k8s.io` API is registered but metrics-server does not answer
    /// (HTTP 503 from the aggregator).
    #[error(
        "the metrics API is unavailable ({message}): metrics-server is installed but not answering"
    )]
    MetricsApiUnavailable {
        /// The aggregator's message (usually `service unavailable`).
        message: String,
    },

    /// Any other error answer from the API server.
    #[error("the Kubernetes API server answered {code}: {message}")]
    Api {
        /// The HTTP status code.
        code: u16,
        /// The `Status` reason (`ServiceUnavailable`, …), empty when the body was not a `Status`.
        reason: String,
        /// The API server's message.
        message: String,
    },

    /// The API server did not answer within the per-call timeout.
    #[error("the Kubernetes API server did not answer within {0:?}")]
    Timeout(Duration),

    /// The API server could not be reached (connection refused, DNS, TLS) or
    /// the client could not authenticate (an exec plugin failed).
    #[error("could not reach the Kubernetes API server: {message}")]
    Unreachable {
        /// What went wrong, from the innermost cause.
        message: String,
    },

    /// The namespace is outside the cluster's allow-list ([`Cluster::namespaces`](super::Cluster::namespaces)).
    #[error("namespace `{namespace}` is not allowed; the allowed namespaces are: {}", .allowed.join(", "))]
    NamespaceNotAllowed {
        /// The namespace asked for.
        namespace: String,
        /// The namespaces the tools may look at.
        allowed: Vec<String>,
    },

    /// The `context` parameter names no configured cluster.
    #[error("no cluster for context `{context}`; the known contexts are: {}", .available.join(", "))]
    UnknownContext {
        /// The context asked for.
        context: String,
        /// The contexts configured.
        available: Vec<String>,
    },

    /// An argument could not be used (a regex that does not compile, a
    /// duration or time that cannot be read).
    #[error("invalid `{argument}`: {message}")]
    InvalidArgument {
        /// The parameter.
        argument: &'static str,
        /// What is wrong with it.
        message: String,
    },

    /// The API server answered 2xx with a body that could not be read.
    #[error("the Kubernetes API server sent an unreadable response: {message}")]
    InvalidResponse {
        /// What was wrong with it.
        message: String,
    },
}

/// What a request was for, to tell a 404 on a pod from one on the metrics API.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// A pod, its log or its events.
    Pod { namespace: &'a str, pod: &'a str },
    /// A pod's metrics.
    Metrics { namespace: &'a str, pod: &'a str },
    /// A list (pods, events, nodes) or an object other than a pod.
    List,
}

impl Error {
    /// Classifies a kube error for the request `target`.
    pub(crate) fn from_kube(error: kube::Error, target: Target<'_>) -> Self {
        match error {
            kube::Error::Api(status) => {
                Self::from_status(status.code, &status.reason, status.message.trim(), target)
            }
            kube::Error::SerdeError(e) => Self::InvalidResponse {
                message: e.to_string(),
            },
            kube::Error::FromUtf8(_) => Self::InvalidResponse {
                message: "the body is not UTF-8".into(),
            },
            other => Self::Unreachable {
                message: innermost(&other),
            },
        }
    }

    fn from_status(code: u16, reason: &str, message: &str, target: Target<'_>) -> Self {
        // kube-rs marks error bodies that are not a `Status` (plain text) this way.
        let plain_text = reason == "Failed to parse error data";
        match (code, target) {
            (401, _) => Self::Unauthorized,
            (403, _) => Self::Forbidden {
                message: message.to_owned(),
            },
            (404, Target::Pod { namespace, pod }) => Self::PodNotFound {
                namespace: namespace.to_owned(),
                pod: pod.to_owned(),
            },
            (404, Target::Metrics { .. }) if plain_text => Self::MetricsApiAbsent,
            (404, Target::Metrics { namespace, pod }) => Self::NoMetrics {
                namespace: namespace.to_owned(),
                pod: pod.to_owned(),
            },
            (503, Target::Metrics { .. }) => Self::MetricsApiUnavailable {
                message: message.to_owned(),
            },
            (400, _) => Self::BadRequest {
                message: message.to_owned(),
            },
            _ => Self::Api {
                code,
                reason: if plain_text {
                    String::new()
                } else {
                    reason.to_owned()
                },
                message: message.to_owned(),
            },
        }
    }
}

/// The innermost cause's text: "Connection refused (os error 111)" rather than
/// "ServiceError: client error (Connect)".
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    let mut outer = error.to_string();
    while let Some(next) = current.source() {
        current = next;
        let text = next.to_string();
        if !text.is_empty() {
            outer = text;
        }
    }
    outer
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: Target<'static> = Target::Pod {
        namespace: "payments",
        pod: "billing",
    };
    const METRICS: Target<'static> = Target::Metrics {
        namespace: "default",
        pod: "billing",
    };

    #[test]
    fn a_404_means_different_things_per_target() {
        assert!(matches!(
            Error::from_status(404, "NotFound", "pods \"billing\" not found", POD),
            Error::PodNotFound { .. }
        ));
        assert_eq!(
            Error::from_status(
                404,
                "Failed to parse error data",
                "404 page not found",
                METRICS
            ),
            Error::MetricsApiAbsent
        );
        assert!(matches!(
            Error::from_status(404, "NotFound", "podmetrics … not found", METRICS),
            Error::NoMetrics { .. }
        ));
    }

    #[test]
    fn messages_say_what_to_do() {
        let e = Error::from_status(404, "NotFound", "x", POD);
        assert_eq!(
            e.to_string(),
            "pod `billing` not found in namespace `payments`; check the namespace and the pod name"
        );
        let e = Error::from_status(
            503,
            "Failed to parse error data",
            "service unavailable",
            METRICS,
        );
        assert!(e.to_string().contains("service unavailable"));
        let e = Error::from_status(
            503,
            "Failed to parse error data",
            "service unavailable",
            Target::List,
        );
        assert_eq!(
            e.to_string(),
            "the Kubernetes API server answered 503: service unavailable"
        );
    }
}
