// Working without the network: the offline bundle (keys, code-status deltas,
// this checkpoint's policy), the WebCrypto verifier built from it, and the
// queue of scans decided offline, uploaded to /scans/batch when the network
// returns. scan_id makes a second upload of the same scan store nothing twice.
import * as store from '../lib/store.js';
import { OfflineVerifier } from '../lib/verifier.js';

const BATCH = 500;
const KEEP_CHANGES_MS = 24 * 3600 * 1000; // older changes cannot affect a live token

/** Fold a newer bundle (deltas since our cursor) into the one we keep. */
export function mergeBundle(kept, fresh, now = Date.now()) {
  const changes = new Map();
  const add = (c) => {
    const key = `${c.iss}\u0000${c.sub}`;
    const prev = changes.get(key);
    if (!prev || prev.changed_ms < c.changed_ms) changes.set(key, c);
  };
  ((kept && kept.status && kept.status.changes) || []).forEach(add);
  ((fresh.status && fresh.status.changes) || []).forEach(add);
  const revoked = new Map();
  for (const r of [...((kept && kept.status && kept.status.revoked) || []),
    ...((fresh.status && fresh.status.revoked) || [])]) revoked.set(`${r.iss}\u0000${r.jti}`, r);
  return {
    ...fresh,
    status: {
      changes: [...changes.values()].filter((c) => c.changed_ms >= now - KEEP_CHANGES_MS),
      revoked: [...revoked.values()],
      // Both name only what matters now: the newest download says it whole.
      restricted: (fresh.status && fresh.status.restricted) || null,
      void_before: (fresh.status && fresh.status.void_before) || {},
    },
    received_at: new Date(now).toISOString(),
  };
}

export class OfflineData {
  constructor(call) {
    this.call = call;
    this.bundle = store.load('scanner.bundle');
    this.queue = store.load('scanner.queue', []);
    this.verifier = null;
    this.syncing = false;
  }

  async ready() {
    if (this.bundle && !this.verifier) {
      try {
        this.verifier = await OfflineVerifier.fromBundle(this.bundle);
      } catch {
        this.verifier = null;
      }
    }
    return this.verifier;
  }

  /** Download the deltas since our cursor and rebuild the verifier. */
  async refresh() {
    const cursor = this.bundle && this.bundle.status_cursor;
    const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : '';
    const fresh = await this.call(`/api/v1/checkpoints/bundle${query}`);
    const merged = mergeBundle(this.bundle, fresh);
    this.verifier = await OfflineVerifier.fromBundle(merged);
    this.bundle = merged;
    store.save('scanner.bundle', merged);
    return merged;
  }

  /** Decide a scan on this device and queue it for upload. */
  async decide(token, scanId, now = new Date()) {
    const verifier = await this.ready();
    const decision = verifier ? await verifier.verify(token, now)
      : { decision: 'refuse', reason: 'no_bundle', color: null, holder: null };
    this.queue.push({
      scan_id: scanId, token: String(token).slice(0, 4096),
      scanned_at: now.toISOString(), decision: decision.decision,
    });
    store.save('scanner.queue', this.queue);
    return decision;
  }

  /** Upload queued scans; resolves to the service's answers (empty when nothing to do). */
  async sync() {
    if (this.syncing || !this.queue.length) return [];
    this.syncing = true;
    const answers = [];
    try {
      while (this.queue.length) {
        const batch = this.queue.slice(0, BATCH);
        answers.push(await this.call('/api/v1/scans/batch', { method: 'POST', body: { scans: batch } }));
        const sent = new Set(batch.map((s) => s.scan_id));
        this.queue = this.queue.filter((s) => !sent.has(s.scan_id));
        store.save('scanner.queue', this.queue);
      }
    } finally {
      this.syncing = false;
    }
    return answers;
  }

  forget() {
    this.bundle = null;
    this.verifier = null;
    this.queue = [];
    store.forget('scanner.bundle', 'scanner.queue');
  }
}
