/**
 * PJLink class 2 search (JBMIA "PJLink Specifications" Version 2.00,
 * 2017-01-31, search procedure): the controller sends `%2SRCH` CR by UDP to
 * port 4352 (normally a broadcast), every class 2 projector that hears it
 * answers `%2ACKN=<its MAC>` CR; the controller collects answers for a while.
 *
 * Replies are read on the socket the search is sent from. It is bound to
 * `listenPort` (default 4352, the PJLink port, so replies addressed either to
 * the sender's port or to the controller's port 4352 both arrive; pass 0 for
 * an ephemeral port). Class 1-only projectors do not answer: add those by
 * address. Used by technicians (a CLI / API action), not by the driver.
 */
import dgram from 'node:dgram';
import { decodeSearchAck, PJLINK_PORT, PJLINK_SEARCH } from './codec.js';

export interface PjlinkSearchOptions {
  /** How long to collect replies, ms. */
  timeoutMs: number;
  /** Where to send the search (default the limited broadcast 255.255.255.255). */
  broadcast?: string;
  /** Projectors' UDP port (default 4352). */
  port?: number;
  /** Local port to send from and listen on (default 4352; 0 = any). */
  listenPort?: number;
  /** Local address to bind (default all). */
  bindAddress?: string;
  /** Datagrams that are not ACKN replies (our own broadcast echoed back is skipped silently). */
  onIgnored?: (detail: string, from: string) => void;
}

export interface PjlinkFound {
  /** IP address the reply came from. */
  address: string;
  /** MAC address from the ACKN reply, lower case `aa:bb:cc:dd:ee:ff`. */
  mac: string;
}

export async function searchPjlink(options: PjlinkSearchOptions): Promise<PjlinkFound[]> {
  const port = options.port ?? PJLINK_PORT;
  const target = options.broadcast ?? '255.255.255.255';
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const found = new Map<string, PjlinkFound>();
  socket.on('message', (msg, rinfo) => {
    if (msg.equals(PJLINK_SEARCH)) return; // our own search, looped back
    const mac = decodeSearchAck(msg);
    if (!mac.ok) {
      options.onIgnored?.(mac.error, rinfo.address);
      return;
    }
    const key = `${rinfo.address}/${mac.value}`;
    if (!found.has(key)) found.set(key, { address: rinfo.address, mac: mac.value });
  });
  let socketError: Error | undefined;
  socket.on('error', (e) => {
    socketError = e;
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(options.listenPort ?? PJLINK_PORT, options.bindAddress, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.setBroadcast(true);
    await new Promise<void>((resolve, reject) => {
      socket.send(PJLINK_SEARCH, port, target, (err) => (err ? reject(err) : resolve()));
    });
    await new Promise<void>((resolve) => setTimeout(resolve, options.timeoutMs));
    if (socketError) throw socketError;
  } catch (e) {
    throw new Error(`PJLink search to ${target}:${port} failed: ${(e as Error).message}`, { cause: e });
  } finally {
    await new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve(); // never bound, or already closed
      }
    });
  }
  return [...found.values()];
}
