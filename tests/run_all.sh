#!/usr/bin/env bash
# The whole suite: format, lint and type checks, then every test file under
# Deno and under Bun. Fails if either runtime fails. Run through `npm test`,
# which puts node_modules/.bin (the deno and bun binaries) on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
deno fmt --check
deno lint
deno check mod.ts actors runtime examples tests bench
# The library loads Effect module by module: the barrel costs every process ~60 ms to import.
if grep -n 'from "effect"' mod.ts actors/*.ts runtime/*.ts; then
  echo "import Effect's modules by path (effect/Effect), not the effect barrel" >&2
  exit 1
fi
echo "== deno test"
deno test -A --parallel tests/
echo "== bun test"
bun test --timeout 120000 tests/
