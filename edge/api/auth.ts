/**
 * HTTP authentication: Basic credentials checked against the same
 * credential store as the bus (scrypt hashes). Successful checks are cached
 * for a few minutes under a SHA-256 of the credentials, so a kiosk polling
 * the API does not pay a scrypt per request.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CredentialStore, Principal, Role } from '../security/credentials.js';
import type { Metrics } from '../metrics.js';
import type { Logger } from '../util/logger.js';
import type { Clock } from '../util/clock.js';

const CACHE_MS = 5 * 60_000;

export function createAuthenticator(deps: {
  credentials: CredentialStore;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  /** Bearer tokens of paired kiosks (optional). */
  tokens?: { verify(token: string): Principal | null };
}) {
  const cache = new Map<string, { principal: Principal; until: number }>();

  async function authenticate(header: string | undefined): Promise<Principal | null> {
    if (header?.startsWith('Bearer ')) return deps.tokens?.verify(header.slice(7).trim()) ?? null;
    if (!header?.startsWith('Basic ')) return null;
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return null;
    const username = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const key = createHash('sha256').update(decoded).digest('hex');
    const hit = cache.get(key);
    const now = deps.clock.monotonic();
    if (hit && hit.until > now) return hit.principal;
    const principal = await deps.credentials.verify(username, password);
    if (principal) {
      if (cache.size > 1000) cache.clear();
      cache.set(key, { principal, until: now + CACHE_MS });
    }
    return principal;
  }

  /** A fastify preHandler that requires one of the roles. */
  function requireRole(...roles: Role[]) {
    return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const principal = await authenticate(req.headers.authorization);
      if (!principal) {
        deps.metrics.authFailures.inc({ surface: 'api' });
        deps.logger.warn({ ip: req.ip, url: req.url }, 'API request without valid credentials');
        const bearer = req.headers.authorization?.startsWith('Bearer ') === true;
        await reply
          .code(401)
          .header('www-authenticate', bearer ? 'Bearer realm="classroom-edge"' : 'Basic realm="classroom-edge", charset="UTF-8"')
          .send({ error: { code: 'unauthorized', message: 'valid credentials required' } });
        return;
      }
      if (!roles.includes(principal.role)) {
        await reply.code(403).send({ error: { code: 'forbidden', message: `role ${principal.role} may not do this` } });
        return;
      }
      req.principal = principal;
    };
  }
  return Object.assign(requireRole, { authenticate });
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}
