#!/usr/bin/env bash
# Static checks of infra/template.yaml: cfn-lint (from the project's .venv) and checkov (in its own
# .venv-checkov: checkov's pins conflict with dbt's). Offline: checkov downloads nothing. Exits non-zero on any
# finding that is not suppressed on its resource (Metadata: checkov: skip: with a comment saying why).
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPLATE=infra/template.yaml
CHECKOV_VERSION=3.3.30
CFN_LINT=.venv/bin/cfn-lint
CHECKOV=.venv-checkov/bin/checkov

if [ ! -x "$CFN_LINT" ]; then
  echo "scan.sh: $CFN_LINT is missing; install the project first (make install)" >&2
  exit 1
fi
if [ ! -x "$CHECKOV" ] || [ "$("$CHECKOV" --version 2>/dev/null)" != "$CHECKOV_VERSION" ]; then
  echo "scan.sh: installing checkov $CHECKOV_VERSION into .venv-checkov" >&2
  python3 -m venv .venv-checkov
  .venv-checkov/bin/pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
fi

echo "== cfn-lint $TEMPLATE"
"$CFN_LINT" "$TEMPLATE"

# No mapping or policy download from the vendor's platform (there is no network here, and the scan must not wait
# for one): --skip-download and BC_SKIP_MAPPING each prevent it.
export BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE
checkov() {
  "$CHECKOV" -f "$1" --framework cloudformation --quiet --compact --skip-download
}

echo "== checkov $TEMPLATE"
checkov "$TEMPLATE"

# checkov evaluates Conditions with the parameters' defaults, so resources that are off by default (the OLTP host,
# the shop database's endpoint, rules and permission) would never be scanned: scan a copy with them switched on as
# well (every optional resource at once, a static scan: not necessarily a combination the template's Rules accept).
# A parameter opts in with the comment `Default: "<off>" # infra/scan.sh also scans the template with "<on>"`.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
switch='^( *Default: )"[^"]*"( # infra/scan\.sh also scans the template with "([^"]*)".*)$'
sed -E "s|$switch|\1\"\3\"\2|" "$TEMPLATE" > "$work/template.yaml"
if cmp -s "$TEMPLATE" "$work/template.yaml"; then
  echo "scan.sh: no 'Default: ... # infra/scan.sh also scans the template with \"...\"' switch found in $TEMPLATE" >&2
  exit 1
fi
switched=$(SWITCH="$switch" awk '/^  [A-Za-z0-9]+:$/ { name = substr($1, 1, length($1) - 1) }
  $0 ~ ENVIRON["SWITCH"] { split($0, quoted, "\""); printf "%s%s=%s", sep, name, quoted[4]; sep = ", " }' "$TEMPLATE")
echo "== checkov $TEMPLATE with $switched"
checkov "$work/template.yaml"
echo "== infra scan: clean"
