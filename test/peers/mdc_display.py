#!/usr/bin/python3
"""
Samsung MDC (Multiple Display Control) display stand-in over RS-232C.

Written from the vendor documents as /work/shared/PROTOCOLS.md summarises them,
not from drivers/:
  - Samsung 320TSn-3 user manual, MDC section p29 (frame AA cmd id len data cs,
    checksum = sum of every byte after AA mod 256; ACK/NAK reply layout)
  - Samsung MD40B user manual p42 (command table: 00 status, 11 power, 12 volume,
    13 mute, 14 input source; ID FE = all displays, no acknowledgement)
  - vgavro/samsung-mdc commands.py (input source codes 21 HDMI1, 23 HDMI2,
    31 HDMI3, 25 DisplayPort, 14 PC, 64 IWB; status reply field order)

Frames:
  request  AA cmd id len data.. cs         (len 0 = read the value)
  ACK      AA FF id len 41 cmd value.. cs  (len counts 41, cmd and the values)
  NAK      AA FF id 03 4E cmd err cs
  status   AA 00 id 00 cs -> ACK data: power volume mute input aspect NTimeNF FTimeNF
NAK error codes used here (the cited pages give the NAK layout but no table):
  01 = command not supported / value out of range, 02 = not allowed in standby.
A frame with a bad checksum is ignored, as the manual gives no reply for it.
Broadcast id FE: executed, never answered. Other ids: ignored.
Quirks (see display_common.py): --warmup (commands other than status / reads are
ignored while warming: MDC has no busy reply), --standby-silent, --garbage.
"""
import sys

sys.dont_write_bytecode = True  # keep test/peers free of __pycache__
sys.path.insert(0, __import__('os').path.dirname(__file__))
from display_common import Display, base_args, main_guard, out, run, hexs  # noqa: E402

BROADCAST = 0xFE
INPUTS = {0x14: 'PC', 0x21: 'HDMI1', 0x23: 'HDMI2', 0x25: 'DP', 0x31: 'HDMI3', 0x64: 'IWB'}
NAMES = {v: k for k, v in INPUTS.items()}


def cs(body):
    return sum(body) & 0xFF


def parse(buf):
    frames, dropped = [], b''
    while buf:
        i = buf.find(b'\xAA')
        if i < 0:
            return frames, b'', dropped + buf
        if i:
            dropped, buf = dropped + buf[:i], buf[i:]
        if len(buf) < 4:
            break
        n = buf[3]
        if len(buf) < 5 + n:
            break
        raw = buf[:5 + n]
        if cs(raw[1:-1]) != raw[-1]:
            # Bad checksum: no reply; resynchronise on the next AA.
            dropped, buf = dropped + buf[:1], buf[1:]
            continue
        frames.append((raw, (raw[1], raw[2], raw[4:-1])))
        buf = buf[5 + n:]
    return frames, buf, dropped


def main():
    args = base_args('Samsung MDC display stand-in', 1, 'HDMI1', b'\x00\xFF\x13\x00').parse_args()
    d = Display(args)

    def frame(body):
        return b'\xAA' + body + bytes([cs(body)])

    def ack(cmd, values):
        return frame(bytes([0xFF, args.id, 2 + len(values), 0x41, cmd]) + bytes(values))

    def nak(cmd, err):
        return frame(bytes([0xFF, args.id, 3, 0x4E, cmd, err]))

    def handle(f):
        cmd, dev, data = f
        if dev != args.id and dev != BROADCAST:
            out(f'ignored other-id {dev:02X}')
            return None
        is_read = len(data) == 0
        power_on = cmd == 0x11 and data == b'\x01'
        if not d.power and args.standby_silent and not power_on:
            out('ignored standby')
            return None
        if d.warming() and not is_read:
            out('ignored warming-up')
            return None
        reply = execute(cmd, data)
        if dev == BROADCAST:
            out('ignored broadcast (executed, no reply)')
            return None
        return reply

    def execute(cmd, data):
        if cmd == 0x00 and not data:
            return ack(0x00, [int(d.power), d.volume, int(d.mute), NAMES[d.input], 0x00, 0x00, 0x00])
        if cmd == 0x11:
            if not data:
                return ack(cmd, [int(d.power)])
            if len(data) == 1 and data[0] in (0, 1):
                d.set_power(data[0] == 1)
                return ack(cmd, [data[0]])
            return nak(cmd, 0x01)
        if cmd in (0x12, 0x13, 0x14):
            if not data:
                return ack(cmd, [{0x12: d.volume, 0x13: int(d.mute), 0x14: NAMES[d.input]}[cmd]])
            if not d.power:
                return nak(cmd, 0x02)
            v = data[0]
            if len(data) != 1:
                return nak(cmd, 0x01)
            if cmd == 0x12 and v <= 100:
                d.volume = v
            elif cmd == 0x13 and v in (0, 1):
                d.mute = v == 1
            elif cmd == 0x14 and v in INPUTS and INPUTS[v] not in args.missing_input:
                d.input = INPUTS[v]
            else:
                return nak(cmd, 0x01)
            d.report()
            return ack(cmd, [v])
        return nak(cmd, 0x01)

    run('mdc', d, parse, handle)


if __name__ == '__main__':
    main_guard(main)
