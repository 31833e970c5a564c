/** Small fakes of the Electron main-process API (kiosk/main/electron-like.ts). */
import type {
  AppLike,
  BrowserWindowLike,
  ElectronLike,
  HeadersReceivedDetails,
  HeadersReceivedResponse,
  KioskWindowOptions,
  SessionLike,
  WebContentsLike,
  WindowOpenHandlerResponse,
} from '../../../kiosk/main/electron-like.js';

type Listener = (...args: never[]) => unknown;

class Emitter {
  readonly listeners = new Map<string, Listener[]>();
  on(event: string, listener: Listener): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }
  emit(event: string, ...args: unknown[]): void {
    for (const l of this.listeners.get(event) ?? []) (l as (...a: unknown[]) => unknown)(...args);
  }
  count(event: string): number {
    return this.listeners.get(event)?.length ?? 0;
  }
}

export class FakeEvent {
  prevented = false;
  constructor(readonly url?: string) {}
  preventDefault(): void {
    this.prevented = true;
  }
}

export class FakeWebContents extends Emitter implements WebContentsLike {
  openHandler: ((details: { url: string }) => WindowOpenHandlerResponse) | undefined;
  devToolsClosed = 0;
  url = '';
  setWindowOpenHandler(handler: (details: { url: string }) => WindowOpenHandlerResponse): void {
    this.openHandler = handler;
  }
  closeDevTools(): void {
    this.devToolsClosed++;
  }
  getURL(): string {
    return this.url;
  }
  /** Fire a navigation-like event; returns whether it was prevented. */
  navigate(event: 'will-navigate' | 'will-redirect', url: string): boolean {
    const e = new FakeEvent(url);
    this.emit(event, e, url);
    return e.prevented;
  }
}

export class FakeWindow extends Emitter implements BrowserWindowLike {
  static instances: FakeWindow[] = [];
  readonly webContents = new FakeWebContents();
  readonly loads: string[] = [];
  constructor(readonly options: KioskWindowOptions) {
    super();
    FakeWindow.instances.push(this);
  }
  loadURL(url: string): Promise<void> {
    this.loads.push(url);
    this.webContents.url = url;
    // Electron's loadURL rejects on failure; the window must not leave that unhandled.
    return url.startsWith('data:') ? Promise.resolve() : Promise.reject(new Error('ERR_CONNECTION_REFUSED (-102)'));
  }
  /** The page loaded: what Electron reports with did-finish-load. */
  finishLoad(): void {
    this.webContents.emit('did-finish-load');
  }
  failLoad(url: string, code = -102, isMainFrame = true): void {
    this.webContents.emit('did-fail-load', {}, code, 'ERR_CONNECTION_REFUSED', url, isMainFrame);
  }
}

export class FakeSession implements SessionLike {
  headersListener: ((d: HeadersReceivedDetails, cb: (r: HeadersReceivedResponse) => void) => void) | undefined;
  requestHandler: ((wc: unknown, permission: string, cb: (granted: boolean) => void, details?: unknown) => void) | undefined;
  checkHandler: ((wc: unknown, permission: string) => boolean) | undefined;
  webRequest = {
    onHeadersReceived: (listener: (d: HeadersReceivedDetails, cb: (r: HeadersReceivedResponse) => void) => void) => {
      this.headersListener = listener;
    },
  };
  setPermissionRequestHandler(h: (wc: unknown, permission: string, cb: (granted: boolean) => void, details?: unknown) => void): void {
    this.requestHandler = h;
  }
  setPermissionCheckHandler(h: (wc: unknown, permission: string) => boolean): void {
    this.checkHandler = h;
  }
  /** Run a response through the headers hook, synchronously. */
  respond(url: string, responseHeaders: Record<string, string[]>): HeadersReceivedResponse {
    let out: HeadersReceivedResponse | undefined;
    if (!this.headersListener) throw new Error('no onHeadersReceived listener');
    this.headersListener({ url, responseHeaders }, (r) => (out = r));
    if (!out) throw new Error('callback not called');
    return out;
  }
}

export class FakeApp extends Emitter implements AppLike {
  locked = true;
  quits = 0;
  ready = Promise.resolve();
  whenReady(): Promise<unknown> {
    return this.ready;
  }
  requestSingleInstanceLock(): boolean {
    return this.locked;
  }
  quit(): void {
    this.quits++;
  }
}

export function fakeElectron() {
  FakeWindow.instances = [];
  const session = new FakeSession();
  const app = new FakeApp();
  const menus: unknown[] = [];
  const electron: ElectronLike = {
    app,
    BrowserWindow: FakeWindow,
    session: { defaultSession: session },
    Menu: { setApplicationMenu: (m: null) => void menus.push(m) },
  };
  return { electron, session, app, menus, window: () => FakeWindow.instances[0]! };
}
