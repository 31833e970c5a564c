#!/usr/bin/python3
"""
Hitevision interactive flat panel (IFP) stand-in: the fixed 11-byte RS-232 frames.

Written from the vendor document as /work/shared/PROTOCOLS.md summarises it,
not from drivers/:
  - Hitevision IFP RS-232 control code table (115200 8N1): every command is
    7F 08 99 A2 B3 C4 02 FF 01 xx CF, xx = 00 power on, 01 power off (standby),
    02 mute (toggle), 06 source menu, 0A HDMI1, 0B HDMI2, 0C OPS, 0D PC1.
    The panel has no status query and sends no acknowledgement.
So this stand-in never writes a byte: there is nothing to refuse with an error
code, no id and no broadcast, and --garbage has nothing to precede. What it does
is keep state (printed on stdout, which is what the tests read) and apply the
quirks: --warmup (commands after power-on ignored for N s), --standby-silent and,
as a panel in standby has its scaler off, source and mute codes in standby are
ignored either way. Unknown codes and malformed frames are ignored (logged).
"""
import sys

sys.dont_write_bytecode = True  # keep test/peers free of __pycache__
sys.path.insert(0, __import__('os').path.dirname(__file__))
from display_common import Display, base_args, main_guard, out, run  # noqa: E402

PREFIX = bytes.fromhex('7F 08 99 A2 B3 C4 02 FF 01')
SOURCES = {0x0A: 'HDMI1', 0x0B: 'HDMI2', 0x0C: 'OPS', 0x0D: 'PC1'}


def parse(buf):
    frames, dropped = [], b''
    while buf:
        i = buf.find(b'\x7F')
        if i < 0:
            return frames, b'', dropped + buf
        if i:
            dropped, buf = dropped + buf[:i], buf[i:]
        if len(buf) < 11:
            if not PREFIX.startswith(buf[:9]):
                dropped, buf = dropped + buf[:1], buf[1:]
                continue
            break
        raw = buf[:11]
        if raw[:9] != PREFIX or raw[10] != 0xCF:
            dropped, buf = dropped + buf[:1], buf[1:]
            continue
        frames.append((raw, raw[9]))
        buf = buf[11:]
    return frames, buf, dropped


def main():
    ap = base_args('Hitevision IFP stand-in', 1, 'HDMI1', b'')
    ap.set_defaults(baud=115200)
    args = ap.parse_args()
    d = Display(args)

    def handle(code):
        if not d.power and code != 0x00:
            out('ignored standby')
            return None
        if d.warming():
            out('ignored warming-up')
            return None
        if code == 0x00:
            d.set_power(True)
        elif code == 0x01:
            d.set_power(False)
        elif code == 0x02:
            d.mute = not d.mute
            d.report()
        elif code in SOURCES:
            d.input = SOURCES[code]
            d.report()
        elif code == 0x06:
            out('source menu')
        else:
            out(f'ignored unknown-code {code:02X}')
        return None

    run('hitevision', d, parse, handle)


if __name__ == '__main__':
    main_guard(main)
