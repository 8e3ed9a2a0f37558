#!/usr/bin/env bash
# make report-check: renders the demo's report (two runs of the bundled digits, compared) in
# headless Chromium to a PNG, and fails on a console message (the report has no script, so any
# is an error), a blank page, or a report that does not parse as XML.
#
#   bash scripts/report-check.sh [OUT_DIR] [PNG_COPY]
#
# Installs Debian's chromium when it is missing. DMLEVAL_BIN picks the binary (default: the
# debug build that 'make test' leaves).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${DMLEVAL_BIN:-.build/debug/dmleval}"
OUT="${1:-.report-check}"
COPY="${2:-}"
[ -x "$BIN" ] || swift build --product dmleval
rm -rf "$OUT" && mkdir -p "$OUT"
store="$OUT/demo.sqlite"
"$BIN" fixtures/digits.fbin fixtures/digits-labels.txt --recall 1,2,4,8 --precision 10 --map-r --name cosine --store "$store" >/dev/null
"$BIN" fixtures/digits.fbin fixtures/digits-labels.txt --recall 1,2,4,8 --precision 10 --map-r --distance l2 --name l2 --store "$store" >/dev/null
"$BIN" report 1 2 -o "$OUT/report.html" --store "$store"
python3 -c "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])" "$OUT/report.html"

if ! command -v chromium >/dev/null 2>&1; then
    echo "installing Debian's chromium"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --enable-logging=stderr --v=0 \
    --window-size=1000,1700 --screenshot="$PWD/$OUT/report.png" "file://$PWD/$OUT/report.html" 2> "$OUT/chromium.log" || {
    cat "$OUT/chromium.log" >&2; echo "report-check: chromium failed" >&2; exit 1; }
if grep -E ':CONSOLE[:(]' "$OUT/chromium.log" >&2; then
    echo "report-check: the page logged to the console (above)" >&2
    exit 1
fi
[ -s "$OUT/report.png" ] || { echo "report-check: no screenshot written" >&2; exit 1; }
python3 scripts/png-check.py "$OUT/report.png" 0.02
[ -z "$COPY" ] || cp "$OUT/report.png" "$COPY"
echo "report-check: $OUT/report.html renders ($OUT/report.png)"
