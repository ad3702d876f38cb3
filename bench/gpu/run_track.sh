#!/usr/bin/env bash
# Run one track's notebooks in full mode on a CUDA host, within one 10-minute command, and write the
# track's report (report.html, summary.json, summary.md, executed notebooks) to OUT/TRACK.
#
#   bench/gpu/run_track.sh TRACK [OUT]     TRACK: foundations | fibrosis | apnea | cancer
#
# OUT defaults to $OUT/gpu-runs when $OUT is set (a device host's output folder), else bench/results/gpu.
# On an offline host without the project's .venv, the wheels in ./.whl (../shared/gpu/wheels.sh) are
# installed to /tmp/site first. Knobs: MEDAI_TRACK_LIMIT_S (seconds for the notebooks, default 540),
# MEDAI_JOBS (notebooks at once, default 1), MEDAI_COMMIT (the commit, where the tree has no .git),
# MEDAI_DEVICE and MEDAI_QUICK=1 (a dry run of this script on a CPU machine; not a GPU result).
set -uo pipefail

usage() { echo "usage: bench/gpu/run_track.sh foundations|fibrosis|apnea|cancer [OUT]" >&2; exit 2; }
track="${1:-}"
case "$track" in
  foundations) levels="00 01" ;;
  fibrosis) levels="02" ;;
  apnea) levels="03" ;;
  cancer) levels="04" ;;
  *) usage ;;
esac
cd "$(dirname "$0")/../.." || exit 1
root=$PWD
if [ -n "${2:-}" ]; then base=$2
elif [ -n "${OUT:-}" ]; then base=$OUT/gpu-runs
else base=$root/bench/results/gpu
fi
out=$base/$track
limit=${MEDAI_TRACK_LIMIT_S:-540}
device=${MEDAI_DEVICE:-cuda}
started=$SECONDS

# Python: the project's environment when there is one, else the host's python3 with the carried wheels.
if [ -x .venv/bin/python ]; then
  py=$root/.venv/bin/python
else
  py=python3
  if [ -d .whl ] && [ ! -d /tmp/site/papermill ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
  fi
  export PYTHONPATH=/tmp/site:$root${PYTHONPATH:+:$PYTHONPATH} PATH=/tmp/site/bin:$PATH
fi
"$py" -c "import medai_lib, papermill, ipykernel" || { echo "run_track: medai_lib, papermill or ipykernel missing for $py" >&2; exit 1; }
if [ "${device#cuda}" != "$device" ]; then
  "$py" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)" \
    || { echo "run_track: no CUDA GPU visible to torch; run this on a GPU host" >&2; exit 3; }
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi

# The project kernel, registered in a scratch Jupyter folder (nothing written to the home directory).
export JUPYTER_DATA_DIR=${JUPYTER_DATA_DIR:-/tmp/medai-jupyter}
"$py" -c "from medai_lib.course.kernel import install_kernel; install_kernel(user=True)" || exit 1
export MEDAI_DATA=${MEDAI_DATA:-/tmp/medai-data} OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
unset MPLBACKEND

paths=()
for level in $levels; do
  for folder in course/"$level"_* solutions/lab"$level"_*; do
    [ -d "$folder" ] && compgen -G "$folder/*.ipynb" >/dev/null && paths+=("$folder")
  done
done
if [ ${#paths[@]} -eq 0 ]; then
  echo "run_track: track '$track' has no notebooks in this revision (looked for course/${levels// /_*, course/}_*)" >&2
  exit 4
fi
quick=()
[ "${MEDAI_QUICK:-0}" = 1 ] && quick=(--quick)
left=$((limit - (SECONDS - started)))
echo "run_track: $track: ${paths[*]} on $device, ${left} s left" >&2
rm -rf "$out"
timeout --signal=INT --kill-after=20 "$left" \
  "$py" -m medai_lib.course.cli run "${paths[@]}" "${quick[@]}" --device "$device" --report \
  --jobs "${MEDAI_JOBS:-1}" --timeout "$left" --out "$out"
rc=$?
if [ ! -f "$out/summary.json" ]; then
  mkdir -p "$out"
  {
    echo "# $track: stopped before the run finished (exit $rc)"
    echo
    echo "The notebooks did not finish within ${limit} s, so no summary was written. Executed so far:"
    echo
    (cd "$out" && find . -name '*.ipynb' | sort | sed 's/^/- /')
  } > "$out/STOPPED.md"
  echo "run_track: $track stopped (exit $rc); see $out/STOPPED.md" >&2
fi
exit $rc
