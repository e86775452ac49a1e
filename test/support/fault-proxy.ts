/**
 * Deterministic fault-injection TCP proxy for tests.
 *
 * Sits between a client (pg / Sequelize) and a real PostgreSQL server and lets
 * a test break the connection in precisely the ways production networks do:
 * a reset, a clean close mid-statement, a reply that never comes back, a load
 * balancer that silently forgot the flow, a listener that refuses new
 * connections, or plain latency.
 *
 * It is deliberately byte-level and protocol-agnostic: faults are matched
 * against raw client→server chunks, which is enough for PostgreSQL because a
 * simple query ('Q' message) is written in one piece.
 *
 * Not a general-purpose proxy: there is no backpressure handling (test
 * traffic is tiny). A FIN from one side is relayed as a FIN (half-close) to the
 * other; an RST or local destroy on one side is also relayed as a FIN, since
 * Node cannot tell us more than "closed with an error".
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export type FaultAction =
  /**
   * Do not forward the matching chunk; RST the client and destroy the upstream
   * socket. Models a load balancer that silently forgot the connection.
   */
  | 'reset'
  /**
   * Forward the matching chunk to the server, then close the client socket
   * (FIN) and the upstream one. The statement may or may not run on the server
   * (in practice it does: the chunk is flushed before the upstream FIN).
   */
  | 'cut-after-send'
  /**
   * Forward the matching chunk; drop every reply byte; as soon as the first
   * reply bytes arrive (the statement has run) close both sockets. The
   * ambiguous write: it certainly ran, the client never learns the outcome.
   */
  | 'swallow-reply'
  /**
   * Forward the matching chunk, then black-hole its connection (see blackHoleAll()) once the
   * chunk reached the server: the statement runs, its answer goes nowhere, nothing is closed.
   */
  | 'black-hole-after-send';

export interface FaultProxyOptions {
  target: { host: string; port: number };
  /** Listen host, default '127.0.0.1'. */
  host?: string;
  /** Listen port, default 0 (a free port). */
  port?: number;
  /**
   * One-way latency added to data and to closes in both directions; order is
   * preserved. Default 0 = forward immediately. Fault-triggered RSTs are
   * immediate.
   */
  delayMs?: number;
  /**
   * Close a connection that has carried no data in either direction for this
   * long, like HAProxy's `timeout client` / `timeout server` (or a cloud load
   * balancer's idle timeout). The server side is closed at once; the client
   * learns by a FIN that travels through the delay like any other close, and
   * anything the client sends before that FIN arrives is answered with an RST
   * — the race that makes idle timeouts bite. Default 0 = never.
   */
  idleTimeoutMs?: number;
}

interface ArmedFault {
  match: string | RegExp;
  action: FaultAction;
  remaining: number;
}

/** Something a DelayLine hands to its sink: a chunk, or the peer's close. */
type Delivery = { kind: 'data'; chunk: Buffer; onDeliver?: (() => void) | undefined } | { kind: 'close' };

/**
 * One direction of a connection. Everything pushed in comes out `delayMs`
 * later in the same order, so a FIN can never overtake data sent before it.
 * A single timer per direction (rather than one per chunk) keeps ordering
 * trivially correct even if timers with equal deadlines were reordered.
 */
class DelayLine {
  private readonly queue: Array<{ due: number; item: Delivery }> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly delayMs: number,
    private readonly sink: (item: Delivery) => void,
  ) {}

  push(item: Delivery): void {
    if (this.delayMs <= 0) {
      this.sink(item);
      return;
    }
    this.queue.push({ due: Date.now() + this.delayMs, item });
    this.schedule();
  }

  /** Drop anything still in flight; used when the connection is torn down. */
  clear(): void {
    this.queue.length = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    const wait = Math.max(0, this.queue[0]!.due - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = Date.now();
      while (this.queue.length > 0 && this.queue[0]!.due <= now) {
        this.sink(this.queue.shift()!.item);
      }
      this.schedule();
    }, wait);
  }
}

/**
 * Close completely: FIN after pending writes, then release the fd so the proxy
 * never lingers on a peer that keeps its half open. Used for fault actions;
 * relayed FINs use a plain end() to keep half-close semantics.
 */
function finClose(socket: Socket): void {
  if (socket.destroyed) return;
  socket.end(() => socket.destroy());
}

/** Abort with RST. Only valid on a TCP socket that still has its handle. */
function rstClose(socket: Socket): void {
  if (socket.destroyed) return;
  socket.resetAndDestroy();
}

/** One proxied client connection and its upstream twin. */
class Link {
  readonly upstream: Socket;
  /** Set by forgetAll(): the client is no longer "known" to the proxy. */
  forgotten = false;
  /** cut-after-send: whatever the server still says is discarded. */
  dropReplies = false;
  /** swallow-reply armed: the first reply byte tears the link down. */
  killOnReply = false;
  /** Set by muteAll(): nothing passes either way, nothing closes; a black hole. */
  muted = false;
  /** Set by blackHoleAll(): muted, and out of reach of what happens later on the path (see there). */
  sealed = false;
  /** Closed by the idle timeout: the client's FIN is on its way, its data meets an RST. */
  idleClosed = false;
  /** Set by holdReplies(): what the server says (and its close) waits for the client's next send. */
  private held: Delivery[] | undefined;
  private heldClose = false;
  private upstreamConnected = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly toServer: DelayLine;
  private readonly toClient: DelayLine;

  constructor(
    readonly client: Socket,
    target: { host: string; port: number },
    delayMs: number,
    private readonly onClientData: (link: Link, chunk: Buffer) => void,
    idleTimeoutMs = 0,
    private readonly onIdleClose: () => void = () => {},
    private readonly onHeldClose: () => void = () => {},
  ) {
    this.toServer = new DelayLine(delayMs, (item) => this.deliver(this.upstream, item));
    this.toClient = new DelayLine(delayMs, (item) => this.deliver(this.client, item));

    // A proxy that dies on ECONNRESET would take the test run with it; every
    // socket gets a no-op error listener (the client's in onConnection) and
    // failures are handled via 'close'.
    this.upstream = connect({ host: target.host, port: target.port, allowHalfOpen: true });
    this.upstream.on('error', () => {});
    this.upstream.setNoDelay(true);
    client.setNoDelay(true);

    this.upstream.on('connect', () => {
      this.upstreamConnected = true;
    });
    if (idleTimeoutMs > 0) {
      this.idleTimer = setTimeout(() => this.idleClose(), idleTimeoutMs);
      // refresh() on every chunk restarts it without allocating a timer per chunk.
      client.on('data', () => this.idleTimer?.refresh());
      this.upstream.on('data', () => this.idleTimer?.refresh());
    }
    client.on('data', (chunk: Buffer) => this.onClientData(this, chunk));
    this.upstream.on('data', (chunk: Buffer) => this.onServerData(chunk));

    // 'end' (FIN) and 'close' (FIN, RST or local destroy) both just mean
    // "this side is gone"; the DelayLine delivers that to the peer in order.
    client.on('end', () => this.clientGone());
    client.on('close', () => this.clientGone());
    this.upstream.on('end', () => this.serverGone());
    this.upstream.on('close', () => this.serverGone());
  }

  /** Client→server bytes that passed fault matching. */
  forward(chunk: Buffer, onDeliver?: () => void): void {
    this.toServer.push({ kind: 'data', chunk, onDeliver });
  }

  /** Tell the server the client has gone (after any queued data). */
  closeUpstreamAfterQueue(): void {
    this.toServer.push({ kind: 'close' });
  }

  /** Immediate RST to the client; the server just sees its socket close. */
  reset(): void {
    if (this.sealed) return;
    this.teardownQueues();
    rstClose(this.client);
    this.upstream.destroy();
  }

  /** Immediate FIN to the client and the server. */
  cut(): void {
    if (this.sealed) return;
    this.teardownQueues();
    finClose(this.client);
    finClose(this.upstream);
  }

  get holding(): boolean {
    return this.held !== undefined;
  }

  hold(): void {
    this.held ??= [];
  }

  /** Passes on what was held back, in order, and stops holding. */
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const item of held) this.toClient.push(item);
  }

  forget(): void {
    if (this.sealed) return;
    this.forgotten = true;
    this.teardownQueues();
    this.upstream.destroy();
  }

  destroy(): void {
    this.teardownQueues();
    this.client.destroy();
    this.upstream.destroy();
  }

  private teardownQueues(): void {
    this.toServer.clear();
    this.toClient.clear();
    this.stopIdleTimer();
  }

  private stopIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  /** The idle timeout fired: hang up on the server now, on the client after the delay. */
  private idleClose(): void {
    this.idleTimer = undefined;
    if (this.idleClosed || this.forgotten || this.client.destroyed) return;
    this.idleClosed = true;
    this.onIdleClose();
    finClose(this.upstream);
    this.toClient.push({ kind: 'close' });
  }

  private onServerData(chunk: Buffer): void {
    if (this.killOnReply) {
      // The server has answered, so the statement ran. PostgreSQL buffers a
      // reply (up to 8 kB) until ReadyForQuery, i.e. after an autocommit
      // statement has committed; only a huge reply (e.g. big RETURNING)
      // could reach us before the commit. Inside an explicit transaction the
      // server will of course roll back once we hang up.
      this.destroy();
      return;
    }
    if (this.dropReplies || this.forgotten || this.muted || this.idleClosed) return;
    if (this.held) {
      this.held.push({ kind: 'data', chunk });
      return;
    }
    this.toClient.push({ kind: 'data', chunk });
  }

  private clientGone(): void {
    this.stopIdleTimer();
    if (this.forgotten) {
      // A forgotten flow that the client closes gets an RST, like the real
      // middlebox that no longer has state for it.
      rstClose(this.client);
      return;
    }
    this.toServer.push({ kind: 'close' });
  }

  private serverGone(): void {
    this.stopIdleTimer();
    // Forgotten links must stay silent towards the client; so must sealed ones.
    if (this.forgotten || this.sealed) return;
    // Couldn't reach the target at all: refuse the client the hard way.
    if (!this.upstreamConnected) {
      rstClose(this.client);
      return;
    }
    if (this.held) {
      // 'end' and 'close' both come here: hold the one close, count it once.
      if (this.heldClose) return;
      this.heldClose = true;
      this.held.push({ kind: 'close' });
      this.onHeldClose();
      return;
    }
    this.toClient.push({ kind: 'close' });
  }

  private deliver(to: Socket, item: Delivery): void {
    if (to.destroyed || to.writableEnded) return;
    if (item.kind === 'close') {
      // Half-close only: the other direction may still carry data (a reply
      // to the last request). Node's autoDestroy releases the socket once
      // both directions have ended.
      to.end();
      return;
    }
    to.write(item.chunk);
    item.onDeliver?.();
  }
}

export class FaultProxy {
  readonly host: string;
  readonly port: number;

  private target: { host: string; port: number };
  private readonly delayMs: number;
  private readonly idleTimeoutMs: number;
  private readonly links = new Set<Link>();
  /** Sockets refused by refuse(); tracked only so close() can wait for them. */
  private readonly refusedSockets = new Set<Socket>();
  private faults: ArmedFault[] = [];
  /** Refuse new connections until this time (ms since epoch); 0 = accepting. */
  private refuseUntil = 0;
  private accepted = 0;
  private refused = 0;
  private idleClosed = 0;
  private heldCloses = 0;
  /** The client-side ports of every connection accepted or refused, to tell whose a socket was. */
  private readonly clientPorts = new Set<number>();

  private constructor(
    private readonly server: Server,
    options: FaultProxyOptions,
    host: string,
    port: number,
  ) {
    this.target = { ...options.target };
    this.delayMs = options.delayMs ?? 0;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 0;
    this.host = host;
    this.port = port;
    server.on('connection', (socket) => this.onConnection(socket));
  }

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const host = options.host ?? '127.0.0.1';
    // allowHalfOpen: we decide when to send FIN (after the delay), not Node.
    const server = createServer({ allowHalfOpen: true });
    server.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === 'string') {
      throw new Error('FaultProxy: unexpected server address');
    }
    return new FaultProxy(server, options, host, address.port);
  }

  /** Currently open client connections. */
  get connectionCount(): number {
    return this.links.size;
  }

  /** Client connections proxied since start (refused ones are not counted). */
  get acceptedCount(): number {
    return this.accepted;
  }

  /** Client connections turned away with an RST while refuse() was active. */
  get refusedCount(): number {
    return this.refused;
  }

  /** Connections closed by `idleTimeoutMs` since start. */
  get idleClosedCount(): number {
    return this.idleClosed;
  }

  /** Servers' closes held back by holdReplies() since start. */
  get heldCloseCount(): number {
    return this.heldCloses;
  }

  /**
   * On every open connection, hold back what the server says from now on, its close included,
   * until the client next sends something; pass it on right after forwarding that. The client
   * sends its next statement before it can know that the server has hung up: the race a slow
   * network makes of an idle timeout (HAProxy's, pgbouncer's, PostgreSQL's), however slow the
   * machine. Wait for `heldCloseCount` to know the close happened. New connections are not held.
   */
  holdReplies(): void {
    for (const link of this.links) link.hold();
  }

  /** Did a client connect from this local port of 127.0.0.1 (to tell whose a socket was)? */
  servedClientPort(port: number): boolean {
    return this.clientPorts.has(port);
  }

  /** RST every open client connection and destroy the upstream sockets. */
  resetAll(): void {
    for (const link of this.links) link.reset();
  }

  /** FIN-close every open client connection and its upstream. */
  cutAll(): void {
    for (const link of this.links) link.cut();
  }

  /**
   * Silently forget every open connection: the client is told nothing now,
   * the server side is closed now, and the client's next write gets an RST.
   * This is the failure pools handle worst: the socket looks healthy until used.
   */
  forgetAll(): void {
    for (const link of this.links) link.forget();
  }

  /**
   * Mute every open connection: from now on nothing passes in either direction and nothing is
   * closed, like a network path that died without a word. Only a timeout notices.
   */
  muteAll(): void {
    for (const link of this.links) link.muted = true;
  }

  /**
   * Black-hole every open connection: muted, and deaf to what happens later on the proxy or the
   * server (a reset, cut or forget of all connections, a session terminated, a server restart):
   * the path to them is gone, as after a failover or a partition. Only closeStranded() ends them.
   */
  blackHoleAll(): void {
    for (const link of this.links) link.sealed = link.muted = true;
  }

  /**
   * FIN-close every connection muted or forgotten so far, as a TCP keepalive or a timeout would
   * end it at last: a statement stranded on one then fails instead of waiting forever. With
   * `keepSealed`, black holes (blackHoleAll()) stay: only the client can end those.
   */
  closeStranded({ keepSealed = false }: { keepSealed?: boolean } = {}): void {
    for (const link of this.links) {
      if ((!link.muted && !link.forgotten) || (keepSealed && link.sealed)) continue;
      link.sealed = false;
      link.cut();
    }
  }

  /**
   * The next `times` client→server chunks (on any connection) whose latin1
   * text contains / matches `match` trigger `action` on their connection.
   */
  arm(match: string | RegExp, action: FaultAction, opts: { times?: number } = {}): void {
    const times = opts.times ?? 1;
    if (!Number.isInteger(times) || times < 1) {
      throw new RangeError(`FaultProxy.arm: times must be a positive integer, got ${times}`);
    }
    this.faults.push({ match, action, remaining: times });
  }

  disarm(): void {
    this.faults = [];
  }

  /** Accept-then-RST new connections for `ms` ms, or until accept(). */
  refuse(ms?: number): void {
    this.refuseUntil = ms === undefined ? Number.POSITIVE_INFINITY : Date.now() + ms;
  }

  accept(): void {
    this.refuseUntil = 0;
  }

  /** New connections go to `target`; existing ones keep their upstream. */
  setTarget(target: { host: string; port: number }): void {
    this.target = { ...target };
  }

  /** Stop listening, destroy every socket, resolve once all are closed. */
  async close(): Promise<void> {
    const sockets: Socket[] = [...this.refusedSockets];
    for (const link of this.links) {
      sockets.push(link.client, link.upstream);
      link.destroy();
    }
    for (const socket of this.refusedSockets) socket.destroy();
    // The 'close' events that remove links fire asynchronously; clear now so
    // connectionCount is 0 as soon as close() resolves, whatever the order.
    this.links.clear();
    this.faults = [];
    const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.all([serverClosed, ...sockets.map(waitClosed)]);
  }

  private onConnection(client: Socket): void {
    client.on('error', () => {});
    if (client.remotePort !== undefined) this.clientPorts.add(client.remotePort);
    if (Date.now() < this.refuseUntil) {
      this.refused++;
      this.refusedSockets.add(client);
      client.on('close', () => this.refusedSockets.delete(client));
      rstClose(client);
      return;
    }
    this.accepted++;
    const link = new Link(
      client,
      this.target,
      this.delayMs,
      (l, chunk) => this.onClientData(l, chunk),
      this.idleTimeoutMs,
      () => this.idleClosed++,
      () => this.heldCloses++,
    );
    this.links.add(link);
    client.on('close', () => this.links.delete(link));
  }

  private onClientData(link: Link, chunk: Buffer): void {
    if (link.muted) return;
    // The proxy has no state for it any more: the kernel would answer with an RST.
    if (link.forgotten || link.idleClosed) {
      link.reset();
      return;
    }
    if (link.holding) {
      link.forward(chunk);
      link.release();
      return;
    }
    const fault = this.takeFault(chunk);
    if (!fault) {
      link.forward(chunk);
      return;
    }
    switch (fault) {
      case 'reset':
        link.reset();
        return;
      case 'cut-after-send':
        // The chunk and then a FIN travel to the server in order (through the
        // delay, if any), so the statement is flushed before the server sees
        // EOF. The client is cut right away and any reply is discarded.
        link.dropReplies = true;
        link.forward(chunk);
        link.closeUpstreamAfterQueue();
        finClose(link.client);
        return;
      case 'swallow-reply':
        // Only replies that arrive after the chunk reached the server belong
        // to it, so start watching on delivery, not on receipt.
        link.forward(chunk, () => {
          link.killOnReply = true;
        });
        return;
      case 'black-hole-after-send':
        link.forward(chunk, () => {
          link.sealed = link.muted = true;
        });
        return;
    }
  }

  /** Consume one use of the first armed fault matching this chunk, if any. */
  private takeFault(chunk: Buffer): FaultAction | undefined {
    if (this.faults.length === 0) return undefined;
    const text = chunk.toString('latin1');
    const index = this.faults.findIndex((f) =>
      // search() ignores lastIndex, so /g and /y patterns behave statelessly.
      typeof f.match === 'string' ? text.includes(f.match) : text.search(f.match) !== -1,
    );
    if (index === -1) return undefined;
    const fault = this.faults[index]!;
    if (--fault.remaining === 0) this.faults.splice(index, 1);
    return fault.action;
  }
}

function waitClosed(socket: Socket): Promise<void> {
  if (socket.closed) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}
