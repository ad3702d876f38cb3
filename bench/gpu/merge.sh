#!/usr/bin/env bash
# Combine the per-track GPU runs under bench/results/gpu (or DIR) into one report, DIR/report.html,
# each part stamped with its commit, date and device.
#
#   bench/gpu/merge.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-bench/results/gpu}
py=.venv/bin/python
[ -x "$py" ] || py=python3
runs=()
for track in foundations fibrosis apnea cancer; do
  [ -f "$dir/$track/summary.json" ] && runs+=("$dir/$track")
done
[ ${#runs[@]} -gt 0 ] || { echo "merge: no track run with a summary.json under $dir" >&2; exit 1; }
"$py" -m medai_lib.course.cli report merge "${runs[@]}" --out "$dir" --title "Course report: full runs on a GPU"
