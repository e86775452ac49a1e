import { subscribe } from 'node:diagnostics_channel';
import { channels } from '../../src';

/**
 * BENCH_SUBSCRIBE=1: a no-op subscriber on every one of the plugin's channels, to measure the
 * cost of publishing beside that of nothing subscribed (each child process calls this once).
 */
export function subscribeIfAsked(): void {
  if (process.env['BENCH_SUBSCRIBE'] !== '1') return;
  const ignore = (): void => {};
  for (const name of Object.values(channels)) subscribe(name, ignore);
}
