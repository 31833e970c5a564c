#!/usr/bin/python3
"""
LG display stand-in: the RS-232C "ka"-style text commands.

Written from the vendor document as /work/shared/PROTOCOLS.md summarises it,
not from drivers/:
  - LG 55LV5400 owner's manual, "External control device setup", p135
    (transmission [Command1][Command2][ ][Set ID][ ][Data][Cr];
     OK acknowledgement [Command2][ ][Set ID][ ][OK][Data][x];
     error acknowledgement [Command2][ ][Set ID][ ][NG][Data][x], data 00 = illegal code;
     data FF = read the current value; Set ID 00 = every set)
Commands kept: ka power (00 off, 01 on), ke volume mute (00 = muted, 01 = sound on),
kf volume (00-64 hex), kd screen mute (00/01), xb input (90 HDMI1, 91 HDMI2,
92 HDMI3, 93 HDMI4, 60 RGB-PC, 40 Component, 20 AV, 00 DTV, 10 Analog).
Set ID and data are two hex digits; replies use lower-case hex.

Readings of the manual that are choices here:
  - Set ID 00 (all sets): executed, no acknowledgement (several sets answering
    at once would collide on the shared line; the manual does not show a reply).
  - In standby the manual's sets answer only power (the PROTOCOLS note: "no status
    in standby"): that is --standby-silent. Without the flag the stand-in answers
    reads and refuses other set commands in standby with NG00.
  - The manual has no busy reply: while warming up (--warmup) everything but a
    read (data ff) is ignored.
Lines that do not parse are ignored (no Set ID to answer with).
"""
import re
import sys

sys.dont_write_bytecode = True  # keep test/peers free of __pycache__
sys.path.insert(0, __import__('os').path.dirname(__file__))
from display_common import Display, base_args, main_guard, out, run  # noqa: E402

LINE = re.compile(rb'^([a-z])([a-z]) ([0-9A-Fa-f]{2}) ([0-9A-Fa-f]{2})$')
INPUTS = {0x90: 'HDMI1', 0x91: 'HDMI2', 0x92: 'HDMI3', 0x93: 'HDMI4', 0x60: 'RGB', 0x40: 'COMPONENT',
          0x20: 'AV', 0x00: 'DTV', 0x10: 'ANALOG'}
CODES = {v: k for k, v in INPUTS.items()}


def parse(buf):
    frames, dropped = [], b''
    while True:
        i = buf.find(b'\r')
        if i < 0:
            if len(buf) > 64:
                return frames, b'', dropped + buf
            return frames, buf, dropped
        raw, buf = buf[:i + 1], buf[i + 1:]
        # Line noise before a command: keep from the first lower-case command letter pair.
        line = raw[:-1]
        m = None
        for start in range(len(line)):
            m = LINE.match(line[start:])
            if m:
                if start:
                    dropped += line[:start]
                break
        if not m:
            dropped += raw
            continue
        frames.append((raw, (m.group(1) + m.group(2), int(m.group(3), 16), int(m.group(4), 16))))


def main():
    args = base_args('LG display stand-in', 1, 'HDMI1', b'\x00\xFF\x7F').parse_args()
    d = Display(args)
    screen_mute = [False]

    def ok(c2, v):
        return f'{c2} {args.id:02x} OK{v:02x}x'.encode()

    def ng(c2, code=0x00):
        return f'{c2} {args.id:02x} NG{code:02x}x'.encode()

    def handle(f):
        cmd, dev, val = f
        if dev != args.id and dev != 0:
            out(f'ignored other-id {dev:02x}')
            return None
        cmd = cmd.decode()
        is_read = val == 0xFF
        power_on = cmd == 'ka' and val == 0x01
        if not d.power and args.standby_silent and not power_on:
            out('ignored standby')
            return None
        if d.warming() and not is_read:
            out('ignored warming-up')
            return None
        reply = execute(cmd, val, is_read)
        if dev == 0:
            out('ignored broadcast (executed, no reply)')
            return None
        return reply

    def execute(cmd, val, is_read):
        c2 = cmd[1]
        if cmd == 'ka':
            if is_read:
                return ok(c2, int(d.power))
            if val in (0, 1):
                d.set_power(val == 1)
                return ok(c2, val)
            return ng(c2)
        current = {'ke': 0 if d.mute else 1, 'kf': d.volume, 'kd': int(screen_mute[0]),
                   'xb': CODES.get(d.input, 0x90)}
        if cmd not in current:
            return ng(c2)
        if is_read:
            return ok(c2, current[cmd])
        if not d.power:
            return ng(c2)
        if cmd == 'ke' and val in (0, 1):
            d.mute = val == 0
        elif cmd == 'kf' and val <= 0x64:
            d.volume = val
        elif cmd == 'kd' and val in (0, 1):
            screen_mute[0] = val == 1
        elif cmd == 'xb' and val in INPUTS and INPUTS[val] not in args.missing_input:
            d.input = INPUTS[val]
        else:
            return ng(c2)
        d.report()
        return ok(c2, val)

    run('lg', d, parse, handle)


if __name__ == '__main__':
    main_guard(main)
