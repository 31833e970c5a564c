/**
 * The peers helper: a peer that cannot start fails the wait at once, with its own output,
 * instead of after the wait's whole timeout.
 */
import { describe, expect, it } from 'vitest';
import { killGroupAndWait, PYTHON, startPeer, waitFor } from '../../helpers/peers.js';

describe('waitFor with peers', () => {
  it('fails at once with the peer\'s own error output when the peer exits', async () => {
    const peer = startPeer('broken peer', PYTHON, ['-c', 'import module_that_is_not_installed']);
    const t0 = Date.now();
    const err = await waitFor(() => false, 15_000, 'the peer to answer', [peer]).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/^broken peer exited \(code 1\):/);
    expect(err?.message).toContain("ModuleNotFoundError: No module named 'module_that_is_not_installed'");
    expect(err?.message).toContain('(while waiting for the peer to answer)');
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('waits while the peer runs, and succeeds when the condition holds', async () => {
    const peer = startPeer('sleeping peer', PYTHON, ['-c', 'import time; time.sleep(30)']);
    let n = 0;
    try {
      await waitFor(() => ++n >= 5, 5_000, 'five polls', [peer]);
      expect(n).toBe(5);
    } finally {
      await killGroupAndWait(peer);
    }
  });

  it('still times out when nothing happens', async () => {
    await expect(waitFor(() => false, 200, 'nothing')).rejects.toThrow('timed out after 200 ms waiting for nothing');
  });
});
