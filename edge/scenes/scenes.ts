/**
 * Scenes: named lists of device commands from config (e.g. class-start,
 * class-end), run step by step with a result per step so the kiosk can show
 * which device failed ("投影仪未响应") while the rest of the scene goes on.
 * Observers (the kiosk's live channel) see every run, whoever started it
 * (the kiosk, a technician, the lesson clock at the bell), step by step.
 */
import { randomUUID } from 'node:crypto';
import type { EdgeConfig } from '../config/schema.js';
import type { Actor, CommandResult, DeviceSupervisor } from '../devices/supervisor.js';

export interface SceneStepResult extends CommandResult {
  device: string;
  command: string;
}

export interface SceneResult {
  scene: string;
  ok: boolean;
  steps: SceneStepResult[];
}

/** Progress of one run: 'start' (nothing done yet), one 'step' per finished step, then 'done'. */
export type SceneProgress =
  | { runId: string; scene: string; actor: string; phase: 'start'; total: number; steps: Array<{ device: string; command: string }> }
  | { runId: string; scene: string; actor: string; phase: 'step'; index: number; total: number; step: SceneStepResult }
  | { runId: string; scene: string; actor: string; phase: 'done'; total: number; result: SceneResult };

export class SceneRunner {
  private readonly observers = new Set<(p: SceneProgress) => void>();

  constructor(
    private scenes: EdgeConfig['scenes'],
    private readonly devices: DeviceSupervisor,
  ) {}

  /** Scenes from a configuration push (edge/config/apply.ts); a scene already running finishes with its old steps. */
  replace(scenes: EdgeConfig['scenes']): void {
    this.scenes = scenes;
  }

  names(): string[] {
    return Object.keys(this.scenes);
  }

  has(name: string): boolean {
    return Object.hasOwn(this.scenes, name);
  }

  /** Watch every run's progress; returns the unsubscribe function. An observer that throws is ignored. */
  observe(fn: (p: SceneProgress) => void): () => void {
    this.observers.add(fn);
    return () => this.observers.delete(fn);
  }

  private emit(p: SceneProgress): void {
    for (const fn of this.observers) {
      try {
        fn(p);
      } catch {
        // an observer's failure must not stop the scene
      }
    }
  }

  async run(name: string, actor: Actor, onStep?: (step: SceneStepResult, index: number, total: number) => void): Promise<SceneResult & { runId: string }> {
    const steps = this.scenes[name];
    if (!steps) throw new Error(`no scene "${name}"; scenes: ${this.names().join(', ') || 'none'}`);
    const runId = randomUUID();
    const base = { runId, scene: name, actor: actor.username, total: steps.length };
    this.emit({ ...base, phase: 'start', steps: steps.map((s) => ({ device: s.device, command: s.command })) });
    const results: SceneStepResult[] = [];
    for (const [i, step] of steps.entries()) {
      const r = await this.devices.execute(step.device, step.command, step.args, actor);
      const res = { device: step.device, command: step.command, ...r };
      results.push(res);
      onStep?.(res, i, steps.length);
      this.emit({ ...base, phase: 'step', index: i, step: res });
      if (!r.ok && !step.continueOnError) break;
    }
    const result = { scene: name, ok: results.length === steps.length && results.every((r) => r.ok), steps: results };
    this.emit({ ...base, phase: 'done', result });
    return { ...result, runId };
  }
}
