import type { DbOrTx } from '../adapters/db/client.js';
import { auditLog } from '../adapters/db/schema/audit.js';

export interface AuditEntry {
  actor: string;
  action: string;
  target?: string | null;
  outcome?: string;
  details?: unknown;
  requestId?: string;
}

const SENSITIVE = /address|email|phone|password|secret|token|card|captcha|name$/i;

/** Replaces values under personal-data-looking keys with "[redacted]", recursively. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => redact(v, depth + 1));
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, SENSITIVE.test(k) && k !== 'name' ? '[redacted]' : redact(v, depth + 1)]),
  );
}

/** Appends one row to the audit log (in the caller's transaction when given one). */
export async function recordAudit(db: DbOrTx, e: AuditEntry): Promise<void> {
  await db.insert(auditLog).values({
    actor: e.actor,
    action: e.action,
    target: e.target ?? null,
    outcome: e.outcome ?? 'ok',
    details: e.details === undefined ? null : redact(e.details),
    requestId: e.requestId ?? null,
  });
}
