/** Runs one load plan in a forked bench/load-publisher.js and collects its phase results. */
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { publisherMessageSchema, type LoadPlan, type PhaseResult } from './protocol.js';

export function runLoad(publisherJs: string, plan: LoadPlan, timeoutMs: number): Promise<PhaseResult[]> {
  if (!existsSync(publisherJs)) return Promise.reject(new Error(`${publisherJs} is missing: run \`npm run build\` first`));
  const child = fork(publisherJs, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const results: PhaseResult[] = [];
  return new Promise<PhaseResult[]>((resolve, reject) => {
    let settled = false;
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null && err) child.kill('SIGKILL');
      if (err) reject(err);
      else resolve(results);
    };
    const timer = setTimeout(() => settle(new Error(`load publisher did not finish within ${timeoutMs} ms`)), timeoutMs);
    child.on('message', (raw: unknown) => {
      const m = publisherMessageSchema.safeParse(raw);
      if (!m.success) return settle(new Error(`unexpected message from the load publisher: ${JSON.stringify(raw)}`));
      switch (m.data.type) {
        case 'phase':
          results.push(m.data.result);
          break;
        case 'done':
          settle(null);
          break;
        case 'error':
          settle(new Error(`load publisher failed: ${m.data.message}`));
          break;
        case 'connected':
          break;
      }
    });
    child.once('exit', (code, signal) => {
      if (results.length === plan.phases.length) settle(null);
      else settle(new Error(`load publisher exited (code ${code}, signal ${signal}) after ${results.length} of ${plan.phases.length} phases`));
    });
    child.send(plan);
  });
}
