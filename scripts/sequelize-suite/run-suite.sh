#!/usr/bin/env bash
# usage: run-suite.sh DIALECT bare|plugin LABEL [spec globs... | integration | unit]
# Runs Sequelize's mocha suite (default: integration) for DIALECT from $SEQSUITE/sequelize, bare or
# with sequelize-autoreconnect on every instance. Writes $SEQSUITE/result-LABEL.json (at the end of a
# run that completes), $SEQSUITE/events-LABEL.jsonl (as it goes) and $SEQSUITE/log-LABEL.txt.
# No result file after the run = mocha crashed or was killed; events-LABEL.jsonl says where.
# Env: SEQSUITE_TIMEOUT (seconds, default 3000), SEQSUITE_MOCHA_ARGS (extra mocha args, e.g. --grep).
set -uo pipefail
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
[ $# -ge 3 ] || { echo "usage: $0 DIALECT bare|plugin LABEL [spec globs...]" >&2; exit 64; }
D=$1; MODE=$2; LABEL=$3; shift 3
dialect_env "$D"
case "$MODE" in bare|plugin) ;; *) echo "mode must be bare or plugin" >&2; exit 64 ;; esac
SPECS=()
for a in "$@"; do
  case "$a" in integration|unit) SPECS+=("$(suite_specs "$a")") ;; *) SPECS+=("$a") ;; esac
done
[ ${#SPECS[@]} -eq 0 ] && SPECS=("$(suite_specs integration)")
EXTRA=()
[ "$MODE" = plugin ] && EXTRA=(-r "$HARNESS/with-plugin.cjs" --file "$HARNESS/plugin-roothooks.cjs")
# shellcheck disable=SC2206
[ -n "${SEQSUITE_MOCHA_ARGS:-}" ] && EXTRA+=(${SEQSUITE_MOCHA_ARGS})
export RESULT_JSON="$SEQSUITE/result-$LABEL.json" EVENTS_JSONL="$SEQSUITE/events-$LABEL.jsonl" SEQSUITE_MODE="$MODE"
LOG="$SEQSUITE/log-$LABEL.txt"
rm -f "$RESULT_JSON" "$EVENTS_JSONL"
cd "$SEQSUITE/sequelize" || exit 1
start=$(date +%s)
{ echo "# DIALECT=$DIALECT mode=$MODE specs=${SPECS[*]} extra=${EXTRA[*]:-}"; } > "$LOG"
timeout "${SEQSUITE_TIMEOUT:-3000}" node_modules/.bin/mocha -r ./test/registerEsbuild "${EXTRA[@]}" \
  --reporter "$HARNESS/jsonl-reporter.cjs" "${SPECS[@]}" >> "$LOG" 2>&1
rc=$?
line="rc=$rc wall=$(( $(date +%s) - start ))s dialect=$DIALECT mode=$MODE label=$LABEL"
[ -f "$RESULT_JSON" ] || line="$line NO-RESULT-FILE (crashed or killed)"
echo "$line" >> "$LOG"; echo "$line"
