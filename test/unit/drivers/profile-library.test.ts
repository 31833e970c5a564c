/**
 * The library of named panel profiles (`options.model` of panel-profile):
 * every entry validates and is registered; the Hitevision frames are the
 * bytes of shared/PROTOCOLS.md; unknown names, overrides and malformed
 * entries give clear errors; the docs' "Named models" section is current.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadPanelModels, panelModelNames, panelModels } from '../../../drivers/profile/library.js';
import { PANEL_MODEL_SOURCES } from '../../../drivers/profile/library/index.js';
import { profileOptionsSchema } from '../../../drivers/profile/schema.js';
import { compileProfile } from '../../../drivers/profile/codec.js';
import { encodeHvKey, HV_KEYS } from '../../../drivers/hitevision/codec.js';
import { ConfigError, loadConfigText } from '../../../edge/config/load.js';
import { builtinDrivers } from '../../../edge/devices/registry.js';

function issues(options: unknown): string[] {
  const r = profileOptionsSchema.safeParse(options);
  if (r.success) return [];
  return r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

/** docs/drivers/panel-profile.md, found by walking up (as profile-fixtures.ts does: this file may run from dist/). */
function docPath(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'docs', 'drivers', 'panel-profile.md');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error('docs/drivers/panel-profile.md not found above this test');
  }
}

const bytes = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

/** A well-formed entry for the fixtures below (its frames are placeholders, never used on a panel). */
const goodEntry = {
  name: 'fixture-panel',
  title: 'Fixture panel',
  source: { document: 'Fixture RS-232 manual', models: 'FX-1..FX-9', page: 'p. 12', verified: false },
  options: { encoding: 'hex', commands: { powerOn: '01 02', powerOff: '01 03', inputs: { hdmi1: '01 04' } } },
};
const FIXTURE_FILE = 'test/fixtures/panel-models/fixture-panel.ts';

describe('panel model library', () => {
  it('every entry validates, compiles, and parses back to itself through `model`', () => {
    const models = panelModels();
    expect(models.size).toBeGreaterThan(0);
    for (const [name, m] of models) {
      expect(m.source.document.length).toBeGreaterThan(0);
      const viaModel = profileOptionsSchema.parse({ model: name });
      expect(viaModel).toEqual(m.options);
      expect(() => compileProfile(viaModel)).not.toThrow();
      // config load stores the parsed options and the supervisor parses them again
      expect(profileOptionsSchema.parse(viaModel)).toEqual(viaModel);
    }
  });

  it('lists every module of drivers/profile/library/, each named after its file', () => {
    // the folder next to this test's source or, compiled, its .js files in dist/
    const dir = new URL('../../../drivers/profile/library/', import.meta.url);
    const files = readdirSync(dir)
      .filter((f) => /\.[jt]s$/.test(f) && !f.endsWith('.d.ts') && !/^index\.[jt]s$/.test(f))
      .map((f) => `drivers/profile/library/${f.replace(/\.js$/, '.ts')}`)
      .sort();
    expect(PANEL_MODEL_SOURCES.map((s) => s.file).sort()).toEqual(files);
    expect(panelModelNames()).toEqual(files.map((f) => f.replace(/^.*\/|\.ts$/g, '')).sort());
    expect(panelModelNames()).toEqual(['hitevision-ifp']);
  });

  it('hitevision-ifp: the frames of shared/PROTOCOLS.md, and of the hitevision-ifp driver', () => {
    const p = compileProfile(profileOptionsSchema.parse({ model: 'hitevision-ifp' }));
    // shared/PROTOCOLS.md: 7F 08 99 A2 B3 C4 02 FF 01 xx CF (xx 00 on, 01 off, 02 mute, 0A HD1, 0B HD2, 0C OPS, 0D PC1), no status
    expect(p.encoding).toBe('hex');
    expect(p.powerOn).toEqual(bytes('7F 08 99 A2 B3 C4 02 FF 01 00 CF'));
    expect(p.powerOff).toEqual(bytes('7F 08 99 A2 B3 C4 02 FF 01 01 CF'));
    expect(p.muteOn).toEqual(bytes('7F 08 99 A2 B3 C4 02 FF 01 02 CF'));
    expect(p.muteOff).toEqual(p.muteOn); // one toggle key
    expect(Object.fromEntries([...p.inputs].map(([k, v]) => [k, v.toString('hex').toUpperCase()]))).toEqual({
      hdmi1: '7F0899A2B3C402FF010ACF',
      hdmi2: '7F0899A2B3C402FF010BCF',
      ops: '7F0899A2B3C402FF010CCF',
      pc: '7F0899A2B3C402FF010DCF',
    });
    expect(p.powerQuery).toBeUndefined();
    expect(p.volume).toBeUndefined();
    expect(p.ack).toBeUndefined();
    // the dedicated driver's codec builds the same bytes
    expect(p.powerOn).toEqual(encodeHvKey(HV_KEYS.powerOn));
    expect(p.powerOff).toEqual(encodeHvKey(HV_KEYS.powerOff));
    expect(p.muteOn).toEqual(encodeHvKey(HV_KEYS.muteToggle));
    for (const name of ['hdmi1', 'hdmi2', 'ops', 'pc'] as const) expect(p.inputs.get(name)).toEqual(encodeHvKey(HV_KEYS[name]));
    const m = panelModels().get('hitevision-ifp')!;
    expect(m.baudRate).toBe(115200);
    expect(m.source).toMatchObject({ verified: false, page: null });
  });
});

describe('options.model', () => {
  it('an unknown or non-string name is an error listing the known names', () => {
    expect(issues({ model: 'hitevision' })).toEqual(['model: unknown panel model "hitevision" (known: hitevision-ifp)']);
    expect(issues({ model: 7 })).toEqual(['model: a panel model name is a string (known: hitevision-ifp)']);
    expect(issues({ model: 'hitevision', encoding: 'hex' })).toHaveLength(1);
  });

  it('options written next to a model override it: commands replace, inputs merge by name, the rest replaces', () => {
    const o = profileOptionsSchema.parse({
      model: 'hitevision-ifp',
      encoding: 'hex',
      timeoutMs: 2000,
      commands: { powerOn: '7F 08 99 A2 B3 C4 02 FF 01 00 CF', inputs: { hdmi1: '7F 08 99 A2 B3 C4 02 FF 01 0B CF', android: '7F 08 99 A2 B3 C4 02 FF 01 0E CF' } },
      ack: { ok: '7F 09 99 A2 B3 C4 02 FF 01 ?? 01 CF', error: '7F 09 99 A2 B3 C4 02 FF 01 ?? 00 CF' },
    });
    expect(o).not.toHaveProperty('model');
    expect(o.timeoutMs).toBe(2000);
    expect(o.interCommandMs).toBe(100);
    expect(Object.keys(o.commands.inputs)).toEqual(['hdmi1', 'hdmi2', 'ops', 'pc', 'android']);
    expect(o.commands.inputs.hdmi1).toBe('7F 08 99 A2 B3 C4 02 FF 01 0B CF');
    expect(o.commands.muteOn).toBe('7F 08 99 A2 B3 C4 02 FF 01 02 CF');
    expect(o.ack?.ok).toBe('7F 09 99 A2 B3 C4 02 FF 01 ?? 01 CF');
    expect(profileOptionsSchema.parse(o)).toEqual(o);
    // the library is not changed by a config's overrides
    expect(profileOptionsSchema.parse({ model: 'hitevision-ifp' }).commands.inputs.hdmi1).toBe('7F 08 99 A2 B3 C4 02 FF 01 0A CF');
  });

  it('overrides are checked like a hand-written profile, at their own path', () => {
    expect(issues({ model: 'hitevision-ifp', commands: { powerOff: '7F 08 9' } })).toEqual([
      'commands.powerOff: not a hex frame: "7F 08 9" (write bytes as two hex digits, e.g. "7F 08 99")',
    ]);
    expect(issues({ model: 'hitevision-ifp', commands: { inputs: { HDMI3: '7F' } } })[0]).toMatch(/^commands\.inputs\.HDMI3: input names/);
    expect(issues({ model: 'hitevision-ifp', terminator: '\r' })).toEqual(['terminator: terminator applies to ascii encoding only (put it in the hex frames)']);
    expect(issues({ model: 'hitevision-ifp', volumeMax: 0 })[0]).toMatch(/^volumeMax:/);
    expect(issues({ model: 'hitevision-ifp', colour: 'red' })[0]).toMatch(/Unrecognized key.*colour/);
    expect(issues({ model: 'hitevision-ifp', encoding: 'ascii' })).toEqual([
      'encoding: panel model "hitevision-ifp" is hex-encoded; frames written next to it must be hex too (got "ascii")',
    ]);
  });

  it('in a config file: accepted, stored resolved; an unknown name is reported at devices[i].options.model', () => {
    const registry = builtinDrivers();
    const config = (options: string): string => `
version: 1
room: { id: r203, name: r203 }
dataDir: /tmp/x
broker: { port: 1883 }
devices:
  - id: panel
    kind: display
    driver: panel-profile
    transport: { type: serial, path: /dev/ttyUSB0, baudRate: 115200 }
    options: ${options}
`;
    const c = loadConfigText(config('{ model: hitevision-ifp }'), 'test.yaml', registry);
    expect(c.devices[0]!.options).toEqual(profileOptionsSchema.parse({ model: 'hitevision-ifp' }));
    let problems: string[] = [];
    try {
      loadConfigText(config('{ model: hitevison-ifp }'), 'test.yaml', registry);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems = e.problems.map((p) => `${p.path}: ${p.reason}`);
    }
    expect(problems).toEqual(['devices[0].options.model: unknown panel model "hitevison-ifp" (known: hitevision-ifp)']);
  });
});

describe('loading library entries', () => {
  const load = (entry: unknown, file = FIXTURE_FILE) => () => loadPanelModels([{ file, entry }]);

  it('a well-formed fixture loads', () => {
    const m = loadPanelModels([{ file: FIXTURE_FILE, entry: goodEntry }]);
    expect([...m.keys()]).toEqual(['fixture-panel']);
    expect(m.get('fixture-panel')?.options.timeoutMs).toBe(1000);
  });

  it('a frame that does not parse is an error naming the file and the field', () => {
    const bad = { ...goodEntry, options: { ...goodEntry.options, commands: { ...goodEntry.options.commands, powerOn: '01 0G' } } };
    expect(load(bad)).toThrow(
      `panel model library: 1 problem(s):\n  ${FIXTURE_FILE}: options.commands.powerOn: not a hex frame: "01 0G" (write bytes as two hex digits, e.g. "7F 08 99")`,
    );
    const badInput = { ...goodEntry, options: { ...goodEntry.options, commands: { ...goodEntry.options.commands, inputs: { hdmi1: '1' } } } };
    expect(load(badInput)).toThrow(`${FIXTURE_FILE}: options.commands.inputs.hdmi1: not a hex frame: "1"`);
    const badAck = { ...goodEntry, options: { ...goodEntry.options, ack: { ok: 'AA ?' } } };
    expect(load(badAck)).toThrow(`${FIXTURE_FILE}: options.ack.ok: not a hex pattern: "AA ?"`);
  });

  it('an entry without its source, with a bad name, or named unlike its file is refused', () => {
    expect(load({ ...goodEntry, source: { ...goodEntry.source, document: '' } })).toThrow(`${FIXTURE_FILE}: source.document: cite the document the frames follow`);
    expect(load({ ...goodEntry, source: { ...goodEntry.source, page: null } })).toThrow(`${FIXTURE_FILE}: source.page: without a page, say why in notes`);
    expect(load({ ...goodEntry, name: 'Fixture Panel' })).toThrow(`${FIXTURE_FILE}: name: lower-case letters, digits and "-", up to 48`);
    expect(load(goodEntry, 'test/fixtures/panel-models/other.ts')).toThrow(
      'test/fixtures/panel-models/other.ts: name: "fixture-panel" differs from the file\'s name "other"',
    );
    expect(() => loadPanelModels([{ file: FIXTURE_FILE, entry: goodEntry }, { file: `x/${FIXTURE_FILE}`, entry: goodEntry }])).toThrow(
      `x/${FIXTURE_FILE}: name: "fixture-panel" is already defined by ${FIXTURE_FILE}`,
    );
    expect(load({ ...goodEntry, frames: {} })).toThrow(/fixture-panel\.ts: \(entry\): Unrecognized key: "frames"/);
  });
});

describe('docs/drivers/panel-profile.md, "Named models"', () => {
  const page = readFileSync(docPath(), 'utf8');
  const section = page.split(/^## /m).find((s) => s.startsWith('Named models')) ?? '';

  it('lists every model of the library, and its example is valid', () => {
    expect(section).not.toBe('');
    const listed = [...section.matchAll(/^\| `([a-z0-9-]+)` \|/gm)].map((m) => m[1]);
    expect(listed).toEqual(panelModelNames());
    const blocks = [...section.matchAll(/```yml\n([\s\S]*?)```/g)].map((m) => parse(m[1] ?? '') as { devices: Array<{ options: unknown }> });
    expect(blocks.length).toBeGreaterThan(0);
    for (const b of blocks) for (const d of b.devices) expect(issues(d.options)).toEqual([]);
  });
});
