#!/usr/bin/env python3
"""Who may connect to whom, on which port: the policy matrix of a rendered overlay.

Two independent readings of the same intent:

* networkpolicy: network-config-analyzer (nca) computes the connectivity that the
  Kubernetes NetworkPolicies allow, pod to pod and pod to address range;
* linkerd: this file reads Linkerd's Server, HTTPRoute, AuthorizationPolicy,
  MeshTLSAuthentication and NetworkAuthentication resources and lists which clients
  (mesh identities or networks) may reach which workload port, on which routes.

Both are printed as sorted rows and compared with the intended matrix in
docs/policy-matrix.expected.yaml. Any row missing or extra fails the check.

    python3 deploy/checks/policy_matrix.py                 # print and check every overlay
    python3 deploy/checks/policy_matrix.py --overlay aks   # one overlay
    python3 deploy/checks/policy_matrix.py --kustomize DIR --expect-as aks
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
EXPECTED = REPO / "docs" / "policy-matrix.expected.yaml"
FIXTURE = Path(__file__).resolve().parent / "cluster-fixture.yaml"
NAMESPACE = "sharer"
IDENTITY_SUFFIX = ".serviceaccount.identity.linkerd.cluster.local"

# Kinds nca understands; everything else is left out of its input.
NCA_KINDS = {"Namespace", "Deployment", "StatefulSet", "DaemonSet", "Pod", "NetworkPolicy"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}

# The fields this reader understands for each Linkerd kind. Unknown fields are errors:
# kubernetes-validate has no schema for these CRDs, and a field this reader ignored could
# change what the policy means.
LINKERD_SPEC_FIELDS = {
    "Server": {"podSelector", "port", "proxyProtocol", "accessPolicy"},
    "HTTPRoute": {"parentRefs", "rules", "hostnames"},
    "AuthorizationPolicy": {"targetRef", "requiredAuthenticationRefs"},
    "MeshTLSAuthentication": {"identities", "identityRefs"},
    "NetworkAuthentication": {"networks"},
}


class MatrixError(Exception):
    """A manifest this check cannot read with certainty."""


def render(kustomize_dir: Path) -> list[dict]:
    """Renders a kustomization with kubectl and returns its documents."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise MatrixError("kubectl not found: it renders the overlays (kubectl kustomize)")
    out = subprocess.run(
        [kubectl, "kustomize", str(kustomize_dir)],
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise MatrixError(f"kubectl kustomize {kustomize_dir} failed:\n{out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def load_documents(path: Path) -> list[dict]:
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d]


# ---------------------------------------------------------------------------------------
# NetworkPolicies, through network-config-analyzer


def nca_binary() -> str:
    here = Path(sys.executable).parent / "nca"
    if here.exists():
        return str(here)
    found = shutil.which("nca")
    if found is None:
        raise MatrixError("nca not found: pip install network-config-analyzer (run.sh does)")
    return found


def networkpolicy_rows(docs: list[dict]) -> list[str]:
    """Connectivity allowed by the NetworkPolicies, as 'src -> dst : connections' rows.

    Only rows that start or end in our namespace are kept: the fixture's other namespaces
    have no policies, so their rows only say that Kubernetes allows everything by default.
    """
    selected = [d for d in docs if d.get("kind") in NCA_KINDS]
    with tempfile.TemporaryDirectory(prefix="policy-matrix-") as tmp:
        manifest = Path(tmp) / "rendered.yaml"
        manifest.write_text(yaml.safe_dump_all(selected, sort_keys=False))
        out = subprocess.run(
            [
                nca_binary(),
                "--connectivity",
                "--resource_list",
                str(manifest),
                "--resource_list",
                str(FIXTURE),
                "--output_format",
                "txt_no_fw_rules",
                "--output_endpoints",
                "deployments",
            ],
            check=False,
            capture_output=True,
            text=True,
        )
    if out.returncode != 0:
        raise MatrixError(f"nca failed ({out.returncode}):\n{out.stderr}{out.stdout}")

    grouped: dict[tuple[str, str], list[str]] = {}
    edge = re.compile(r"^(\S+) => (\S+) : (.+)$")
    for line in out.stdout.splitlines():
        match = edge.match(line.strip())
        if not match:
            continue
        src, dst, conn = (_endpoint(match.group(1)), _endpoint(match.group(2)), match.group(3))
        if not (src.startswith(f"{NAMESPACE}/") or dst.startswith(f"{NAMESPACE}/")):
            continue
        conn = _connections(conn)
        if _is_address(dst):
            # An egress to address ranges: one row per source and ports, ranges as CIDRs.
            grouped.setdefault((src, conn), []).append(dst)
        elif _is_address(src):
            grouped.setdefault((dst, "<-" + conn), []).append(src)
        else:
            grouped.setdefault((f"{src} -> {dst}", conn), [])

    rows = []
    for (key, conn), ranges in grouped.items():
        if not ranges:
            rows.append(f"{key} : {conn}")
        elif conn.startswith("<-"):
            rows.append(f"{_cidrs(ranges)} -> {key} : {conn[2:]}")
        else:
            rows.append(f"{key} -> {_cidrs(ranges)} : {conn}")
    return sorted(rows)


def _endpoint(text: str) -> str:
    return re.sub(r"\[(Deployment|StatefulSet|DaemonSet|Pod)\]$", "", text)


def _is_address(text: str) -> bool:
    return bool(re.match(r"^[0-9a-fA-F:.]+(-[0-9a-fA-F:.]+)?(,|$)", text))


def _connections(text: str) -> str:
    text = text.strip()
    if text == "All connections":
        return "all"
    match = re.match(r"^\{protocols:([^,]+(?:, [A-Z]+)*),dst_ports:([0-9,\-]+)\}$", text)
    if not match:
        return text
    protocols = "+".join(p.strip() for p in match.group(1).split(","))
    return f"{protocols}/{match.group(2)}"


def _cidrs(ranges: list[str]) -> str:
    """Turns nca's address ranges ('a-b', 'c') into a sorted, merged CIDR list."""
    networks = []
    for item in ",".join(ranges).split(","):
        first, _, last = item.partition("-")
        start = ipaddress.ip_address(first)
        end = ipaddress.ip_address(last or first)
        networks.extend(ipaddress.summarize_address_range(start, end))
    merged = list(ipaddress.collapse_addresses(networks))
    if merged and all(n.version == 4 for n in merged):
        # A wide allow reads better as what it leaves out: "0.0.0.0/0 except ...".
        holes = _complement(merged)
        if holes and len(holes) < len(merged):
            return "0.0.0.0/0 except " + ",".join(str(n) for n in holes)
    return ",".join(str(n) for n in merged)


def _complement(networks: list) -> list:
    remaining = [ipaddress.ip_network("0.0.0.0/0")]
    for net in networks:
        next_remaining = []
        for block in remaining:
            if net.subnet_of(block):
                next_remaining.extend(block.address_exclude(net))
            elif not block.subnet_of(net):
                next_remaining.append(block)
        remaining = next_remaining
    return list(ipaddress.collapse_addresses(remaining))


# ---------------------------------------------------------------------------------------
# Linkerd policy


def linkerd_rows(docs: list[dict]) -> list[str]:
    """Who Linkerd admits to each workload port, as 'client -> workload:port [routes]'."""
    by_kind: dict[str, dict[str, dict]] = {}
    for doc in docs:
        api = doc.get("apiVersion", "")
        if not api.startswith("policy.linkerd.io/"):
            continue
        kind = doc["kind"]
        if kind not in LINKERD_SPEC_FIELDS:
            raise MatrixError(f"unsupported Linkerd kind {kind} ({doc['metadata']['name']})")
        unknown = set(doc.get("spec", {})) - LINKERD_SPEC_FIELDS[kind]
        if unknown:
            raise MatrixError(f"{kind} {doc['metadata']['name']}: unknown fields {sorted(unknown)}")
        _same_namespace(doc)
        by_kind.setdefault(kind, {})[doc["metadata"]["name"]] = doc

    servers = by_kind.get("Server", {})
    if not servers:
        return []
    workloads = [d for d in docs if d.get("kind") in WORKLOAD_KINDS]
    namespace_policy = _namespace_default_policy(docs)
    routes = by_kind.get("HTTPRoute", {})
    authns = {**by_kind.get("MeshTLSAuthentication", {}), **by_kind.get("NetworkAuthentication", {})}

    rows = set()
    covered: set[tuple[str, int]] = set()
    for name, server in servers.items():
        spec = server["spec"]
        for workload, port in _server_targets(spec, workloads):
            covered.add((workload, port))
            access = spec.get("accessPolicy", "deny")
            if access != "deny":
                rows.add(f"default:{access} -> {workload}:{port} [*]")

    for name, policy in by_kind.get("AuthorizationPolicy", {}).items():
        target = policy["spec"]["targetRef"]
        kind, target_name = target.get("kind"), target.get("name")
        if kind == "Server":
            server_names, scope = [target_name], "*"
        elif kind == "HTTPRoute":
            route = routes.get(target_name)
            if route is None:
                raise MatrixError(f"AuthorizationPolicy {name}: no HTTPRoute {target_name}")
            server_names = [
                ref["name"] for ref in route["spec"]["parentRefs"] if ref.get("kind") == "Server"
            ]
            scope = _route_paths(route)
        elif kind == "Namespace":
            server_names, scope = list(servers), "*"
        else:
            raise MatrixError(f"AuthorizationPolicy {name}: unsupported target kind {kind}")

        client = _client(policy, authns)
        for server_name in server_names:
            server = servers.get(server_name)
            if server is None:
                raise MatrixError(f"AuthorizationPolicy {name}: no Server {server_name}")
            for workload, port in _server_targets(server["spec"], workloads):
                rows.add(f"{client} -> {workload}:{port} [{scope}]")

    # Ports that no Server covers fall back to the namespace's default inbound policy.
    if namespace_policy != "deny":
        for workload in workloads:
            for port in _container_ports(workload):
                key = (_workload_name(workload), port)
                if key not in covered:
                    rows.add(f"default:{namespace_policy} -> {key[0]}:{port} [*]")
    return sorted(rows)


def _same_namespace(doc: dict) -> None:
    namespace = doc["metadata"].get("namespace")
    if namespace != NAMESPACE:
        raise MatrixError(
            f"{doc['kind']} {doc['metadata']['name']} is in namespace {namespace!r}, "
            f"expected {NAMESPACE!r}"
        )


def _namespace_default_policy(docs: list[dict]) -> str:
    for doc in docs:
        if doc.get("kind") == "Namespace" and doc["metadata"]["name"] == NAMESPACE:
            annotations = doc["metadata"].get("annotations") or {}
            return annotations.get("config.linkerd.io/default-inbound-policy", "cluster-default")
    return "cluster-default"


def _workload_name(workload: dict) -> str:
    return f"{workload['metadata'].get('namespace', NAMESPACE)}/{workload['metadata']['name']}"


def _pod_labels(workload: dict) -> dict:
    return workload["spec"]["template"]["metadata"].get("labels") or {}


def _container_ports(workload: dict) -> list[int]:
    ports = []
    for container in workload["spec"]["template"]["spec"].get("containers", []):
        ports.extend(p["containerPort"] for p in container.get("ports", []))
    return ports


def _selects(selector: dict, labels: dict) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def _server_targets(spec: dict, workloads: list[dict]) -> list[tuple[str, int]]:
    """The (workload, port number) pairs a Server's podSelector and port select."""
    targets = []
    for workload in workloads:
        if not _selects(spec.get("podSelector", {}), _pod_labels(workload)):
            continue
        for container in workload["spec"]["template"]["spec"].get("containers", []):
            for port in container.get("ports", []):
                if spec["port"] in (port.get("name"), port["containerPort"]):
                    targets.append((_workload_name(workload), port["containerPort"]))
    return targets


def _route_paths(route: dict) -> str:
    paths = []
    for rule in route["spec"].get("rules", []):
        for match in rule.get("matches", [{}]):
            path = match.get("path", {"type": "PathPrefix", "value": "/"})
            suffix = "*" if path.get("type", "PathPrefix") == "PathPrefix" else ""
            paths.append(path.get("value", "/") + suffix)
    return ",".join(sorted(paths)) or "/*"


def _client(policy: dict, authns: dict[str, dict]) -> str:
    """Describes who satisfies every authentication a policy requires (they are ANDed)."""
    parts = []
    for ref in policy["spec"].get("requiredAuthenticationRefs", []):
        kind, name = ref.get("kind"), ref.get("name")
        if kind == "ServiceAccount":
            parts.append(f"identity {ref.get('namespace', NAMESPACE)}/{name}")
            continue
        authn = authns.get(name)
        if authn is None or authn["kind"] != kind:
            raise MatrixError(f"AuthorizationPolicy {policy['metadata']['name']}: no {kind} {name}")
        if kind == "MeshTLSAuthentication":
            parts.append("identity " + "|".join(_identities(authn["spec"])))
        else:
            parts.append("network " + "|".join(_networks(authn["spec"])))
    if not parts:
        return "anyone"
    return " & ".join(parts)


def _identities(spec: dict) -> list[str]:
    names = []
    for identity in spec.get("identities", []):
        if identity.endswith(IDENTITY_SUFFIX):
            account, namespace = identity[: -len(IDENTITY_SUFFIX)].split(".", 1)
            names.append(f"{namespace}/{account}")
        else:
            names.append(identity)
    for ref in spec.get("identityRefs", []):
        if ref.get("kind") == "ServiceAccount":
            names.append(f"{ref.get('namespace', NAMESPACE)}/{ref['name']}")
        else:
            names.append(f"{ref.get('kind')}:{ref.get('name', '*')}")
    return sorted(names)


def _networks(spec: dict) -> list[str]:
    networks = []
    for net in spec.get("networks", []):
        text = net["cidr"]
        if net.get("except"):
            text += " except " + ",".join(net["except"])
        networks.append(text)
    return sorted(networks)


# ---------------------------------------------------------------------------------------
# Comparison and output


def matrix(docs: list[dict]) -> dict[str, list[str]]:
    return {"networkpolicy": networkpolicy_rows(docs), "linkerd": linkerd_rows(docs)}


def compare(actual: dict[str, list[str]], expected: dict[str, list[str]]) -> list[str]:
    """Differences per layer, as printable lines; empty when the matrix is as intended."""
    problems = []
    for layer in ("networkpolicy", "linkerd"):
        want, have = set(expected.get(layer) or []), set(actual[layer])
        for row in sorted(have - want):
            problems.append(f"{layer}: UNEXPECTED {row}")
        for row in sorted(want - have):
            problems.append(f"{layer}: MISSING    {row}")
    return problems


def print_matrix(title: str, result: dict[str, list[str]]) -> None:
    print(f"== {title}")
    for layer, heading in (
        ("networkpolicy", "NetworkPolicies (network-config-analyzer)"),
        ("linkerd", "Linkerd authorization (Server / AuthorizationPolicy)"),
    ):
        print(f"  -- {heading}")
        rows = result[layer]
        if not rows:
            print("     (none)")
        for row in rows:
            print(f"     {row}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--overlay", action="append", help="overlay name under deploy/overlays")
    parser.add_argument("--kustomize", type=Path, help="any kustomization directory")
    parser.add_argument("--expect-as", help="compare --kustomize with this overlay's matrix")
    parser.add_argument("--expected", type=Path, default=EXPECTED)
    parser.add_argument("--no-check", action="store_true", help="print only")
    parser.add_argument("--write-expected", action="store_true", help="(re)write the file")
    args = parser.parse_args(argv)

    expected_all = {}
    if args.expected.exists():
        expected_all = (yaml.safe_load(args.expected.read_text()) or {}).get("overlays", {})

    targets: list[tuple[str, Path, str]] = []
    if args.kustomize:
        targets.append((str(args.kustomize), args.kustomize, args.expect_as or ""))
    overlays = args.overlay or ([] if args.kustomize else sorted(expected_all) or ["aks", "dev"])
    for name in overlays:
        targets.append((f"overlay {name}", REPO / "deploy" / "overlays" / name, name))

    failed = False
    written = {}
    for title, directory, expect_name in targets:
        try:
            result = matrix(render(directory))
        except MatrixError as err:
            print(f"== {title}\n  ERROR {err}", file=sys.stderr)
            failed = True
            continue
        print_matrix(title, result)
        written[expect_name] = result
        if args.no_check or args.write_expected:
            continue
        if expect_name not in expected_all:
            print(f"  ERROR no expected matrix for {expect_name!r} in {args.expected}")
            failed = True
            continue
        problems = compare(result, expected_all[expect_name])
        for line in problems:
            print(f"  {line}")
        print(f"  => {'DIFFERS from' if problems else 'matches'} {args.expected.name}")
        failed = failed or bool(problems)

    if args.write_expected and not failed:
        data = {"overlays": {name: written[name] for name in sorted(written) if name}}
        header = args.expected.read_text().split("overlays:")[0] if args.expected.exists() else ""
        args.expected.write_text(header + yaml.safe_dump(data, sort_keys=True, width=200))
        print(f"wrote {args.expected}")
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main(sys.argv[1:]))
