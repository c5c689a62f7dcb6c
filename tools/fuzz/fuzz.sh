#!/usr/bin/env bash
# Runs the fuzz targets that `make fuzz` built (build/fuzz/bin/<target>); docs/RELIABILITY.md.
#   tools/fuzz/fuzz.sh run SECONDS TARGET...   fuzz each target for SECONDS, one after the other
#   tools/fuzz/fuzz.sh merge 0 TARGET...       minimize everything found into tests/fuzz/<target>/corpus
# Inputs come from three places: build/fuzz/corpus/<target> (what earlier runs found; new
# finds go there), tests/fuzz/<target>/ (the committed corpus and the findings, *.gz
# unpacked first) and build/fuzz/seeds/<target> (tools/fuzz/seeds.mjs). A crash, a trap or
# a hang leaves its input in build/fuzz/findings/<target>/ and stops the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
F=build/fuzz
mode=$1 seconds=$2
shift 2

# Limits: 1 s per input (-timeout), 2.5 GiB of RSS and of any one malloc; the harness caps
# linear memory at 1 GiB. Inputs longer than max_len are not made.
max_len() {
  case $1 in
    gguf) echo 65536 ;; ext4) echo 262144 ;; shell) echo 8192 ;; chat_template|json_schema) echo 16384 ;; *) echo 4096 ;;
  esac
}
LIMITS=(-timeout=1 -rss_limit_mb=2560 -malloc_limit_mb=2560)

# tests/fuzz/<target>/ as plain files in build/fuzz/committed/<target>
unpack() {
  local t=$1 out=$F/committed/$1
  rm -rf "$out"
  mkdir -p "$out"
  [ -d "tests/fuzz/$t" ] || return 0
  find "tests/fuzz/$t" -type f | while read -r f; do
    case $f in
      *.gz) gzip -dc "$f" > "$out/$(basename "$f" .gz)" ;;
      *) cp "$f" "$out/" ;;
    esac
  done
}

for t in "$@"; do
  if [ "$t" = tokenizer_bpe ] && [ ! -f ../shared/vocab/ggml-vocab-llama-bpe.gguf ]; then
    echo "fuzz: $t skipped: ../shared/vocab/ggml-vocab-llama-bpe.gguf is absent"
    continue
  fi
  unpack "$t"
  mkdir -p "$F/corpus/$t" "$F/findings/$t" "$F/logs"
  case $mode in
  run)
    echo "fuzz: $t for $seconds s (log: $F/logs/$t.log)"
    status=0
    nice -n 19 "$F/bin/$t" "${LIMITS[@]}" -max_len="$(max_len "$t")" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$F/findings/$t/" "$F/corpus/$t" "$F/committed/$t" "$F/seeds/$t" > "$F/logs/$t.log" 2>&1 || status=$?
    # the last status line (cov: edges, ft: features) and the average speed
    grep -E '^#[0-9]+' "$F/logs/$t.log" | tail -1 | sed "s/^/fuzz: $t: /"
    grep -E 'average_exec_per_sec' "$F/logs/$t.log" | sed "s/^stat::/fuzz: $t: /"
    if [ $status -ne 0 ]; then
      grep -E 'fuzz: |ERROR: |SUMMARY: |Test unit written' "$F/logs/$t.log" | head -8 >&2
      echo "fuzz: $t FAILED (exit $status): the input is in $F/findings/$t/; log $F/logs/$t.log" >&2
      exit 1
    fi
    ;;
  merge)
    # the smallest set of inputs with every feature of all three sources; big ones stored gzipped
    new=$F/merged/$t
    rm -rf "$new"
    mkdir -p "$new"
    nice -n 19 "$F/bin/$t" "${LIMITS[@]}" -max_len="$(max_len "$t")" -merge=1 -use_counters=0 "$new" \
      "$F/committed/$t" "$F/corpus/$t" "$F/seeds/$t" > "$F/logs/$t.merge.log" 2>&1
    rm -rf "tests/fuzz/$t/corpus"
    mkdir -p "tests/fuzz/$t/corpus"
    for f in "$new"/*; do
      if [ "$(stat -c %s "$f")" -gt 4096 ]; then gzip -9nc "$f" > "tests/fuzz/$t/corpus/$(basename "$f").gz"
      else cp "$f" "tests/fuzz/$t/corpus/"; fi
    done
    echo "fuzz: $t: $(ls "tests/fuzz/$t/corpus" | wc -l) inputs, $(du -sk --apparent-size "tests/fuzz/$t/corpus" | cut -f1) KiB in tests/fuzz/$t/corpus"
    ;;
  *) echo "usage: $0 run SECONDS TARGET... | merge 0 TARGET..." >&2; exit 2 ;;
  esac
done
