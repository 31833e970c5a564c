/**
 * Scenes: named lists of device commands from config (e.g. class-start,
 * class-end), run step by step with a result per step so the kiosk can show
 * which device failed ("投影仪未响应") while the rest of the scene goes on.
 */
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

export class SceneRunner {
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

  async run(name: string, actor: Actor, onStep?: (step: SceneStepResult, index: number, total: number) => void): Promise<SceneResult> {
    const steps = this.scenes[name];
    if (!steps) throw new Error(`no scene "${name}"; scenes: ${this.names().join(', ') || 'none'}`);
    const results: SceneStepResult[] = [];
    for (const [i, step] of steps.entries()) {
      const r = await this.devices.execute(step.device, step.command, step.args, actor);
      const res = { device: step.device, command: step.command, ...r };
      results.push(res);
      onStep?.(res, i, steps.length);
      if (!r.ok && !step.continueOnError) break;
    }
    return { scene: name, ok: results.length === steps.length && results.every((r) => r.ok), steps: results };
  }
}
