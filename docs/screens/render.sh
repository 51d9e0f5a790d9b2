#!/usr/bin/env bash
# Re-render every report figure shown in the README into docs/screens/ (a few minutes on 2 cores).
# The page screenshots come from the browser test: NADSIM_SCREENS=1 uv run pytest tests/browser
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
uv run nadsim demo --plot demo.png
uv run nadsim sensitivity --method local --output whole_blood_NAD --until "24 h" --model nad_core --plot tornado.png --no-progress
uv run nadsim measure --hamd 22 --draws 500 --seed 20261202 --plot measure.png --no-progress > /dev/null
uv run nadsim qualify --out "$work/qualification" --no-progress
cp "$work/qualification/qualification.png" qualification.png
NADSIM_HOME="$work/home" uv run nadsim trial run ../../examples/trials/nmn-drip-depression.toml --out "$work/trial" \
    --n-per-arm 20 --replicates 200 --no-progress > "$work/trial.log"
NADSIM_HOME="$work/home" uv run nadsim trial report "$(head -1 "$work/trial.log")"
for f in forest.png timecourse_HAMD.png; do cp "$work/trial/figures/$f" "trial-$f"; done
cp "$work/trial/figures/"power_*.png trial-power.png
