/** The kiosk timetable's sync pill: only for ended lessons of a room with a district link. */
import { describe, expect, it } from 'vitest';
import { kioskLessonSync } from '../../../edge/api/kiosk-routes.js';

describe('kioskLessonSync', () => {
  const states: Record<string, 'pending' | 'complete' | 'incomplete'> = { done: 'complete', bad: 'incomplete' };
  const stateOf = (id: string) => states[id] ?? 'pending';

  it('shows the receipt state of an ended lesson, pending until the district confirmed it', () => {
    expect(kioskLessonSync(true, { lessonId: 'done', endsAt: 1000 }, 1000, stateOf)).toBe('complete');
    expect(kioskLessonSync(true, { lessonId: 'bad', endsAt: 900 }, 1000, stateOf)).toBe('incomplete');
    expect(kioskLessonSync(true, { lessonId: 'waiting', endsAt: 900 }, 1000, stateOf)).toBe('pending');
  });

  it('shows nothing for a lesson not yet over, or in a room without a district link', () => {
    expect(kioskLessonSync(true, { lessonId: 'done', endsAt: 1001 }, 1000, stateOf)).toBeNull();
    expect(kioskLessonSync(false, { lessonId: 'done', endsAt: 900 }, 1000, stateOf)).toBeNull();
  });
});
