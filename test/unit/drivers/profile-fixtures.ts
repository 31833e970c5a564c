/**
 * The example profiles of docs/drivers/panel-profile.md, read from the page
 * itself so that the documentation is what the tests run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { profileOptionsSchema, type ProfileOptions } from '../../../drivers/profile/schema.js';

/** docs/drivers/panel-profile.md, found by walking up (this file also runs compiled from dist/). */
function docPath(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'docs', 'drivers', 'panel-profile.md');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error('docs/drivers/panel-profile.md not found above this test');
  }
}

const example = z.object({
  devices: z.array(z.object({ id: z.string(), driver: z.literal('panel-profile'), options: z.record(z.string(), z.unknown()) })).length(1),
});

/** Raw options of the YAML examples on the page, in order (Newline-style, Seewo-style). */
export function docExamples(): Array<Record<string, unknown>> {
  const text = readFileSync(docPath(), 'utf8');
  const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  return blocks.map((b) => example.parse(parse(b)).devices[0]!.options);
}

export function newlineExample(): ProfileOptions {
  return profileOptionsSchema.parse(docExamples()[0]);
}

export function seewoExample(): ProfileOptions {
  return profileOptionsSchema.parse(docExamples()[1]);
}
