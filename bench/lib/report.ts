/** The ingest benchmark's figures, target checks and printed table. */
import type { PhaseResult } from './protocol.js';

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  node: string;
  kernel: string;
  totalMemBytes: number;
  tmpdir: string;
  date: string;
  /** Share of all CPUs busy during 1 s just before the run (other work on the machine skews every figure). */
  busyBeforeRun: number;
}

export interface SystemResult {
  label: string;
  phases: PhaseResult[];
  /** Rows found in the store after the run (service: behaviour_events; baseline: events). */
  rowsCommitted: number;
  /** PUBACKs received over the whole run (warm-ups included). */
  ackedTotal: number;
  idleRssBytes: number;
  /** Service only: RSS right after the load. */
  afterLoadRssBytes: number | null;
  /** RSS 5 s after start-up (the start-up transient, before V8 shrinks the heap). */
  startupRssBytes: number | null;
}

export interface TargetCheck {
  name: string;
  value: number;
  unit: string;
  target: string;
  met: boolean;
}

export interface IngestReport {
  machine: MachineInfo;
  settings: { publishers: number; windows: number[]; warmupMs: number; phaseMs: number; idleMs: number; payloadBytes: number; flushIntervalMs: number; maxBatch: number; rates: number[] };
  service: SystemResult;
  baseline: SystemResult;
  targets: TargetCheck[];
}

export const MB = 1_000_000;

export function phase(r: SystemResult, name: string): PhaseResult {
  const p = r.phases.find((x) => x.name === name);
  if (!p) throw new Error(`${r.label}: no result for phase ${name}`);
  return p;
}

export function checkTargets(service: SystemResult, baseline: SystemResult, windows: number[]): TargetCheck[] {
  const p1k = phase(service, 'paced-1000');
  const p5k = phase(service, 'paced-5000');
  const ratios = windows.map((w): TargetCheck => {
    const ratio = phase(service, `saturate-${w}`).ackRate / phase(baseline, `saturate-${w}`).ackRate;
    return { name: `saturated throughput (window ${w}), service / bare baseline`, value: ratio, unit: '', target: '>= 0.70', met: ratio >= 0.7 };
  });
  return [
    { name: 'p50 publish-to-commit at 1,000 events/s', value: p1k.latency.p50, unit: 'ms', target: '<= 10 ms', met: p1k.latency.p50 <= 10 },
    { name: 'p99 publish-to-commit at 1,000 events/s', value: p1k.latency.p99, unit: 'ms', target: '<= 25 ms', met: p1k.latency.p99 <= 25 },
    { name: 'p99 publish-to-commit at 5,000 events/s', value: p5k.latency.p99, unit: 'ms', target: '<= 100 ms', met: p5k.latency.p99 <= 100 },
    ...ratios,
    { name: 'service idle RSS', value: service.idleRssBytes / MB, unit: 'MB', target: '< 100 MB', met: service.idleRssBytes < 100 * MB },
  ];
}

const f = (v: number, digits = 1): string => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
}

export function formatReport(r: IngestReport): string {
  const lines: string[] = [];
  const m = r.machine;
  lines.push(`machine: ${m.cpus} CPUs, ${m.cpuModel}; Node ${m.node}; Linux ${m.kernel}; ${f(m.totalMemBytes / MB / 1000, 1)} GB RAM; store in ${m.tmpdir}; ${m.date}`);
  lines.push(`CPU busy in the second before the run: ${f(m.busyBeforeRun * 100, 0)} % of all CPUs`);
  if (m.busyBeforeRun > 0.1) lines.push('WARNING: the machine was busy when the run started; these figures are skewed by other work. Rerun on an idle machine.');
  const s = r.settings;
  lines.push(
    `load: ${s.publishers} mqtt.js publishers in a separate process, QoS 1, ${s.payloadBytes}-byte events; saturation windows ${s.windows.join(', ')} per publisher; ` +
      `${s.warmupMs} ms warm-up + ${s.phaseMs} ms measured per phase; flush ${s.flushIntervalMs} ms / ${s.maxBatch} rows`,
  );
  lines.push('');
  const widths = [44, 15, 15, 8];
  lines.push(row(['figure', 'service', 'baseline', 'ratio'], widths));
  lines.push(row(['-'.repeat(44), '-'.repeat(15), '-'.repeat(15), '-'.repeat(8)], widths));
  const both = (name: string, pick: (p: PhaseResult) => number, digits = 1) => {
    const a = pick(phase(r.service, name));
    const b = pick(phase(r.baseline, name));
    return [f(a, digits), f(b, digits), f(a / b, 2)];
  };
  for (const w of s.windows) {
    const name = `saturate-${w}`;
    const lat = (x: SystemResult) => `${f(phase(x, name).latency.p50)} / ${f(phase(x, name).latency.p99)}`;
    lines.push(row([`saturated, window ${w}: events/s`, ...both(name, (p) => p.ackRate, 0)], widths));
    lines.push(row([`  CPU of the system under test (% of a core)`, ...both(name, (p) => p.sutCpuPct ?? Number.NaN, 0)], widths));
    lines.push(row([`  CPU of the load generator (% of a core)`, ...both(name, (p) => p.loadCpuPct, 0)], widths));
    lines.push(row([`  p50 / p99 latency (ms)`, lat(r.service), lat(r.baseline), ''], widths));
  }
  for (const rate of s.rates) {
    const name = `paced-${rate}`;
    lines.push(row([`${rate} events/s: achieved (events/s)`, ...both(name, (p) => p.ackRate, 0)], widths));
    lines.push(row([`${rate} events/s: p50 latency (ms)`, ...both(name, (p) => p.latency.p50, 2)], widths));
    lines.push(row([`${rate} events/s: p99 latency (ms)`, ...both(name, (p) => p.latency.p99, 2)], widths));
    lines.push(row([`${rate} events/s: max latency (ms)`, ...both(name, (p) => p.latency.max, 1)], widths));
  }
  const rss = (x: SystemResult) => x.idleRssBytes / MB;
  lines.push(row(['idle RSS (MB)', f(rss(r.service)), f(rss(r.baseline)), f(rss(r.service) / rss(r.baseline), 2)], widths));
  if (r.service.startupRssBytes !== null) lines.push(row(['service RSS 5 s after start (MB)', f(r.service.startupRssBytes / MB), '', ''], widths));
  if (r.service.afterLoadRssBytes !== null) lines.push(row(['service RSS after the load (MB)', f(r.service.afterLoadRssBytes / MB), '', ''], widths));
  lines.push(row(['PUBACKs / rows in the store', `${r.service.ackedTotal}/${r.service.rowsCommitted}`, `${r.baseline.ackedTotal}/${r.baseline.rowsCommitted}`, ''], widths));
  const errs = (x: SystemResult) => x.phases.reduce((n, p) => n + p.errors + p.unacked + p.skipped, 0);
  lines.push(row(['publish errors + unacked + skipped', String(errs(r.service)), String(errs(r.baseline)), ''], widths));
  lines.push('');
  lines.push('targets (service):');
  for (const t of r.targets) {
    const v = t.unit === '' ? f(t.value, 2) : `${f(t.value, t.unit === 'MB' ? 1 : 2)} ${t.unit}`;
    lines.push(`  ${t.met ? 'MET   ' : 'MISSED'}  ${t.name}: ${v} (target ${t.target})`);
  }
  return lines.join('\n');
}
