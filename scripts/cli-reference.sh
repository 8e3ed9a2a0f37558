#!/usr/bin/env bash
# Writes docs/cli.md from the built binary's own --help, so the reference cannot drift from
# the code:  swift build && bash scripts/cli-reference.sh [path/to/dmleval]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${1:-$REPO/.build/debug/dmleval}"
OUT="$REPO/docs/cli.md"
{
    echo "# Command-line reference"
    echo
    echo "Generated from \`dmleval help\` by \`scripts/cli-reference.sh\`; \`dmleval help COMMAND\` prints the same."
    echo "Metric names and conventions are in [metrics.md](metrics.md), file formats in [formats.md](formats.md)."
    for cmd in "" evaluate ingest "index build" "index info" "index sweep" "runs list" "runs show" "runs export" "runs compare" "runs training" report check train project loss score score-run table3; do
        echo
        if [ -z "$cmd" ]; then echo "## dmleval"; else echo "## dmleval $cmd"; fi
        echo
        echo '```'
        # shellcheck disable=SC2086
        COLUMNS=100 "$BIN" help $cmd
        echo '```'
    done
} > "$OUT"
echo "wrote $OUT"
