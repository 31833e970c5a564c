"""
Shared plumbing for the display stand-ins in test/peers: command-line flags,
device state, the serial loop, quirks and logging. Protocol knowledge lives
only in the per-vendor scripts; nothing here (or there) is taken from drivers/.

Output on stdout, one line each, for the tests to read:
  ready <name> <port>           the port is open and the loop runs
  rx <hex>  /  tx <hex>         every frame taken and every reply written
  ignored <why> <hex>           a frame taken and deliberately not answered
  state power=.. input=.. volume=.. mute=..   after every change
  drop <hex>                    bytes thrown away while resynchronising

Flags common to all stand-ins:
  --id N              the device's own id (protocol-specific meaning)
  --power on|standby  power state at start (default standby)
  --warmup S          after a power-on, for S seconds every command but a status
                      query is ignored (or answered busy where the protocol has it)
  --standby-silent    in standby answer nothing but power-on
  --garbage HEX       noise bytes written before every reply
  --missing-input N   an input (stand-in's name, e.g. HDMI3) this model lacks: selecting it is refused
  SIGUSR1             write the noise (or the protocol default) before the next reply only
"""
import argparse
import signal
import sys
import time

import serial


def base_args(description, default_id, default_input, default_noise):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument('port')
    ap.add_argument('--baud', type=int, default=9600)
    ap.add_argument('--id', type=int, default=default_id)
    ap.add_argument('--power', choices=['on', 'standby'], default='standby')
    ap.add_argument('--input', default=default_input)
    ap.add_argument('--volume', type=int, default=10)
    ap.add_argument('--warmup', type=float, default=0.0)
    ap.add_argument('--standby-silent', action='store_true')
    ap.add_argument('--garbage', default=None, help='hex bytes, e.g. "00ff13"')
    ap.add_argument('--missing-input', action='append', default=[],
                    help='an input this model lacks (the manual\'s code tables cover a family; models differ): refused')
    ap.set_defaults(default_noise=default_noise)
    return ap


def out(line):
    print(line, flush=True)


def hexs(b):
    return b.hex(' ').upper()


class Display:
    """Device state and the quirk rules every stand-in shares."""

    def __init__(self, args):
        self.args = args
        self.power = args.power == 'on'
        self.input = args.input
        self.volume = args.volume
        self.mute = False
        self.warm_until = 0.0
        self.noise_next = False
        self.noise = bytes.fromhex(args.garbage) if args.garbage else args.default_noise

    def warming(self):
        return self.power and time.monotonic() < self.warm_until

    def set_power(self, on):
        if on and not self.power and self.args.warmup > 0:
            self.warm_until = time.monotonic() + self.args.warmup
        self.power = on
        self.report()

    def report(self):
        out(f"state power={'on' if self.power else 'standby'} input={self.input} "
            f"volume={self.volume} mute={'on' if self.mute else 'off'}")


def run(name, display, parse, handle):
    """parse(buf) -> (frames, rest, dropped); handle(frame) -> reply bytes or None."""
    args = display.args

    def arm(_sig, _frm):
        display.noise_next = True

    signal.signal(signal.SIGUSR1, arm)
    port = serial.Serial(args.port, args.baud, timeout=0.02)
    port.reset_input_buffer()
    out(f"ready {name} {args.port}")
    display.report()
    buf = b''
    last_rx = time.monotonic()
    while True:
        chunk = port.read(512)
        now = time.monotonic()
        if chunk:
            buf += chunk
            last_rx = now
        elif buf and now - last_rx > 1.0:
            # A partial frame that never completed: a real device's receive timeout.
            out(f"drop {hexs(buf)}")
            buf = b''
        if not buf:
            continue
        frames, buf, dropped = parse(buf)
        if dropped:
            out(f"drop {hexs(dropped)}")
        for raw, frame in frames:
            out(f"rx {hexs(raw)}")
            reply = handle(frame)
            if not reply:
                continue
            if args.garbage or display.noise_next:
                display.noise_next = False
                reply = display.noise + reply
            port.write(reply)
            port.flush()
            out(f"tx {hexs(reply)}")


def main_guard(fn):
    try:
        fn()
    except KeyboardInterrupt:
        pass
    except serial.SerialException as e:
        print(f"serial error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)
