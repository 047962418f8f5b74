import type { Logger } from 'pino';
import type { PaymentsConfig } from '../../config.js';
import type { PaymentGateway } from '../../domain/payments/port.js';
import { GatewayRouter } from '../../domain/payments/router.js';
import { PayPalGateway } from './paypal.js';
import { SandboxGateway } from './sandbox.js';
import { StripeGateway } from './stripe.js';

/** Builds the configured gateways: the sandbox alone, or a failover router over the list. */
export function createPaymentGateway(cfg: PaymentsConfig, log: Logger): PaymentGateway {
  if (cfg.gateways.length === 1 && cfg.gateways[0] === 'sandbox') return new SandboxGateway();
  const gateways = cfg.gateways.map((name): PaymentGateway => {
    switch (name) {
      case 'sandbox':
        return new SandboxGateway();
      case 'stripe':
        return new StripeGateway({ ...cfg.stripe!, timeoutMs: cfg.timeoutMs, log: log.child({ gateway: 'stripe' }) });
      case 'paypal':
        return new PayPalGateway({ ...cfg.paypal!, timeoutMs: cfg.timeoutMs, log: log.child({ gateway: 'paypal' }) });
    }
  });
  return new GatewayRouter(gateways, { failureThreshold: cfg.breakerFailures, openMs: cfg.breakerOpenMs }, log.child({ module: 'payments' }));
}
