#!/usr/bin/env bash
# usage: setup.sh SEQUELIZE_GIT_DIR PLUGIN_DIR
# Prepares $SEQSUITE (default ${TMPDIR:-/tmp}/sequelize-suite) for run.sh / run-suite.sh:
#   $SEQSUITE/sequelize  a clone of SEQUELIZE_GIT_DIR (a clone or mirror of sequelize/sequelize) at
#                        v6.37.8, npm-installed and built; an existing clone is reused (install and
#                        build only when missing), and the drivers the three dialects need (pg,
#                        pg-hstore, mysql2, mariadb: the ranges in its devDependencies) are installed
#                        into it with `npm install --no-save` when missing. MYSQL2_VERSION=3 (say)
#                        installs that mysql2 instead (the plugin's peer range is mysql2 ^3).
#   $SEQSUITE/plugin     PLUGIN_DIR's dist/ and package.json (build the plugin first), with
#                        node_modules links to the clone's sequelize and drivers. When PLUGIN_DIR is
#                        $SEQSUITE/plugin itself, its dist is kept as it is and only the links made.
# The harness scripts are not copied: run them from this folder; results land in $SEQSUITE.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"
[ $# -eq 2 ] || { sed -n '2,13p' "$0"; exit 64; }
git_dir="$1"; plugin_src="$(cd "$2" && pwd -P)"
TAG=v6.37.8
mkdir -p "$SEQSUITE"
SEQ="$SEQSUITE/sequelize"
if [ ! -d "$SEQ/.git" ]; then
  git clone -q "$git_dir" "$SEQ"
fi
cd "$SEQ"
want="$(git rev-parse "$TAG^{commit}")"
if [ "$(git rev-parse HEAD)" != "$want" ]; then
  git checkout -q "$TAG"; rm -f "$SEQSUITE/.sequelize-built"
fi
if [ ! -x node_modules/.bin/mocha ]; then
  echo "setup: npm install in $SEQ (a few minutes)" >&2
  npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
fi
# drivers: present, or installed from the range in sequelize's devDependencies
# (read package.json from disk: mysql2 2.x's "exports" hides it from require)
ver() { node -p "try { require('./node_modules/$1/package.json').version } catch { '' }"; }
for pkg in pg pg-hstore mysql2 mariadb; do
  range="$(node -p "require('./package.json').devDependencies['$pkg']")"
  [ "$pkg" = mysql2 ] && [ -n "${MYSQL2_VERSION:-}" ] && range="$MYSQL2_VERSION"
  have="$(ver "$pkg")"
  if [ -z "$have" ] || ! node -e "process.exit(require('semver').satisfies('$have', '$range') ? 0 : 1)"; then
    echo "setup: npm install --no-save $pkg@$range (had: ${have:-none})" >&2
    npm install --no-save --ignore-scripts --no-audit --no-fund --loglevel=error "$pkg@$range" >/dev/null
  fi
done
# build lib/ unless it is there and built from this commit (an existing clone's lib/ is trusted once)
if [ ! -f lib/index.js ] || { [ -f "$SEQSUITE/.sequelize-built" ] && [ "$(cat "$SEQSUITE/.sequelize-built")" != "$want" ]; }; then
  node build.js >/dev/null
fi
echo "$want" > "$SEQSUITE/.sequelize-built"

P="$SEQSUITE/plugin"
mkdir -p "$P"
if [ "$plugin_src" != "$(cd "$P" && pwd -P)" ]; then
  [ -f "$plugin_src/dist/index.js" ] || { echo "no $plugin_src/dist/index.js: build the plugin first" >&2; exit 1; }
  rm -rf "$P" && mkdir -p "$P"
  cp -r "$plugin_src/dist" "$plugin_src/package.json" "$P/"
fi
mkdir -p "$P/node_modules"
ln -sfn "$SEQ" "$P/node_modules/sequelize"
for pkg in pg pg-hstore mysql2 mariadb; do ln -sfn "$SEQ/node_modules/$pkg" "$P/node_modules/$pkg"; done

printf "setup: sequelize %s (%s) at %s; drivers:" "$TAG" "$want" "$SEQ"
for pkg in pg pg-hstore mysql2 mariadb; do printf ' %s@%s' "$pkg" "$(ver "$pkg")"; done
echo; echo "ready: export SEQSUITE=$SEQSUITE; $here/run.sh"
