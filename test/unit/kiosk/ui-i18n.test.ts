/**
 * The kiosk UI's message tables (kiosk/ui/i18n.ts): both locales have the
 * same keys, no empty text, the same placeholders per key; zh-CN is the
 * default and t() fills placeholders.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { getLocale, MESSAGES, setLocale, t } from '../../../kiosk/ui/i18n.js';

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

afterEach(() => setLocale('zh-CN'));

describe('kiosk UI i18n', () => {
  it('has the same keys in zh-CN and en, none empty, with the same placeholders', () => {
    const zh = MESSAGES['zh-CN'];
    const en = MESSAGES.en;
    expect(Object.keys(en).sort()).toEqual(Object.keys(zh).sort());
    for (const [key, text] of Object.entries(zh)) {
      const other = en[key as keyof typeof en];
      expect(text.trim(), key).not.toBe('');
      expect(other.trim(), key).not.toBe('');
      expect(placeholders(other), key).toEqual(placeholders(text));
    }
  });

  it('uses Chinese by default and fills placeholders in either language', () => {
    expect(getLocale()).toBe('zh-CN');
    expect(t('class.start')).toBe('上课');
    expect(t('scene.failed', { device: '投影仪' })).toBe('投影仪未响应');
    setLocale('en');
    expect(t('class.start')).toBe('Start class');
    expect(t('scene.failed', { device: 'Projector' })).toBe('Projector did not respond');
    expect(t('lesson.left', {})).toBe('{m} min left');
  });
});
