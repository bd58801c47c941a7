#!/usr/bin/env bash
# libasyncrt's two commands (README "Quick start"):
#
#   ./build.sh test            build and run the Criterion suite: the normal
#                              build, the whole suite under ASan+UBSan, the
#                              stress suite under TSan, with 4-slot queues,
#                              and under the seeded chaos scheduler
#   ./build.sh bench [ARGS]    build a release and run the bench suite
#                              (bench/run.py ARGS: workload filter, --quick,
#                              --no-peers, ...)
#   ./build.sh build           just configure and build (debugoptimized)
#   ./build.sh fuzz            build and run every libFuzzer target for
#                              FUZZ_SECONDS each (default 20; test runs it too)
#
# Each installs what is missing first (Debian/Ubuntu, as root or with sudo).
set -euo pipefail
cd "$(dirname "$0")"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_updated=0
apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    if [ $apt_updated -eq 0 ]; then
        log "apt-get update"
        $sudo apt-get update -qq
        apt_updated=1
    fi
    log "installing: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

base_deps() {
    apt_install gcc libc6-dev meson ninja-build pkg-config liburing-dev libjemalloc-dev \
        libcriterion-dev python3
    # Issue 7's HTTP server: its parser, and curl for its end-to-end tests.
    apt_install libhttp-parser-dev curl
}

# setup DIR [meson options...]: configure DIR once, reconfigure if options change.
setup() {
    local dir=$1; shift
    if [ -f "$dir/build.ninja" ]; then
        meson configure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
}

total_ok=0
total_fail=0
# run_tests DIR [meson test args...]: run, keep going, add up the results.
# Counts are Criterion's own (each Test), read from the "Synthesis" lines in
# meson's test log, plus the non-Criterion tests meson ran.
run_tests() {
    local dir=$1; shift
    local out rc=0
    out=$(meson test -C "$dir" --print-errorlogs "$@" 2>&1) || rc=$?
    printf '%s\n' "$out" | grep -Ev '^\s*$' | tail -n 40
    local m_ok m_fail m_to
    m_ok=$(printf '%s\n' "$out" | awk '/^Ok:/ {print $2}' | tail -1)
    m_fail=$(printf '%s\n' "$out" | awk '/^Fail:/ {print $2}' | tail -1)
    m_to=$(printf '%s\n' "$out" | awk '/^Timeout:/ {print $2}' | tail -1)
    local c_pass=0 c_fail=0 c_exes=0
    if [ -f "$dir/meson-logs/testlog.txt" ]; then
        read -r c_pass c_fail c_exes < <(awk -F'[:|]' '/Synthesis: Tested:/ {
                p += $5; f += $7; n++ } END { print p+0, f+0, n+0 }' \
            "$dir/meson-logs/testlog.txt")
    fi
    local other_ok=$(( ${m_ok:-0} - c_exes ))
    [ $other_ok -lt 0 ] && other_ok=0
    local fails=$c_fail
    if [ "$fails" -eq 0 ]; then
        fails=$(( ${m_fail:-0} + ${m_to:-0} ))
        [ $rc -ne 0 ] && [ "$fails" -eq 0 ] && fails=1 # meson itself failed
    fi
    total_ok=$((total_ok + c_pass + other_ok))
    total_fail=$((total_fail + fails))
    log "$dir: $((c_pass + other_ok)) passed, $fails failed"
}

# chaos_run SEED: the stress suite under the chaos scheduler with SEED; a
# failure prints the command that replays it (README "Tests").
chaos_run() {
    local seed=$1 before=$total_fail
    log "chaos seed $seed"
    AR_CHAOS_SEED=$seed run_tests build-chaos --suite stress
    if [ "$total_fail" -gt "$before" ]; then
        log "chaos run FAILED with seed $seed; replay: AR_CHAOS_SEED=$seed meson test -C build-chaos --suite stress"
    fi
}

# A user's program built against us two ways; each counts as one test.
packaging_tests() {
    local tmp
    tmp=$(mktemp -d)
    # 1. As a meson subproject: dependency('asyncrt').
    mkdir -p "$tmp/sub/subprojects"
    cp tests/consumer/meson.build tests/consumer/consumer.c "$tmp/sub/"
    ln -s "$PWD" "$tmp/sub/subprojects/asyncrt"
    if (cd "$tmp/sub" && meson setup build --wrap-mode=forcefallback -Dasyncrt:tests=disabled \
            -Dasyncrt:bench=false -Dasyncrt:examples=false >/dev/null &&
        ninja -C build >/dev/null && ./build/consumer); then
        total_ok=$((total_ok + 1))
    else
        echo "FAIL: meson subproject consumer"; total_fail=$((total_fail + 1))
    fi
    # 2. Installed, found through pkg-config (asyncrt.pc).
    if meson install -C build --destdir "$tmp/root" >/dev/null &&
        prefix=$(meson introspect build --buildoptions | python3 -c \
            'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])') &&
        libdir=$(meson introspect build --buildoptions | python3 -c \
            'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="libdir"][0])') &&
        pcdir="$tmp/root$prefix/$libdir/pkgconfig" &&
        flags=$(PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$tmp/root" pkg-config --cflags --libs asyncrt) &&
        cc -o "$tmp/consumer-pc" tests/consumer/consumer.c $flags &&
        LD_LIBRARY_PATH="$tmp/root$prefix/$libdir" "$tmp/consumer-pc"; then
        total_ok=$((total_ok + 1))
    else
        echo "FAIL: pkg-config consumer"; total_fail=$((total_fail + 1))
    fi
    rm -rf "$tmp"
}

cmd_build() {
    base_deps
    setup build -Dtests=enabled
    ninja -C build
}

cmd_test() {
    base_deps
    apt_install spin # model checking (tests/model, suite `model`)
    apt_install redis-tools  # kv server tests drive it with redis-cli (issue 7)
    local t0=$SECONDS
    log "normal build (debugoptimized, asserts on, jemalloc)"
    setup build -Dtests=enabled
    ninja -C build
    run_tests build

    log "AddressSanitizer + UndefinedBehaviorSanitizer: whole suite"
    # examples on: the example servers' tests (skeleton, echo, kv) run here too
    setup build-asan -Dtests=enabled -Db_sanitize=address,undefined -Dallocator=system \
        -Dbench=false -Dexamples=true
    ninja -C build-asan
    run_tests build-asan

    log "ThreadSanitizer: stress suite"
    setup build-tsan -Dtests=enabled -Db_sanitize=thread -Dallocator=system \
        -Dbench=false -Dexamples=false
    ninja -C build-tsan
    run_tests build-tsan --suite stress

    log "test mode: 4-slot local queues (constant overflow and stealing), stress suite"
    setup build-tiny -Dtests=enabled -Dtiny_queue=true -Dbench=false -Dexamples=false
    ninja -C build-tiny
    run_tests build-tiny --suite stress

    # --- issue 8: chaos test mode (runtime/chaos.h), fault injection ---
    log "test mode: seeded chaos scheduler + 4-slot queues, stress suite (a fixed seed, then a random one)"
    setup build-chaos -Dtests=enabled -Dtiny_queue=true -Dchaos=true -Dbench=false -Dexamples=false
    ninja -C build-chaos
    chaos_run 1
    chaos_run "$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')"
    # --- end issue 8 ---
    fuzz_step

    log "packaging: meson subproject and pkg-config consumers"
    packaging_tests

    log "done in $((SECONDS - t0)) s"
    echo "tests: ${total_ok} passed, ${total_fail} failed"
    [ "$total_fail" -eq 0 ]
}

# --- fuzz (issue 8) ---------------------------------------------------------
# Every libFuzzer target (meson suite `fuzz`: the runtime's fuzz/ and the
# example servers' parsers) in a clang build with ASan+UBSan, the library
# instrumented for coverage; each runs FUZZ_SECONDS (default 20) from its
# seed corpus.  `FUZZ_SECONDS=600 ./build.sh fuzz` is the longer run.
fuzz_step() {
    apt_install clang libclang-rt-14-dev
    local secs=${FUZZ_SECONDS:-20}
    log "fuzz: every libFuzzer target for ${secs} s (FUZZ_SECONDS)"
    CC=clang setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
        -Dallocator=system -Dtests=disabled -Dbench=false -Dexamples=true
    ninja -C build-fuzz
    # libFuzzer takes the last -max_total_time it is given; meson's timeout
    # (120 s per target) grows with the run.
    run_tests build-fuzz --suite fuzz --test-args="-max_total_time=${secs}" \
        --timeout-multiplier $(( secs / 20 + 1 ))
}

cmd_fuzz() {
    base_deps
    fuzz_step
    echo "fuzz: ${total_ok} passed, ${total_fail} failed"
    [ "$total_fail" -eq 0 ]
}

cmd_bench() {
    base_deps
    apt_install gnuplot-nox
    apt_install redis-server redis-tools  # kv workload: the peer server and redis-benchmark
    apt_install wrk nginx # http workload: the load generator and the peer
    log "release build (-O3, LTO, jemalloc)"
    # examples on: the kv and http workloads run examples/kv/kv_server, examples/http/http_server
    setup build-release --buildtype=release -Db_lto=true -Dtests=disabled -Dexamples=true
    ninja -C build-release
    python3 bench/run.py --build-dir build-release "$@"
}

case "${1:-}" in
    test) shift; cmd_test "$@" ;;
    bench) shift; cmd_bench "$@" ;;
    build) shift; cmd_build "$@" ;;
    fuzz) shift; cmd_fuzz "$@" ;;
    *) echo "usage: $0 test | bench [workload...] [--quick] [--no-peers] | build | fuzz" >&2; exit 2 ;;
esac
