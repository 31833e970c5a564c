/**
 * The few pieces of Electron's main-process API the kiosk uses, as plain
 * interfaces. The kiosk's main process is written against these, so that it
 * type-checks and is unit-tested without Electron installed (Electron is an
 * optional dependency whose binary is often absent); `entry.ts` imports the
 * real module at run time and hands it over.
 */

export interface PreventableEvent {
  preventDefault(): void;
}

/** `will-navigate` / `will-redirect`: Electron passes the target in `event.url` (and, deprecated, as the 2nd argument). */
export interface NavigationEvent extends PreventableEvent {
  url?: string;
}

export interface RenderProcessGoneDetails {
  reason: string;
  exitCode?: number;
}

export type WindowOpenHandlerResponse = { action: 'deny' };

export interface WebContentsLike {
  on(event: 'will-navigate' | 'will-redirect', listener: (event: NavigationEvent, url?: string) => void): unknown;
  on(event: 'will-attach-webview' | 'context-menu', listener: (event: PreventableEvent) => void): unknown;
  on(
    event: 'did-fail-load',
    listener: (event: unknown, errorCode: number, errorDescription: string, validatedURL: string, isMainFrame: boolean) => void,
  ): unknown;
  on(event: 'render-process-gone', listener: (event: unknown, details: RenderProcessGoneDetails) => void): unknown;
  on(event: 'did-finish-load' | 'devtools-opened', listener: () => void): unknown;
  setWindowOpenHandler(handler: (details: { url: string }) => WindowOpenHandlerResponse): void;
  closeDevTools(): void;
  getURL(): string;
}

export interface BrowserWindowLike {
  readonly webContents: WebContentsLike;
  loadURL(url: string): Promise<void>;
  on(event: 'closed', listener: () => void): unknown;
}

/** The BrowserWindow options the kiosk sets (a subset of Electron's BrowserWindowConstructorOptions). */
export interface KioskWindowOptions {
  fullscreen: boolean;
  kiosk: boolean;
  autoHideMenuBar: boolean;
  backgroundColor: string;
  title: string;
  webPreferences: {
    contextIsolation: boolean;
    sandbox: boolean;
    nodeIntegration: boolean;
    nodeIntegrationInWorker: boolean;
    nodeIntegrationInSubFrames: boolean;
    webviewTag: boolean;
    devTools: boolean;
    preload: string;
    spellcheck: boolean;
    webSecurity: boolean;
    allowRunningInsecureContent: boolean;
    experimentalFeatures: boolean;
    navigateOnDragDrop: boolean;
    safeDialogs: boolean;
    additionalArguments: string[];
  };
}

export interface HeadersReceivedDetails {
  url: string;
  responseHeaders?: Record<string, string[]>;
}

export interface HeadersReceivedResponse {
  cancel?: boolean;
  responseHeaders?: Record<string, string[]>;
}

export interface SessionLike {
  webRequest: {
    onHeadersReceived(listener: (details: HeadersReceivedDetails, callback: (response: HeadersReceivedResponse) => void) => void): void;
  };
  setPermissionRequestHandler(
    handler: (webContents: unknown, permission: string, callback: (granted: boolean) => void, details?: unknown) => void,
  ): void;
  setPermissionCheckHandler(handler: (webContents: unknown, permission: string) => boolean): void;
}

export interface AppLike {
  whenReady(): Promise<unknown>;
  requestSingleInstanceLock(): boolean;
  on(event: 'window-all-closed' | 'second-instance', listener: () => void): unknown;
  quit(): void;
}

export interface ElectronLike {
  app: AppLike;
  BrowserWindow: new (options: KioskWindowOptions) => BrowserWindowLike;
  session: { defaultSession: SessionLike };
  Menu: { setApplicationMenu(menu: null): void };
}
