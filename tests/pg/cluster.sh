#!/bin/bash
# A throwaway PostgreSQL cluster for the tests (issue 6).
#   tests/pg/cluster.sh start DIR        initdb in DIR/data and start it, listening
#                                        only on a Unix socket in DIR (no TCP)
#   tests/pg/cluster.sh stop DIR         stop it (fast shutdown); DIR is kept
#   tests/pg/cluster.sh restart DIR      start a stopped cluster again
#   tests/pg/cluster.sh createdb DIR NAME
#   tests/pg/cluster.sh url DIR NAME     print the libpq URI of database NAME
#   tests/pg/cluster.sh psql DIR NAME [psql args...]
#   tests/pg/cluster.sh destroy DIR      stop it and remove DIR
#   tests/pg/cluster.sh standby PRIMARY DIR  a streaming replica of PRIMARY in DIR
#   tests/pg/cluster.sh crash DIR        stop it at once (immediate, no checkpoint)
#   tests/pg/cluster.sh promote DIR      promote a standby to primary
# DIR should be short (a Unix socket path must stay under ~100 bytes), e.g.
# DIR=$(mktemp -d /tmp/bron-pg.XXXXXX). The cluster trusts every local
# connection as user postgres and trades durability for speed (fsync off):
# it is for tests only. With PG_DURABLE=1 at the first start (initdb),
# fsync, synchronous_commit and full_page_writes keep their defaults (on), for
# the benchmarks; PG_CONF, if set then, is appended to postgresql.conf
# (settings such as shared_buffers; later lines win). initdb and postgres
# refuse to run as root, so as root they run as the postgres system user
# (DIR is chowned to it). The binaries are found under
# /usr/lib/postgresql/*/bin (Debian), or $PG_BINDIR.
# Writes DIR/bindir (the binaries' directory) for the test helpers.
set -u

die() {
	echo "tests/pg/cluster.sh: $*" >&2
	exit 1
}

bindir() {
	if [ -n "${PG_BINDIR:-}" ]; then
		[ -x "$PG_BINDIR/postgres" ] || die "PG_BINDIR=$PG_BINDIR has no postgres binary"
		echo "$PG_BINDIR"
		return
	fi
	local d best=""
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && [ -x "$d/postgres" ] && [ -x "$d/pg_ctl" ] && best="$d"
	done
	if [ -z "$best" ]; then
		d=$(command -v pg_config 2>/dev/null) && d=$("$d" --bindir 2>/dev/null) && [ -x "$d/initdb" ] && best="$d"
	fi
	[ -n "$best" ] || die "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb); install them with 'make deps' (apt-get install postgresql)"
	echo "$best"
}

# run a server-side binary: as the postgres user when we are root
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

need_dir() {
	[ -n "${1:-}" ] || die "no cluster directory given"
	[ -d "$1" ] || die "$1 is not a directory"
}

start() {
	local dir="$1" bin
	need_dir "$dir"
	dir=$(cd "$dir" && pwd)
	[ ${#dir} -lt 90 ] || die "cluster directory path too long for a Unix socket (${#dir} chars): $dir"
	bin=$(bindir) || exit 1
	echo "$bin" >"$dir/bindir"
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' system user to run the server as"
		chown postgres: "$dir" "$dir/bindir" || die "cannot chown $dir to postgres"
	fi
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync \
			>"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed in $dir/data"; }
		cat >>"$dir/data/postgresql.conf" <<EOF
# tests/pg/cluster.sh: a throwaway test cluster
listen_addresses = ''
unix_socket_directories = '$dir'
max_connections = 300
shared_buffers = 64MB
log_min_messages = warning
log_min_error_statement = panic
EOF
		if [ "${PG_DURABLE:-0}" = 1 ]; then
			echo "# PG_DURABLE=1: fsync, synchronous_commit, full_page_writes on (defaults)" >>"$dir/data/postgresql.conf"
		else
			printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n' >>"$dir/data/postgresql.conf"
		fi
		if [ -n "${PG_CONF:-}" ]; then printf '%s\n' "$PG_CONF" >>"$dir/data/postgresql.conf"; fi
	fi
	restart "$dir"
}

restart() {
	local dir="$1" bin
	need_dir "$dir"
	dir=$(cd "$dir" && pwd)
	bin=$(bindir) || exit 1
	as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >"$dir/pg_ctl.log" 2>&1 || {
		cat "$dir/pg_ctl.log" >&2
		tail -30 "$dir/server.log" >&2 2>/dev/null
		die "PostgreSQL did not start in $dir/data"
	}
	"$bin/pg_isready" -q -h "$dir" -U postgres -t 30 || die "PostgreSQL in $dir does not accept connections"
}

stop() {
	local dir="$1" bin
	need_dir "$dir"
	bin=$(bindir) || exit 1
	[ -f "$dir/data/postmaster.pid" ] || return 0
	as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || die "PostgreSQL in $dir did not stop"
}

# standby PRIMARY DIR: a streaming replica of the running cluster PRIMARY in
# DIR (pg_basebackup -R), listening on a socket in DIR, started read-only
standby() {
	local primary="$1" dir="$2" bin
	need_dir "$primary"
	need_dir "$dir"
	primary=$(cd "$primary" && pwd)
	dir=$(cd "$dir" && pwd)
	[ ${#dir} -lt 90 ] || die "cluster directory path too long for a Unix socket (${#dir} chars): $dir"
	bin=$(bindir) || exit 1
	echo "$bin" >"$dir/bindir"
	[ "$(id -u)" = 0 ] && { chown postgres: "$dir" "$dir/bindir" || die "cannot chown $dir to postgres"; }
	as_owner "$bin/pg_basebackup" -h "$primary" -U postgres -D "$dir/data" -R -X stream --no-sync \
		>"$dir/basebackup.log" 2>&1 || { cat "$dir/basebackup.log" >&2; die "pg_basebackup from $primary failed"; }
	echo "unix_socket_directories = '$dir'" >>"$dir/data/postgresql.conf"
	restart "$dir"
}

url() {
	local dir="$1" name="$2"
	dir=$(cd "$dir" && pwd)
	echo "postgresql:///$name?host=$dir&user=postgres"
}

case "${1:-}" in
start | stop | restart) [ $# = 2 ] || die "usage: $0 $1 DIR"; "$1" "$2" ;;
standby) [ $# = 3 ] || die "usage: $0 standby PRIMARY_DIR DIR"; standby "$2" "$3" ;;
crash)
	# stop at once, as a power cut would (no checkpoint)
	[ $# = 2 ] || die "usage: $0 crash DIR"
	need_dir "$2"
	as_owner "$(bindir)/pg_ctl" -D "$2/data" -m immediate -w -t 60 stop >/dev/null 2>&1 || die "PostgreSQL in $2 did not stop"
	;;
promote)
	[ $# = 2 ] || die "usage: $0 promote DIR"
	need_dir "$2"
	as_owner "$(bindir)/pg_ctl" -D "$2/data" -w -t 60 promote >/dev/null 2>&1 || die "the standby in $2 was not promoted"
	;;
createdb)
	[ $# = 3 ] || die "usage: $0 createdb DIR NAME"
	need_dir "$2"
	"$(bindir)/createdb" -h "$2" -U postgres "$3" || die "createdb $3 failed"
	;;
url) [ $# = 3 ] || die "usage: $0 url DIR NAME"; need_dir "$2"; url "$2" "$3" ;;
psql)
	[ $# -ge 3 ] || die "usage: $0 psql DIR NAME [args...]"
	need_dir "$2"
	d="$2" n="$3"
	shift 3
	"$(bindir)/psql" -h "$d" -U postgres -d "$n" -X -v ON_ERROR_STOP=1 "$@"
	;;
destroy)
	[ $# = 2 ] || die "usage: $0 destroy DIR"
	[ -d "$2" ] || exit 0
	stop "$2"
	rm -rf "$2"
	;;
*) die "usage: $0 start|stop|restart|standby|crash|promote|createdb|url|psql|destroy DIR [NAME]" ;;
esac
