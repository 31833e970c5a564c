/**
 * Behaviour events as a clicker or AI camera publishes them on
 * `classroom/{roomId}/behaviour` (edge/schemas/bus.ts behaviourEventSchema),
 * padded to a target size so the benchmark load is ~200-byte events.
 */

/**
 * A maker of valid `answer` behaviour events of about `bytes` bytes of JSON.
 * The padding is computed once from the first id: give ids of one length
 * (zero-padded counters) to keep every event the same size.
 */
export function behaviourPayloads(bytes = 200): (id: string, ts: number) => Buffer {
  let pad: string | undefined;
  return (id, ts) => {
    if (pad === undefined) {
      const bare = JSON.stringify({ kind: 'answer', questionId: 'q-0001', answer: '', studentId: 's12', correct: true, id, ts });
      // The `answer` field (at most 64 characters by the schema) takes the padding.
      pad = 'A'.repeat(Math.max(1, Math.min(64, bytes - Buffer.byteLength(bare))));
    }
    return Buffer.from(JSON.stringify({ kind: 'answer', questionId: 'q-0001', answer: pad, studentId: 's12', correct: true, id, ts }));
  };
}
