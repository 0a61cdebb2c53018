//! The pod's controller: ReplicaSet, then Deployment and its rollout state.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::Owner;
use crate::tools::kubernetes::Cluster;
use crate::tools::kubernetes::error::Target;

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
                error: None,
            },
            deployment: None,
            newest_revision: false,
            revision: None,
            in_progress: false,
            stuck: false,
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
            }
            Err(e) => facts.owner.error = Some(format!("Deployment {}: {e}", next.name)),
        }
        Some(facts)
    }
}
