/**
 * Pelco-D codec: typed requests <-> 7-byte messages.
 *
 * Source: Pelco "D" Protocol Manual (TF-0002 v2 r1), "The standard command
 * set" and "Extended commands":
 *
 *   command 1  bit 7 sense, bits 6-5 reserved (0), bit 4 auto/manual scan,
 *              bit 3 camera on/off, bit 2 iris close, bit 1 iris open, bit 0 focus near
 *   command 2  bit 7 focus far, bit 6 zoom wide, bit 5 zoom tele, bit 4 down,
 *              bit 3 up, bit 2 left, bit 1 right, bit 0 = 0 (1 marks an extended command)
 *   "The sense bit (command 1 bit 7) indicates the meaning of bits 4 and 3":
 *   sense on + bit 3 on = camera on, sense off + bit 3 on = camera off. So
 *   camera on = command 1 0x88, camera off = command 1 0x08.
 *   All bits clear = stop:            FF 01 00 00 00 00 01
 *   Extended (command 1 = 0, data 1 = 0 unless noted):
 *     set preset   cmd2 03, data2 = preset (01..20h)
 *     clear preset cmd2 05
 *     go to preset cmd2 07               go to preset 3: FF 01 00 07 00 03 0B
 *     set zoom speed cmd2 25, data2 = 0 (slowest) .. 3 (fastest)
 */
import { encodePelcoFrame, type PelcoFrame } from './framer.js';

export const PELCO_CMD1 = { sense: 0x80, autoScan: 0x10, cameraOnOff: 0x08, irisClose: 0x04, irisOpen: 0x02, focusNear: 0x01 } as const;
export const PELCO_CMD2 = { focusFar: 0x80, zoomWide: 0x40, zoomTele: 0x20, down: 0x10, up: 0x08, left: 0x04, right: 0x02 } as const;
export const PELCO_EXT = { setPreset: 0x03, clearPreset: 0x05, gotoPreset: 0x07, setZoomSpeed: 0x25 } as const;

export type PelcoRequest =
  | { kind: 'power'; on: boolean }
  | { kind: 'stop' }
  | { kind: 'zoom'; direction: 'in' | 'out' }
  | { kind: 'zoom-speed'; speed: number }
  | { kind: 'preset'; action: 'set' | 'clear' | 'goto'; preset: number };

function checkAddress(address: number): void {
  if (!Number.isInteger(address) || address < 1 || address > 255) throw new RangeError(`Pelco-D address out of range 1..255: ${address}`);
}

export function pelcoFrame(address: number, req: PelcoRequest): PelcoFrame {
  checkAddress(address);
  const f = { address, cmd1: 0, cmd2: 0, data1: 0, data2: 0 };
  switch (req.kind) {
    case 'power':
      return { ...f, cmd1: req.on ? PELCO_CMD1.sense | PELCO_CMD1.cameraOnOff : PELCO_CMD1.cameraOnOff };
    case 'stop':
      return f;
    case 'zoom':
      return { ...f, cmd2: req.direction === 'in' ? PELCO_CMD2.zoomTele : PELCO_CMD2.zoomWide };
    case 'zoom-speed':
      if (!Number.isInteger(req.speed) || req.speed < 0 || req.speed > 3) throw new RangeError(`Pelco-D zoom speed out of range 0..3: ${req.speed}`);
      return { ...f, cmd2: PELCO_EXT.setZoomSpeed, data2: req.speed };
    case 'preset': {
      if (!Number.isInteger(req.preset) || req.preset < 1 || req.preset > 255) throw new RangeError(`Pelco-D preset out of range 1..255: ${req.preset}`);
      const cmd2 = req.action === 'set' ? PELCO_EXT.setPreset : req.action === 'clear' ? PELCO_EXT.clearPreset : PELCO_EXT.gotoPreset;
      return { ...f, cmd2, data2: req.preset };
    }
  }
}

export function encodePelcoRequest(address: number, req: PelcoRequest): Buffer {
  return encodePelcoFrame(pelcoFrame(address, req));
}

/** Device side (simulator): what a message asks for; `other` for anything this codec does not model. */
export type PelcoDecoded = PelcoRequest | { kind: 'other'; frame: PelcoFrame };

export function decodePelcoRequest(f: PelcoFrame): PelcoDecoded {
  const other: PelcoDecoded = { kind: 'other', frame: f };
  if ((f.cmd2 & 0x01) === 1) {
    // Extended command.
    if (f.cmd1 !== 0 || f.data1 !== 0) return other;
    switch (f.cmd2) {
      case PELCO_EXT.setPreset:
        return f.data2 >= 1 ? { kind: 'preset', action: 'set', preset: f.data2 } : other;
      case PELCO_EXT.clearPreset:
        return f.data2 >= 1 ? { kind: 'preset', action: 'clear', preset: f.data2 } : other;
      case PELCO_EXT.gotoPreset:
        return f.data2 >= 1 ? { kind: 'preset', action: 'goto', preset: f.data2 } : other;
      case PELCO_EXT.setZoomSpeed:
        return f.data2 <= 3 ? { kind: 'zoom-speed', speed: f.data2 } : other;
      default:
        return other;
    }
  }
  if (f.cmd1 === 0 && f.cmd2 === 0) return { kind: 'stop' };
  if (f.cmd2 === 0 && (f.cmd1 & ~PELCO_CMD1.sense) === PELCO_CMD1.cameraOnOff) return { kind: 'power', on: (f.cmd1 & PELCO_CMD1.sense) !== 0 };
  if (f.cmd1 === 0 && f.cmd2 === PELCO_CMD2.zoomTele) return { kind: 'zoom', direction: 'in' };
  if (f.cmd1 === 0 && f.cmd2 === PELCO_CMD2.zoomWide) return { kind: 'zoom', direction: 'out' };
  return other;
}
