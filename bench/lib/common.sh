# bench/lib/common.sh - shared helpers for the bench/*.sh benchmarks.
# Source it; it sets ROOT, TMP_ROOT, SHARED and registers cleanup on exit.
# Every server started through start_bron / start_medplum is killed on exit,
# every PostgreSQL cluster from pg_start stopped, and every directory from
# bench_tmpdir removed.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
LIB_DIR="$BENCH_DIR/lib"
TMP_ROOT="$BENCH_DIR/.tmp"          # git-ignored: npm cache and run dirs
mkdir -p "$TMP_ROOT"
BRON_BIN=${BRON_BIN:-$ROOT/bron}    # override only to try another build

bron_rev() {                         # the checkout's commit, and the binary when BRON_BIN is another
    local rev
    rev=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)
    if [ "$BRON_BIN" != "$ROOT/bron" ]; then rev+=" (binary $BRON_BIN)"; fi
    printf '%s\n' "$rev"
}

# The shared dir holds the peers; $BRON_SHARED wins, else ../shared.
SHARED=${BRON_SHARED:-$ROOT/../shared}
if [ -d "$SHARED" ]; then SHARED=$(cd "$SHARED" && pwd); fi

_BENCH_PIDS=()
_BENCH_DIRS=()
_BENCH_PG=()

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
    for d in "${_BENCH_PG[@]:-}"; do
        [ -n "$d" ] && "$ROOT/tests/pg/cluster.sh" stop "$d" >/dev/null 2>&1
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

CLK_TCK=$(getconf CLK_TCK)
cpu_all() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }   # busy ticks, all CPUs (no idle, iowait, steal)
cpu_pid() { awk '{print $14 + $15}' "/proc/$1/stat"; }                       # utime + stime ticks

# bron_crypt: the key arguments of serve/import/reindex/migrate. Encryption
# at rest is off by default (--unencrypted), so results stay comparable with
# the runs before it; BENCH_ENCRYPT=1 gives every store an owner's key
# (SQLite: every page encrypted; PostgreSQL: the bodies), made once in
# bench/.tmp/. start_bron adds them unless BRON_ACCESS names a key already.
bron_crypt() {
    if [ "${BENCH_ENCRYPT:-0}" = 1 ]; then
        [ -f "$TMP_ROOT/data.key" ] || "$BRON_BIN" keygen --data-key "$TMP_ROOT/data.key" >/dev/null ||
            die "bron keygen --data-key failed"
        printf '%s\n' --key-file "$TMP_ROOT/data.key"
    else
        printf '%s\n' --unencrypted
    fi
}

# bron_store STORE: the serve/import/reindex arguments for STORE, a data
# directory or a postgresql:// URL
bron_store() {
    case $1 in
        postgres://* | postgresql://*) printf '%s\n' --store "$1" ;;
        *) printf '%s\n' --data "$1" ;;
    esac
}

# start_bron STORE LOGFILE -> sets BRON_PID, BRON_BASE. STORE: a data
# directory or a postgresql:// URL. Retried on another port when the one it
# picked was taken meanwhile (other sessions on this machine open ports too).
start_bron() {
    local logf=$2 port where crypt=()
    [ -x "$BRON_BIN" ] || die "$BRON_BIN is not built (run make)"
    mapfile -t where < <(bron_store "$1")
    case " ${BRON_ACCESS:-} " in
        *" --key-file "* | *" --unencrypted "*) ;;
        *) mapfile -t crypt < <(bron_crypt) ;;
    esac
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        # BRON_ACCESS: how requests are checked (default --open; bench/access.sh
        # gives --jwks FILE)
        # shellcheck disable=SC2086
        "$BRON_BIN" serve --bind 127.0.0.1 --port "$port" ${BRON_ACCESS:---open} "${where[@]}" "${crypt[@]}" >"$logf" 2>&1 &
        BRON_PID=$!
        _BENCH_PIDS+=("$BRON_PID")
        BRON_BASE="http://127.0.0.1:$port/fhir"
        wait_http "$BRON_BASE/metadata" 20 "$BRON_PID" && return 0
        grep -q 'cannot listen' "$logf" || break
        log "bench: port $port was taken; again"
    done
    cat "$logf" >&2; die "bron did not start"
}

# ---- PostgreSQL, Bron's second engine ------------------------------------------
# A throwaway cluster (tests/pg/cluster.sh) in a bench_tmpdir, on the same
# file system as the SQLite stores, durable as Bron's SQLite store is (every
# commit fsynced): fsync, synchronous_commit and full_page_writes at their
# defaults (on), with these settings for a 2-core machine with a few GB free
# (jit off, as usual for short OLTP queries: it made the unfiltered _sort
# ~70% slower).
PG_BENCH_CONF="shared_buffers = 256MB
wal_buffers = 16MB
effective_cache_size = 2GB
work_mem = 16MB
maintenance_work_mem = 256MB
max_wal_size = 2GB
random_page_cost = 1.1
jit = off"
# BENCH_PG_STATEMENTS=1 also loads pg_stat_statements (for finding slow spots)
if [ "${BENCH_PG_STATEMENTS:-0}" = 1 ]; then PG_BENCH_CONF+=$'\n'"shared_preload_libraries = 'pg_stat_statements'"; fi

# pg_start -> PG_DIR, PG_PM (the postmaster's pid), PG_VERSION; stopped on
# exit. Returns 1, saying why, when PostgreSQL is not installed or does not start.
pg_start() {
    local out
    bench_tmpdir PG_DIR pg
    if ! out=$(PG_DURABLE=1 PG_CONF=$PG_BENCH_CONF "$ROOT/tests/pg/cluster.sh" start "$PG_DIR" 2>&1); then
        log "bench: no PostgreSQL cluster: $(tail -3 <<<"$out")"
        return 1
    fi
    _BENCH_PG+=("$PG_DIR")
    PG_PM=$(head -1 "$PG_DIR/data/postmaster.pid")
    PG_VERSION=$(pg_sql postgres 'SHOW server_version' | awk '{print $1}')
}

pg_stop() { "$ROOT/tests/pg/cluster.sh" stop "$PG_DIR" >/dev/null; }
pg_sql() { "$ROOT/tests/pg/cluster.sh" psql "$PG_DIR" "$1" -Atq -c "$2"; }  # pg_sql DB SQL

# pg_newdb NAME: a fresh database NAME with Bron's schema (bron migrate);
# prints its URL
pg_newdb() {
    local url crypt
    "$ROOT/tests/pg/cluster.sh" createdb "$PG_DIR" "$1" >&2 || die "createdb $1 failed"
    url=$("$ROOT/tests/pg/cluster.sh" url "$PG_DIR" "$1")
    mapfile -t crypt < <(bron_crypt)
    "$BRON_BIN" migrate --store "$url" "${crypt[@]}" >/dev/null || die "bron migrate failed on $1"
    printf '%s\n' "$url"
}

# pg_log_lines: lines in the cluster's log so far; pg_log_errors LINES: the
# ERROR, FATAL and PANIC lines logged after the first LINES ("count: first")
pg_log_lines() { wc -l <"$PG_DIR/server.log"; }
pg_log_errors() {
    tail -n +$(( $1 + 1 )) "$PG_DIR/server.log" | { grep -E '(ERROR|FATAL|PANIC):' || true; } | cut -c1-300 |
        awk 'NR == 1 {f = $0} END {print NR (NR ? ": " f : "")}'
}

# pg_ticks: CPU ticks used so far by the cluster: the postmaster, its live
# children (backends, walwriter, autovacuum...) and the children it reaped
pg_ticks() {
    { sed 's/.*) //' "/proc/$PG_PM/stat" | awk '{print $12 + $13 + $14 + $15}'
      for c in $(pgrep -P "$PG_PM"); do sed 's/.*) //' "/proc/$c/stat" 2>/dev/null | awk '{print $12 + $13}'; done
    } | awk '{t += $1} END {print t + 0}'
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

# report NAME PRINTER: the text report of a benchmark on stdout and its dated
# section "## NAME, DATE" appended to $RESULTS (unless "-"), from DATE,
# MACHINE, SETUP, the arrays aims and notes, and `PRINTER text|md` (the tables)
report() {
    report_section text "$2" "$1 benchmark, $DATE"
    [ "$RESULTS" != "-" ] || return 0
    {
        [ -s "$RESULTS" ] || printf '# Benchmark results\n\nAppended by `make bench` (bench/run.sh); newest last. Figures drift between machines and runs; compare ratios measured in the same run.\n'
        report_section md "$2" "## $1, $DATE"
    } >>"$RESULTS"
    echo
    echo "appended to ${RESULTS#$ROOT/}"
}

report_section() {  # report_section text|md PRINTER TITLE
    local p="" sp="   " a n
    echo
    echo "$3"
    if [ "$1" = md ]; then p="- "; sp=" "; echo; fi
    echo "${p}machine: $MACHINE"
    echo "${p}setup:$sp$SETUP"
    echo
    "$2" "$1"
    echo
    for a in "${aims[@]}"; do echo "${p}aim: $a"; done
    for n in "${notes[@]}"; do echo "${p}note: $n"; done
}

# table md|text MDHEAD TEXTHEAD TEXTFMT ROW...: HEADs and ROWs are
# "|"-separated columns, as many as MDHEAD has (missing ones empty, extra ones
# left out). md: a Markdown table, figures right-aligned, the first column in
# backquotes when TABLE_CODE=1, the rule under the head TABLE_RULE if set;
# text: printf TEXTFMT (no newline) a line.
table() {
    local fmt=$1 mdhead=$2 texthead=$3 tfmt=$4 r i n line cols=()
    shift 4
    IFS='|' read -ra cols <<<"$mdhead"
    n=${#cols[@]}
    if [ "$fmt" = md ]; then
        echo "| ${mdhead//|/ | } |"
        line="|---"; for (( i = 1; i < n; i++ )); do line+="|---:"; done; echo "${TABLE_RULE:-$line|}"
    else
        IFS='|' read -ra cols <<<"$texthead"
        printf "$tfmt\n" "${cols[@]:0:n}"
    fi
    for r in "$@"; do
        IFS='|' read -ra cols <<<"$r"
        for (( i = ${#cols[@]}; i < n; i++ )); do cols[i]=; done
        if [ "$fmt" = md ]; then
            if [ "${TABLE_CODE:-0}" = 1 ]; then cols[0]="\`${cols[0]}\`"; fi
            line="|"; for (( i = 0; i < n; i++ )); do line+=" ${cols[i]} |"; done; echo "$line"
        else
            printf "$tfmt\n" "${cols[@]:0:n}"
        fi
    done
}
