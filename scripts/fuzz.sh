#!/usr/bin/env bash
# Runs Loupe's libFuzzer targets (see Fuzz/README.md) one after another.
#
#   scripts/fuzz.sh runs N         each target for N executions
#   scripts/fuzz.sh seconds S      each target for S seconds
#   scripts/fuzz.sh ... TARGET...  only these targets
#
# Each target starts from its committed seeds (Fuzz/corpus/TARGET) and
# grows a working corpus in .build-fuzz/corpus/TARGET, kept between runs.
# A crash, a hang (20 s), a 4 GB allocation or a bad message stops the
# target (leaks are not checked: caches kept until exit, Pango's among them,
# would count as leaks; allocation stacks are not recorded, which makes targets
# that allocate much about 30 % faster: rerun a finding by hand for them); the
# input is saved as .build-fuzz/findings/TARGET-*, and the script
# ends with an error after the remaining targets have run.
set -uo pipefail
cd "$(dirname "$0")/.."

mode="${1:?usage: scripts/fuzz.sh runs N | seconds S [TARGET...]}"
amount="${2:?usage: scripts/fuzz.sh runs N | seconds S [TARGET...]}"
shift 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(gguf safetensors config-tokenizer spec record)
case "$mode" in
    runs) limit="-runs=$amount" ;;
    seconds) limit="-max_total_time=$amount" ;;
    *) echo "fuzz: the mode is 'runs' or 'seconds', not '$mode'" >&2; exit 2 ;;
esac

binary=.build-fuzz/release/loupe-fuzz
[ -x "$binary" ] || { echo "fuzz: $binary is missing: run 'make fuzz'" >&2; exit 2; }
mkdir -p .build-fuzz/findings
failed=()
printf '%-18s %12s %9s %10s  %s\n' target executions seconds "exec/s" result
for t in "${targets[@]}"; do
    [ -d "Fuzz/corpus/$t" ] || { echo "fuzz: no target '$t'" >&2; exit 2; }
    work=".build-fuzz/corpus/$t"
    mkdir -p "$work"
    log=".build-fuzz/findings/$t.log"
    start=$(date +%s)
    ASAN_OPTIONS=detect_leaks=0:malloc_context_size=0 LOUPE_FUZZ_TARGET="$t" "$binary" "$work" "Fuzz/corpus/$t" "$limit" \
        -rss_limit_mb=4096 -malloc_limit_mb=4096 -timeout=20 -max_len=65536 -detect_leaks=0 \
        -artifact_prefix=".build-fuzz/findings/$t-" -print_final_stats=1 >"$log" 2>&1
    status=$?
    seconds=$(( $(date +%s) - start ))
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    runs=${runs:-0}
    rate=$(( runs / (seconds > 0 ? seconds : 1) ))
    if [ $status -eq 0 ]; then
        result=ok
    else
        result="FAILED: see $log and .build-fuzz/findings/$t-*"
        failed+=("$t")
    fi
    printf '%-18s %12s %9s %10s  %s\n' "$t" "$runs" "$seconds" "$rate" "$result"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: findings in ${failed[*]}; copy each input into Fuzz/corpus/TARGET/ so the tests replay it" >&2
    exit 1
fi
