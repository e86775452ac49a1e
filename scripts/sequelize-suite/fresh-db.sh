#!/usr/bin/env bash
# usage: fresh-db.sh DIALECT        (postgres | mariadb | mysql)
# Recreates the database sequelize_test for DIALECT; touches no other database.
# postgres: with the hstore, citext and btree_gist extensions and an "en_US" collation (an ICU copy:
# this server has no en_US OS locale), all inside sequelize_test (the suite leaves objects such as
# add_one() behind, hence a new database each time). PostGIS is not installed here: see README.
# mariadb/mysql (one MariaDB server for both): DROP/CREATE sequelize_test as root, plus two idempotent
# server-level steps the suites need (see README):
#   - the user sequelize_test@127.0.0.1 (password sequelize_test, Sequelize's test default) with
#     ALL PRIVILEGES on `sequelize\_test`.* only: the suites run as it, never as root;
#   - the time zone tables (mysql.time_zone*), loaded from /usr/share/zoneinfo when empty.
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
[ $# -eq 1 ] || { echo "usage: $0 DIALECT" >&2; exit 64; }
check_dialect "$1"
case "$1" in
  postgres)
    p() { PGOPTIONS='-c client_min_messages=warning' timeout 120 psql -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_ADMIN" "$@"; }
    p -c "DROP DATABASE IF EXISTS $TEST_DB WITH (FORCE)"
    p -c "CREATE DATABASE $TEST_DB"
    p -d "$TEST_DB" -c 'CREATE EXTENSION hstore; CREATE EXTENSION citext; CREATE EXTENSION btree_gist;'
    p -d "$TEST_DB" -c 'CREATE COLLATION public."en_US" FROM "en-US-x-icu"'
    ;;
  mariadb|mysql)
    # KILL any session of the test user still holding the database (a run killed by `timeout`)
    for id in $(my_admin -N -e "SELECT id FROM information_schema.processlist WHERE user='$MY_USER'"); do
      my_admin -e "KILL $id" 2>/dev/null || true
    done
    my_admin -e "DROP DATABASE IF EXISTS $TEST_DB; CREATE DATABASE $TEST_DB;"
    my_admin -e "CREATE USER IF NOT EXISTS '$MY_USER'@'$MY_HOST' IDENTIFIED BY '$MY_PW';
      GRANT ALL PRIVILEGES ON \`sequelize\\_test\`.* TO '$MY_USER'@'$MY_HOST';"
    if [ "$(my_admin -N -e 'SELECT COUNT(*) FROM mysql.time_zone_name')" = 0 ]; then
      echo "fresh-db: loading time zone tables from /usr/share/zoneinfo (one time, server-wide)" >&2
      mariadb-tzinfo-to-sql /usr/share/zoneinfo 2>/dev/null | MY_ADMIN_TIMEOUT=600 my_admin mysql
    fi
    ;;
esac
