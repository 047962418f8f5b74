// Shared set-up for the payment tests: the gateways built from real configuration,
// pointed at the local fake gateways.
import { createPaymentGateway } from '../../src/adapters/payments/index.js';
import { loadPaymentsConfig } from '../../src/config.js';
import type { PaymentGateway } from '../../src/domain/payments/port.js';
import { quietLog } from './backends.js';
import type { FakePayPal } from './fake-paypal.js';
import type { FakeStripe } from './fake-stripe.js';

export const STRIPE_KEY = 'sk_test_flashsale_0123456789';
export const WEBHOOK_SECRET = 'whsec_flashsale_test_secret';
export const PAYPAL = { clientId: 'flashsale-client', clientSecret: 'flashsale-secret' };
// Generous enough that a busy CI machine does not turn a normal answer into a timeout.
export const TIMEOUT_MS = 800;
export const PAYPAL_WEBHOOK_ID = 'WH-FLASHSALE-TEST-0001';

export function gatewayFor(stripe: FakeStripe, paypal: FakePayPal, extra: Record<string, string> = {}): Promise<PaymentGateway> {
  const config = loadPaymentsConfig({
    PAYMENT_GATEWAYS: 'stripe,paypal',
    STRIPE_SECRET_KEY: STRIPE_KEY,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    STRIPE_API_BASE: stripe.url,
    PAYPAL_CLIENT_ID: PAYPAL.clientId,
    PAYPAL_CLIENT_SECRET: PAYPAL.clientSecret,
    PAYPAL_ENVIRONMENT: 'sandbox',
    PAYPAL_API_BASE: paypal.url,
    PAYPAL_WEBHOOK_ID,
    PAYMENT_TIMEOUT_MS: String(TIMEOUT_MS),
    PAYMENT_BREAKER_FAILURES: '5',
    ...extra,
  });
  return createPaymentGateway(config, quietLog);
}

