/**
 * Card debouncing shared by the card-reader drivers: readers repeat a card
 * for as long as it stays on the antenna (or the holder taps twice by
 * accident). One presentation is reported once: a UID seen again less than
 * `debounceMs` after its previous read is the same presentation; after
 * `debounceMs` without reads it is a new tap. A different UID is never held
 * back. Time is the driver clock's monotonic milliseconds.
 */
export class CardDebouncer {
  /** UID -> monotonic ms of its latest read. */
  private readonly lastSeen = new Map<string, number>();

  constructor(private readonly debounceMs: number) {}

  /** Record a read of `uid` at `nowMs`; true when it is a new presentation (to be reported). */
  accept(uid: string, nowMs: number): boolean {
    for (const [seenUid, seen] of this.lastSeen) if (nowMs - seen >= this.debounceMs) this.lastSeen.delete(seenUid);
    const repeat = this.lastSeen.has(uid);
    this.lastSeen.set(uid, nowMs);
    return !repeat;
  }

  clear(): void {
    this.lastSeen.clear();
  }
}
