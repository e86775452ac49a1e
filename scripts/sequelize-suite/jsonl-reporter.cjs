'use strict';
/* global module */
// Mocha reporter: spec output on stdout, plus
//  - $EVENTS_JSONL: one JSON line per event as it happens (begin/pass/fail/hookfail/pending), so a
//    run that crashes the process still says which test was running;
//  - $RESULT_JSON, at the end of the run: stats, events, and every test in the tree with the state
//    mocha left it in ('notrun' = never ran, e.g. after a hook failure aborted its suite).
// Tests are identified by file, full title and n, the occurrence number of that title in that file
// (tree order), which events carry too: a test failed from an afterEach hook after it passed
// (Hook#error) has a pass and a fail event with the same n.
const fs = require('fs');
const realNow = Date.now; // tests fake Date (sinon): keep the real clock
const path = require('path');
const SEQ = path.join(process.env.SEQSUITE, 'sequelize');
const Mocha = require(path.join(SEQ, 'node_modules/mocha'));
const { Spec } = Mocha.reporters;
const { EVENT_TEST_BEGIN, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING, EVENT_RUN_END, EVENT_RUN_BEGIN } = Mocha.Runner.constants;

function fileOf(t) {
  const f = t.file || (t.parent && t.parent.file);
  return f ? path.relative(SEQ, f) : null;
}
function errInfo(err) {
  if (!err) return null;
  return {
    message: String(err.message || err).slice(0, 2000),
    name: err.name,
    code: err.code,
    stack: String(err.stack || '')
      .split('\n')
      .slice(0, 12)
      .join('\n'),
  };
}

class JsonlReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    const out = process.env.RESULT_JSON || path.join(process.env.SEQSUITE, 'result.json');
    const jsonl = process.env.EVENTS_JSONL;
    if (jsonl) fs.writeFileSync(jsonl, '');
    const events = [];
    const objs = []; // the runnable of each event, to number it at the end
    let t0;
    const push = (e, obj) => {
      if (obj) {
        events.push(e);
        objs.push(obj);
      }
      if (jsonl) fs.appendFileSync(jsonl, JSON.stringify({ ...e, at: realNow() }) + '\n');
    };
    runner.on(EVENT_RUN_BEGIN, () => {
      t0 = realNow();
    });
    runner.on(EVENT_TEST_BEGIN, (t) => push({ type: 'begin', title: t.fullTitle(), file: fileOf(t) }, null));
    runner.on(EVENT_TEST_PASS, (t) => push({ type: 'pass', title: t.fullTitle(), file: fileOf(t), duration: t.duration }, t));
    runner.on(EVENT_TEST_PENDING, (t) => push({ type: 'pending', title: t.fullTitle(), file: fileOf(t) }, t));
    runner.on(EVENT_TEST_FAIL, (t, err) =>
      push(
        { type: t.type === 'hook' ? 'hookfail' : 'fail', title: t.fullTitle(), file: fileOf(t), duration: t.duration, err: errInfo(err) },
        t,
      ),
    );
    runner.once(EVENT_RUN_END, () => {
      const all = [];
      const nth = new Map();
      const seen = new Map();
      const number = (t, file, title) => {
        const k = file + '\0' + title;
        const n = (seen.get(k) || 0) + 1;
        seen.set(k, n);
        nth.set(t, n);
        return n;
      };
      (function walk(s) {
        for (const t of s.tests) {
          const title = t.fullTitle(),
            file = fileOf(t);
          all.push({ title, file, n: number(t, file, title), state: t.state || (t.pending ? 'pending' : 'notrun') });
        }
        s.suites.forEach(walk);
      })(runner.suite);
      // hooks are not in the tree: number their failures in the order they happened
      events.forEach((e, i) => {
        e.n = nth.has(objs[i]) ? nth.get(objs[i]) : number(objs[i], e.file, e.title);
      });
      const meta = { dialect: process.env.DIALECT, mode: process.env.SEQSUITE_MODE || null, node: process.version };
      fs.writeFileSync(out, JSON.stringify({ meta, wallMs: realNow() - t0, stats: runner.stats, events, all }, null, 1));
    });
  }
}
module.exports = JsonlReporter;
