#!/usr/bin/env bash
# Renders a run's report.html in headless Chromium with networking disabled and
# checks the screenshot shows the report: the verdict banner's colour at the top,
# and charts and tables below it (not a blank or broken page).
#
#   scripts/check-report.sh RUN_DIR [SCREENSHOT.png]
set -euo pipefail
run_dir=${1:?usage: scripts/check-report.sh RUN_DIR [SCREENSHOT.png]}
shot=${2:-$run_dir/report.png}
report=$(cd "$run_dir" && pwd)/report.html
[ -f "$report" ] || { echo "no report.html in $run_dir" >&2; exit 1; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# No network: every host resolves to nothing and any proxy use goes nowhere.
chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --disable-extensions \
  --user-data-dir="$profile" --proxy-server=http://127.0.0.1:9 \
  --host-resolver-rules="MAP * ~NOTFOUND" --window-size=1200,2400 \
  --screenshot="$shot" "file://$report" >/dev/null 2>&1
python3 - "$shot" <<'PY'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
w, h = im.size
banners = {"pass": (0x1b, 0x7f, 0x3b), "fail": (0xb4, 0x23, 0x18), "inconclusive": (0xb5, 0x47, 0x08)}
top = [im.getpixel((x, y)) for x in range(0, w, 7) for y in range(10, 120, 5)]
found = [name for name, rgb in banners.items() if sum(1 for p in top if p == rgb) > 20]
assert found, "no verdict banner at the top of the screenshot"
pixels = [im.getpixel((x, y)) for x in range(0, w, 5) for y in range(200, h, 5)]
colours = len(set(pixels))
ink = sum(1 for p in pixels if sum(p) < 600) / len(pixels)
assert colours > 40, f"the page looks blank: {colours} colours"
assert ink > 0.02, f"almost no text or lines: {ink:.1%}"
print(f"report rendered offline: {found[0]} banner, {colours} colours, {ink:.1%} ink ({sys.argv[1]})")
PY
