#!/usr/bin/python3
"""
Sharp PN-series (PN-E/PN-R/PN-L) display stand-in: the RS-232C text commands.

Written from the vendor document as /work/shared/PROTOCOLS.md summarises it,
not from drivers/:
  - Sharp PN-series operation manual, "Controlling the monitor with a PC
    (RS-232C)" — command format: 4-character command + 4-character parameter
    (right-aligned, padded with spaces or zeros; "????" reads the value) + CR;
    responses, each ended by CR LF: "OK", the value for a read, "ERR" (unknown
    command or parameter out of range), "WAIT" (the monitor is busy, e.g. just
    after power-on), "LOCKED" (RS-232C control locked), "UNSELECTED";
    a response can take >= 10 s (power), leave >= 100 ms between a response and
    the next command.
Commands kept: POWR (0 standby, 1 on; read: 0 standby, 1 on), INPS (input mode
number 1-20), VOLM (0-31), MUTE (0 off, 1 on).

Not modelled: ID selection (IDSL/IDLK, "UNSELECTED", "OK 001" replies): with no
ID selected every monitor obeys, which is the manual's default; so there is no
other-id or broadcast case for Sharp here. LOCKED (RS-232C lock) is not modelled.
Choices: while warming up (--warmup) everything but a read gets "WAIT"; in
standby a set command other than POWR gets "ERR", or nothing with --standby-silent.
"""
import re
import sys

sys.dont_write_bytecode = True  # keep test/peers free of __pycache__
sys.path.insert(0, __import__('os').path.dirname(__file__))
from display_common import Display, base_args, main_guard, out, run  # noqa: E402

CMD = re.compile(rb'([A-Z]{4})([ 0-9?\-]{4})$')
RANGES = {'POWR': (0, 1), 'INPS': (1, 20), 'VOLM': (0, 31), 'MUTE': (0, 1)}


def parse(buf):
    frames, dropped = [], b''
    while True:
        i = buf.find(b'\r')
        if i < 0:
            if len(buf) > 64:
                return frames, b'', dropped + buf
            return frames, buf, dropped
        raw, buf = buf[:i + 1], buf[i + 1:]
        m = CMD.search(raw[:-1].lstrip(b'\n'))
        if not m:
            dropped += raw
            frames.append((raw, None))  # a line the monitor cannot read: ERR
            continue
        junk = raw[:-1].lstrip(b'\n')[:m.start()]
        if junk:
            dropped += junk
        frames.append((raw, (m.group(1).decode(), m.group(2).decode())))


def main():
    args = base_args('Sharp PN display stand-in', 1, '10', b'\x00\xFF').parse_args()
    d = Display(args)
    d.input = int(args.input)

    def reply(text):
        return text.encode() + b'\r\n'

    def handle(f):
        if f is None:
            return None if (not d.power and args.standby_silent) else reply('ERR')
        cmd, param = f
        is_read = param == '????'
        power_on = cmd == 'POWR' and param.strip() in ('1', '0001', '001', '01')
        if not d.power and args.standby_silent and not power_on:
            out('ignored standby')
            return None
        if d.warming() and not is_read:
            out('busy warming-up')
            return reply('WAIT')
        return execute(cmd, param, is_read)

    def execute(cmd, param, is_read):
        if cmd not in RANGES:
            return reply('ERR')
        values = {'POWR': int(d.power), 'INPS': d.input, 'VOLM': d.volume, 'MUTE': int(d.mute)}
        if is_read:
            return reply(str(values[cmd]))
        try:
            v = int(param.strip())
        except ValueError:
            return reply('ERR')
        lo, hi = RANGES[cmd]
        if not lo <= v <= hi:
            return reply('ERR')
        if cmd == 'POWR':
            d.set_power(v == 1)
            return reply('OK')
        if not d.power:
            return reply('ERR')
        if cmd == 'INPS':
            if str(v) in args.missing_input:
                return reply('ERR')
            d.input = v
        elif cmd == 'VOLM':
            d.volume = v
        else:
            d.mute = v == 1
        d.report()
        return reply('OK')

    run('sharp', d, parse, handle)


if __name__ == '__main__':
    main_guard(main)
