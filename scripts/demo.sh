#!/usr/bin/env bash
# `make demo`: the whole Health Monitor on this machine, end to end.
#
#   generate demo gold data -> bundle deploy -t dev -> bundle run -t dev ml_orchestrator_job
#   (features -> 25 models -> batch inference, with live progress) -> evaluation -> health report
#
# Called by the Makefile with HEALTHMON_HOME (the demo workspace) and DEMO_SCALE set. Each phase
# is timed; the timings are printed and written to benchmarks/results/demo.json (the benchmark
# runner's format, so BENCHMARKS.md shows them) and appended to benchmarks/results/demo_history.jsonl.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
: "${HEALTHMON_HOME:?HEALTHMON_HOME must name the demo workspace (make demo sets it)}"
export HEALTHMON_HOME
DEMO_SCALE="${DEMO_SCALE:-medium}"
HM="${HM:-$ROOT/.venv/bin/healthmon}"
PY="${PY:-$ROOT/.venv/bin/python}"
# The dev target of databricks.yml sets these; the data must land where the jobs will read it.
CATALOG="${DEMO_CATALOG:-dev_catalog}"
GOLD_SCHEMA="${DEMO_GOLD_SCHEMA:-gold}"
FEATURE_SCHEMA="${DEMO_FEATURE_SCHEMA:-dev_gold_ml}"
REPORT="${DEMO_REPORT:-$HEALTHMON_HOME/health_report.html}"
# One account says little; the multi-seed EVALUATION.md (make eval) is never overwritten by it.
EVALUATION="${DEMO_EVALUATION:-$HEALTHMON_HOME/evaluation.md}"
RESULTS="${DEMO_RESULTS_DIR:-$ROOT/benchmarks/results}"
mkdir -p "$HEALTHMON_HOME" "$RESULTS"

PHASES=()   # "name seconds exit_code"
now() { date +%s.%N; }

# phase NAME COMMAND...: run one phase, print its time, remember it. A failed phase stops the
# demo (later phases need its output) unless it is marked optional with ALLOW_FAIL=1.
phase() {
  local name="$1"; shift
  printf '\n\033[1m== %s\033[0m  (%s)\n' "$name" "$*"
  local t0 t1 rc
  t0=$(now)
  "$@"
  rc=$?
  t1=$(now)
  local secs
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  PHASES+=("$name $secs $rc")
  printf '\033[1m== %s: %s s, exit %s\033[0m\n' "$name" "$secs" "$rc"
  if [[ $rc -ne 0 && "${ALLOW_FAIL:-0}" != 1 ]]; then
    finish "$rc" "phase '$name' failed (exit $rc)"
  fi
  return 0
}

require_command() {  # fail clearly when another part of healthmon is not there yet
  if ! "$HM" "$@" --help >/dev/null 2>&1; then
    echo "demo: 'healthmon $*' is not available in this build; cannot continue." >&2
    return 3
  fi
}

write_timings() {
  local status="$1"
  "$PY" - "$RESULTS" "$DEMO_SCALE" "$status" "${PHASES[@]}" <<'PYEOF'
import datetime as dt, json, os, platform, sys
from pathlib import Path
results, scale, status, *phases = sys.argv[1:]
rows = [p.split() for p in phases]
total = sum(float(s) for _, s, _ in rows)
now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
entries = [
    {"name": f"demo phase: {name}", "value": float(secs), "unit": "s", "baseline_name": None,
     "baseline_value": None, "target": None, "passed": rc == "0", "notes": "", "extra": {}}
    for name, secs, rc in rows
]
entries.append({
    "name": f"make demo total ({scale} scale)", "value": round(total, 2), "unit": "s",
    "baseline_name": None, "baseline_value": None, "target": "<= 300 s",
    "passed": status == "ok" and total <= 300, "notes": f"status: {status}", "extra": {}})
entries[0]["extra"]["_meta"] = {"when": now, "machine": machine}
Path(results, "demo.json").write_text(json.dumps(entries, indent=1))
with open(Path(results, "demo_history.jsonl"), "a") as fh:
    fh.write(json.dumps({"when": now, "machine": machine, "scale": scale, "status": status,
                         "total_s": round(total, 2),
                         "phases": {n: float(s) for n, s, _ in rows}}) + "\n")
print(f"\nPhase timings ({scale} scale):")
for name, secs, rc in rows:
    print(f"  {name:<22} {float(secs):8.2f} s{'' if rc == '0' else f'  (exit {rc})'}")
print(f"  {'total':<22} {total:8.2f} s")
PYEOF
}

finish() {
  local rc="$1" why="${2:-}"
  write_timings "$([[ $rc -eq 0 ]] && echo ok || echo "failed: $why")"
  if [[ $rc -ne 0 ]]; then
    echo "demo: $why" >&2
  fi
  exit "$rc"
}

echo "healthmon demo: workspace $HEALTHMON_HOME, scale $DEMO_SCALE, catalog $CATALOG"

generate_data() {
  require_command demo-data generate || return $?
  "$HM" demo-data generate --catalog "$CATALOG" --schema "$GOLD_SCHEMA" --scale "$DEMO_SCALE"
}
bundle_deploy() {
  require_command bundle deploy || return $?
  "$HM" bundle deploy -t dev
}

phase generate_data generate_data
phase bundle_deploy bundle_deploy
# The orchestrator's result is reported whatever it is; the report still shows what exists.
ALLOW_FAIL=1 phase orchestrator_run "$HM" bundle run -t dev ml_orchestrator_job
RUN_RC=$(echo "${PHASES[-1]}" | awk '{print $3}')

if "$HM" evaluate --help >/dev/null 2>&1; then
  ALLOW_FAIL=1 phase evaluate "$HM" evaluate --catalog "$CATALOG" --gold-schema "$GOLD_SCHEMA" \
    --feature-schema "$FEATURE_SCHEMA" --output "$EVALUATION"
fi
phase report "$HM" report --catalog "$CATALOG" --gold-schema "$GOLD_SCHEMA" \
  --feature-schema "$FEATURE_SCHEMA" --output "$REPORT"

echo
[[ -f "$EVALUATION" ]] && echo "Evaluation:    $EVALUATION"
echo "Health report: $REPORT"
if [[ "$RUN_RC" != 0 ]]; then
  finish "$RUN_RC" "the ML orchestrator run did not succeed (exit $RUN_RC); see the run above"
fi
finish 0
