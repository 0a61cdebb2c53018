//! The manifests under `deploy/`, rendered offline with `kubectl kustomize`: the security
//! and availability fields the cluster needs, the environment the server reads, and the
//! RBAC, which is the README's, word for word (one source). Strict schema validation
//! against the Kubernetes OpenAPI schemas is `.ci/validate-manifests.sh`.
#![cfg(all(feature = "mcp", feature = "metrics"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "support/mcp.rs"]
mod mcp_support;

use std::path::Path;
use std::process::Command;

use serde::Deserialize;
use serde_json::{Value, json};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every document of a YAML stream, as JSON values.
fn documents(yaml: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// `kubectl kustomize <dir>`; `None` (skipped) without kubectl outside CI.
fn render(dir: &str) -> Option<Vec<Value>> {
    let out = match Command::new("kubectl")
        .args(["kustomize", dir])
        .current_dir(root())
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "kubectl is needed in CI: {e}"
            );
            eprintln!("SKIPPED: no kubectl ({e})");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(documents(&String::from_utf8(out.stdout).unwrap()))
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let mut found = docs.iter().filter(|d| d["kind"] == kind);
    let doc = found.next().unwrap_or_else(|| panic!("no {kind}"));
    assert!(found.next().is_none(), "more than one {kind}");
    doc
}

fn has(docs: &[Value], kind: &str) -> bool {
    docs.iter().any(|d| d["kind"] == kind)
}

/// The YAML blocks of the README's "Least privilege" paragraph: namespaced, cluster-wide.
fn readme_rbac() -> (String, String) {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("**Least privilege.**")
        .expect("the RBAC section");
    let blocks: Vec<&str> = readme[start..]
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .take(2)
        .collect();
    (blocks[0].to_owned(), blocks[1].to_owned())
}

/// What makes an RBAC object: kind, name, namespace, rules, subjects, roleRef (kustomize
/// adds labels; those don't grant anything).
fn grant(doc: &Value) -> Value {
    json!({
        "kind": doc["kind"],
        "name": doc["metadata"]["name"],
        "namespace": doc["metadata"]["namespace"],
        "rules": doc["rules"],
        "subjects": doc["subjects"],
        "roleRef": doc["roleRef"],
    })
}

fn grants(docs: &[Value]) -> Vec<Value> {
    let kinds = [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
    ];
    let mut g: Vec<Value> = docs
        .iter()
        .filter(|d| kinds.iter().any(|k| d["kind"] == *k))
        .map(grant)
        .collect();
    g.sort_by_key(Value::to_string);
    g
}

#[test]
fn the_rbac_in_deploy_is_the_rbac_the_readme_documents() {
    let (namespaced, cluster) = readme_rbac();
    let base_file = std::fs::read_to_string(root().join("deploy/base/rbac.yaml")).unwrap();
    let cluster_file =
        std::fs::read_to_string(root().join("deploy/overlays/cluster-wide/rbac.yaml")).unwrap();
    assert_eq!(
        base_file, namespaced,
        "deploy/base/rbac.yaml differs from the README"
    );
    assert_eq!(
        cluster_file, cluster,
        "deploy/overlays/cluster-wide/rbac.yaml differs from the README"
    );

    let Some(base) = render("deploy/base") else {
        return;
    };
    assert_eq!(grants(&base), grants(&documents(&namespaced)));
    let wide = render("deploy/overlays/cluster-wide").unwrap();
    let mut expected = documents(&cluster);
    expected.extend(
        documents(&namespaced)
            .into_iter()
            .filter(|d| d["kind"] == "ServiceAccount"),
    );
    assert_eq!(grants(&wide), grants(&expected));
    assert!(!has(&wide, "Role") && !has(&wide, "RoleBinding"));
    // Read-only: no verb beyond get/list anywhere.
    for doc in base.iter().chain(&wide) {
        for rule in doc["rules"].as_array().into_iter().flatten() {
            for verb in rule["verbs"].as_array().unwrap() {
                assert!(verb == "get" || verb == "list", "{rule}");
            }
            for resource in rule["resources"].as_array().unwrap() {
                assert!(resource != "secrets" && resource != "configmaps", "{rule}");
            }
        }
    }
}

#[test]
fn the_deployment_is_locked_down_probed_spread_and_scaled() {
    for dir in [
        "deploy/base",
        "deploy/overlays/cluster-wide",
        "deploy/overlays/prometheus-operator",
    ] {
        let Some(docs) = render(dir) else { return };
        check_workload(dir, &docs);
    }
}

fn check_workload(dir: &str, docs: &[Value]) {
    let deployment = find(docs, "Deployment");
    let spec = &deployment["spec"];
    assert!(spec["replicas"].as_u64().unwrap() >= 2, "{dir}");
    let labels = &spec["template"]["metadata"]["labels"];
    assert_eq!(
        spec["selector"]["matchLabels"]["app.kubernetes.io/name"],
        labels["app.kubernetes.io/name"]
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{dir}");
    assert_ne!(pod["securityContext"]["runAsUser"], 0, "{dir}");
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert!(
        !pod["topologySpreadConstraints"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{dir}"
    );
    let sa = find(docs, "ServiceAccount");
    assert_eq!(pod["serviceAccountName"], sa["metadata"]["name"], "{dir}");
    assert_eq!(
        deployment["metadata"]["namespace"], sa["metadata"]["namespace"],
        "{dir}"
    );
    let grace = pod["terminationGracePeriodSeconds"].as_f64().unwrap();
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{dir}");
    assert_eq!(sc["readOnlyRootFilesystem"], true, "{dir}");
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{dir}");
    assert!(sc["capabilities"]["add"].is_null(), "{dir}");
    for (kind, resource) in [
        ("requests", "cpu"),
        ("requests", "memory"),
        ("limits", "cpu"),
        ("limits", "memory"),
    ] {
        assert!(
            c["resources"][kind][resource].is_string(),
            "{dir}: {kind}.{resource}"
        );
    }
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "mcp");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "mcp");

    // The environment: secrets only by reference; stateless; the shutdown fits the grace period.
    let env: Vec<&Value> = c["env"].as_array().unwrap().iter().collect();
    let var = |name: &str| {
        *env.iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{dir}: no {name}"))
    };
    for secret in ["MCP_BEARER_TOKEN", "DATABASE_URL"] {
        let v = var(secret);
        assert!(v["value"].is_null(), "{dir}: {secret} given in clear");
        assert_eq!(
            v["valueFrom"]["secretKeyRef"]["name"], "toolcall-mcp",
            "{dir}"
        );
    }
    assert_eq!(var("MCP_STATELESS")["value"], "true");
    let seconds = |name: &str| var(name)["value"].as_str().unwrap().parse::<f64>().unwrap();
    assert!(
        seconds("MCP_SHUTDOWN_DELAY_SECONDS") + seconds("MCP_DRAIN_SECONDS") < grace,
        "{dir}: the drain does not fit the grace period"
    );
    assert!(
        !has(docs, "Secret"),
        "{dir}: no Secret values in the manifests"
    );

    let service = find(docs, "Service");
    assert_eq!(
        service["spec"]["selector"]["app.kubernetes.io/name"],
        labels["app.kubernetes.io/name"]
    );
    let ports: Vec<&str> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(ports, ["mcp", "metrics"]);
    let pdb = find(docs, "PodDisruptionBudget");
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
        labels["app.kubernetes.io/name"]
    );
    assert!(pdb["spec"]["minAvailable"].as_u64().unwrap() >= 1);
    let hpa = find(docs, "HorizontalPodAutoscaler");
    assert_eq!(
        hpa["spec"]["scaleTargetRef"]["name"],
        deployment["metadata"]["name"]
    );
    assert!(hpa["spec"]["minReplicas"].as_u64().unwrap() >= 2);
    assert_eq!(hpa["spec"]["metrics"][0]["resource"]["name"], "cpu");
    let policy = find(docs, "NetworkPolicy");
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress"]));
    let mcp_rule = &policy["spec"]["ingress"][0];
    assert_eq!(mcp_rule["ports"][0]["port"], "mcp");
    assert_eq!(
        mcp_rule["from"][0]["namespaceSelector"]["matchLabels"]["toolcall.dev/mcp-client"],
        "true"
    );
    if has(docs, "ServiceMonitor") {
        let monitor = find(docs, "ServiceMonitor");
        assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
        assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
        for (k, v) in monitor["spec"]["selector"]["matchLabels"]
            .as_object()
            .unwrap()
        {
            assert_eq!(&service["metadata"]["labels"][k], v, "{dir}");
        }
    }
}

#[test]
fn every_variable_the_deployment_sets_is_one_the_server_reads() {
    let Some(docs) = render("deploy/base") else {
        return;
    };
    let help = Command::new(mcp_support::example_server())
        .args(["http", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    let deployment = find(&docs, "Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    for var in container["env"].as_array().unwrap() {
        let name = var["name"].as_str().unwrap();
        // Read outside clap: the token (never a flag), the database URL and the log level.
        if ["MCP_BEARER_TOKEN", "DATABASE_URL", "TOOLCALL_LOG"].contains(&name) {
            continue;
        }
        assert!(
            help.contains(&format!("[env: {name}")),
            "{name} is not read by mcp_server http:\n{help}"
        );
    }
    assert_eq!(container["args"], json!(["http", "0.0.0.0:8765"]));
    // The Dockerfile builds the same program, as a non-root user.
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("--example mcp_server"));
    assert!(dockerfile.contains("USER 65532:65532"));
}
