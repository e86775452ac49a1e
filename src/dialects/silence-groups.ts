import type { SessionVerdict, SilentSession } from './types';

/** Where a silent session lives: how its connection was made, its server's key, its session id there. */
export interface SessionAddress<O, I> {
  readonly origin: O;
  readonly server: string;
  readonly id: I;
}

/** The sessions of one server, asked about by one check connection. */
export interface ServerBatch<O, I> {
  readonly origin: O;
  readonly ids: I[];
  readonly started: Array<string | undefined>;
}

/**
 * A verdict for each silent session, one check connection per server: the sessions are grouped
 * by `address` (undefined: this one cannot be asked about, `unaskable` is its verdict), and each
 * server's batch is asked at once, all servers together. `askServer` gives the verdict of each of
 * its batch's sessions by position.
 */
export async function askByServer<O, I>(
  subjects: readonly SilentSession[],
  address: (connection: unknown) => SessionAddress<O, I> | undefined,
  unaskable: SessionVerdict,
  askServer: (batch: ServerBatch<O, I>) => Promise<(index: number) => SessionVerdict>,
): Promise<SessionVerdict[]> {
  const verdicts: SessionVerdict[] = subjects.map(() => unaskable);
  const batches = new Map<string, ServerBatch<O, I> & { positions: number[] }>();
  subjects.forEach(({ connection, started }, position) => {
    const found = address(connection);
    if (!found) return;
    const batch = batches.get(found.server);
    if (!batch) batches.set(found.server, { origin: found.origin, ids: [found.id], started: [started], positions: [position] });
    else {
      batch.ids.push(found.id);
      batch.started.push(started);
      batch.positions.push(position);
    }
  });
  await Promise.all(
    [...batches.values()].map(async (batch) => {
      const verdictOf = await askServer(batch);
      batch.positions.forEach((position, index) => (verdicts[position] = verdictOf(index)));
    }),
  );
  return verdicts;
}

/** A small number for each object (a driver's class): part of a server's key, so that two drivers' sessions are not asked about together. */
export function objectIds(): (value: object) => number {
  const ids = new WeakMap<object, number>();
  let next = 0;
  return (value) => {
    let id = ids.get(value);
    if (id === undefined) ids.set(value, (id = ++next));
    return id;
  };
}
