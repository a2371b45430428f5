#!/usr/bin/env bash
# make synth: synthesize the CDK app (the ElbGuard stack and, with demo=true,
# ElbGuardEdgeDemo; ElbGuardHub with -c hub=true, with the spoke StackSet
# when -c orgUnits=...; ElbGuardSpoke with -c hubRoleArn=...) with the pinned
# aws-cdk CLI from node_modules/ into cdk.out/, then cfn-lint every template
# there, StackSet inline templates included. Needs no AWS credentials and
# no Docker: cdk.json's app builds the Lambda bootstraps and the proxy asset
# (make build-assets) and runs go run ./infra/app.
#
# Usage: scripts/synth.sh [extra cdk synth arguments, e.g. -c lb=nlb]
# Env:   CDK_OUT (default cdk.out), CFN_LINT (default .cache/venv/bin/cfn-lint)
set -euo pipefail
cd "$(dirname "$0")/.."
# The Go toolchain named in go.mod (go1.26.8's standard library has known
# vulnerabilities); the go command fetches it from the module proxy once.
export GOTOOLCHAIN=$(sed -n 's/^toolchain //p' go.mod)

export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
export CDK_DISABLE_CLI_TELEMETRY=true

cdk=node_modules/.bin/cdk
if [[ ! -x $cdk ]]; then
  echo "synth: $cdk is missing: run 'make tools' (npm ci installs the pinned aws-cdk)" >&2
  exit 1
fi
cfn_lint=${CFN_LINT:-.cache/venv/bin/cfn-lint}
if [[ ! -x $cfn_lint ]]; then
  cfn_lint=$(command -v cfn-lint || true)
fi
if [[ -z $cfn_lint ]]; then
  echo "synth: cfn-lint is missing: run 'make tools' (installs it into .cache/venv)" >&2
  exit 1
fi
out=${CDK_OUT:-cdk.out}

echo "==> cdk synth ($("$cdk" --version 2>/dev/null | head -n1)) -> $out/ (demo stack included)"
rm -rf "$out"
"$cdk" synth --quiet --no-notices --output "$out" -c demo=true "$@"

# A StackSet's inline template (ElbGuardHub's spoke) is a template too:
# write it out as <stack>.<resource>.stackset.json so that cfn-lint checks it.
node -e '
const fs = require("fs"), path = require("path"), dir = process.argv[1];
for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".template.json"))) {
  const t = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
  for (const [id, r] of Object.entries(t.Resources || {})) {
    const body = r.Type === "AWS::CloudFormation::StackSet" && r.Properties && r.Properties.TemplateBody;
    if (typeof body === "string") {
      const name = f.replace(/\.template\.json$/, "") + "." + id + ".stackset.json";
      fs.writeFileSync(path.join(dir, name), body);
      console.log("    " + name + ": " + Buffer.byteLength(body) + " bytes inline (limit 51200)");
    }
  }
}' "$out"

shopt -s nullglob
templates=("$out"/*.template.json "$out"/*.stackset.json)
if (( ${#templates[@]} == 0 )); then
  echo "synth: no templates in $out/" >&2
  exit 1
fi
echo "==> cfn-lint ($("$cfn_lint" --version)) on ${#templates[@]} templates: ${templates[*]}"
# W3005 (a DependsOn already implied by a GetAtt) is ignored: aws-cdk's Lambda
# Function always adds DependsOn on its role, which is redundant, not wrong.
# Every other finding, warnings included, fails the run.
"$cfn_lint" --ignore-checks W3005 -- "${templates[@]}"
echo "==> synth: ${#templates[@]} templates, cfn-lint found nothing"
