import { createHash } from 'node:crypto';
import type { ChargeOutcome, ChargeRequest, PaymentGateway, RefundRequest } from '../../domain/payments/port.js';

/**
 * Stripe's test payment methods, answered in process: the embedded default's gateway.
 * https://docs.stripe.com/testing — `pm_card_visa` succeeds, `pm_card_chargeDeclined*` decline.
 */
const DECLINES: Record<string, { code: string; message: string }> = {
  pm_card_chargeDeclined: { code: 'generic_decline', message: 'Your card was declined.' },
  pm_card_visa_chargeDeclined: { code: 'generic_decline', message: 'Your card was declined.' },
  pm_card_chargeDeclinedInsufficientFunds: { code: 'insufficient_funds', message: 'Your card has insufficient funds.' },
  pm_card_chargeDeclinedFraudulent: { code: 'fraudulent', message: 'Your card was declined.' },
  pm_card_chargeDeclinedExpiredCard: { code: 'expired_card', message: 'Your card has expired.' },
  pm_card_chargeDeclinedIncorrectCvc: { code: 'incorrect_cvc', message: "Your card's security code is incorrect." },
  pm_card_chargeDeclinedProcessingError: { code: 'processing_error', message: 'An error occurred while processing your card.' },
  pm_card_chargeDeclinedLostCard: { code: 'lost_card', message: 'Your card was declined.' },
  pm_card_chargeDeclinedStolenCard: { code: 'stolen_card', message: 'Your card was declined.' },
};

const SUCCEEDS = new Set([
  'pm_card_visa',
  'pm_card_visa_debit',
  'pm_card_mastercard',
  'pm_card_mastercard_debit',
  'pm_card_amex',
  'pm_card_discover',
  'pm_card_diners',
  'pm_card_jcb',
  'pm_card_unionpay',
  'tok_visa',
  'tok_mastercard',
  'tok_amex',
]);

export class SandboxGateway implements PaymentGateway {
  readonly name = 'sandbox';
  /** Charges by idempotency key: a retried key returns the first outcome and never charges again. */
  private byKey = new Map<string, ChargeOutcome>();
  /** Successful charges actually taken (tests count them). */
  charges = 0;

  async charge(req: ChargeRequest): Promise<ChargeOutcome> {
    const prior = this.byKey.get(req.idempotencyKey);
    if (prior) return prior;
    let outcome: ChargeOutcome;
    const decline = DECLINES[req.paymentMethod];
    if (decline) {
      outcome = { status: 'declined', declineCode: decline.code, message: decline.message };
    } else if (SUCCEEDS.has(req.paymentMethod)) {
      this.charges++;
      const id = createHash('sha256').update(req.idempotencyKey).digest('hex').slice(0, 24);
      outcome = { status: 'succeeded', transactionId: `sbx_${id}` };
    } else {
      outcome = {
        status: 'declined',
        declineCode: 'invalid_payment_method',
        message: `No such payment method: '${req.paymentMethod}' (the sandbox accepts Stripe's test ids such as pm_card_visa)`,
      };
    }
    this.byKey.set(req.idempotencyKey, outcome);
    return outcome;
  }

  /** Refunds by key, as the real gateways do: a retried key returns the first refund. Only charges taken here. */
  private refundsByKey = new Map<string, string>();
  /** Refunds actually made (tests count them). */
  refunds = 0;

  async refund(req: RefundRequest): Promise<{ refundId: string }> {
    const prior = this.refundsByKey.get(req.idempotencyKey);
    if (prior) return { refundId: prior };
    const charged = [...this.byKey.values()].some((o) => o.status === 'succeeded' && o.transactionId === req.transactionId);
    if (!charged) throw new Error(`No such charge: '${req.transactionId}'`);
    this.refunds++;
    const refundId = `sbx_re_${createHash('sha256').update(req.idempotencyKey).digest('hex').slice(0, 24)}`;
    this.refundsByKey.set(req.idempotencyKey, refundId);
    return { refundId };
  }

  async lookup(req: ChargeRequest) {
    const o = this.byKey.get(req.idempotencyKey);
    return o && (o.status === 'succeeded' || o.status === 'declined') ? o : undefined;
  }
}
