/**
 * A toy line protocol and a fake transport with a scripted display behind it,
 * to test the request/response kit without any vendor's framing.
 *
 *   request  "<cmd> <id> <value|?>\n"        e.g. "in 01 hdmi2\n", "st 01 ?\n"
 *   reply    "<cmd> <id> OK <value>\n"       or "<cmd> <id> NG <code> <echo>\n"
 *
 * The display answers nothing while warming up (warmMs after power-on) and,
 * in standby, nothing but power commands (like an LG set).
 */
import { z } from 'zod';
import { inputSelect, power, status, type Capability } from '../../../drivers/capabilities.js';
import type { StatePatch } from '../../../drivers/contract.js';
import { defineProtocol } from '../../../drivers/kit/engine.js';
import { TransportDownError, TransportEmitter, type ByteTransport } from '../../../drivers/transports/types.js';

export const toyOptionsSchema = z
  .object({
    id: z.number().int().min(0).max(99).default(1),
    timeoutMs: z.number().int().default(100),
    retries: z.number().int().default(0),
    gapMs: z.number().int().default(0),
    warmupMs: z.number().int().default(0),
    offlineAfter: z.number().int().default(1),
    pollSeconds: z.number().default(3600),
  })
  .strict();
export type ToyOptions = z.infer<typeof toyOptionsSchema>;

export interface ToyRequest {
  cmd: 'pw' | 'in' | 'st';
  value?: string;
}
export type ToyReply = { cmd: string; id: number; ok: true; value: string } | { cmd: string; id: number; ok: false; code: string; echo: string };

const TOY_NG: Readonly<Record<string, string>> = { '1': 'illegal code', '3': 'busy' };

export const toyDriver = defineProtocol<ToyOptions, ToyRequest, ToyReply>({
  driver: 'toy',
  kinds: ['display'],
  transports: ['serial'],
  summary: 'toy protocol for the kit tests',
  optionsSchema: toyOptionsSchema,
  capabilities: (): Capability[] => [power(), inputSelect(['hdmi1', 'hdmi2']), status()],
  logNs: 'drv:toy',
  what: 'display',
  timing: (o) => ({
    timeoutMs: o.timeoutMs,
    retries: o.retries,
    gapMs: o.gapMs,
    gapFrom: 'write',
    pollSeconds: o.id === 0 ? undefined : o.pollSeconds,
    offlineAfter: o.offlineAfter,
    warmupMs: o.warmupMs,
    warmupProbeMs: 500,
  }),
  framer: () => {
    let buf = '';
    return {
      push: (chunk) => {
        buf += chunk.toString('latin1');
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        const replies: ToyReply[] = [];
        const errors: string[] = [];
        for (const line of lines) {
          const m = /^(\w\w) (\d\d) (?:OK (\S+)|NG (\S+) (\S+))$/.exec(line);
          if (!m) errors.push(`not a toy reply: ${JSON.stringify(line)}`);
          else if (m[3] !== undefined) replies.push({ cmd: m[1] ?? '', id: Number(m[2]), ok: true, value: m[3] });
          else replies.push({ cmd: m[1] ?? '', id: Number(m[2]), ok: false, code: m[4] ?? '', echo: m[5] ?? '' });
        }
        return { replies, errors };
      },
      reset: () => {
        buf = '';
      },
    };
  },
  encode: (o, req) => Buffer.from(`${req.cmd} ${String(o.id).padStart(2, '0')} ${req.value ?? '?'}\n`, 'latin1'),
  matches: (o, req, r) => r.cmd === req.cmd && r.id === o.id,
  outcome: (_o, _req, r) => (r.ok ? { ok: true } : { ok: false, code: r.code, reason: `NG ${r.code} (${TOY_NG[r.code] ?? 'unknown'})` }),
  decode: (_o, req, r): { ok: true; value: StatePatch } | { ok: false; error: string } => {
    if (!r.ok) return { ok: false, error: 'NG has no state' };
    if (req.cmd === 'in') return { ok: true, value: { input: r.value } };
    return r.value === 'on' || r.value === 'off' ? { ok: true, value: { power: r.value } } : { ok: false, error: `bad power ${r.value}` };
  },
  noReply: (o) => o.id === 0,
  onlineWithPort: (o) => o.id === 0,
  refusesInStandby: true,
  commands: {
    power: (s, a) => s.set({ cmd: 'pw', value: a.on === true ? 'on' : 'off' }, { power: a.on === true ? 'on' : 'off' }),
    input: (s, a) => s.set({ cmd: 'in', value: String(a.source) }, { input: String(a.source) }),
    refresh: async (s) => {
      const req: ToyRequest = { cmd: 'st' };
      const r = await s.request(req);
      return r ? s.decode(req, r) : {};
    },
  },
});

/** A byte transport whose far end is a scripted toy display (replies at once, inside write). */
export class ToyLine extends TransportEmitter implements ByteTransport {
  readonly description = 'toy line';
  private up = false;
  /** Lines written by the driver, with the (fake) time they were written. */
  readonly written: Array<{ line: string; at: number }> = [];
  power: 'on' | 'off' = 'off';
  input = 'hdmi1';
  /** Warm-up after power-on: silent until this Date.now(). */
  warmUntil = 0;
  /** How long the display warms up after a power-on. */
  warmMs = 0;
  silent = false;
  private ngNext: string | undefined;

  get isUp(): boolean {
    return this.up;
  }

  start(): void {
    if (this.up) return;
    this.up = true;
    queueMicrotask(() => this.emit('up'));
  }

  async stop(): Promise<void> {
    if (!this.up) return;
    this.up = false;
    this.emit('down', undefined);
  }

  /** The cable is pulled (down with an error) or put back. */
  setDown(down: boolean): void {
    if (down && this.up) {
      this.up = false;
      this.emit('down', new Error('unplugged'));
    } else if (!down && !this.up) this.start();
  }

  refuseNext(code: string): void {
    this.ngNext = code;
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (!this.up) throw new TransportDownError(this.description);
    const line = Buffer.from(bytes).toString('latin1').trimEnd();
    this.written.push({ line, at: Date.now() });
    const [cmd, id, value] = line.split(' ');
    if (this.silent || id === '00' || Date.now() < this.warmUntil) return;
    if (this.power === 'off' && cmd !== 'pw') return; // standby: only power commands are heard
    const answer = (text: string): void => {
      this.emit('data', Buffer.from(`${text}\n`, 'latin1'));
    };
    if (this.ngNext !== undefined) {
      answer(`${cmd} ${id} NG ${this.ngNext} ${value}`);
      this.ngNext = undefined;
      return;
    }
    if (cmd === 'pw' && value !== undefined) {
      if (value === 'on' && this.power === 'off') this.warmUntil = Date.now() + this.warmMs;
      this.power = value === 'on' ? 'on' : 'off';
      answer(`pw ${id} OK ${this.power}`);
    } else if (cmd === 'in' && value !== undefined) {
      this.input = value;
      answer(`in ${id} OK ${value}`);
    } else if (cmd === 'st') answer(`st ${id} OK ${this.power}`);
  }
}
