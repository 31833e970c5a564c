/**
 * A PJLink class 1 projector fake (tests and the demo room), written from
 * JBMIA "PJLink Specifications" Version 1.04 (2013-12-10):
 *  - every connection starts with `PJLINK 0` CR, or `PJLINK 1 <random>` CR
 *    when a password is set; the first command must then carry
 *    MD5(random + password), otherwise `PJLINK ERRA` CR and the connection is
 *    closed;
 *  - POWR 0/1/? (1 from standby -> 3 warm-up for `warmupMs` -> 1; 0 from on
 *    -> 2 cooling for `cooldownMs` -> 0; power-on while cooling and power-off
 *    while warming answer ERR3), INPT, AVMT (ERR3 unless the lamp is on),
 *    ERST, LAMP, INST, NAME, INF1, INF2, INFO, CLSS; unknown commands ERR1,
 *    bad parameters ERR2;
 *  - the connection is closed after `idleTimeoutMs` without a command (30 s
 *    by default, as Hitachi projectors do) or, with `closeAfterReply`, after
 *    every reply (as Panasonic's own LAN protocol does).
 *
 * It serves TCP (`listen()`, for real-socket tests and independent clients)
 * and/or the device end of an in-memory pair (`attach(end)`, for the demo
 * room's `sim` transport: each time the host end comes up is a connection;
 * the projector's own hang-ups - ERRA, idle timeout - are not visible to the
 * host there, and `closeAfterReply` is refused).
 *
 * Fault injection: `silent` (accepts connections, never answers), `fault`
 * (every command answered with ERRn), `failNext(command, code)` (once),
 * `rejectAuth` (ERRA whatever the digest), `state.errorStatus`.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { MemoryEnd } from '../transports/memory.js';
import type { ByteTransport } from '../transports/types.js';
import {
  decodePjlinkCommand,
  encodePjlinkGreeting,
  encodePjlinkResponse,
  PJLINK_ERRA_LINE,
  pjlinkDigest,
  type PjlinkErrorCode,
} from '../pjlink/codec.js';
import { PjlinkLineFramer } from '../pjlink/framer.js';

export interface PjlinkSimState {
  /** 0 standby, 1 lamp on, 2 cooling, 3 warm-up. */
  power: 0 | 1 | 2 | 3;
  /** Current input code, e.g. '31'. */
  input: string;
  videoMute: boolean;
  audioMute: boolean;
  /** ERST digits fan/lamp/temperature/cover/filter/other, e.g. '000000'. */
  errorStatus: string;
  lampHours: number;
  name: string;
}

export interface PjlinkSimOptions {
  password?: string;
  host?: string;
  port?: number;
  warmupMs?: number;
  cooldownMs?: number;
  idleTimeoutMs?: number;
  closeAfterReply?: boolean;
  replyDelayMs?: number;
  /** Input codes the projector has (INST), default 11 21 31 32 51. */
  inputs?: string[];
  initial?: Partial<PjlinkSimState>;
}

export interface PjlinkSimLine {
  /** The command line without its digest, e.g. '%1POWR 1'. */
  line: string;
  digest?: string;
}

interface Conn {
  write(bytes: Buffer): void;
  end(): void;
  readonly framer: PjlinkLineFramer;
  random?: string;
  authed: boolean;
  open: boolean;
  idle?: NodeJS.Timeout;
}

const AVMT_PARAMS = new Set(['10', '11', '20', '21', '30', '31']);
const INFO_QUERIES: Record<string, (s: PjlinkSim) => string> = {
  NAME: (s) => s.state.name,
  INF1: () => 'CLASSROOM-EDGE',
  INF2: () => 'PJLINK SIM',
  INFO: () => 'simulator',
  CLSS: () => '1',
  INST: (s) => s.inputs.join(' '),
};

export class PjlinkSim {
  readonly state: PjlinkSimState;
  readonly inputs: string[];
  /** Accept connections but never send anything (projector hung, or mains off behind a live switch port). */
  silent = false;
  /** Answer every command with this error (ERR4: lamp failure, ...). */
  fault: PjlinkErrorCode | null = null;
  /** Answer the authentication with ERRA whatever the digest. */
  rejectAuth = false;
  /** Every command line received, in order. */
  readonly received: PjlinkSimLine[] = [];
  /** Connections accepted so far. */
  connections = 0;
  /** Delay before each reply (a projector slower than the controller's timeout). */
  replyDelayMs: number;
  private readonly o: PjlinkSimOptions;
  private readonly failures = new Map<string, PjlinkErrorCode>();
  private readonly conns = new Set<Conn>();
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private transition: NodeJS.Timeout | undefined;
  private detachers: Array<() => void> = [];

  constructor(options: PjlinkSimOptions = {}) {
    this.o = options;
    this.inputs = options.inputs ?? ['11', '21', '31', '32', '51'];
    this.replyDelayMs = options.replyDelayMs ?? 0;
    this.state = {
      power: 0,
      input: this.inputs[0] ?? '31',
      videoMute: false,
      audioMute: false,
      errorStatus: '000000',
      lampHours: 1234,
      name: 'classroom projector',
      ...options.initial,
    };
  }

  /** Answer the next `command` (e.g. 'INPT') with `code`. */
  failNext(command: string, code: PjlinkErrorCode): void {
    this.failures.set(command.toUpperCase(), code);
  }

  async listen(): Promise<{ address: string; port: number }> {
    const server = net.createServer((socket) => {
      socket.setNoDelay(true);
      socket.on('error', () => undefined);
      this.sockets.add(socket);
      const conn = this.connect(
        (b) => {
          if (!socket.destroyed) socket.write(b);
        },
        () => socket.end(),
      );
      socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
      socket.on('close', () => {
        this.sockets.delete(socket);
        this.drop(conn);
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port ?? 0, this.o.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return this.address();
  }

  address(): { address: string; port: number } {
    const a = this.server?.address();
    if (!a || typeof a === 'string') throw new Error('PjlinkSim is not listening');
    return { address: a.address, port: a.port };
  }

  /** Serve the device end of an in-memory pair: each time the host end comes up is a new connection. */
  attach(end: ByteTransport): void {
    if (!(end instanceof MemoryEnd)) throw new Error('PjlinkSim.attach needs the device end of createMemoryPair()');
    if (this.o.closeAfterReply) throw new Error('PjlinkSim: closeAfterReply needs TCP (listen()); an in-memory pair cannot hang up');
    let conn: Conn | undefined;
    const onPeerUp = (): void => {
      if (conn) this.drop(conn);
      conn = this.connect(
        (b) => {
          if (end.isUp) end.write(b).catch(() => undefined);
        },
        // A pair has no connection to close: the host does not see this hang-up (it closes its
        // end after each exchange anyway); the projector just stops listening on this connection.
        () => undefined,
      );
    };
    const onPeerDown = (): void => {
      if (conn) this.drop(conn);
      conn = undefined;
    };
    const onData = (chunk: Buffer): void => {
      if (conn) this.onData(conn, chunk);
    };
    end.peer.on('up', onPeerUp);
    end.peer.on('down', onPeerDown);
    end.on('data', onData);
    end.start();
    if (end.peer.isUp) onPeerUp();
    this.detachers.push(() => {
      end.peer.off('up', onPeerUp);
      end.peer.off('down', onPeerDown);
      end.off('data', onData);
      if (conn) this.drop(conn);
    });
  }

  async close(): Promise<void> {
    clearTimeout(this.transition);
    for (const d of this.detachers.splice(0)) d();
    for (const c of [...this.conns]) {
      c.end();
      this.drop(c);
    }
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private connect(write: (b: Buffer) => void, end: () => void): Conn {
    this.connections++;
    const conn: Conn = { write, end, framer: new PjlinkLineFramer('projector'), authed: this.o.password === undefined, open: true };
    this.conns.add(conn);
    if (this.o.password !== undefined) conn.random = randomBytes(4).toString('hex');
    if (!this.silent) write(encodePjlinkGreeting(conn.random));
    this.touch(conn);
    return conn;
  }

  private drop(conn: Conn): void {
    conn.open = false;
    clearTimeout(conn.idle);
    this.conns.delete(conn);
  }

  private hangUp(conn: Conn): void {
    if (!conn.open) return;
    this.drop(conn);
    conn.end();
  }

  private touch(conn: Conn): void {
    clearTimeout(conn.idle);
    conn.idle = setTimeout(() => this.hangUp(conn), this.o.idleTimeoutMs ?? 30_000);
    conn.idle.unref();
  }

  private onData(conn: Conn, chunk: Buffer): void {
    if (!conn.open) return;
    for (const line of conn.framer.push(chunk).frames) {
      const cmd = decodePjlinkCommand(line);
      if (!cmd.ok || this.silent || !conn.open) continue;
      this.touch(conn);
      const c = cmd.value;
      this.received.push(c.digest === undefined ? { line } : { line: line.slice(32), digest: c.digest });
      if (!conn.authed || this.rejectAuth) {
        const ok = !this.rejectAuth && conn.random !== undefined && c.digest === pjlinkDigest(conn.random, this.o.password ?? '');
        if (!ok) {
          conn.write(PJLINK_ERRA_LINE);
          this.hangUp(conn);
          return;
        }
        conn.authed = true;
      }
      const reply = encodePjlinkResponse(c.cls, c.command, this.answer(c.cls, c.command, c.param));
      const send = (): void => {
        if (!conn.open) return;
        conn.write(reply);
        if (this.o.closeAfterReply) this.hangUp(conn);
      };
      if (this.replyDelayMs > 0) setTimeout(send, this.replyDelayMs).unref();
      else send();
    }
  }

  /** The response parameter for one command. */
  private answer(cls: string, command: string, param: string): string {
    if (this.fault) return this.fault;
    const forced = this.failures.get(command);
    if (forced) {
      this.failures.delete(command);
      return forced;
    }
    if (cls !== '1') return 'ERR1'; // a class 1 projector
    const s = this.state;
    const lampOn = s.power === 1;
    const query = param === '?';
    const info = INFO_QUERIES[command];
    if (info) return query ? info(this) : 'ERR2';
    switch (command) {
      case 'POWR':
        if (query) return String(s.power);
        if (param === '1') return this.powerOn();
        if (param === '0') return this.powerOff();
        return 'ERR2';
      case 'INPT':
        if (!query && !this.inputs.includes(param)) return 'ERR2';
        if (!lampOn) return 'ERR3';
        if (query) return s.input;
        s.input = param;
        return 'OK';
      case 'AVMT':
        if (!query && !AVMT_PARAMS.has(param)) return 'ERR2';
        if (!lampOn) return 'ERR3';
        if (query) return s.videoMute && s.audioMute ? '31' : s.videoMute ? '11' : s.audioMute ? '21' : '30';
        if (param[0] !== '2') s.videoMute = param[1] === '1';
        if (param[0] !== '1') s.audioMute = param[1] === '1';
        return 'OK';
      case 'ERST':
        return query ? s.errorStatus : 'ERR2';
      case 'LAMP':
        return query ? `${s.lampHours} ${lampOn ? 1 : 0}` : 'ERR2';
      default:
        return 'ERR1';
    }
  }

  private powerOn(): string {
    const s = this.state;
    if (s.power === 2) return 'ERR3';
    if (s.power === 0) {
      s.power = 3;
      this.after(this.o.warmupMs ?? 5000, () => {
        s.power = 1;
      });
    }
    return 'OK';
  }

  private powerOff(): string {
    const s = this.state;
    if (s.power === 3) return 'ERR3';
    if (s.power === 1) {
      s.power = 2;
      s.videoMute = false;
      s.audioMute = false;
      this.after(this.o.cooldownMs ?? 3000, () => {
        s.power = 0;
      });
    }
    return 'OK';
  }

  private after(ms: number, fn: () => void): void {
    clearTimeout(this.transition);
    this.transition = setTimeout(fn, ms);
    this.transition.unref();
  }
}
