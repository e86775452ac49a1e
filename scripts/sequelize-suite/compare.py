#!/usr/bin/env python3
"""Compare two result files of run-suite.sh test by test.

  compare.py A.json B.json                 counts, then every test whose state differs (with both
                                           errors), differing hook failures, and tests failing in
                                           both with different messages (connection ids ignored)
  compare.py --summary NAME A.json [B.json]  one line: counts of A (and B) and how many tests differ
  compare.py --summary-plugin NAME B.json     one line: counts of a plugin run alone

A missing result file means mocha crashed or was killed: it is reported as CRASHED, with the test
that was running (from the events-*.jsonl file next to it). Exit status: 0 same, 1 states differ,
2 a result file is missing.
"""
import json, os, re, sys
from collections import Counter

# per-connection ids in driver messages ("(conn=48, no: 1044, ..." from the mariadb connector)
NOISE = [(re.compile(r'\bconn(=|:)\s*-?\d+'), r'conn\1N'), (re.compile(r'\bthreadId(=|:)\s*\d+'), r'threadId\1N')]


# test titles built from new Date() (where.test.js): the time is not part of the test's identity
TITLE_NOISE = [(re.compile(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z'), '<now>')]


def norm_title(title):
    for rx, rep in TITLE_NOISE:
        title = rx.sub(rep, title)
    return title


def norm(msg):
    for rx, rep in NOISE:
        msg = rx.sub(rep, msg)
    return msg


def events_path(result_path):
    d, b = os.path.split(result_path)
    return os.path.join(d, 'events-' + b[len('result-'):-len('.json')] + '.jsonl') if b.startswith('result-') and b.endswith('.json') else None


def crash_info(result_path):
    """What the streamed events say about a run that wrote no result file."""
    p = events_path(result_path)
    if not p or not os.path.exists(p):
        return 'no result file and no events file (mocha never started?)'
    evs = []
    for line in open(p):
        try:
            evs.append(json.loads(line))
        except ValueError:
            pass
    c = Counter(e['type'] for e in evs if e['type'] != 'begin')
    last = next((e for e in reversed(evs) if e['type'] == 'begin'), None)
    done = last is not None and any(e['type'] != 'begin' and e['title'] == last['title'] for e in evs[evs.index(last):])
    where = f"last test started: [{last['file']}] {last['title']}" + (' (finished)' if done else ' (never finished)') if last else 'no test started'
    return f"no result file; before the crash: {dict(c)}; {where}"


def load(path):
    return json.load(open(path)) if os.path.exists(path) else None


def key(file, title, n):
    # duplicate titles within a file are told apart by occurrence number (#n)
    return (file, title + ('' if n == 1 else f' #{n}'))


def idx(d):
    """{key: state} for every test, {key: error message} for every failure (hooks included).
    key = (file, normalized title [+ ' #n' for the n-th test with that title in that file])."""
    st, keymap, seen, raw_seen = {}, {}, Counter(), Counter()
    for t in d['all']:
        nt = norm_title(t['title'])
        seen[(t['file'], nt)] += 1
        raw_seen[(t['file'], t['title'])] += 1
        k = key(t['file'], nt, seen[(t['file'], nt)])
        st[k] = t['state']
        keymap[(t['file'], t['title'], t.get('n', raw_seen[(t['file'], t['title'])]))] = k
    errs, raw_seen = {}, Counter()
    for e in d['events']:
        k0 = (e['file'], e['title'])
        if e['type'] in ('pass', 'fail', 'hookfail'):
            raw_seen[k0] += 1  # older result files carry no n: count as before
        if e['type'] in ('fail', 'hookfail'):
            n = e.get('n', raw_seen[k0])
            k = keymap.get((e['file'], e['title'], n)) or key(e['file'], norm_title(e['title']), n)
            errs[k] = (e['err'] or {}).get('message', '')
    return st, errs


def counts(d):
    st, _ = idx(d)
    c = Counter(st.values())
    hooks = sum(1 for e in d['events'] if e['type'] == 'hookfail')
    s = f"passed={c.get('passed', 0)} failed={c.get('failed', 0)} pending={c.get('pending', 0)}"
    if c.get('notrun'):
        s += f" notrun={c['notrun']}"
    if hooks:
        s += f" hookfails={hooks}"
    return s


def differing(A, B):
    sa, _ = idx(A); sb, _ = idx(B)
    return [k for k in sorted(set(sa) | set(sb)) if sa.get(k, 'absent') != sb.get(k, 'absent')]


def one(msg):
    return (msg or '').replace('\n', ' | ')


def summary(name, a_path, b_path=None, a_label='bare'):
    A = load(a_path); B = load(b_path) if b_path else None
    parts = [f"{name}:", a_label + ' ' + (counts(A) if A else 'CRASHED')]
    if b_path:
        parts.append('| plugin ' + (counts(B) if B else 'CRASHED'))
    rc = 0
    if A is None or (b_path and B is None):
        rc = 2
        parts.append('| differ=n/a')
    elif B is not None:
        n = len(differing(A, B))
        parts.append(f'| differ={n}')
        rc = 1 if n else 0
    print(' '.join(parts))
    for label, p, d in ((a_label, a_path, A), ('plugin', b_path, B)):
        if p and d is None:
            print(f'    {label} CRASHED: {crash_info(p)}')
    return rc


def detail(a_path, b_path):
    A, B = load(a_path), load(b_path)
    for p, d in ((a_path, A), (b_path, B)):
        if d is None:
            print(f'CRASHED {p}: {crash_info(p)}')
    if A is None or B is None:
        return 2
    sa, ea = idx(A); sb, eb = idx(B)
    for name, d in (('A ' + a_path, A), ('B ' + b_path, B)):
        print(name, counts(d), 'mocha stats:', {k: d['stats'].get(k) for k in ('tests', 'passes', 'failures', 'pending', 'duration')})
    diff = differing(A, B)
    print(f'\n== state differs (A -> B): {len(diff)} ==')
    for k in diff:
        print(f"{sa.get(k, 'absent')} -> {sb.get(k, 'absent')}: [{k[0]}] {k[1]}")
        if k in ea: print('   A err:', one(ea[k])[:400])
        if k in eb: print('   B err:', one(eb[k])[:400])
    print('\n== hook failures in one run only ==')
    ha = {k for k in ea if k not in sa}; hb = {k for k in eb if k not in sb}
    for k in sorted(ha ^ hb):
        print('A' if k in ha else 'B', 'only:', k, one(ea.get(k) or eb.get(k))[:300])
    print('\n== failing in both, different message ==')
    for k in sorted(set(ea) & set(eb)):
        if norm(ea[k]) != norm(eb[k]):
            print(k, '\n   A:', one(ea[k])[:200], '\n   B:', one(eb[k])[:200])
    return 1 if diff else 0


if __name__ == '__main__':
    args = sys.argv[1:]
    if args and args[0] == '--summary-plugin' and len(args) == 3:
        sys.exit(summary(args[1], args[2], None, 'plugin'))
    if args and args[0] == '--summary' and len(args) in (3, 4):
        sys.exit(summary(*args[1:]))
    if len(args) == 2:
        sys.exit(detail(*args))
    print(__doc__, file=sys.stderr)
    sys.exit(64)
