'use strict';
/* global module */
// mocha --require (plugin runs only): installs sequelize-autoreconnect (default options, or SEQSUITE_PLUGIN_OPTIONS) on every
// Sequelize instance the tests create whose dialect the plugin supports (postgres, mysql, mariadb),
// through a universal afterInit hook; instances of other dialects (the unit suite builds some) are
// skipped and counted. Prints a summary line to stderr at exit.
// An instance the plugin refuses (`use()` throws, e.g. a test's fake dialectModule) is left without
// it and the error queued: plugin-roothooks.cjs fails the running test with it. (Rethrowing would
// not fail the test: Sequelize runs afterInit hooks async and never awaits them, so the throw
// becomes an unhandled rejection, which test/support.js turns into a process crash.
// SEQSUITE_INSTALL_ERRORS=throw restores that.)
const path = require('path');
const SEQ = path.join(process.env.SEQSUITE, 'sequelize');
const PLUGIN = path.join(process.env.SEQSUITE, 'plugin');
// the module tests get from require('sequelize') (package self-reference -> lib/index.js)
const { Sequelize } = require(SEQ);
const { autoreconnect, getReconnectStats } = require(PLUGIN);
// The plugin must patch the very copy of Sequelize the tests use.
const seen = require.resolve('sequelize', { paths: [path.join(PLUGIN, 'dist')] });
if (seen !== require.resolve(SEQ)) {
  throw new Error(`plugin resolves a different sequelize copy: ${seen} (tests use ${require.resolve(SEQ)})`);
}
const SUPPORTED = new Set(['postgres', 'mysql', 'mariadb']);
// SEQSUITE_PLUGIN_OPTIONS (JSON): the plugin's options, to run the suites with a setting that is off by default.
const pluginOptions = JSON.parse(process.env.SEQSUITE_PLUGIN_OPTIONS || '{}');
let count = 0,
  failedInstalls = 0;
const installErrors = []; // drained by plugin-roothooks.cjs after each test
const skipped = {};
const installsByDialect = {};
const instances = [];
function installer(s) {
  const dialect = s.getDialect();
  if (!SUPPORTED.has(dialect)) {
    skipped[dialect] = (skipped[dialect] || 0) + 1;
    return;
  }
  try {
    s.use(autoreconnect(pluginOptions));
    count++;
    installsByDialect[dialect] = (installsByDialect[dialect] || 0) + 1;
    instances.push(new WeakRef(s));
    if (count === 1)
      console.error(
        `[with-plugin] installed sequelize-autoreconnect on first instance (${dialect}); getReconnectStats keys: ${Object.keys(getReconnectStats(s)).join(',')}`,
      );
  } catch (e) {
    failedInstalls++;
    const message = String((e && e.message) || e);
    console.error(`[with-plugin] install failed (${dialect}): ${message}`);
    installErrors.push(message);
    if (process.env.SEQSUITE_INSTALL_ERRORS === 'throw') throw e;
  }
}
Sequelize.addHook('afterInit', installer);
// Count every instance constructed, to compare with installs (wrap the constructor-time runHooks call).
let constructed = 0;
const origRunHooks = Sequelize.runHooks;
Sequelize.runHooks = function (name, ...args) {
  if (name === 'afterInit') constructed++;
  return origRunHooks.call(this, name, ...args);
};
process.on('exit', () => {
  const agg = {};
  let alive = 0;
  for (const r of instances) {
    const s = r.deref();
    if (!s) continue;
    alive++;
    try {
      for (const [k, v] of Object.entries(getReconnectStats(s))) if (typeof v === 'number') agg[k] = (agg[k] || 0) + v;
    } catch {
      /* closed */
    }
  }
  console.error(
    `[with-plugin] constructed=${constructed} installs=${count} ${JSON.stringify(installsByDialect)} skipped=${JSON.stringify(skipped)} failedInstalls=${failedInstalls} (${installErrors.length} not attributed to a test) statsSummedOver${alive}LiveInstances=${JSON.stringify(agg)}`,
  );
});
module.exports = { installer, installErrors };
