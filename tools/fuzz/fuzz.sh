#!/usr/bin/env bash
# Runs the fuzz targets that `make fuzz` built (build/fuzz/bin/<target>); docs/RELIABILITY.md.
#   tools/fuzz/fuzz.sh run SECONDS TARGET...   fuzz each target for SECONDS of CPU time, one after the other
#   tools/fuzz/fuzz.sh merge 0 TARGET...       minimize everything found into tests/fuzz/<target>/corpus
#   tools/fuzz/fuzz.sh totals 0 [TARGET...]    CPU time and inputs per target, from tests/fuzz/runs.tsv
# Runs of one target may go at once, one a core (two shells each running `run ... gbnf`): each
# takes the first free slot and has its own log and findings directory (<target>.<slot>, from
# the second on); they share the corpus directory.
# Inputs come from three places: build/fuzz/corpus/<target> (what earlier runs found; new
# finds go there), tests/fuzz/<target>/ (the committed corpus and the findings, *.gz
# unpacked first) and build/fuzz/seeds/<target> (tools/fuzz/seeds.mjs). A crash, a trap or
# a hang leaves its input in build/fuzz/findings/<target>/ and stops the run.
#
# Every run appends a line to tests/fuzz/runs.tsv (committed: the record behind
# RELIABILITY's figures): when, the commit, the target, CPU seconds, wall seconds, inputs
# run, coverage and the outcome.
set -euo pipefail
TIMEFORMAT='%3U %3S'
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

# tests/fuzz/<target>/ as plain files in build/fuzz/committed/<target>; made beside it and
# swapped in, so that a run of the same target starting again meanwhile reads a whole
# directory, and under a lock, for two runs starting at once
unpack() {
  local t=$1 out=$F/committed/$1
  exec 8> "$F/logs/$t.unpack.lock"
  flock 8
  rm -rf "$out.new" "$out.old"
  mkdir -p "$out.new"
  if [ -d "tests/fuzz/$t" ]; then
    find "tests/fuzz/$t" -type f | while read -r f; do
      case $f in
        *.gz) gzip -dc "$f" > "$out.new/$(basename "$f" .gz)" ;;
        *) cp "$f" "$out.new/" ;;
      esac
    done
  fi
  [ ! -d "$out" ] || mv "$out" "$out.old"
  mv "$out.new" "$out"
  rm -rf "$out.old"
  exec 8>&-
}

# Takes the first slot of target $1 no other run holds: its lock stays on fd 9 until the next
# call or the end of the script. Sets `name`, the run's file names: <target> in slot 1 (alone),
# <target>.<slot> in the others.
take_slot() {
  local slot=1
  while :; do
    exec 9> "$F/logs/$1.slot$slot.lock"
    flock -n 9 && break
    slot=$(( slot + 1 ))
  done
  name=$1
  [ "$slot" -eq 1 ] || name=$1.$slot
}

# Runs one input alone at normal priority (also when this script runs niced: root may raise
# it back, anyone else runs it as niced); prints its milliseconds and succeeds if it ran inside
# the limit (libFuzzer's own check of -timeout looks once a second, and let a 2 s input by).
# In a session of its own (setsid): the scheduler weighs each session's autogroup as a whole,
# and this script's may be niced too (/proc/PID/autogroup).
replay() {
  local out ms
  out=$(setsid -w nice -n "-$(nice)" "$F/bin/$1" "${LIMITS[@]}" -runs=1 "$2" 2>&1) || return 1
  ms=$(echo "$out" | grep -oE 'Executed .* in [0-9]+ ms' | grep -oE '[0-9]+ ms' | grep -oE '[0-9]+')
  echo "$ms"
  [ -n "$ms" ] && [ "$ms" -lt 1000 ]
}

if [ "$mode" = totals ]; then
  # per target: CPU hours, inputs run, the most coverage a run reached, and runs that stopped on a finding
  printf "%-14s %9s %8s %13s %6s %6s %8s\n" target "CPU h" runs inputs cov ft findings
  awk -F'\t' -v want=" $* " 'NR > 1 && (want == "  " || index(want, " " $3 " ")) {
      cpu[$3] += $4; ex[$3] += $6; if ($7 > cov[$3]) cov[$3] = $7; if ($8 > ft[$3]) ft[$3] = $8; n[$3]++; if ($9 ~ /^finding/) f[$3]++ }
    END { for (t in cpu) printf "%-14s %9.2f %8d %13d %6s %6s %8d\n", t, cpu[t] / 3600, n[t], ex[t], cov[t], ft[t], f[t] }' \
    tests/fuzz/runs.tsv | sort
  exit 0
fi

for t in "$@"; do
  if [ "$t" = tokenizer_bpe ] && [ ! -f ../shared/vocab/ggml-vocab-llama-bpe.gguf ]; then
    echo "fuzz: $t skipped: ../shared/vocab/ggml-vocab-llama-bpe.gguf is absent"
    continue
  fi
  mkdir -p "$F/corpus/$t" "$F/logs"
  unpack "$t"
  case $mode in
  run)
    take_slot "$t"
    # its own: two runs that stop on the same input write the same file, and one would take
    # it away (to starved/) while the other still runs it again
    findings=$F/findings/$name
    mkdir -p "$findings"
    # SECONDS is CPU time (user + system): a fuzzer at nice 19 gets what other work leaves, and
    # runs again until it has had that much. libFuzzer's -timeout counts wall-clock time, so a
    # starved fuzzer can also stop on an input that is not slow. Such a "timeout" is run again
    # alone at normal priority: if it finishes inside the limit it was the machine, not the
    # input; it is set aside in findings/<target>/starved and fuzzing goes on.
    used=0
    while :; do
      left=$(( seconds - used ))
      [ "$left" -ge 5 ] || break
      echo "fuzz: $t for $left s of CPU (log: $F/logs/$name.log)"
      log=$F/logs/$name.log status=0 wall0=$(date +%s)
      ls "$findings" > "$findings.before"
      # bash's time keyword: the run's user and system CPU seconds
      { time nice -n 19 "$F/bin/$t" "${LIMITS[@]}" -max_len="$(max_len "$t")" -max_total_time="$left" -print_final_stats=1 \
        -artifact_prefix="$findings/" "$F/corpus/$t" "$F/committed/$t" "$F/seeds/$t" > "$log" 2>&1 ; } 2> "$log.cpu" || status=$?
      cpu=$(awk '{ printf "%d", $1 + $2 }' "$log.cpu") wall=$(( $(date +%s) - wall0 ))
      used=$(( used + cpu ))
      # the last status line (inputs run, cov: edges, ft: features) and the average speed
      last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
      echo "fuzz: $t: $last"
      grep -E 'average_exec_per_sec' "$log" | sed "s/^stat::/fuzz: $t: /" || true
      execs=$(grep -oE 'number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' || true)
      [ -n "$execs" ] || execs=$(echo "$last" | grep -oE '^#[0-9]+' | tr -d '#')
      cov=$(echo "$last" | grep -oE 'cov: [0-9]+' | grep -oE '[0-9]+' || true)
      ft=$(echo "$last" | grep -oE 'ft: [0-9]+' | grep -oE '[0-9]+' || true)
      # what stopped the run: the input libFuzzer wrote last (an input found before is written
      # again under the same name), else a file that is new (a slow-unit-* file is libFuzzer's
      # report of a slow input it went on from)
      new=$(grep -oE 'Test unit written to [^ ]+' "$log" | grep -v '/slow-unit-' | tail -1 | sed 's|.*/||' || true)
      [ -n "$new" ] || new=$(ls "$findings" | comm -13 "$findings.before" - | grep -v -e '^starved$' -e '^slow-unit-' | head -1 || true)
      outcome=ok
      if [ $status -eq 72 ]; then
        outcome="interrupted" # libFuzzer's exit code after SIGINT: someone stopped it
      elif [ $status -ne 0 ]; then
        outcome="finding $new"
        if [ -n "$new" ] && [[ $new == timeout-* ]] && again=$(replay "$t" "$findings/$new"); then
          mkdir -p "$findings/starved"
          mv "$findings/$new" "$findings/starved/"
          outcome="starved ($new ran again alone in $again ms)"
          echo "fuzz: $t: not a finding: $new took over a second only while the machine was busy; alone it runs in $again ms"
        fi
      fi
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$(git rev-parse --short HEAD)" \
        "$t" "$cpu" "$wall" "${execs:-0}" "${cov:-}" "${ft:-}" "$outcome" >> tests/fuzz/runs.tsv
      if [[ $outcome == finding* ]]; then
        grep -E 'fuzz: |ERROR: |SUMMARY: |Test unit written' "$log" | head -8 >&2
        echo "fuzz: $t FAILED (exit $status): the input is in $findings/; log $log" >&2
        exit 1
      fi
      [ $status -eq 72 ] && exit 130
      [ $status -eq 0 ] && [ "$wall" -lt 2 ] && break # it did not run: nothing more will come of it
    done
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
  *) echo "usage: $0 run SECONDS TARGET... | merge 0 TARGET... | totals 0 [TARGET...]" >&2; exit 2 ;;
  esac
done
