/**
 * Network listeners of the local bus: MQTT over TCP (node:net) and MQTT over
 * WebSocket (the `ws` package), each on every configured host address with
 * one port (port 0: the first host picks an ephemeral port, the others reuse
 * it). Connections are handed to `onConnection` as plain duplex streams.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream } from 'ws';

export type OnConnection = (inner: Duplex, remoteAddress: string, req?: IncomingMessage) => void;

export interface Listener {
  readonly port: number;
  /** Stop accepting; resolves when the servers are closed (existing connections are the caller's to end). */
  close(): Promise<void>;
}

function listenOn(server: NetServer | HttpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: NetServer | HttpServer): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

async function listenAll<S extends NetServer | HttpServer>(hosts: readonly string[], port: number, make: () => S): Promise<{ port: number; servers: S[] }> {
  if (hosts.length === 0) throw new Error('no host address to listen on');
  const servers: S[] = [];
  let actual = port;
  try {
    for (const host of hosts) {
      const server = make();
      servers.push(server);
      actual = await listenOn(server, actual, host);
    }
  } catch (err) {
    await Promise.all(servers.map(closeServer));
    throw err;
  }
  return { port: actual, servers };
}

export async function listenTcp(hosts: readonly string[], port: number, onConnection: OnConnection): Promise<Listener> {
  const { port: actual, servers } = await listenAll(hosts, port, () =>
    createNetServer((socket) => {
      socket.setNoDelay(true);
      onConnection(socket, socket.remoteAddress ?? 'unknown');
    }),
  );
  return { port: actual, close: async () => void (await Promise.all(servers.map(closeServer))) };
}

export async function listenWebSocket(
  hosts: readonly string[],
  port: number,
  opts: { maxFrameBytes: number },
  onConnection: OnConnection,
): Promise<Listener> {
  const sockets: WebSocketServer[] = [];
  const { port: actual, servers } = await listenAll(hosts, port, () => {
    const http = createHttpServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      res.end('MQTT over WebSocket only\n');
    });
    const wss = new WebSocketServer({
      server: http,
      maxPayload: opts.maxFrameBytes,
      // MQTT over WebSocket names the subprotocol "mqtt" (or "mqttv3.1"); accept a client that names none.
      handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
    });
    wss.on('connection', (ws, req) => {
      const stream = createWebSocketStream(ws);
      onConnection(stream, req.socket.remoteAddress ?? 'unknown', req);
    });
    wss.on('error', () => undefined); // server errors surface through the http server
    sockets.push(wss);
    return http;
  });
  return {
    port: actual,
    close: async () => {
      for (const wss of sockets) {
        for (const ws of wss.clients) ws.terminate();
        wss.close();
      }
      for (const s of servers) s.closeAllConnections();
      await Promise.all(servers.map(closeServer));
    },
  };
}
