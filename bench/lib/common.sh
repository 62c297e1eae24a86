# bench/lib/common.sh - shared helpers for the bench/*.sh benchmarks.
# Source it; it sets ROOT, TMP_ROOT, SHARED and registers cleanup on exit.
# Every server started through start_bron / start_medplum is killed on exit and
# every directory from bench_tmpdir is removed.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
LIB_DIR="$BENCH_DIR/lib"
TMP_ROOT="$BENCH_DIR/.tmp"          # git-ignored: npm cache and run dirs
mkdir -p "$TMP_ROOT"
BRON_BIN=${BRON_BIN:-$ROOT/bron}    # override only to try another build

# The shared dir holds the peers; $BRON_SHARED wins, else ../shared.
SHARED=${BRON_SHARED:-$ROOT/../shared}
if [ -d "$SHARED" ]; then SHARED=$(cd "$SHARED" && pwd); fi

_BENCH_PIDS=()
_BENCH_DIRS=()

bench_cleanup() {
    local pid d
    for pid in "${_BENCH_PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    for d in "${_BENCH_DIRS[@]:-}"; do
        [ -n "$d" ] && rm -rf "$d"
    done
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }
die() { log "bench: $*"; exit 1; }

bench_tmpdir() {                     # bench_tmpdir VAR NAME: VAR=new dir, removed on exit
    local _d
    _d=$(mktemp -d "$TMP_ROOT/$2.XXXXXX")
    _BENCH_DIRS+=("$_d")
    printf -v "$1" '%s' "$_d"
}

free_port() {                        # a TCP port on 127.0.0.1 nobody listens on
    local p
    for _ in $(seq 1 200); do
        p=$(( 20000 + RANDOM % 30000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            printf '%s\n' "$p"; return 0
        fi
    done
    die "no free port found"
}

wait_http() {                        # wait_http URL SECONDS PID
    local url=$1 secs=$2 pid=$3 i
    for i in $(seq 1 $(( secs * 10 ))); do
        curl -sf -o /dev/null "$url" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }   # rss_kb PID

# start_bron DATADIR LOGFILE -> sets BRON_PID, BRON_BASE
start_bron() {
    local data=$1 logf=$2 port
    [ -x "$BRON_BIN" ] || die "$BRON_BIN is not built (run make)"
    port=$(free_port)
    "$BRON_BIN" serve --bind 127.0.0.1 --port "$port" --data "$data" >"$logf" 2>&1 &
    BRON_PID=$!
    _BENCH_PIDS+=("$BRON_PID")
    BRON_BASE="http://127.0.0.1:$port/fhir"
    wait_http "$BRON_BASE/metadata" 20 "$BRON_PID" || { cat "$logf" >&2; die "bron did not start"; }
}

# medplum_install -> prints the cached install dir (peer files + node_modules),
# keyed on the package-lock hash; `npm ci` only when that key is new.
medplum_install() {
    local src=$SHARED/peers/medplum key dir
    key=$(sha256sum "$src/package-lock.json" | cut -c1-16)
    dir=$TMP_ROOT/medplum-npm-$key
    if [ ! -f "$dir/.installed" ]; then
        log "bench: npm ci for the Medplum peer (cached in ${dir#$ROOT/})"
        rm -rf "$dir"; mkdir -p "$dir"
        cp "$src/package.json" "$src/package-lock.json" "$dir/"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) || { rm -rf "$dir"; return 1; }
        touch "$dir/.installed"
    fi
    printf '%s\n' "$dir"
}

# start_medplum -> sets MEDPLUM_PID, MEDPLUM_BASE, MEDPLUM_LOG. Runs the peer's
# own start.sh from a fresh copy of its folder, node_modules linked from the cache.
start_medplum() {
    local npmdir run port
    npmdir=$(medplum_install) || return 1
    bench_tmpdir run medplum-run
    cp -r "$SHARED/peers/medplum/." "$run/"
    rm -rf "$run/node_modules" "$run/server.pid" "$run/server.log"
    ln -s "$npmdir/node_modules" "$run/node_modules"
    port=$(free_port)
    (cd "$run" && PORT=$port HOST=127.0.0.1 ./start.sh >/dev/null 2>&1) || true
    [ -f "$run/server.pid" ] || { cat "$run/server.log" >&2 2>/dev/null; return 1; }
    MEDPLUM_PID=$(cat "$run/server.pid")
    _BENCH_PIDS+=("$MEDPLUM_PID")
    MEDPLUM_BASE="http://127.0.0.1:$port/fhir/R4"
    MEDPLUM_LOG="$run/server.log"
    wait_http "$MEDPLUM_BASE/metadata" 60 "$MEDPLUM_PID" || { cat "$run/server.log" >&2; return 1; }
}

stop_pid() {                         # stop_pid PID: SIGTERM, wait, SIGKILL
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

machine_info() {                     # one line: arch, CPU, cores, memory
    local cpu mem
    cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
    mem=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
    printf '%s, %s, %s cores, %s RAM, %s' "$(uname -m)" "${cpu:-unknown CPU}" "$(nproc)" "$mem" "$(uname -sr)"
}

busy_pct() {                         # busy_pct SECONDS: CPU used by everything, in % of one core
    local a0 a1 hz
    hz=$(getconf CLK_TCK)
    a0=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat)
    sleep "$1"
    a1=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat)
    awk -v d="$((a1 - a0))" -v hz="$hz" -v s="$1" 'BEGIN {printf "%.0f\n", 100 * d / hz / s}'
}

wait_quiet() {                       # wait_quiet MAXSECONDS: until the machine idles (< 25% of a core)
    local i b
    for i in $(seq 1 "$1"); do
        b=$(busy_pct 1)
        [ "$b" -lt 25 ] && { printf '%s\n' "$b"; return 0; }
        [ "$i" = 1 ] && log "bench: the machine is busy (${b}% of a core used by other processes); waiting up to $1 s for it to calm down"
    done
    printf '%s\n' "$b"
}

fs_of() { findmnt -no FSTYPE,SOURCE -T "$1" 2>/dev/null | awk '{print $1 " on " $2}'; }
