#!/usr/bin/env bash
# Renders every kustomization under deploy/ offline (`kubectl kustomize`) and validates the
# result strictly (unknown fields fail) against the Kubernetes OpenAPI schemas of the oldest
# and the newest Kubernetes the pinned kubernetes-validate knows. kubernetes-validate lives
# in a venv cached at ~/.cache/toolcall/k8s-validate-venv. The ServiceMonitor (a CRD, no
# schema in the package) is checked by tests/deploy.rs instead.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${TOOLCALL_CACHE:-$HOME/.cache/toolcall}"
venv="$cache/k8s-validate-venv"
version=1.37.0

command -v kubectl >/dev/null || { echo "validate-manifests: kubectl (with kustomize) is required"; exit 1; }
if [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))' 2>/dev/null)" != "$version" ]; then
    echo "validate-manifests: installing kubernetes-validate $version into $venv"
    mkdir -p "$cache"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$version"
fi
read -r oldest newest < <("$venv/bin/python" -c '
import kubernetes_validate.utils as u
v = sorted(u.all_versions(), key=lambda s: tuple(int(p) for p in s.split(".")))
print(v[0], v[-1])')
echo "validate-manifests: Kubernetes $oldest (oldest) and $newest (newest), --strict"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
for k in deploy/base deploy/overlays/*/; do
    k=${k%/}
    name=$(echo "$k" | tr '/' '-')
    kubectl kustomize "$k" > "$out/$name.yaml"
    for v in "$oldest" "$newest"; do
        if "$venv/bin/kubernetes-validate" --strict --quiet -k "$v" "$out/$name.yaml"; then
            echo "ok   $k against $v"
        else
            echo "FAIL $k against $v"
            status=1
        fi
    done
done

# The check itself must bite: a misspelled field has to fail.
sed 's/readOnlyRootFilesystem/readOnlyRootFilesytem/' "$out/deploy-base.yaml" > "$out/typo.yaml"
if "$venv/bin/kubernetes-validate" --strict --quiet -k "$newest" "$out/typo.yaml" >/dev/null 2>&1; then
    echo "FAIL a misspelled field passed --strict validation"
    status=1
else
    echo "ok   a misspelled field is refused"
fi
exit "$status"
