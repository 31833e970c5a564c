/**
 * PJLink error replies as typed errors (JBMIA PJLink Specifications 1.04,
 * §2.2 and §5): `ERR1`..`ERR4` answer a command, `PJLINK ERRA` refuses the
 * authentication digest. Both are refusals by a reachable projector, so both
 * are DeviceNakErrors (code 'nak'), distinct from timeouts.
 */
import { DeviceNakError, DeviceOfflineError } from '../errors.js';
import { PJLINK_ERRORS, type PjlinkErrorCode } from './codec.js';

export class PjlinkError extends DeviceNakError {
  constructor(
    device: string,
    command: string,
    /** The PJLink code, e.g. 'ERR3'. */
    readonly pjlinkCode: PjlinkErrorCode,
    detail?: string,
  ) {
    super(device, command, `${pjlinkCode} ${PJLINK_ERRORS[pjlinkCode]}${detail ? ` (${detail})` : ''}`);
  }
}

export class PjlinkAuthError extends DeviceNakError {
  readonly pjlinkCode = 'ERRA';
  constructor(device: string, command: string, detail: string) {
    super(device, command, `authentication failed (PJLINK ERRA): ${detail}`);
  }
}

/**
 * The connection to the projector failed or closed before the reply: an
 * offline condition. `stage` says where: 'connect' (no TCP connection),
 * 'closed' (the projector hung up during the exchange).
 */
export class PjlinkConnectionError extends DeviceOfflineError {
  constructor(
    device: string,
    command: string,
    readonly stage: 'connect' | 'closed',
    detail: string,
  ) {
    super(device, command);
    this.message = `${device}: ${command}: ${detail}`;
  }
}
