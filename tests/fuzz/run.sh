#!/usr/bin/env bash
# Fuzzes every C parser and decoder of everybit (ulz, bpez, fontpack, imgkan, imli, supertok) and the
# Python readers on top of them with atheris/libFuzzer, on a build of the C extensions with AddressSanitizer
# + UBSan. Exits non-zero on any finding and prints the reproducer. See README.md.
#
#   tests/fuzz/run.sh [SECONDS_EACH] [TARGET...]      default: 60 s for each of $ALL_TARGETS
#
# Env: PY     python of the venv to use (default .venv/bin/python; created with `pip install -e .` if
#             missing); atheris is pip-installed into it.
#      FUZZ_DIR  work folder (default build/fuzz, git-ignored): the sanitized build, seeds, the corpus
#             (kept between runs), logs and artifacts/<target>/crash-* (the reproducers).
#      FUZZ_ARGS extra libFuzzer flags for every target, e.g. "-runs=1000" or "-seed=1".
set -euo pipefail
cd "$(dirname "$0")/../.."

ALL_TARGETS=(decompress decompress_block frame roundtrip ikcoder imli_reader
    bpez_pairs bpez_frame jbigctx fontpack_file chunker merges)
# Every C extension must come from the sanitized build: loaded without its package by the C-only
# targets (_common.load_extension), also imported through the package by the readers of PACKAGED (the
# other packages import torch or tokenizers: nothing to run under the sanitizers).
EXTENSIONS=(everybit.ulz._ulz everybit.bpez._bpez everybit.fontpack._jbigctx everybit.imgkan._ikcoder
    everybit.imli._chunker everybit.supertok._merges)
PACKAGED=(everybit.ulz._ulz everybit.bpez._bpez everybit.fontpack._jbigctx everybit.imli._chunker)
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")
PY=${PY:-.venv/bin/python}
work=${FUZZ_DIR:-build/fuzz}
ATHERIS_SPEC=${ATHERIS_SPEC:-atheris==3.0.0}
# Output sizes in the harnesses are capped at 1 MiB; these cap the input.
declare -A MAX_LEN=([decompress]=65536 [decompress_block]=65536 [frame]=262144 [roundtrip]=262144 [ikcoder]=8192
    [imli_reader]=65536 [bpez_pairs]=8192 [bpez_frame]=65536 [jbigctx]=8192 [fontpack_file]=16384
    [chunker]=2048 [merges]=1024)

log() { printf '\n== fuzz: %s\n' "$*"; }
die() { printf 'fuzz: error: %s\n' "$*" >&2; exit 2; }

# 1. clang that can build a shared object with ASan + UBSan + libFuzzer coverage (Debian: clang and
#    libclang-rt-dev, which holds the sanitizer runtimes clang links in).
san_ok() {
    printf 'int f(int *p) { return p[1] << 3; }\n' |
        clang -x c - -shared -fPIC -fsanitize=address,undefined,fuzzer-no-link -o /dev/null 2>/dev/null
}
if ! command -v clang >/dev/null || ! san_ok; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        log "installing clang and its sanitizer runtimes (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends clang libclang-rt-dev >/dev/null
    fi
    san_ok || die "clang with -fsanitize=address,undefined,fuzzer-no-link is needed (Debian: apt-get install clang libclang-rt-dev)"
fi

# 2. The venv, with atheris (its wheel ships libFuzzer + ASan/UBSan as asan_with_fuzzer.so).
if [ ! -x "$PY" ]; then
    venv=$(dirname "$(dirname "$PY")")
    log "creating $venv"
    python3 -m venv "$venv"
    "$PY" -m pip install -q -e .
fi
"$PY" -c 'import atheris' 2>/dev/null || { log "installing $ATHERIS_SPEC"; "$PY" -m pip install -q "$ATHERIS_SPEC"; }
runtime="$("$PY" -c 'import atheris; print(atheris.path())')/asan_with_fuzzer.so"
[ -f "$runtime" ] || die "$runtime not found (atheris without its sanitizer runtime?)"

# 3. A copy of the package with the C extensions rebuilt sanitized, first on PYTHONPATH. Nothing is
#    written into the source tree. (setup.py's own -O3 comes after CFLAGS, so the fuzzed code is
#    optimized as in production.) CPython's own CFLAGS carry -fwrapv, which makes signed overflow
#    defined and so switches UBSan's check for it off; -fno-wrapv after them switches it back on: the C
#    code must not overflow a signed integer whatever flags it is built with.
mkdir -p "$work"
work=$(cd "$work" && pwd)
pkg=$work/pkg
rm -rf "$pkg" "$work/tmp" "$work/seeds"
mkdir -p "$pkg" "$work/logs"
tar -C src --exclude='*.so' --exclude=__pycache__ -cf - everybit | tar -C "$pkg" -xf -
log "building the sanitized extension into $pkg"
SAN="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer -g -fno-wrapv"
if ! CC=clang LDSHARED="clang -shared" CFLAGS="$SAN" \
    "$PY" setup.py -q build_ext --build-lib "$pkg" --build-temp "$work/tmp" >"$work/logs/build.log" 2>&1; then
    cat "$work/logs/build.log"
    die "sanitized build failed"
fi

# One wrapper per target, $work/bin/fuzz_<target>, runs it with the sanitizer runtime preloaded; it
# is also what libFuzzer re-executes for -minimize_crash/-merge (FUZZ_ARGV0). `$work/bin/fuzz_frame FILE`
# replays a reproducer; `$work/bin/fuzz_frame DIR -max_total_time=600` fuzzes longer.
# PYTHONMALLOC=malloc puts every Python object in its own malloc block, so ASan sees overruns into them.
mkdir -p "$work/bin"
py_abs=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")
for t in "${ALL_TARGETS[@]}"; do
    {
        echo '#!/bin/sh'
        echo "export LD_PRELOAD='$runtime' PYTHONPATH='$pkg' PYTHONMALLOC=malloc FUZZ_ARGV0=\"\$0\""
        # shellcheck disable=SC2016  # expanded when the wrapper runs
        echo 'export ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}"'
        # shellcheck disable=SC2016
        echo 'export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"'
        echo "exec '$py_abs' '$PWD/tests/fuzz/fuzz_$t.py' \"\$@\""
    } >"$work/bin/fuzz_$t"
    chmod +x "$work/bin/fuzz_$t"
done
sanitized() { LD_PRELOAD="$runtime" PYTHONPATH="$pkg" PYTHONMALLOC=malloc ASAN_OPTIONS=detect_leaks=0 "$@"; }

check_sanitized() {  # EXT PYTHON-CODE-THAT-SETS-m
    local where
    where=$(sanitized "$PY" -c "$2; print(m.__file__)")
    case $where in "$pkg"/*) echo "$1 = $where" ;; *) die "$1: the sanitized build is not the one loaded ($where)" ;; esac
}
for ext in "${EXTENSIONS[@]}"; do
    check_sanitized "$ext" "import sys; sys.path.insert(0, 'tests/fuzz'); import _common; m = _common.load_extension('$ext')"
done
for ext in "${PACKAGED[@]}"; do check_sanitized "$ext" "import $ext as m"; done

# 4. Seeds (valid streams, generated), then each target for $secs seconds.
sanitized "$PY" tests/fuzz/make_seeds.py "$work/seeds"
failed=()
for t in "${targets[@]}"; do
    [ -f "tests/fuzz/fuzz_$t.py" ] || die "no target $t (have: ${ALL_TARGETS[*]})"
    corpus=$work/corpus/$t
    artifacts=$work/artifacts/$t
    mkdir -p "$corpus" "$artifacts"
    stamp=$work/logs/$t.start
    touch "$stamp"
    log "$t: ${secs}s ($(find "$work/seeds/$t" -type f | wc -l) seeds, corpus $corpus)"
    rc=0
    # shellcheck disable=SC2086  # FUZZ_ARGS is a list of flags
    "$work/bin/fuzz_$t" "$corpus" "$work/seeds/$t" \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=30 -max_len="${MAX_LEN[$t]:-65536}" \
        -artifact_prefix="$artifacts/" -print_final_stats=1 ${FUZZ_ARGS:-} >"$work/logs/$t.log" 2>&1 || rc=$?
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$work/logs/$t.log" | tail -n 2 || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
        "$work/logs/$t.log" || true
    if [ "$rc" != 0 ]; then
        failed+=("$t")
        echo "FAILED: $t (exit $rc); last lines of $work/logs/$t.log:"
        tail -n 60 "$work/logs/$t.log"
        find "$artifacts" -type f -newer "$stamp" \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \) \
            ! -name '*.min*' | while read -r f; do
            echo "reproducer: $f ($(wc -c <"$f") bytes); replay: $work/bin/fuzz_$t $f"
            if [ "${FUZZ_MINIMIZE:-30}" -gt 0 ]; then
                "$work/bin/fuzz_$t" -minimize_crash=1 -max_total_time="${FUZZ_MINIMIZE:-30}" \
                    -exact_artifact_path="$f.min" "$f" >"$f.min.log" 2>&1 || true
                [ -s "$f.min" ] && echo "minimized: $f.min ($(wc -c <"$f.min") bytes)" && f=$f.min
            fi
            "$PY" -c 'import sys; d = open(sys.argv[1], "rb").read(); print("hex:", d[:512].hex(), "..." * (len(d) > 512))' "$f"
        done
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    log "FINDINGS in: ${failed[*]} (reproducers under $work/artifacts)"
    exit 1
fi
log "no findings (${targets[*]}: ${secs}s each)"
