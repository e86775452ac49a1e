#!/usr/bin/env bash
# usage: run.sh [-d "postgres mariadb mysql"] [-s "integration unit"] [-m both|bare|plugin] [-t TAG] [-n]
# For each dialect and suite: fresh-db + bare run, fresh-db + plugin run, the test-by-test comparison
# (also saved as $SEQSUITE/compare-DIALECT-SUITE-TAG.txt), then one summary line per dialect/suite.
#   -m bare|plugin  run one side only (the summary then shows counts, no comparison)
#   -n              run nothing: compare the result files an earlier run with the same TAG left
# Labels: DIALECT-SUITE-bare-TAG / DIALECT-SUITE-plugin-TAG (files result-*.json, log-*.txt,
# events-*.jsonl in $SEQSUITE). Exit: 0 all identical, 1 some test differs, 2 a run crashed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"
DIALECTS="$DIALECTS_SUPPORTED"; SUITES="integration unit"; MODE=both; TAG=1; NORUN=0
while getopts "d:s:m:t:nh" o; do
  case $o in
    d) DIALECTS=$OPTARG ;; s) SUITES=$OPTARG ;; m) MODE=$OPTARG ;; t) TAG=$OPTARG ;; n) NORUN=1 ;;
    *) sed -n '2,8p' "$0"; exit 64 ;;
  esac
done
case $MODE in both|bare|plugin) ;; *) echo "-m both|bare|plugin" >&2; exit 64 ;; esac
for d in $DIALECTS; do check_dialect "$d"; done
for s in $SUITES; do suite_specs "$s" >/dev/null || exit 64; done
[ -d "$SEQSUITE/sequelize" ] || { echo "no $SEQSUITE/sequelize: run setup.sh first (or set SEQSUITE)" >&2; exit 64; }

side() { # dialect suite mode
  local label="$1-$2-$3-$TAG"
  [ $NORUN = 1 ] && return
  echo "== $(date +%T) $label" >&2
  "$here/fresh-db.sh" "$1" || { echo "fresh-db.sh $1 failed" >&2; exit 2; }
  "$here/run-suite.sh" "$1" "$3" "$label" "$2" >&2
}
SUMMARY=(); worst=0
for d in $DIALECTS; do
  for s in $SUITES; do
    bare="$SEQSUITE/result-$d-$s-bare-$TAG.json"; plugin="$SEQSUITE/result-$d-$s-plugin-$TAG.json"
    [ $MODE != plugin ] && side "$d" "$s" bare
    [ $MODE != bare ] && side "$d" "$s" plugin
    case $MODE in
      both)
        python3 "$here/compare.py" "$bare" "$plugin" > "$SEQSUITE/compare-$d-$s-$TAG.txt"
        cat "$SEQSUITE/compare-$d-$s-$TAG.txt"
        line=$(python3 "$here/compare.py" --summary "$d/$s" "$bare" "$plugin"); rc=$? ;;
      bare) line=$(python3 "$here/compare.py" --summary "$d/$s" "$bare"); rc=$? ;;
      plugin) line=$(python3 "$here/compare.py" --summary-plugin "$d/$s" "$plugin"); rc=$? ;;
    esac
    SUMMARY+=("$line"); [ $rc -gt $worst ] && worst=$rc
  done
done
echo; echo "== summary (tag $TAG, results in $SEQSUITE) =="
printf '%s\n' "${SUMMARY[@]}"
exit $worst
