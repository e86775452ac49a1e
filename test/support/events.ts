import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Sequelize } from 'sequelize';
import { channels, type ReconnectEvents } from '../../src';

export type EventKey = keyof ReconnectEvents;
export interface Recorded<K extends EventKey = EventKey> {
  readonly key: K;
  readonly payload: ReconnectEvents[K];
}

/** What a subscriber on every channel saw of one instance, in order. */
export interface EventLog {
  readonly events: Recorded[];
  readonly keys: () => EventKey[];
  /** The payloads of one channel. */
  of<K extends EventKey>(key: K): ReconnectEvents[K][];
  /** Resolves once an event of `key` was published (at once if one was); fails after `ms`. */
  next<K extends EventKey>(key: K, ms?: number): Promise<ReconnectEvents[K]>;
  stop(): void;
}

/** Subscribes to every channel and keeps the events of `sequelize` (another instance's are left out). */
export function recordEvents(sequelize: Sequelize): EventLog {
  const events: Recorded[] = [];
  const waiters: { key: EventKey; resolve: (p: unknown) => void }[] = [];
  const handlers = (Object.keys(channels) as EventKey[]).map((key) => {
    const handler = (message: unknown) => {
      const payload = message as ReconnectEvents[EventKey];
      if (payload.sequelize !== sequelize) return;
      events.push({ key, payload });
      for (const w of waiters.splice(0)) {
        if (w.key === key) w.resolve(payload);
        else waiters.push(w);
      }
    };
    subscribe(channels[key], handler);
    return { key, handler };
  });
  const of = <K extends EventKey>(key: K) => events.filter((e) => e.key === key).map((e) => e.payload as ReconnectEvents[K]);
  return {
    events,
    keys: () => events.map((e) => e.key),
    of,
    next: <K extends EventKey>(key: K, ms = 10_000) => {
      const seen = of(key)[0];
      if (seen) return Promise.resolve(seen);
      return new Promise<ReconnectEvents[K]>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${key} event within ${ms} ms`)), ms);
        waiters.push({
          key,
          resolve: (p) => {
            clearTimeout(timer);
            resolve(p as ReconnectEvents[K]);
          },
        });
      });
    },
    stop: () => {
      for (const { key, handler } of handlers) unsubscribe(channels[key], handler);
    },
  };
}

/** Every payload as JSON (the instance left out): never the password, never the user name. */
export function assertNoSecret(log: EventLog, ...secrets: string[]): void {
  for (const { key, payload } of log.events) {
    const json = JSON.stringify(payload, (k, v: unknown) => (k === 'sequelize' ? undefined : v));
    for (const secret of secrets) assert.ok(!json.includes(secret), `a ${key} event carries a secret: ${json}`);
  }
}

/** The events of `log` without those of `skip` (a sweep, say, that comes with every lost connection). */
export function keysWithout(log: EventLog, ...skip: EventKey[]): EventKey[] {
  return log.keys().filter((k) => !skip.includes(k));
}
