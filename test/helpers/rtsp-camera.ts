/**
 * An RTSP camera stand-in: GStreamer's gst-rtsp-server through Debian's
 * python3-gi (gir1.2-gst-rtsp-server-1.0, x264enc from plugins-ugly,
 * avenc_aac from gstreamer1.0-libav). H.264 (chosen profile, GOP) with
 * optional AAC, or MJPEG to play a misconfigured camera; optional basic auth.
 * `stop()` is the camera going away, `restart()` it coming back on the same
 * port. Fails loudly with the server's own output when it cannot start.
 */
import type { ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { killGroupAndWait, PYTHON, startPeer, waitFor } from './peers.js';

const SERVER = `
import sys, json
import gi
gi.require_version('Gst', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import Gst, GstRtspServer, GLib
Gst.init(None)
o = json.loads(sys.argv[1])
w, h, fps, gop = o['width'], o['height'], o['framerate'], o['gop']
video = f"videotestsrc is-live=true pattern={o['pattern']} ! video/x-raw,format=I420,width={w},height={h},framerate={fps}/1 ! "
if o['codec'] == 'mjpeg':
    video += "jpegenc quality=70 ! rtpjpegpay name=pay0 pt=26"
else:
    # ultrafast turns CABAC and 8x8 transforms off, which x264 then signals as Constrained Baseline whatever the caps ask.
    preset = 'ultrafast' if 'baseline' in o['profile'] else 'superfast'
    video += (f"x264enc tune=zerolatency speed-preset={preset} key-int-max={gop} bitrate={o['kbps']} ! "
              f"video/x-h264,profile={o['profile']} ! rtph264pay name=pay0 pt=96 config-interval=1")
launch = "( " + video
if o['audio']:
    launch += " audiotestsrc is-live=true wave=sine freq=440 ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=1 ! avenc_aac ! rtpmp4gpay name=pay1 pt=97"
launch += " )"
server = GstRtspServer.RTSPServer()
server.set_address('127.0.0.1')
server.set_service(str(o['port']))
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(launch)
factory.set_shared(True)
if o.get('username') is not None:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string('media.factory.role', 'camera-user')
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(o['username'], o['password']), token)
    server.set_auth(auth)
    perms = GstRtspServer.RTSPPermissions()
    perms.add_permission_for_role('camera-user', 'media.factory.access', True)
    perms.add_permission_for_role('camera-user', 'media.factory.construct', True)
    factory.set_permissions(perms)
server.get_mount_points().add_factory(o['path'], factory)
if server.attach(None) == 0:
    print('cannot attach the RTSP server to port', o['port'], flush=True)
    sys.exit(2)
print('ready', launch, flush=True)
GLib.MainLoop().run()
`;

export interface RtspCameraOptions {
  /** Scratch directory for the server script. */
  dir: string;
  width?: number;
  height?: number;
  framerate?: number;
  /** Keyframe interval in frames (default = framerate: 1 s). */
  gop?: number;
  codec?: 'h264' | 'mjpeg';
  /** x264 profile (default main). */
  profile?: 'baseline' | 'constrained-baseline' | 'main' | 'high';
  kbps?: number;
  audio?: boolean;
  /**
   * videotestsrc's picture (default ball: cheap to encode, so x264 sends far below `kbps`; snow:
   * noise that fills the bitrate, a worst case for a benchmark).
   */
  pattern?: 'ball' | 'snow' | 'smpte';
  /** Basic auth: the camera refuses anyone else. */
  credentials?: { username: string; password: string };
  path?: string;
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect({ host: '127.0.0.1', port });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export class RtspCamera {
  readonly port: number;
  readonly url: string;
  private proc: ChildProcess | null = null;
  private readonly script: string;
  private readonly params: Record<string, unknown>;

  private constructor(port: number, opts: RtspCameraOptions) {
    this.port = port;
    const path = opts.path ?? '/stream1';
    this.url = `rtsp://127.0.0.1:${port}${path}`;
    const framerate = opts.framerate ?? 25;
    this.params = {
      port,
      path,
      width: opts.width ?? 640,
      height: opts.height ?? 360,
      framerate,
      gop: opts.gop ?? framerate,
      codec: opts.codec ?? 'h264',
      profile: opts.profile ?? 'main',
      kbps: opts.kbps ?? 800,
      audio: opts.audio ?? false,
      pattern: opts.pattern ?? 'ball',
      username: opts.credentials?.username ?? null,
      password: opts.credentials?.password ?? null,
    };
    this.script = join(opts.dir, `rtsp-camera-${port}.py`);
    writeFileSync(this.script, SERVER);
  }

  /** Starts a camera on a free port and waits until it accepts connections. */
  static async start(opts: RtspCameraOptions): Promise<RtspCamera> {
    const cam = new RtspCamera(await freePort(), opts);
    await cam.restart();
    return cam;
  }

  /** The server process (for waitFor's peer list). */
  get process(): ChildProcess | null {
    return this.proc;
  }

  /** The camera goes away: its whole process group is killed (connections drop at once). */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    await killGroupAndWait(p ?? undefined, 'SIGKILL');
  }

  /** (Re)starts the server on the same port: the camera coming back. */
  async restart(): Promise<void> {
    await this.stop();
    const p = startPeer(`gst-rtsp-server camera on ${this.port}`, PYTHON, [this.script, JSON.stringify(this.params)]);
    this.proc = p;
    await waitFor(() => accepts(this.port), 15_000, `the RTSP camera on port ${this.port}`, [p]);
  }
}
