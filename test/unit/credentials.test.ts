import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionError, ConnectionRefusedError } from 'sequelize';
import { cachedCredentials, refreshCredentials, type Credentials, type ReconnectContext } from '../../src';
import { classifyConnectError } from '../../src/dialects/postgres/classify';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fetch that hands out `secret-1`, `secret-2`, ... after `latencyMs`, counting its calls. */
function source(latencyMs = 10) {
  let n = 0;
  return {
    get calls() {
      return n;
    },
    fetch: async (): Promise<Credentials> => {
      const value = { username: 'app', password: `secret-${++n}` };
      await sleep(latencyMs);
      return value;
    },
  };
}

/** The context the plugin builds: the dialect's classification of the error comes with it. */
function context(error: Error, phase: 'connect' | 'query' = 'connect'): ReconnectContext {
  const failure = phase === 'query' ? 'lost' : classifyConnectError(error) === 'auth' ? 'auth' : 'transient';
  return { error, attempt: 1, phase, failure, config: { username: 'app', password: 'stale' } };
}

const rejectedLogin = () =>
  new ConnectionError(Object.assign(new Error('password authentication failed for user "app"'), { code: '28P01', severity: 'FATAL' }));

describe('cachedCredentials', () => {
  it('twenty concurrent get() calls share one fetch', async () => {
    const s = source();
    const provider = cachedCredentials(s.fetch);
    const results = await Promise.all(Array.from({ length: 20 }, () => provider.get()));
    assert.equal(s.calls, 1);
    assert.equal(provider.fetches, 1);
    assert.ok(results.every((r) => r.password === 'secret-1'));
  });

  it('get() serves the cached value within ttlMs and fetches again after', async () => {
    const s = source(1);
    const provider = cachedCredentials(s.fetch, { ttlMs: 40 });
    assert.equal((await provider.get()).password, 'secret-1');
    assert.equal((await provider.get()).password, 'secret-1');
    await sleep(60);
    assert.equal((await provider.get()).password, 'secret-2');
    assert.equal(s.calls, 2);
  });

  it('without ttlMs, get() keeps the value until a refresh', async () => {
    const s = source(1);
    const provider = cachedCredentials(s.fetch, { minRefreshMs: 0 });
    await provider.get();
    await sleep(20);
    assert.equal((await provider.get()).password, 'secret-1');
    assert.equal((await provider.refresh()).password, 'secret-2');
    assert.equal((await provider.get()).password, 'secret-2');
  });

  it('a refresh just after get() fetches; twenty concurrent refresh() calls share that fetch; refreshes just after it reuse its result', async () => {
    const s = source();
    const provider = cachedCredentials(s.fetch, { minRefreshMs: 200 });
    await provider.get();
    // What get() cached may be the very secret just rotated away: a rejection fetches.
    const burst = await Promise.all(Array.from({ length: 20 }, () => provider.refresh()));
    assert.ok(burst.every((r) => r.password === 'secret-2'));
    assert.equal((await provider.refresh()).password, 'secret-2', 'a straggler within minRefreshMs');
    assert.equal(s.calls, 2);
    await sleep(220);
    assert.equal((await provider.refresh()).password, 'secret-3');
  });

  it('a refresh that brings back the rejected password is not shared: the next refresh fetches again', async () => {
    // A store that has not published the rotation yet hands out the old password once.
    const answers = ['old', 'new'];
    let calls = 0;
    const provider = cachedCredentials(async () => ({ password: answers[Math.min(calls++, answers.length - 1)]! }), {
      minRefreshMs: 10_000,
    });
    assert.equal((await provider.refresh('old')).password, 'old');
    assert.equal((await provider.refresh('old')).password, 'new', 'not pinned to the rejected value');
    assert.equal((await provider.refresh('new')).password, 'new', 'a straggler of the same burst: no fetch');
    assert.equal(calls, 2);
  });

  it('a failed fetch is shared by its waiters, not cached, and the next call fetches again', async () => {
    let calls = 0;
    const provider = cachedCredentials(async () => {
      calls++;
      await sleep(5);
      if (calls === 1) throw new Error('vault sealed');
      return { password: 'p' };
    });
    const first = await Promise.allSettled([provider.get(), provider.get(), provider.refresh()]);
    assert.deepEqual(
      first.map((r) => r.status === 'rejected' && (r.reason as Error).message),
      ['vault sealed', 'vault sealed', 'vault sealed'],
    );
    assert.deepEqual(await provider.get(), { password: 'p' });
    assert.equal(calls, 2);
  });

  it('rejects a fetch result without a string password, without echoing it', async () => {
    const provider = cachedCredentials(async () => ({ password: 12345 }) as unknown as Credentials);
    await assert.rejects(provider.get(), (e: Error) => e instanceof TypeError && !e.message.includes('12345'));
  });

  it('validates its arguments', () => {
    assert.throws(() => cachedCredentials('vault' as never), TypeError);
    assert.throws(() => cachedCredentials(async () => ({ password: 'p' }), { ttlMs: -1 }), /ttlMs/);
    assert.throws(() => cachedCredentials(async () => ({ password: 'p' }), { minRefreshMs: Number.NaN }), /minRefreshMs/);
  });

  it('refuses an unknown option, naming it and the one meant, rather than keeping the default', () => {
    const fetch = async () => ({ password: 'p' });
    assert.throws(
      () => cachedCredentials(fetch, { ttl: 1000 } as never),
      (e: Error) =>
        e instanceof TypeError &&
        e.message === 'cachedCredentials: unknown option `ttl` (did you mean `ttlMs`?); known options: ttlMs, minRefreshMs',
    );
    assert.throws(() => cachedCredentials(fetch, { leaseSeconds: 60 } as never), /unknown option `leaseSeconds`; known options/);
    assert.throws(() => cachedCredentials(fetch, 1000 as never), /`options` must be an object/);
  });
});

describe('refreshCredentials (a beforeReconnect hook)', () => {
  it('on a rejected login, sets the refreshed username and password on the next connection config', async () => {
    const s = source(1);
    const hook = refreshCredentials(cachedCredentials(s.fetch));
    const ctx = context(rejectedLogin());
    await hook(ctx);
    assert.deepEqual(ctx.config, { username: 'app', password: 'secret-1' });
  });

  it('recognises pgbouncer\'s rejection (08P01 "password authentication failed")', async () => {
    const s = source(1);
    const hook = refreshCredentials(s.fetch);
    const ctx = context(
      new ConnectionError(Object.assign(new Error('password authentication failed'), { code: '08P01', severity: 'FATAL' })),
    );
    await hook(ctx);
    assert.equal(ctx.config.password, 'secret-1');
  });

  it('keeps the configured username when the credentials carry none (an IAM token)', async () => {
    const hook = refreshCredentials(async () => ({ password: 'token' }));
    const ctx = context(rejectedLogin());
    await hook(ctx);
    assert.deepEqual(ctx.config, { username: 'app', password: 'token' });
  });

  it('leaves other reconnects alone: a refused connection, a lost query', async () => {
    const s = source(1);
    const hook = refreshCredentials(s.fetch);
    const refused = context(
      new ConnectionRefusedError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) as never),
    );
    const lostQuery = context(new Error('Connection terminated unexpectedly'), 'query');
    await hook(refused);
    await hook(lostQuery);
    assert.equal(s.calls, 0);
    assert.equal(refused.config.password, 'stale');
  });

  it('passes the refused password to refresh(), so a store lagging behind the rotation is asked again', async () => {
    const answers = ['stale', 'rotated'];
    let calls = 0;
    const hook = refreshCredentials(async () => ({ password: answers[Math.min(calls++, 1)]! }));
    const first = context(rejectedLogin());
    first.config.password = 'stale';
    await hook(first);
    assert.equal(first.config.password, 'stale');
    const second = context(rejectedLogin());
    second.config.password = 'stale';
    await hook(second);
    assert.equal(second.config.password, 'rotated');
  });

  it('twenty concurrent rejected logins fetch once', async () => {
    const s = source();
    const hook = refreshCredentials(s.fetch);
    const contexts = Array.from({ length: 20 }, () => context(rejectedLogin()));
    await Promise.all(contexts.map(hook));
    assert.equal(s.calls, 1);
    assert.ok(contexts.every((c) => c.config.password === 'secret-1'));
  });

  it('refuses what is neither a provider nor a function', () => {
    assert.throws(() => refreshCredentials({} as never), TypeError);
  });
});
