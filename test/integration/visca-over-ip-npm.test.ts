/**
 * Our VISCA camera fake checked with an independent client: the npm
 * `visca-over-ip` package (MorphixProductions/node-visca-over-ip 1.0.16).
 *
 * Despite its name, that package speaks raw VISCA over UDP — no Sony 8-byte
 * header: `ViscaCamera(ip, port)` opens a udp4 socket, connects it to the
 * camera and sends `ViscaCommand.toPacket()` (81 qq rr ... FF) as one datagram;
 * replies are parsed as raw VISCA (`z0 4y FF` ACK, `z0 5y FF` completion,
 * `z0 6y ee FF` error). So the fake serves raw VISCA on UDP here (`ViscaSim`
 * on a `UdpListener`, 127.0.0.1), as PTZ cameras do on their raw VISCA/UDP
 * port. Then our `visca` driver talks to the same fake over `UdpTransport`.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ViscaSim } from '../../drivers/sim/visca.js';
import { UdpListener, UdpTransport } from '../../drivers/transports/udp.js';
import { viscaDriver, viscaOptionsSchema } from '../../drivers/visca/driver.js';
import { DeviceNakError } from '../../drivers/errors.js';
import { silentLogger } from '../../edge/util/logger.js';
import { systemClock } from '../../edge/util/clock.js';

// The package is CommonJS with typings that use `any`; describe the part we use.
interface NpmViscaCommand {
  on(event: 'ack' | 'complete' | 'error', handler: (args: unknown[]) => void): void;
  toPacket(): number[];
}
interface NpmViscaCamera {
  client: { close(cb?: () => void): void; once(event: 'connect', cb: () => void): void };
  on(event: 'connected' | 'error', handler: (...args: unknown[]) => void): void;
  sendCommand(cmd: NpmViscaCommand): void;
}
interface NpmVisca {
  ViscaCamera: new (ip: string, port: number) => NpmViscaCamera;
  ViscaCommand: {
    new (settings: { messageType: number; dataType: number; data: number[] }): NpmViscaCommand;
    cameraPower(on: boolean): NpmViscaCommand;
    cameraPresetRecall(preset: number): NpmViscaCommand;
    cameraPresetSet(preset: number): NpmViscaCommand;
    cameraZoomIn(speed?: number): NpmViscaCommand;
  };
}

const require = createRequire(import.meta.url);
const visca = require('visca-over-ip') as NpmVisca;

type Outcome = { event: 'complete'; data: number[] } | { event: 'error'; message: string };

/** Send one command with the package and wait for its completion or error (ACK alone is not an outcome). */
function run(camera: NpmViscaCamera, cmd: NpmViscaCommand, events: string[] = []): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no completion for ${Buffer.from(cmd.toPacket()).toString('hex')}`)), 3000);
    cmd.on('ack', () => events.push('ack'));
    cmd.on('complete', (args) => {
      clearTimeout(timer);
      events.push('complete');
      resolve({ event: 'complete', data: [...((args[0] as number[] | undefined) ?? [])] });
    });
    cmd.on('error', (args) => {
      clearTimeout(timer);
      events.push('error');
      resolve({ event: 'error', message: (args[0] as Error).message });
    });
    camera.sendCommand(cmd);
  });
}

describe('raw VISCA fake vs npm visca-over-ip', () => {
  let listener: UdpListener;
  let sim: ViscaSim;
  let camera: NpmViscaCamera;
  let port = 0;

  beforeAll(async () => {
    listener = new UdpListener({ host: '127.0.0.1' });
    port = await listener.listen();
    sim = new ViscaSim(listener, { initial: { power: 'off' }, moveMs: 30, powerOnMs: 30 });
    camera = new visca.ViscaCamera('127.0.0.1', port);
    camera.on('error', () => undefined);
    // The package connects its UDP socket asynchronously and sends nothing usable before.
    await new Promise<void>((resolve) => camera.client.once('connect', resolve));
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => camera.client.close(() => resolve()));
    await sim.close();
  });

  it('power on from the package: ACK then completion, and the fake is on', async () => {
    const events: string[] = [];
    await expect(run(camera, visca.ViscaCommand.cameraPower(true), events)).resolves.toEqual({ event: 'complete', data: [] });
    expect(events).toEqual(['ack', 'complete']);
    expect(sim.received.at(-1)?.toString('hex')).toBe('8101040002ff');
    expect(sim.state.power).toBe('on');
  });

  it('the package’s power inquiry (81 09 04 00 FF) is answered 90 50 02 FF', async () => {
    const inquiry = new visca.ViscaCommand({ messageType: 0x09, dataType: 0x04, data: [0x00] });
    expect(Buffer.from(inquiry.toPacket()).toString('hex')).toBe('81090400ff');
    await expect(run(camera, inquiry)).resolves.toEqual({ event: 'complete', data: [0x02] });
  });

  it('preset set and recall from the package', async () => {
    await expect(run(camera, visca.ViscaCommand.cameraPresetSet(4))).resolves.toMatchObject({ event: 'complete' });
    expect(sim.received.at(-1)?.toString('hex')).toBe('8101043f0104ff');
    await expect(run(camera, visca.ViscaCommand.cameraPresetRecall(6))).resolves.toMatchObject({ event: 'complete' });
    expect(sim.received.at(-1)?.toString('hex')).toBe('8101043f0206ff');
    expect(sim.state.preset).toBe(6);
    await expect(run(camera, visca.ViscaCommand.cameraPresetRecall(4))).resolves.toMatchObject({ event: 'complete' });
    expect(sim.state.preset).toBe(4);
  });

  it('power off from the package; then a zoom is refused "not executable" and the package reports the error', async () => {
    await expect(run(camera, visca.ViscaCommand.cameraPower(false))).resolves.toMatchObject({ event: 'complete' });
    expect(sim.state.power).toBe('off');
    const zoom = visca.ViscaCommand.cameraZoomIn();
    expect(Buffer.from(zoom.toPacket()).toString('hex')).toBe('8101040702ff');
    // The package hands an error to the command it last tracked on that socket, or emits it on the camera.
    const errors: unknown[] = [];
    camera.on('error', (...args) => errors.push(args));
    zoom.on('error', (args) => errors.push(args));
    camera.sendCommand(zoom);
    const t0 = Date.now();
    while (errors.length === 0 && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 5));
    expect(JSON.stringify(errors, (_k, v: unknown) => (v instanceof Error ? v.message : v))).toContain('VISCA ERROR: command failed');
    expect(sim.state.zoomMotion).toBe('stop');
  });

  it('our visca driver against the same fake over UDP', async () => {
    const transport = new UdpTransport({ host: '127.0.0.1', port });
    const driver = viscaDriver.create({
      deviceId: 'cam-udp',
      options: viscaOptionsSchema.parse({ timeoutMs: 500, completionTimeoutMs: 2000, pollSeconds: 3600 }),
      transport: { type: 'bytes', transport },
      logger: silentLogger(),
      clock: systemClock,
    });
    const online: boolean[] = [];
    driver.on('online', (o) => online.push(o));
    try {
      await driver.open();
      // Up once the socket is bound; the first power inquiry then brings the camera online.
      const t0 = Date.now();
      while (online.length === 0 && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 5));
      expect(online).toEqual([true]);
      await expect(driver.execute('refresh', {})).resolves.toEqual({ power: 'off' });
      await expect(driver.execute('preset', { recall: 1 })).rejects.toBeInstanceOf(DeviceNakError);
      await expect(driver.execute('power', { on: true })).resolves.toEqual({ power: 'on' });
      await expect(driver.execute('preset', { recall: 4 })).resolves.toEqual({ preset: 4 });
      expect(sim.state.preset).toBe(4);
      await expect(driver.execute('power', { on: false })).resolves.toEqual({ power: 'off' });
      expect(sim.state.power).toBe('off');
    } finally {
      await driver.close();
    }
  });
});
