/**
 * panel-profile options: the documented examples validate; every config
 * mistake is reported with its path and a clear message; frames compile.
 */
import { describe, expect, it } from 'vitest';
import { profileFramesSchema, profileOptionsSchema } from '../../../drivers/profile/schema.js';
import { compileProfile, fillVolume } from '../../../drivers/profile/codec.js';
import { profileCapabilities } from '../../../drivers/profile/driver.js';
import { docExamples, newlineExample, seewoExample } from './profile-fixtures.js';

const base = {
  encoding: 'hex',
  commands: { powerOn: 'AA 11 01 01 01 14', powerOff: 'AA 11 01 01 00 13', inputs: { hdmi1: 'AA 14 01 01 21 37' } },
};

function issues(options: unknown): string[] {
  const r = profileOptionsSchema.safeParse(options);
  if (r.success) return [];
  return r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('panel-profile schema', () => {
  it('the two examples of docs/drivers/panel-profile.md are valid', () => {
    expect(docExamples()).toHaveLength(2);
    const n = newlineExample();
    expect(n.encoding).toBe('hex');
    expect(n.retries).toBe(0);
    const s = seewoExample();
    expect(s.terminator).toBe('\r');
    expect(s.commands.query?.power?.replies.on).toBe('^PWR=ON$');
    expect(profileCapabilities(n).map((c) => c.type)).toEqual(['power', 'input', 'mute']);
    expect(profileCapabilities(s).map((c) => c.type)).toEqual(['power', 'input', 'volume', 'mute', 'status']);
  });

  it('reports bad hex frames with their path', () => {
    expect(issues({ ...base, commands: { ...base.commands, powerOn: 'AA 1G 01' } })).toEqual([
      'commands.powerOn: not a hex frame: "AA 1G 01" (write bytes as two hex digits, e.g. "7F 08 99")',
    ]);
    expect(issues({ ...base, commands: { ...base.commands, inputs: { hdmi1: 'AA1' } } })[0]).toMatch(/^commands\.inputs\.hdmi1: not a hex frame/);
    expect(issues({ ...base, commands: { ...base.commands, powerOff: '' } })[0]).toBe('commands.powerOff: a frame cannot be empty');
  });

  it('reports bad patterns: hex tokens, and regular expressions in ascii', () => {
    expect(issues({ ...base, ack: { ok: 'AA FF ? 03' } })).toEqual([
      'ack.ok: not a hex pattern: "AA FF ? 03" (bytes as two hex digits, ?? for any byte)',
    ]);
    const ascii = { encoding: 'ascii', commands: { powerOn: 'P1', powerOff: 'P0', inputs: { a: 'I1' } } };
    const bad = issues({ ...ascii, ack: { ok: '^(OK' } });
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatch(/^ack\.ok: not a valid regular expression: .*Unterminated group/);
    expect(issues({ ...ascii, commands: { ...ascii.commands, query: { power: { send: 'P?', replies: { on: '[', off: 'OFF' } } } } })[0]).toMatch(
      /^commands\.query\.power\.replies\.on: not a valid regular expression/,
    );
  });

  it('reports misplaced terminators, unpaired mute frames, bad volume templates, unknown keys', () => {
    expect(issues({ ...base, terminator: '\r' })).toEqual(['terminator: terminator applies to ascii encoding only (put it in the hex frames)']);
    expect(issues({ ...base, commands: { ...base.commands, muteOn: 'AA 13 01 01 01 16' } })).toEqual(['commands.muteOff: muteOn and muteOff go together']);
    expect(issues({ ...base, commands: { ...base.commands, volume: 'AA 12 01 01 18 2C' } })).toEqual([
      'commands.volume: the volume template needs exactly one of {level}, {level:N}, {levelHex}',
    ]);
    expect(issues({ ...base, commands: { ...base.commands, volume: 'AA 12 01 01 {level}' } })).toEqual([
      'commands.volume: hex volume templates use {levelHex} (one byte)',
    ]);
    expect(issues({ ...base, commands: { ...base.commands, volume: 'AA 12 {levelHex} {levelHex}' } })).toHaveLength(1);
    expect(issues({ ...base, commands: { ...base.commands, powerOn: 'AA {levelHex}' } })[0]).toMatch(/only commands.volume/);
    expect(issues({ ...base, ack: { ok: 'AA', extra: 1 } })[0]).toMatch(/^ack: Unrecognized key/);
    expect(issues({ ...base, commands: { ...base.commands, inputs: { HDMI1: 'AA 14' } } })[0]).toMatch(/^commands\.inputs\.HDMI1: input names/);
    expect(issues({ ...base, commands: { ...base.commands, inputs: {} } })).toEqual(['commands.inputs: at least one input']);
    expect(issues({ ...base, encoding: 'binary' })[0]).toMatch(/^encoding:/);
  });
});

describe('panel-profile schema and named models', () => {
  it('a profile written in full parses as before; `model` belongs to the options, not to a full profile', () => {
    expect(profileOptionsSchema.parse(base)).toEqual(profileFramesSchema.parse(base));
    expect(profileOptionsSchema.parse(seewoExample())).toEqual(seewoExample());
    expect(profileFramesSchema.safeParse({ ...base, model: 'hitevision-ifp' }).success).toBe(false);
    // `model` with every command written: the config's frames win, the model's inputs stay
    const o = profileOptionsSchema.parse({ ...base, model: 'hitevision-ifp' });
    expect(o.commands.powerOn).toBe(base.commands.powerOn);
    expect(Object.keys(o.commands.inputs)).toEqual(['hdmi1', 'hdmi2', 'ops', 'pc']);
    expect(o.commands.inputs.hdmi1).toBe(base.commands.inputs.hdmi1);
  });
});

describe('panel-profile codec', () => {
  it('compiles hex frames (spaces optional) and ascii frames with their terminator', () => {
    const hex = compileProfile(profileOptionsSchema.parse({ ...base, commands: { ...base.commands, powerOn: 'aa1101010114' } }));
    expect(hex.powerOn).toEqual(Buffer.from('AA1101010114', 'hex'));
    expect(hex.inputs.get('hdmi1')).toEqual(Buffer.from('AA14010121 37'.replace(' ', ''), 'hex'));
    expect(hex.ack).toBeUndefined();
    const s = compileProfile(seewoExample());
    expect(s.powerOn).toEqual(Buffer.from('PWR ON\r'));
    expect(s.volume?.(7)).toEqual(Buffer.from('VOL 007\r'));
    expect(() => s.volume?.(101)).toThrow(RangeError);
    expect(s.powerQuery?.send).toEqual(Buffer.from('PWR?\r'));
  });

  it('fills volume templates', () => {
    expect(fillVolume('VOLM{level:4}', 20)).toBe('VOLM0020');
    expect(fillVolume('VOL {level}', 5)).toBe('VOL 5');
    expect(fillVolume('AA 12 01 01 {levelHex}', 24)).toBe('AA 12 01 01 18');
    const p = compileProfile(profileOptionsSchema.parse({ ...base, commands: { ...base.commands, volume: 'AA 12 01 01 {levelHex}' } }));
    expect(p.volume?.(100)).toEqual(Buffer.from('AA12010164', 'hex'));
  });
});
