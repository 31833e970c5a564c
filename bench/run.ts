/**
 * `npm run bench`: runs every benchmark in order and prints its report.
 * Set BENCH_JSON=<file> to also write the reports as JSON, BENCH_ONLY=<text>
 * to run only the benchmarks whose name contains it (e.g. `card tap`; or pass it
 * as the first argument: `node dist/bench/run.js recording`).
 */
import { writeFileSync } from 'node:fs';
import { formatCardTapReport, runCardTapBench } from './card-tap.js';
import { formatReport, runIngestBench } from './ingest.js';
import { formatRecordingReport, runRecordingBench } from './recording.js';
import { formatSyncCapacityReport, runSyncCapacityBench } from './sync-capacity.js';
import { formatSyncDrainReport, runSyncDrainBench } from './sync-drain.js';

const benchmarks: Array<{ name: string; run: () => Promise<{ text: string; data: unknown }> }> = [
  {
    name: 'ingest: publish-to-commit latency, throughput and idle memory',
    run: async () => {
      const report = await runIngestBench();
      return { text: formatReport(report), data: report };
    },
  },
  {
    name: 'card tap: reader bytes to committed attendance on the bus',
    run: async () => {
      const report = await runCardTapBench();
      return { text: formatCardTapReport(report), data: report };
    },
  },
  {
    name: 'sync drain: a busy room\'s week from edge store to committed cloud rows',
    run: async () => {
      const report = await runSyncDrainBench();
      return { text: formatSyncDrainReport(report), data: report };
    },
  },
  {
    name: 'sync capacity: rooms one and two cloud workers carry at classroom load',
    run: async () => {
      const report = await runSyncCapacityBench();
      return { text: formatSyncCapacityReport(report), data: report };
    },
  },
  {
    name: 'recording: stream copy and composed CPU, ingest latency while recording, upload throughput',
    run: async () => {
      const report = await runRecordingBench();
      return { text: formatRecordingReport(report), data: report };
    },
  },
];

async function main(): Promise<void> {
  const all: Record<string, unknown> = {};
  // BENCH_ONLY=<substring> (or the first argument, e.g. `run.js recording`): run only the benchmarks whose name contains it.
  const only = process.env.BENCH_ONLY ?? process.argv[2];
  for (const b of benchmarks.filter((x) => !only || x.name.includes(only))) {
    process.stdout.write(`\n== ${b.name} ==\n`);
    const started = performance.now();
    const { text, data } = await b.run();
    process.stdout.write(`\n${text}\n(${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
    all[b.name] = data;
  }
  const out = process.env.BENCH_JSON;
  if (out) writeFileSync(out, `${JSON.stringify(all, null, 2)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
