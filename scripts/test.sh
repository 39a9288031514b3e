#!/usr/bin/env bash
# The test command (npm test):
#   1. typecheck and build (the tests run the compiled CLI too);
#   2. the Debian tools some tests use (promtool from `prometheus`, `chromium`), installed
#      when missing and possible (root and apt-get); otherwise one line, and those tests
#      skip or fail by themselves;
#   3. the suite on the Node.js running this script (20.19 is the oldest supported);
#   4. the suite again on Node.js 24 LTS, what the container image runs, fetched once from
#      the npm registry into .cache/node24 (HOOKWARDEN_NODE24=/path/to/node uses another);
#   5. the chaos run, alone (it needs the whole machine), on Node.js 24.
# Every step runs even when an earlier one failed (but a failed build stops the tests); the
# exit status is non-zero when any failed. Each vitest run writes a JSON report:
# .test-results.json, .test-results-node24.json, .test-results-chaos.json.
# Postgres: DATABASE_URL, else an embedded one. Arguments select test files for steps 3
# and 4 (npm test -- test/store); the chaos run is then left out.
set -uo pipefail
cd "$(dirname "$0")/.."

REPORTS=(.test-results.json .test-results-node24.json .test-results-chaos.json)
rm -f "${REPORTS[@]}"
mkdir -p test-output

failed=()
started=$SECONDS

# step NAME COMMAND...: runs it with a header and its duration; records a failure.
step() {
  local name=$1 t0=$SECONDS
  shift
  printf '\n=== %s\n' "$name"
  if "$@"; then
    printf '=== %s: ok (%ss)\n' "$name" $((SECONDS - t0))
  else
    printf '=== %s: FAILED (%ss)\n' "$name" $((SECONDS - t0))
    failed+=("$name")
    return 1
  fi
}

# suite NODE REPORT [ARGS...]: the suite on that Node.js binary, first on PATH as well
# (for what the tests start themselves), its JSON report in REPORT.
suite() {
  local node=$1 report=$2
  shift 2
  PATH="$(dirname "$node"):$PATH" HOOKWARDEN_TEST_REPORT=$report "$node" node_modules/vitest/vitest.mjs run --config scripts/vitest.report.config.ts "$@"
}

chaos() { HOOKWARDEN_CHAOS=1 suite "$1" .test-results-chaos.json; }

major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null; }

# Installs what is missing among the Debian packages the tests use; never fails the run.
debian_tools() {
  local need=() log=test-output/apt.log
  command -v promtool >/dev/null 2>&1 || need+=(prometheus)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  [ ${#need[@]} -eq 0 ] && { echo "promtool and chromium are installed"; return 0; }
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "not installing ${need[*]} (needs root and apt-get): the tests that use them skip, or fail under CI"
    return 0
  fi
  echo "installing ${need[*]} with apt-get (log: $log)"
  # Packages must not start their services (prometheus would): policy-rc.d forbids it
  # for the duration, unless the machine already has one.
  local policy=/usr/sbin/policy-rc.d own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
  fi
  if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"; } >"$log" 2>&1; then
    echo "apt-get could not install ${need[*]} (see $log): the tests that use them skip, or fail under CI"
  fi
  [ -n "$own_policy" ] && rm -f "$policy"
  return 0
}

# Prints the path of a Node.js 24 binary, fetching it from the npm registry when needed.
node24() {
  if [ -n "${HOOKWARDEN_NODE24:-}" ]; then
    [ "$(major "$HOOKWARDEN_NODE24")" = 24 ] || { echo "HOOKWARDEN_NODE24=$HOOKWARDEN_NODE24 is not a Node.js 24 binary" >&2; return 1; }
    echo "$HOOKWARDEN_NODE24"
    return 0
  fi
  local os arch dir=.cache/node24
  case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) echo "no Node.js 24 package for $(uname -s): set HOOKWARDEN_NODE24" >&2; return 1 ;; esac
  case "$(uname -m)" in x86_64 | amd64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) echo "no Node.js 24 package for $(uname -m): set HOOKWARDEN_NODE24" >&2; return 1 ;; esac
  local bin=$PWD/$dir/node_modules/node-$os-$arch/bin/node
  if [ "$(major "$bin")" != 24 ]; then
    echo "fetching Node.js 24 (npm package node-$os-$arch) into $dir" >&2
    npm install --no-save --no-package-lock --no-audit --no-fund --prefix "$dir" "node-$os-$arch@24" >&2 || return 1
    [ "$(major "$bin")" = 24 ] || { echo "$bin does not run here" >&2; return 1; }
  fi
  echo "$bin"
}

step "typecheck" node node_modules/typescript/bin/tsc -p tsconfig.json --noEmit
if ! step "build" node node_modules/typescript/bin/tsc -p tsconfig.build.json; then
  printf '\ntest: the build failed; no tests were run\n'
  exit 1
fi
step "Debian tools" debian_tools

NODE=$(command -v node)
step "suite on Node.js $(node -v)" suite "$NODE" .test-results.json "$@"

if [ "$(major "$NODE")" = 24 ]; then
  NODE24=$NODE
  echo "this is Node.js 24 already: the suite is not run twice"
elif NODE24=$(node24); then
  step "suite on Node.js $("$NODE24" -v)" suite "$NODE24" .test-results-node24.json "$@"
else
  printf '\n=== no Node.js 24 to run the suite on: FAILED\n'
  failed+=("Node.js 24")
  NODE24=$NODE
fi

if [ $# -gt 0 ]; then
  echo "test files were named: the chaos run is left out"
else
  step "chaos run on Node.js $("$NODE24" -v)" chaos "$NODE24"
fi

elapsed=$((SECONDS - started))
if [ ${#failed[@]} -gt 0 ]; then
  list=$(printf '%s, ' "${failed[@]}")
  printf '\ntest: FAILED: %s (%dm%02ds)\n' "${list%, }" $((elapsed / 60)) $((elapsed % 60))
  exit 1
fi
printf '\ntest: every step passed (%dm%02ds)\n' $((elapsed / 60)) $((elapsed % 60))
