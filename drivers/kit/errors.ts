/**
 * Errors the request/response engine adds to drivers/errors.ts.
 */
import { DeviceError, DeviceNakError } from '../errors.js';

/**
 * A refusal with the protocol's own error field (LG NG data 01..03, MDC NAK
 * error byte, NEC result code, Sharp ERR/LOCKED/...): `protocolCode` is that
 * field, never the data the device echoed back.
 */
export class ProtocolNakError extends DeviceNakError {
  constructor(
    device: string,
    command: string,
    readonly protocolCode: string,
    reason: string,
  ) {
    super(device, command, reason);
  }
}

/**
 * A non-power command to a display known to be in standby: refused at once
 * instead of a slow, vague timeout (error code `standby`).
 */
export class DeviceStandbyError extends DeviceError {
  override readonly name = 'DeviceStandbyError';
  readonly reason = 'standby';
  constructor(device: string, command: string) {
    super('standby', device, command, 'the display is in standby: power it on first');
  }
}
