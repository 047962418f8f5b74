import type { Logger } from 'pino';
import type { PaymentsConfig } from '../../config.js';
import type { PaymentGateway } from '../../domain/payments/port.js';
import { GatewayRouter } from '../../domain/payments/router.js';
import { SandboxGateway } from './sandbox.js';

/**
 * Builds the configured gateways: the sandbox alone, or a failover router over the list. A
 * gateway's module (and its SDK) is loaded only when it is configured: the Stripe and PayPal SDKs
 * are ~14 MB of heap and ~0.5 s of start-up that a process without them never uses, and every
 * full garbage collection would mark them.
 */
export async function createPaymentGateway(cfg: PaymentsConfig, log: Logger): Promise<PaymentGateway> {
  if (cfg.gateways.length === 1 && cfg.gateways[0] === 'sandbox') return new SandboxGateway();
  const gateways = await Promise.all(
    cfg.gateways.map(async (name): Promise<PaymentGateway> => {
      switch (name) {
        case 'sandbox':
          return new SandboxGateway();
        case 'stripe': {
          const { StripeGateway } = await import('./stripe.js');
          return new StripeGateway({ ...cfg.stripe!, timeoutMs: cfg.timeoutMs, log: log.child({ gateway: 'stripe' }) });
        }
        case 'paypal': {
          const { PayPalGateway } = await import('./paypal.js');
          return new PayPalGateway({ ...cfg.paypal!, timeoutMs: cfg.timeoutMs, log: log.child({ gateway: 'paypal' }) });
        }
      }
    }),
  );
  return new GatewayRouter(gateways, { failureThreshold: cfg.breakerFailures, openMs: cfg.breakerOpenMs }, log.child({ module: 'payments' }));
}
