#!/usr/bin/env bash
# Offline checks of everything under deploy/ and of the Dockerfiles. `make test` runs this.
#
#   1. schema: every rendered overlay validates against the Kubernetes schemas with unknown
#      fields rejected (kubernetes-validate --strict); only the CRD kinds listed below may
#      lack a schema, and every namespaced object must land in namespace "sharer".
#   2. hardening: trivy's config scan of the rendered overlays and of the Dockerfiles, and
#      hadolint on the Dockerfiles. Exceptions live in trivyignore.yaml, each explained.
#   3. policy matrix: who may connect to whom, from the NetworkPolicies and from the
#      Linkerd policy, must equal docs/policy-matrix.expected.yaml.
#   4. invariants (invariants.py): Workload Identity on crypto alone, no Kubernetes Secret,
#      no API token mounted in any pod.
#   5. negative cases (negative/): each deliberate mistake must make its check fail.
#
# Tools come from PyPI into .tools/venv (git-ignored), reused while requirements.txt is
# unchanged. kubectl must be on PATH (it renders the overlays). Last line: "N passed, M failed".
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
venv="$root/.tools/venv"
requirements="$here/requirements.txt"
overlays=(aks dev)
kube_versions=(1.33.0 1.37.0)
# CRDs kubernetes-validate has no schema for. policy_matrix.py reads the Linkerd kinds
# field by field and rejects fields it does not know.
crd_kinds='^(Server|HTTPRoute|AuthorizationPolicy|MeshTLSAuthentication|NetworkAuthentication|SecretProviderClass|Certificate|Issuer)$'

passed=0
failed=0
work=$(mktemp -d "${TMPDIR:-/tmp}/deploy-checks.XXXXXX")
trap 'rm -rf "$work"' EXIT

pass() { passed=$((passed + 1)); printf 'PASS %s\n' "$1"; }
fail() {
  failed=$((failed + 1))
  printf 'FAIL %s\n' "$1"
  if [[ -n "${2:-}" && -s "$2" ]]; then sed 's/^/     | /' "$2"; fi
}

# --- tools -------------------------------------------------------------------------------
if ! command -v kubectl >/dev/null 2>&1; then
  echo "deploy checks: kubectl is required (it renders the overlays with 'kubectl kustomize')" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

setup_started=$SECONDS
stamp="$venv/.requirements.sha256"
want_stamp=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ ! -x "$venv/bin/python" ]] || [[ "$(cat "$stamp" 2>/dev/null)" != "$want_stamp" ]]; then
  echo "deploy checks: installing tools into $venv"
  if ! python3 -m venv "$venv" >"$work/venv.log" 2>&1; then
    cat "$work/venv.log" >&2
    echo "deploy checks: python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2
    echo "0 passed, 1 failed"
    exit 1
  fi
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      -r "$requirements" >"$work/pip.log" 2>&1; then
    cat "$work/pip.log" >&2
    echo "deploy checks: pip install of deploy/checks/requirements.txt failed" >&2
    echo "0 passed, 1 failed"
    exit 1
  fi
  echo "$want_stamp" >"$stamp"
fi
echo "deploy checks: tools ready in $((SECONDS - setup_started)) s"

py="$venv/bin/python"
export TRIVY_CACHE_DIR="$root/.tools/trivy-cache"
export PYTHONDONTWRITEBYTECODE=1

trivy_config() { # <dir> <log>: the hardening scan, failing on any finding not ignored
  "$venv/bin/trivy" config --quiet --skip-check-update --disable-telemetry \
    --skip-version-check --misconfig-scanners kubernetes,dockerfile \
    --ignorefile "$here/trivyignore.yaml" --exit-code 1 "$1" >"$2" 2>&1
}

render() { # <kustomization dir> <output file>
  kubectl kustomize "$1" >"$2" 2>"$2.err"
}

# --- render ------------------------------------------------------------------------------
mkdir -p "$work/scan/manifests" "$work/scan/dockerfiles"
for overlay in "${overlays[@]}"; do
  if ! render "$root/deploy/overlays/$overlay" "$work/scan/manifests/$overlay.yaml"; then
    fail "render overlay $overlay" "$work/scan/manifests/$overlay.yaml.err"
    rm -f "$work/scan/manifests/$overlay.yaml"
  fi
  rm -f "$work/scan/manifests/$overlay.yaml.err"
done

# --- 1. schema ---------------------------------------------------------------------------
for overlay in "${overlays[@]}"; do
  manifest="$work/scan/manifests/$overlay.yaml"
  [[ -f "$manifest" ]] || continue
  log="$work/schema-$overlay.log"
  : >"$log"
  ok=1
  for version in "${kube_versions[@]}"; do
    if ! "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" "$manifest" \
        >>"$log" 2>&1; then
      ok=0
    fi
  done
  # A kind without a schema is acceptable only for the known CRDs.
  while read -r kind; do
    if [[ ! "$kind" =~ $crd_kinds ]]; then
      echo "no schema for kind $kind (a typo in apiVersion or kind?)" >>"$log"
      ok=0
    fi
  done < <(sed -n "s/.*Couldn't find schema for kind \([A-Za-z]*\) .*/\1/p" "$log" | sort -u)
  if ! "$py" - "$manifest" >>"$log" 2>&1 <<'EOF'
import sys, yaml
cluster_scoped = {"Namespace"}
bad = [f"{d['kind']}/{d['metadata']['name']} is in namespace {d['metadata'].get('namespace')!r}"
       for d in yaml.safe_load_all(open(sys.argv[1])) if d
       and d["kind"] not in cluster_scoped and d["metadata"].get("namespace") != "sharer"]
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
  then
    ok=0
  fi
  if [[ $ok == 1 ]]; then
    pass "schema: overlay $overlay (kubernetes-validate --strict, k8s ${kube_versions[*]})"
  else
    grep -v "Couldn't find schema" "$log" >"$log.short" || true
    fail "schema: overlay $overlay" "$log.short"
  fi
done

# --- 2. hardening ------------------------------------------------------------------------
for overlay in "${overlays[@]}"; do
  manifest="$work/scan/manifests/$overlay.yaml"
  [[ -f "$manifest" ]] || continue
  mkdir -p "$work/one-$overlay/manifests"
  cp "$manifest" "$work/one-$overlay/manifests/"
  if trivy_config "$work/one-$overlay" "$work/trivy-$overlay.log"; then
    pass "hardening: overlay $overlay (trivy config)"
  else
    fail "hardening: overlay $overlay (trivy config)" "$work/trivy-$overlay.log"
  fi
done

dockerfiles=(gateway/Dockerfile services/crypto/Dockerfile services/storage/Dockerfile)
for dockerfile in "${dockerfiles[@]}"; do
  service=$(basename "$(dirname "$dockerfile")")
  mkdir -p "$work/dockerscan/dockerfiles/$service"
  cp "$root/$dockerfile" "$work/dockerscan/dockerfiles/$service/Dockerfile"
done
if trivy_config "$work/dockerscan" "$work/trivy-docker.log"; then
  pass "hardening: Dockerfiles (trivy config)"
else
  fail "hardening: Dockerfiles (trivy config)" "$work/trivy-docker.log"
fi
if (cd "$root" && "$venv/bin/hadolint" "${dockerfiles[@]}") >"$work/hadolint.log" 2>&1; then
  pass "hardening: Dockerfiles (hadolint)"
else
  fail "hardening: Dockerfiles (hadolint)" "$work/hadolint.log"
fi

# --- 3. policy matrix --------------------------------------------------------------------
for overlay in "${overlays[@]}"; do
  log="$work/matrix-$overlay.log"
  if "$py" "$here/policy_matrix.py" --overlay "$overlay" >"$log" 2>&1; then
    pass "policy matrix: overlay $overlay matches docs/policy-matrix.expected.yaml"
  else
    fail "policy matrix: overlay $overlay" "$log"
  fi
done

# --- 4. invariants -----------------------------------------------------------------------
for overlay in "${overlays[@]}"; do
  manifest="$work/scan/manifests/$overlay.yaml"
  [[ -f "$manifest" ]] || continue
  if "$py" "$here/invariants.py" "$manifest" >"$work/invariants-$overlay.log" 2>&1; then
    pass "invariants: overlay $overlay (identity on crypto only, no Secret, no API token)"
  else
    fail "invariants: overlay $overlay" "$work/invariants-$overlay.log"
  fi
done

# --- 5. negative cases: each must make its check fail, for the right reason -------------
negative_invariant() { # <case> <text the failing check must print>
  local manifest="$work/neg-$1.yaml" log="$work/neg-$1.log"
  if ! render "$here/negative/$1" "$manifest"; then
    fail "negative: render $1" "$manifest.err"
  elif "$py" "$here/invariants.py" "$manifest" >"$log" 2>&1; then
    fail "negative: $1 was not caught by the invariants" "$log"
  elif grep -qF "$2" "$log"; then
    pass "negative: $1 is caught by the invariants"
  else
    fail "negative: $1 failed the invariants, but not with: $2" "$log"
  fi
}
negative_invariant storage-workload-identity "ServiceAccount/storage: carries azure.workload.identity/client-id"
negative_invariant gateway-api-token "Deployment/gateway: pod automountServiceAccountToken is not false"
negative_invariant kubernetes-secret "Secret/postgres-password: a Kubernetes Secret is rendered"

negative_matrix() { # <case> <line the failing check must print>
  local log="$work/neg-$1.log"
  if "$py" "$here/policy_matrix.py" --kustomize "$here/negative/$1" --expect-as aks \
      >"$log" 2>&1; then
    fail "negative: $1 was not caught by the policy matrix" "$log"
  elif grep -qF -- "$2" "$log"; then
    pass "negative: $1 is caught by the policy matrix"
  else
    fail "negative: $1 failed the policy matrix, but not with: $2" "$log"
  fi
}
negative_matrix stray-networkpolicy \
  "networkpolicy: UNEXPECTED sharer/storage -> sharer/crypto : TCP/50051"
negative_matrix stray-linkerd \
  "linkerd: UNEXPECTED identity sharer/gateway|sharer/storage -> sharer/crypto:50051 [*]"

mkdir -p "$work/neg-rofs/manifests"
if render "$here/negative/no-readonly-rootfs" "$work/neg-rofs/manifests/aks.yaml"; then
  rm -f "$work/neg-rofs/manifests/aks.yaml.err"
  if trivy_config "$work/neg-rofs" "$work/neg-rofs.log"; then
    fail "negative: no-readonly-rootfs was not caught by the hardening scan" "$work/neg-rofs.log"
  elif grep -q "KSV-0014" "$work/neg-rofs.log"; then
    pass "negative: no-readonly-rootfs is caught by the hardening scan (KSV-0014)"
  else
    fail "negative: no-readonly-rootfs failed the scan, but not with KSV-0014" "$work/neg-rofs.log"
  fi
else
  fail "negative: render no-readonly-rootfs" "$work/neg-rofs/manifests/aks.yaml.err"
fi

echo "deploy checks: done in $SECONDS s"
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
