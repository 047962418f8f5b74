import type { Plugin } from 'graphql-yoga';
import { type Deps, RetryableError } from '../domain/context.js';
import { applyNotification } from '../domain/payments/notify.js';
import { gatewaysOf, NotificationRejected } from '../domain/payments/port.js';
import { BodyTooLarge, readBody } from '../http/body.js';

const MAX_BODY_BYTES = 512 * 1024;

/**
 * `POST /webhooks/<gateway>` (stripe, paypal): verifies the delivery on its raw body,
 * then settles the payment idempotently. 400 when the signature does not verify
 * (nothing changes), 503 when our database is down (the gateway retries), 200 otherwise.
 */
export function webhooksPlugin(deps: Deps): Plugin {
  return {
    async onRequest({ request, url, endResponse, fetchAPI }) {
      const m = /^\/webhooks\/([a-z0-9-]+)$/.exec(url.pathname);
      if (!m) return;
      const json = (body: unknown, status = 200) => endResponse(fetchAPI.Response.json(body, { status }));
      if (request.method !== 'POST') return json({ error: { code: 'METHOD_NOT_ALLOWED', message: 'POST only' } }, 405);
      const gateway = gatewaysOf(deps.payments).find((g) => g.name === m[1] && g.parseNotification);
      if (!gateway) return json({ error: { code: 'NOT_FOUND', message: `No webhook endpoint for ${m[1]}` } }, 404);
      // Gateway events are a few KB: a declared length over the limit is refused unread, a
      // chunked body as soon as it passes it. The signature covers the exact bytes sent: keep
      // the raw body, never re-serialise.
      let raw: string;
      try {
        raw = (await readBody(request, MAX_BODY_BYTES)).toString('utf8');
      } catch (err) {
        if (err instanceof BodyTooLarge) return json({ error: { code: 'PAYLOAD_TOO_LARGE', message: 'Webhook body too large' } }, 413);
        throw err;
      }
      let notification;
      try {
        notification = await gateway.parseNotification!(raw, request.headers);
      } catch (err) {
        if (err instanceof NotificationRejected) {
          deps.log.warn({ gateway: gateway.name, reason: err.message }, 'webhook rejected');
          return json({ error: { code: 'INVALID_SIGNATURE', message: 'The webhook signature does not verify' } }, 400);
        }
        deps.log.error({ err, gateway: gateway.name }, 'webhook could not be verified');
        return json({ error: { code: 'UNAVAILABLE', message: 'Could not verify the webhook; retry' } }, 503);
      }
      if (!notification) return json({ received: true, ignored: true });
      try {
        const result = await applyNotification(deps, gateway.name, notification);
        return json({ received: true, result });
      } catch (err) {
        if (!(err instanceof RetryableError)) deps.log.error({ err, gateway: gateway.name }, 'webhook failed');
        return json({ error: { code: 'UNAVAILABLE', message: 'Could not record the webhook; retry' } }, 503);
      }
    },
  };
}
