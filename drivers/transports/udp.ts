/**
 * UDP byte transports (VISCA over IP on 52381, raw VISCA over UDP).
 *
 * `UdpTransport` talks to one peer: the socket is bound (to `bindPort`, or an
 * ephemeral port) and connected to `host:port`, so the kernel drops datagrams
 * from anyone else. Message boundaries are kept: one write() is one datagram
 * and every datagram received is one `data` chunk. `up` is emitted once the
 * socket is bound and connected. There is no connection to lose: ICMP errors
 * (port unreachable, host unreachable) are logged and left to the driver's
 * reply timeouts; any other socket error (address in use, name lookup failed,
 * interface gone) emits `down` once per outage, closes the socket and binds a
 * new one with backoff.
 *
 * `UdpListener` is the other side, for simulators and tests: a socket bound
 * to `host:port` that answers whoever sent the last datagram.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { Backoff } from './backoff.js';
import { TransportDownError, TransportEmitter, type ByteTransport } from './types.js';
import { silentLogger, type Logger } from '../../edge/util/logger.js';

export interface UdpTransportOptions {
  host: string;
  port: number;
  /** Local port to bind (default: ephemeral). Some cameras answer only to a fixed port. */
  bindPort?: number;
  /** Re-bind backoff after a socket error (default 250 ms doubling to 10 s, ±20 % jitter). */
  reconnect?: { initialMs?: number; maxMs?: number };
  logger?: Logger;
}

/** Errors a connected UDP socket reports from ICMP: the peer is unreachable, the socket is fine. */
const PEER_UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN']);

function errorCode(err: Error): string | undefined {
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? code : undefined;
}

function socketType(host: string): 'udp4' | 'udp6' {
  return net.isIPv6(host) ? 'udp6' : 'udp4';
}

export class UdpTransport extends TransportEmitter implements ByteTransport {
  readonly description: string;
  private readonly opts: UdpTransportOptions;
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private socket: dgram.Socket | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private started = false;
  private up = false;
  private outageReported = false;
  private unreachableReported = false;

  constructor(opts: UdpTransportOptions) {
    super();
    this.opts = opts;
    this.description = `udp ${opts.host}:${opts.port}`;
    this.backoff = new Backoff({ initialMs: opts.reconnect?.initialMs ?? 250, maxMs: opts.reconnect?.maxMs ?? 10_000 });
    this.log = (opts.logger ?? silentLogger()).child({ transport: this.description });
  }

  get isUp(): boolean {
    return this.up;
  }

  /** The local port bound, once up (for tests and logs). */
  get localPort(): number | undefined {
    return this.up ? this.socket?.address().port : undefined;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.open();
  }

  async stop(): Promise<void> {
    this.started = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.closeSocket();
    if (this.up) {
      this.up = false;
      this.emit('down', undefined);
    }
    this.outageReported = false;
    this.backoff.reset();
  }

  async write(bytes: Uint8Array): Promise<void> {
    const socket = this.socket;
    if (!this.up || !socket) throw new TransportDownError(this.description);
    await new Promise<void>((resolve, reject) => {
      socket.send(Buffer.from(bytes), (err) => {
        if (!err) resolve();
        else if (PEER_UNREACHABLE.has(errorCode(err) ?? '')) reject(new Error(`${this.description}: peer unreachable (${errorCode(err)})`, { cause: err }));
        else reject(new Error(`${this.description}: send failed: ${err.message}`, { cause: err }));
      });
    });
  }

  private open(): void {
    if (!this.started || this.socket) return;
    const socket = dgram.createSocket({ type: socketType(this.opts.host) });
    this.socket = socket;
    socket.on('message', (msg: Buffer) => {
      if (socket !== this.socket || !this.up) return;
      if (this.unreachableReported) {
        this.unreachableReported = false;
        this.log.info('peer answers again');
      }
      this.emit('data', msg);
    });
    socket.on('error', (err: Error) => {
      if (socket !== this.socket) return;
      if (this.up && PEER_UNREACHABLE.has(errorCode(err) ?? '')) {
        if (!this.unreachableReported) {
          this.unreachableReported = true;
          this.log.warn({ err: err.message }, 'peer unreachable');
        }
        return;
      }
      this.failed(err);
    });
    socket.bind(this.opts.bindPort ?? 0, () => {
      if (socket !== this.socket) return;
      socket.connect(this.opts.port, this.opts.host, () => {
        if (socket !== this.socket) return;
        this.up = true;
        this.backoff.reset();
        this.log.info(this.outageReported ? 'socket is back' : 'socket bound');
        this.outageReported = false;
        this.emit('up');
      });
    });
  }

  private async closeSocket(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return;
    await new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }

  private failed(err: Error): void {
    const wasUp = this.up;
    this.up = false;
    void this.closeSocket();
    if (!this.outageReported) {
      this.outageReported = true;
      this.log.warn({ err: err.message }, wasUp ? 'socket failed; re-binding' : 'cannot bind; retrying');
      this.emit('down', err);
    } else {
      this.log.debug({ err: err.message, attempt: this.backoff.attempts }, 'still cannot bind');
    }
    if (this.retryTimer || !this.started) return;
    const delay = this.backoff.next();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.open();
    }, delay);
  }
}

export interface UdpListenerOptions {
  host?: string;
  /** Port to bind (default 0: ephemeral; read `port` after `listen()`). */
  port?: number;
}

/**
 * A UDP server end for simulators and tests: binds `host:port`, emits every
 * datagram as `data`, and sends writes to the peer that sent the last
 * datagram. Up once bound; a peer must speak first.
 */
export class UdpListener extends TransportEmitter implements ByteTransport {
  readonly description: string;
  private socket: dgram.Socket | undefined;
  private peer: { address: string; port: number } | undefined;
  private up = false;
  private boundPort = 0;

  constructor(private readonly opts: UdpListenerOptions = {}) {
    super();
    this.description = `udp listener ${opts.host ?? '127.0.0.1'}:${opts.port ?? 0}`;
  }

  get isUp(): boolean {
    return this.up;
  }

  /** The bound port (after listen()). */
  get port(): number {
    return this.boundPort;
  }

  /** The last peer heard from. */
  get lastPeer(): { address: string; port: number } | undefined {
    return this.peer;
  }

  start(): void {
    void this.listen();
  }

  /** Bind; resolves with the port. */
  async listen(): Promise<number> {
    if (this.socket) return this.boundPort;
    const host = this.opts.host ?? '127.0.0.1';
    const socket = dgram.createSocket({ type: socketType(host) });
    this.socket = socket;
    socket.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
      this.peer = { address: rinfo.address, port: rinfo.port };
      this.emit('data', msg);
    });
    socket.on('error', () => undefined); // ICMP errors from a vanished peer: nothing to do
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.opts.port ?? 0, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.boundPort = socket.address().port;
    this.up = true;
    this.emit('up');
    return this.boundPort;
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
    if (this.up) {
      this.up = false;
      this.emit('down', undefined);
    }
  }

  async write(bytes: Uint8Array): Promise<void> {
    const socket = this.socket;
    const peer = this.peer;
    if (!this.up || !socket) throw new TransportDownError(this.description);
    if (!peer) throw new Error(`${this.description}: no peer has sent anything yet`);
    await new Promise<void>((resolve, reject) => {
      socket.send(Buffer.from(bytes), peer.port, peer.address, (err) => (err ? reject(err) : resolve()));
    });
  }
}
