import { describe, expect, it } from 'vitest';
import { kioskConfigFromProcess, startKioskApp } from '../../../kiosk/main/app.js';
import { fakeElectron } from './fakes.js';

const config = { url: 'http://127.0.0.1:8080/kiosk/', production: true, version: '0.1.0', locale: 'zh-CN' as const };

describe('startKioskApp', () => {
  it('opens the kiosk window after ready and quits when it closes', async () => {
    const f = fakeElectron();
    const kw = await startKioskApp(f.electron, { config, preloadPath: '/p/preload.cjs', log: () => undefined });
    expect(kw?.window).toBe(f.window());
    expect(f.window().loads).toEqual([config.url]);
    f.app.emit('window-all-closed');
    expect(f.app.quits).toBe(1);
  });

  it('quits without a window when another kiosk already runs', async () => {
    const f = fakeElectron();
    f.app.locked = false;
    expect(await startKioskApp(f.electron, { config, preloadPath: '/p' })).toBeUndefined();
    expect(f.app.quits).toBe(1);
    expect(f.window()).toBeUndefined();
  });
});

describe('kioskConfigFromProcess', () => {
  it('defaults: the edge on loopback, production, zh-CN', () => {
    expect(kioskConfigFromProcess(['/e', '/entry.js'], {})).toEqual({ url: 'http://127.0.0.1:8080/kiosk/', production: true, version: '0.0.0', locale: 'zh-CN' });
  });

  it('reads the environment, the switch winning over it; CLASSROOM_EDGE_KIOSK_DEV=1 is development', () => {
    const env = { CLASSROOM_EDGE_KIOSK_URL: 'http://127.0.0.1:1/a/', CLASSROOM_EDGE_KIOSK_DEV: '1', CLASSROOM_EDGE_KIOSK_LOCALE: 'en' };
    expect(kioskConfigFromProcess([], env)).toMatchObject({ url: 'http://127.0.0.1:1/a/', production: false, locale: 'en' });
    expect(kioskConfigFromProcess(['--kiosk-url=http://127.0.0.1:2/b/'], env).url).toBe('http://127.0.0.1:2/b/');
  });
});
