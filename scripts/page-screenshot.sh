#!/usr/bin/env bash
# docs/page.png, the README's picture: the README's first command run for real (as root, with this
# checkout's lockstat first on PATH), then its page drawn by headless Chromium at 1200×900.
# `scripts/page-screenshot.sh [OUTPUT.png]` (default docs/page.png).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/page.png}
if [[ $(id -u) != 0 ]]; then
    echo "page-screenshot: the README's first command samples kernel locks: run as root" >&2
    exit 1
fi
chromium=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $chromium ]]; then
    echo "page-screenshot: no chromium on PATH (apt-get install chromium)" >&2
    exit 1
fi
command=$(grep -m1 '^lockstat run /tmp/lockstat-demo ' README.md) || {
    echo "page-screenshot: README.md has no line starting 'lockstat run /tmp/lockstat-demo '" >&2
    exit 1
}
swift build -j 2 >&2
bin=$(swift build --show-bin-path)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The README's command as written, into a fresh folder of root's instead of /tmp/lockstat-demo.
PATH="$bin:$PATH" sh -c "${command//\/tmp\/lockstat-demo/$work/demo}"
# Chromium refuses its sandbox as root; the page fetches nothing (its Content-Security-Policy forbids it).
"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$work/chromium" \
    --virtual-time-budget=3000 --window-size=1200,900 --screenshot="$PWD/$out" "file://$work/demo/index.html" >&2
echo "wrote $out"
