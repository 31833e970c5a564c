/**
 * Typed device errors. Every error names the device and the command, so an
 * operator reading a log line or a kiosk toast knows what failed and where.
 */
export type DeviceErrorCode =
  | 'timeout' // no reply in time
  | 'nak' // the device answered with a negative acknowledgement / error reply
  | 'offline' // the transport is down; the command was not sent
  | 'protocol' // a reply arrived but did not make sense
  | 'unsupported' // the driver has no such command
  | 'invalid-args' // arguments failed validation
  | 'busy' // the device's queue is full
  | 'standby'; // a display in standby refuses everything but power-on

export class DeviceError extends Error {
  override readonly name: string = 'DeviceError';
  constructor(
    readonly code: DeviceErrorCode,
    readonly device: string,
    readonly command: string,
    detail: string,
  ) {
    super(`${device}: ${command}: ${detail}`);
  }
}

export class DeviceTimeoutError extends DeviceError {
  override readonly name = 'DeviceTimeoutError';
  constructor(device: string, command: string, readonly timeoutMs: number) {
    super('timeout', device, command, `no reply within ${timeoutMs} ms`);
  }
}

export class DeviceNakError extends DeviceError {
  override readonly name = 'DeviceNakError';
  constructor(device: string, command: string, readonly reason: string) {
    super('nak', device, command, `device refused: ${reason}`);
  }
}

export class DeviceOfflineError extends DeviceError {
  override readonly name = 'DeviceOfflineError';
  constructor(device: string, command: string) {
    super('offline', device, command, 'device is offline');
  }
}

export function isDeviceError(e: unknown): e is DeviceError {
  return e instanceof DeviceError;
}
