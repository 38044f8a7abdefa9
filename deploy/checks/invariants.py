"""Invariants of a rendered overlay that no schema or scanner states for us.

- Workload Identity belongs to crypto alone: only crypto's ServiceAccount carries the
  client-id annotation, and only crypto's pods the `azure.workload.identity/use` label.
- No Kubernetes Secret is rendered: passwords come from Key Vault through the CSI driver.
- No pod gets a Kubernetes API token: every ServiceAccount and pod template says
  `automountServiceAccountToken: false`.

Usage: invariants.py RENDERED.yaml   (prints one line per violation; exit 1 if any)
"""

import sys

import yaml

CLIENT_ID = "azure.workload.identity/client-id"
USE_LABEL = "azure.workload.identity/use"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
IDENTITY_OWNER = "crypto"


def pod_template(document):
    spec = document.get("spec", {})
    if document["kind"] == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return spec.get("template", {})


def violations(documents):
    for document in documents:
        kind, name = document["kind"], document["metadata"]["name"]
        where = f"{kind}/{name}"
        if kind == "Secret":
            yield f"{where}: a Kubernetes Secret is rendered (use the Key Vault CSI driver)"
        if kind == "ServiceAccount":
            annotations = document["metadata"].get("annotations") or {}
            if CLIENT_ID in annotations and name != IDENTITY_OWNER:
                yield f"{where}: carries {CLIENT_ID}; only {IDENTITY_OWNER} may"
            if document.get("automountServiceAccountToken") is not False:
                yield f"{where}: automountServiceAccountToken is not false"
        if kind in WORKLOAD_KINDS:
            template = pod_template(document)
            labels = (template.get("metadata") or {}).get("labels") or {}
            if USE_LABEL in labels and name != IDENTITY_OWNER:
                yield f"{where}: pods carry {USE_LABEL}; only {IDENTITY_OWNER}'s may"
            if template.get("spec", {}).get("automountServiceAccountToken") is not False:
                yield f"{where}: pod automountServiceAccountToken is not false"


def main(path):
    with open(path) as manifest:
        documents = [d for d in yaml.safe_load_all(manifest) if d]
    found = list(violations(documents))
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
