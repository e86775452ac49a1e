# Sourced by the other scripts: where things are, and the database settings of each dialect.
# shellcheck shell=bash
HARNESS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export SEQSUITE="${SEQSUITE:-${TMPDIR:-/tmp}/sequelize-suite}"

# PostgreSQL: trust auth for postgres. MariaDB: root (empty password) only for fresh-db.sh's admin
# steps; the suites run as a user that can touch sequelize_test and nothing else (see README:
# the mariadb dialect's clearDatabase drops every database it can see, before and after each test).
PG_HOST="${SEQSUITE_PG_HOST:-127.0.0.1}"; PG_PORT="${SEQSUITE_PG_PORT:-5432}"; PG_ADMIN="${SEQSUITE_PG_ADMIN:-postgres}"
MY_HOST="${SEQSUITE_MY_HOST:-127.0.0.1}"; MY_PORT="${SEQSUITE_MY_PORT:-3306}"; MY_ADMIN="${SEQSUITE_MY_ADMIN:-root}"
MY_USER=sequelize_test; MY_PW=sequelize_test; TEST_DB=sequelize_test

DIALECTS_SUPPORTED="postgres mariadb mysql"

check_dialect() {
  case " $DIALECTS_SUPPORTED " in *" $1 "*) ;; *) echo "unknown dialect '$1' (one of: $DIALECTS_SUPPORTED)" >&2; exit 64 ;; esac
}

# Exports DIALECT and the SEQ_* variables test/config/config.js reads for it. The generic SEQ_HOST,
# SEQ_PORT, ... are cleared: test/support.js lets SEQ_PORT override every dialect's port.
dialect_env() {
  check_dialect "$1"
  unset SEQ_HOST SEQ_PORT SEQ_USER SEQ_PW SEQ_DB SEQ_LOG \
    POSTGRES_PORT_5432_TCP_ADDR POSTGRES_PORT_5432_TCP_PORT MYSQL_PORT_3306_TCP_ADDR MYSQL_PORT_3306_TCP_PORT \
    MARIADB_PORT_3306_TCP_ADDR MARIADB_PORT_3306_TCP_PORT
  export DIALECT="$1"
  case "$1" in
    postgres) export SEQ_PG_HOST="$PG_HOST" SEQ_PG_PORT="$PG_PORT" SEQ_PG_USER="$PG_ADMIN" SEQ_PG_DB="$TEST_DB" ;;
    mariadb)  export SEQ_MARIADB_HOST="$MY_HOST" SEQ_MARIADB_PORT="$MY_PORT" SEQ_MARIADB_USER="$MY_USER" SEQ_MARIADB_PW="$MY_PW" SEQ_MARIADB_DB="$TEST_DB" ;;
    mysql)    export SEQ_MYSQL_HOST="$MY_HOST" SEQ_MYSQL_PORT="$MY_PORT" SEQ_MYSQL_USER="$MY_USER" SEQ_MYSQL_PW="$MY_PW" SEQ_MYSQL_DB="$TEST_DB" ;;
  esac
}

# spec globs for a suite name
suite_specs() {
  case "$1" in
    integration) echo 'test/integration/**/*.test.[tj]s' ;;
    unit) echo 'test/unit/**/*.test.[tj]s' ;;
    *) echo "unknown suite '$1' (integration|unit)" >&2; return 64 ;;
  esac
}

my_admin() { timeout "${MY_ADMIN_TIMEOUT:-120}" mariadb --protocol=tcp -h "$MY_HOST" -P "$MY_PORT" -u "$MY_ADMIN" "$@"; }
