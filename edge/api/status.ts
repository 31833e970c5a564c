/** HTTP status of a device command's result, by error code (shared by the technician and kiosk routes). */
import type { CommandResult } from '../devices/supervisor.js';

export function statusFor(r: CommandResult): number {
  if (r.ok) return 200;
  switch (r.error?.code) {
    case 'unknown-device':
      return 404;
    case 'unsupported':
    case 'invalid-args':
      return 400;
    case 'offline':
    case 'busy':
      return 503;
    case 'timeout':
      return 504;
    default:
      return 502;
  }
}
