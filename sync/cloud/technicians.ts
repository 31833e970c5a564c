/**
 * Who may do what in the reference cloud's technician API (docs/sync.md,
 * "Technicians' remote commands"): technicians come from the cloud config
 * with a scrypt hash of their token (edge/security/passwords.ts; make one
 * with `classroom-edge hash-password`), a role and a scope of school ids.
 *
 * - Token: `Authorization: Bearer {name}:{secret}`. The name selects the one
 *   hash to check (one scrypt per check, on the thread pool); a verified
 *   token is cached for a few minutes under its SHA-256.
 * - A room's school: the cloud config's `rooms` list when it names the room,
 *   otherwise the room id without its last `-segment` (jy-0101-r203 is in
 *   school jy-0101). A room id without `-` that is not listed has no school:
 *   only a `*` scope covers it.
 * - Roles: `technician` may run the commands of TECHNICIAN_COMMANDS;
 *   `admin` may run every command (service.restart, and later config.apply).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { verifyPassword } from '../../edge/security/passwords.js';
import { COMMAND_ROLES, linkIdSchema, technicianNameSchema, type CommandRole } from '../protocol.js';

export const TECHNICIAN_COMMANDS: readonly string[] = ['devices.list', 'device.command', 'scene.run', 'logs.recent', 'diagnostics', 'recording.start', 'recording.stop', 'recording.live'];
const CACHE_MS = 5 * 60_000;

export const technicianSchema = z
  .object({
    name: technicianNameSchema,
    tokenHash: z.string().startsWith('scrypt$', 'a scrypt hash made by `classroom-edge hash-password`'),
    role: z.enum(COMMAND_ROLES),
    /** School ids this technician manages; `*` is every school. */
    schools: z.array(z.union([linkIdSchema, z.literal('*')])).min(1),
  })
  .strict();
export type Technician = z.infer<typeof technicianSchema>;

export const roomEntrySchema = z.object({ id: linkIdSchema, school: linkIdSchema }).strict();
export type RoomEntry = z.infer<typeof roomEntrySchema>;

export type Authorization = { ok: true; school: string | null } | { ok: false; reason: string };

export class Technicians {
  private readonly byName: Map<string, Technician>;
  private readonly schools: Map<string, string>;
  private readonly cache = new Map<string, { tech: Technician; until: number }>();

  constructor(
    technicians: readonly Technician[],
    rooms: readonly RoomEntry[],
    private readonly monotonic: () => number = () => performance.now(),
  ) {
    this.byName = new Map(technicians.map((t) => [t.name, t]));
    this.schools = new Map(rooms.map((r) => [r.id, r.school]));
  }

  /**
   * The technician of an `Authorization: Bearer name:secret` header, or null. With `basic`, also
   * `Basic base64(name:secret)` (the fleet page: a browser's form cannot send a Bearer header).
   */
  async authenticate(header: string | undefined, opts: { basic?: boolean } = {}): Promise<Technician | null> {
    let token: string;
    if (header?.startsWith('Bearer ')) token = header.slice(7).trim();
    else if (opts.basic && header?.startsWith('Basic ')) token = Buffer.from(header.slice(6), 'base64').toString('utf8');
    else return null;
    const colon = token.indexOf(':');
    if (colon <= 0 || token.length > 512) return null;
    const tech = this.byName.get(token.slice(0, colon));
    if (!tech) return null;
    const key = createHash('sha256').update(token).digest('hex');
    const hit = this.cache.get(key);
    const now = this.monotonic();
    if (hit && hit.until > now) return hit.tech;
    if (!(await verifyPassword(token.slice(colon + 1), tech.tokenHash))) return null;
    if (this.cache.size > 1000) this.cache.clear();
    this.cache.set(key, { tech, until: now + CACHE_MS });
    return tech;
  }

  /** The room's school: the configured room list first, then the id without its last `-segment`. */
  schoolOf(roomId: string): string | null {
    const listed = this.schools.get(roomId);
    if (listed) return listed;
    const dash = roomId.lastIndexOf('-');
    return dash > 0 ? roomId.slice(0, dash) : null;
  }

  configuredRooms(): string[] {
    return [...this.schools.keys()];
  }

  inScope(tech: Technician, roomId: string): boolean {
    if (tech.schools.includes('*')) return true;
    const school = this.schoolOf(roomId);
    return school !== null && tech.schools.includes(school);
  }

  /** May `tech` run `command` in `roomId`? A refusal says why. */
  authorize(tech: Technician, roomId: string, command: string): Authorization {
    const school = this.schoolOf(roomId);
    if (!this.inScope(tech, roomId)) {
      return { ok: false, reason: `room ${roomId} (school ${school ?? 'unknown'}) is outside the scope of ${tech.name} (${tech.schools.join(', ')})` };
    }
    if (!roleMay(tech.role, command)) return { ok: false, reason: `role ${tech.role} may not run ${command}` };
    return { ok: true, school };
  }
}

export function roleMay(role: CommandRole, command: string): boolean {
  return role === 'admin' || TECHNICIAN_COMMANDS.includes(command);
}
