/**
 * Hitevision interactive flat panels: the key frames of shared/PROTOCOLS.md,
 * "Hitevision IFP (115200)" — `7F 08 99 A2 B3 C4 02 FF 01 xx CF`, xx 00 power
 * on, 01 power off, 02 mute, 06 source, 0A HDMI1, 0B HDMI2, 0C OPS, 0D PC1;
 * no status. The same frames as the dedicated `hitevision-ifp` driver
 * (drivers/hitevision/codec.ts, docs/drivers/hitevision-ifp.md).
 *
 * Left out on purpose: 06 (opens the source menu, selects nothing); an `ack`
 * (only newer firmware answers with a return frame, and PROTOCOLS.md does not
 * give it: a config on such a panel may add
 * `ack: { ok: "7F 09 99 A2 B3 C4 02 FF 01 ?? 01 CF" }`, see the page).
 * Mute is one toggle key, written as both muteOn and muteOff.
 */
import type { PanelModelEntry } from '../library.js';

export const entry: PanelModelEntry = {
  name: 'hitevision-ifp',
  title: 'Hitevision interactive flat panel (IFP), RS-232 key frames',
  source: {
    document: 'shared/PROTOCOLS.md, "Hitevision IFP (115200)" (facts gathered from the vendor documents)',
    models: 'Hitevision IFP panels (the source names no model numbers)',
    page: null,
    verified: false,
    notes:
      'No Hitevision-branded RS-232 manual was at hand, so there is no page to cite; ' +
      'PROTOCOLS.md gives the frame and key codes, and marks the IFP as having no status query. ' +
      'Check the key codes against your panel before relying on them.',
  },
  baudRate: 115200,
  options: {
    encoding: 'hex',
    commands: {
      powerOn: '7F 08 99 A2 B3 C4 02 FF 01 00 CF',
      powerOff: '7F 08 99 A2 B3 C4 02 FF 01 01 CF',
      inputs: {
        hdmi1: '7F 08 99 A2 B3 C4 02 FF 01 0A CF',
        hdmi2: '7F 08 99 A2 B3 C4 02 FF 01 0B CF',
        ops: '7F 08 99 A2 B3 C4 02 FF 01 0C CF',
        pc: '7F 08 99 A2 B3 C4 02 FF 01 0D CF',
      },
      muteOn: '7F 08 99 A2 B3 C4 02 FF 01 02 CF',
      muteOff: '7F 08 99 A2 B3 C4 02 FF 01 02 CF',
    },
  },
};
