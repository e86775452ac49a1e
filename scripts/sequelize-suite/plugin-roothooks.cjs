'use strict';
/* global beforeEach, afterEach */
// mocha --file (plugin runs only): hooks.test.js wipes Sequelize's universal hooks
// (`Sequelize.options.hooks = {}`), which would drop the afterInit installer for every later
// instance. Re-register it before each test when it has been wiped, and check that the shared test
// instance has the plugin. After each test, fail it if the plugin refused an instance meanwhile
// (see with-plugin.cjs).
const path = require('path');
const { Sequelize } = require(path.join(process.env.SEQSUITE, 'sequelize'));
const { getReconnectStats } = require(path.join(process.env.SEQSUITE, 'plugin'));
const { installer, installErrors } = require('./with-plugin.cjs');
const Support = require(path.join(process.env.SEQSUITE, 'sequelize/test/support'));
let reAdded = 0,
  checked = 0,
  failedByInstall = 0;
beforeEach(function () {
  const hooks = (Sequelize.options.hooks && Sequelize.options.hooks.afterInit) || [];
  if (!hooks.some((h) => (h.fn || h) === installer)) {
    Sequelize.addHook('afterInit', installer);
    reAdded++;
  }
  getReconnectStats(Support.sequelize); // throws if the shared test instance lacks the plugin
  checked++;
});
afterEach(function () {
  const errors = installErrors.splice(0);
  if (errors.length === 0) return;
  failedByInstall++;
  // Hook#error: mocha fails the current test with it once the hook ends
  this.test.error(new Error(`[with-plugin] autoreconnect() refused ${errors.length} instance(s) created during this test: ${errors[0]}`));
});
process.on('exit', () =>
  console.error(
    `[plugin-roothooks] installer re-added ${reAdded} time(s); shared instance verified before ${checked} tests; ${failedByInstall} test(s) failed for a refused install`,
  ),
);
