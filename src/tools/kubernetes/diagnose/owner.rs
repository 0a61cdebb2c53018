//! The pod's controller: ReplicaSet, then Deployment and its rollout state.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Container, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::ListParams;

use super::Owner;
use crate::tools::kubernetes::error::Target;
use crate::tools::kubernetes::{Cluster, quantity};

/// The annotation holding a Deployment's and a ReplicaSet's revision.
const REVISION: &str = "deployment.kubernetes.io/revision";

/// What the rules need to know about the owner.
#[derive(Debug, Clone)]
pub(crate) struct OwnerFacts {
    pub(crate) owner: Owner,
    /// The Deployment's name, when the pod belongs to one.
    pub(crate) deployment: Option<String>,
    /// The pod's ReplicaSet is the Deployment's newest revision.
    pub(crate) newest_revision: bool,
    /// The ReplicaSet's revision.
    pub(crate) revision: Option<String>,
    /// The rollout has not finished.
    pub(crate) in_progress: bool,
    /// The rollout passed its progress deadline.
    pub(crate) stuck: bool,
    /// The containers of the revision before the pod's, when it was found.
    pub(crate) previous_containers: Vec<Container>,
}

fn controller(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .find(|r| r.controller == Some(true))
}

fn revision(meta: &ObjectMeta) -> Option<String> {
    meta.annotations.as_ref()?.get(REVISION).cloned()
}

/// `kubectl rollout status` in words, and whether it is in progress or stuck.
fn rollout(d: &Deployment) -> (String, bool, bool) {
    let want = d.spec.replicas.unwrap_or(1);
    let Some(st) = d.status.as_ref() else {
        return ("no status yet".into(), true, false);
    };
    let updated = st.updated_replicas.unwrap_or(0);
    let total = st.replicas.unwrap_or(0);
    let available = st.available_replicas.unwrap_or(0);
    let stuck = st.conditions.as_deref().unwrap_or(&[]).iter().any(|c| {
        c.type_.as_deref() == Some("Progressing")
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    let revision = revision(&d.metadata).map_or_else(String::new, |r| format!(" of revision {r}"));
    let generation = d.metadata.generation.unwrap_or(0);
    let text = if st.observed_generation.unwrap_or(0) < generation {
        format!("rollout{revision} not yet seen by the controller")
    } else if updated < want {
        format!(
            "rollout{revision} in progress: {updated} of {want} replicas updated, {available} available"
        )
    } else if total > updated {
        format!(
            "rollout{revision} in progress: {} old replicas pending termination",
            total - updated
        )
    } else if available < updated {
        format!(
            "rollout{revision} in progress: {available} of {updated} updated replicas available"
        )
    } else {
        format!("rollout{revision} complete: {want} replicas updated and available")
    };
    let text = if stuck {
        format!("{text}; it exceeded its progress deadline (ProgressDeadlineExceeded)")
    } else {
        text
    };
    let done = text.contains("complete");
    (text, !done, stuck)
}

impl Cluster {
    /// Follows the pod's controller references: a ReplicaSet and its Deployment
    /// are read; other controllers are named.
    pub(crate) async fn owner_facts(&self, pod: &Pod, ns: &str) -> Option<OwnerFacts> {
        let first = controller(&pod.metadata)?;
        let mut facts = OwnerFacts {
            owner: Owner {
                chain: vec![format!("{}/{}", first.kind, first.name)],
                rollout: None,
                previous_revision: None,
                changes: Vec::new(),
                error: None,
            },
            deployment: None,
            newest_revision: false,
            revision: None,
            in_progress: false,
            stuck: false,
            previous_containers: Vec::new(),
        };
        if first.kind != "ReplicaSet" {
            return Some(facts);
        }
        let sets = kube::Api::<ReplicaSet>::namespaced(self.client.clone(), ns);
        let rs = match self.bounded(sets.get(&first.name), Target::List).await {
            Ok(rs) => rs,
            Err(e) => {
                facts.owner.error = Some(format!("ReplicaSet {}: {e}", first.name));
                return Some(facts);
            }
        };
        facts.revision = revision(&rs.metadata);
        let Some(next) = controller(&rs.metadata) else {
            return Some(facts);
        };
        facts
            .owner
            .chain
            .push(format!("{}/{}", next.kind, next.name));
        if next.kind != "Deployment" {
            return Some(facts);
        }
        facts.deployment = Some(next.name.clone());
        let deployments = kube::Api::<Deployment>::namespaced(self.client.clone(), ns);
        match self
            .bounded(deployments.get(&next.name), Target::List)
            .await
        {
            Ok(d) => {
                let (text, in_progress, stuck) = rollout(&d);
                facts.newest_revision =
                    facts.revision.is_some() && facts.revision == revision(&d.metadata);
                facts.owner.rollout = Some(text);
                facts.in_progress = in_progress;
                facts.stuck = stuck;
                self.previous_revision(&d, &rs, ns, &mut facts).await;
            }
            Err(e) => facts.owner.error = Some(format!("Deployment {}: {e}", next.name)),
        }
        Some(facts)
    }

    /// Finds the Deployment's revision before the pod's and says what changed.
    async fn previous_revision(
        &self,
        d: &Deployment,
        rs: &ReplicaSet,
        ns: &str,
        facts: &mut OwnerFacts,
    ) {
        let Some(current) = facts
            .revision
            .as_deref()
            .and_then(|r| r.parse::<u64>().ok())
        else {
            return;
        };
        let selector: Vec<String> = d
            .spec
            .selector
            .match_labels
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
            .unwrap_or_default();
        if selector.is_empty() {
            return;
        }
        let sets = kube::Api::<ReplicaSet>::namespaced(self.client.clone(), ns);
        let params = ListParams::default().labels(&selector.join(","));
        let list = match self.bounded(sets.list(&params), Target::List).await {
            Ok(list) => list.items,
            Err(e) => {
                facts.owner.error = Some(format!("the Deployment's ReplicaSets: {e}"));
                return;
            }
        };
        let uid = d.metadata.uid.as_deref();
        let previous = list
            .iter()
            .filter(|r| controller(&r.metadata).is_some_and(|c| Some(c.uid.as_str()) == uid))
            .filter_map(|r| {
                let n = revision(&r.metadata)?.parse::<u64>().ok()?;
                (n < current).then_some((n, r))
            })
            .max_by_key(|(n, _)| *n);
        let Some((number, old)) = previous else {
            return;
        };
        facts.owner.previous_revision = Some(number.to_string());
        let old_template = old.spec.template.as_ref();
        let new_template = rs.spec.template.as_ref();
        facts.owner.changes = changes(old_template, new_template);
        facts.previous_containers = containers(old_template).to_vec();
    }
}

fn containers(template: Option<&PodTemplateSpec>) -> &[Container] {
    template
        .and_then(|t| t.spec.as_ref())
        .map_or(&[], |s| s.containers.as_slice())
}

/// What changed between two pod templates, container by container: images,
/// environment variable names, requests and limits.
pub(crate) fn changes(old: Option<&PodTemplateSpec>, new: Option<&PodTemplateSpec>) -> Vec<String> {
    let (old, new) = (containers(old), containers(new));
    let mut out = Vec::new();
    for c in new {
        let Some(o) = old.iter().find(|o| o.name == c.name) else {
            out.push(format!("container {} added", c.name));
            continue;
        };
        if o.image != c.image {
            out.push(format!(
                "{} image {} → {}",
                c.name,
                o.image.as_deref().unwrap_or("none"),
                c.image.as_deref().unwrap_or("none")
            ));
        }
        let names = |c: &Container| -> Vec<String> {
            c.env
                .as_deref()
                .unwrap_or(&[])
                .iter()
                .map(|e| e.name.clone())
                .collect()
        };
        let (was, now) = (names(o), names(c));
        let removed: Vec<&str> = was
            .iter()
            .filter(|n| !now.contains(n))
            .map(String::as_str)
            .collect();
        let added: Vec<&str> = now
            .iter()
            .filter(|n| !was.contains(n))
            .map(String::as_str)
            .collect();
        if !removed.is_empty() {
            out.push(format!("{} env removed: {}", c.name, removed.join(", ")));
        }
        if !added.is_empty() {
            out.push(format!("{} env added: {}", c.name, added.join(", ")));
        }
        for (which, get) in [
            (
                "request",
                (|c: &Container| c.resources.as_ref().and_then(|r| r.requests.clone()))
                    as fn(&Container) -> _,
            ),
            ("limit", |c: &Container| {
                c.resources.as_ref().and_then(|r| r.limits.clone())
            }),
        ] {
            let (a, b) = (get(o).unwrap_or_default(), get(c).unwrap_or_default());
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let show = |q: Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity>| {
                    q.map_or_else(|| "none".to_owned(), |q| q.0.clone())
                };
                let (x, y) = (a.get(key), b.get(key));
                let same = match (x, y) {
                    (Some(x), Some(y)) => quantity::parse(&x.0) == quantity::parse(&y.0),
                    (None, None) => true,
                    _ => false,
                };
                if !same {
                    out.push(format!(
                        "{} {key} {which} {} → {}",
                        c.name,
                        show(x),
                        show(y)
                    ));
                }
            }
        }
    }
    for o in old {
        if !new.iter().any(|c| c.name == o.name) {
            out.push(format!("container {} removed", o.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(image: &str, env: &[&str], memory_limit: &str) -> PodTemplateSpec {
        serde_json::from_value(serde_json::json!({"spec": {"containers": [{
            "name": "app",
            "image": image,
            "env": env.iter().map(|n| serde_json::json!({"name": n, "value": "x"})).collect::<Vec<_>>(),
            "resources": {"limits": {"memory": memory_limit}}
        }]}}))
        .unwrap()
    }

    #[test]
    fn changes_name_image_env_and_resources() {
        let old = template("app:1", &["A", "B"], "1Gi");
        let new = template("app:2", &["B", "C"], "512Mi");
        assert_eq!(
            changes(Some(&old), Some(&new)),
            [
                "app image app:1 → app:2",
                "app env removed: A",
                "app env added: C",
                "app memory limit 1Gi → 512Mi"
            ]
        );
        // The same quantity written differently is no change.
        let same = template("app:1", &["A", "B"], "1024Mi");
        assert!(changes(Some(&old), Some(&same)).is_empty());
    }
}
