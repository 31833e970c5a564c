#!/usr/bin/python3
"""
NEC (Sharp NEC) large-format display stand-in: the SOH/STX/ETX BCC protocol.

Written from the vendor document as /work/shared/PROTOCOLS.md summarises it,
not from drivers/:
  - NEC "External Control" manual for LCD monitors (MultiSync V/P/E series),
    sections "Communication format" (header SOH '0' destination source type
    length(2 ASCII hex, counts STX..ETX), STX message ETX BCC CR; BCC = XOR of every
    byte after SOH through ETX; monitor ID 1..100 = 'A'(41h)..A4h, '*' = all;
    controller address '0'), "Message types" (A command, B command reply, C get
    parameter, D get reply, E set parameter, F set reply), "NULL message" (type A,
    message STX 'B' 'E' ETX: the monitor cannot process the request now, or BCC
    error), "Power control" (C203D6 + 0001 on / 0004 off; reply 00C203D6 + mode),
    "Power status read" (01D6; reply 02 result D6 00 max 0004 current 0001 on /
    0002 standby / 0004 off), get/set replies (result 00 no error / 01
    "unsupported operation with this monitor or under current condition",
    OP page, OP code, type 00, max 4 hex, value 4 hex).
  - PROTOCOLS.md frame: power on id1 01 30 41 30 41 30 43 02 43 32 30 33 44 36 30 30 30 31 03 73 0D.
OP codes kept: 00 60 input (01 VGA, 03 DVI, 0F DP1, 10 DP2, 11 HDMI1, 12 HDMI2,
82 HDMI3), 00 62 volume (0-100), 00 8D audio mute (1 mute, 0/2 unmute).

Choices: '*' (all monitors) is executed without reply; a frame with a bad BCC
gets the NULL message; while warming up (--warmup) everything but the power
status read gets the NULL message (busy); in standby a set parameter gets result
01 ("under current condition"), or nothing with --standby-silent.
"""
import sys

sys.dont_write_bytecode = True  # keep test/peers free of __pycache__
sys.path.insert(0, __import__('os').path.dirname(__file__))
from display_common import Display, base_args, main_guard, out, run  # noqa: E402

SOH, STX, ETX, CR = 0x01, 0x02, 0x03, 0x0D
ALL = 0x2A
INPUTS = {0x01: 'VGA', 0x03: 'DVI', 0x0F: 'DP1', 0x10: 'DP2', 0x11: 'HDMI1', 0x12: 'HDMI2', 0x82: 'HDMI3'}
CODES = {v: k for k, v in INPUTS.items()}


def bcc(b):
    x = 0
    for c in b:
        x ^= c
    return x


def parse(buf):
    """Frames as (dest, type, message-bytes-between-STX-and-ETX, bcc_ok)."""
    frames, dropped = [], b''
    while buf:
        i = buf.find(bytes([SOH]))
        if i < 0:
            return frames, b'', dropped + buf
        if i:
            dropped, buf = dropped + buf[:i], buf[i:]
        if len(buf) < 7:
            break
        try:
            n = int(buf[5:7].decode('ascii'), 16)
        except (UnicodeDecodeError, ValueError):
            dropped, buf = dropped + buf[:1], buf[1:]
            continue
        total = 7 + n + 2  # header, STX..ETX, BCC, CR
        if len(buf) < total:
            break
        raw = buf[:total]
        if raw[7] != STX or raw[6 + n] != ETX or raw[-1] != CR:
            dropped, buf = dropped + buf[:1], buf[1:]
            continue
        ok = bcc(raw[1:7 + n]) == raw[7 + n]
        frames.append((raw, (raw[2], raw[4], raw[8:6 + n], ok)))
        buf = buf[total:]
    return frames, buf, dropped


def main():
    args = base_args('NEC display stand-in', 1, 'HDMI1', b'\x00\xFF\x13').parse_args()
    d = Display(args)
    me = 0x40 + args.id

    def frame(mtype, msg):
        body = b'0' + b'0' + bytes([me, mtype]) + f'{len(msg) + 2:02X}'.encode() + bytes([STX]) + msg + bytes([ETX])
        return bytes([SOH]) + body + bytes([bcc(body), CR])

    null = lambda: frame(ord('A'), b'BE')  # noqa: E731

    def param_reply(mtype, result, page, code, maxv, value):
        return frame(mtype, f'{result:02X}{page:02X}{code:02X}00{maxv:04X}{value:04X}'.encode())

    def handle(f):
        dest, mtype, msg, ok = f
        if dest != me and dest != ALL:
            out(f'ignored other-id {dest:02X}')
            return None
        if not ok:
            return null() if dest == me else None
        msg = msg.decode('ascii', 'replace')
        is_status = mtype == ord('A') and msg == '01D6'
        power_on = mtype == ord('A') and msg == 'C203D60001'
        if not d.power and args.standby_silent and not power_on:
            out('ignored standby')
            return None
        if d.warming() and not is_status:
            out('busy warming-up')
            return null() if dest == me else None
        reply = execute(mtype, msg)
        if dest == ALL:
            out('ignored broadcast (executed, no reply)')
            return None
        return reply

    def current(code):
        return {0x60: CODES[d.input], 0x62: d.volume, 0x8D: 1 if d.mute else 2}.get(code)

    def execute(mtype, msg):
        if mtype == ord('A'):
            if msg == '01D6':
                return frame(ord('B'), f'0200D6000004{1 if d.power else 4:04X}'.encode())
            if msg.startswith('C203D6') and len(msg) == 10:
                mode = int(msg[6:], 16)
                if mode in (1, 4):
                    d.set_power(mode == 1)
                    return frame(ord('B'), f'00C203D6{mode:04X}'.encode())
                return frame(ord('B'), f'01C203D6{mode:04X}'.encode())
            return null()
        if mtype in (ord('C'), ord('E')):
            try:
                page, code = int(msg[0:2], 16), int(msg[2:4], 16)
                value = int(msg[4:8], 16) if mtype == ord('E') else None
            except ValueError:
                return null()
            maxv = {0x60: 0x82, 0x62: 100, 0x8D: 2}.get(code)
            rtype = mtype + 1
            if page != 0 or maxv is None:
                return param_reply(rtype, 1, page, code, 0, value or 0)
            if mtype == ord('C'):
                return param_reply(rtype, 0, page, code, maxv, current(code))
            if len(msg) != 8:
                return null()
            if not d.power:
                return param_reply(rtype, 1, page, code, maxv, value)
            if code == 0x60 and value in INPUTS and INPUTS[value] not in args.missing_input:
                d.input = INPUTS[value]
            elif code == 0x62 and value <= 100:
                d.volume = value
            elif code == 0x8D and value <= 2:
                d.mute = value == 1
            else:
                return param_reply(rtype, 1, page, code, maxv, value)
            d.report()
            return param_reply(rtype, 0, page, code, maxv, value)
        return null()

    run('nec', d, parse, handle)


if __name__ == '__main__':
    main_guard(main)
