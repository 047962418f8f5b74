/** Shared pieces of every template: what a message is made of, money, HTML escaping, the order summary. */
export interface OrderSummary {
  id: string;
  items: { name: string; quantity: number; unitAmount: number }[];
  total: number;
  currency: string;
  transactionId?: string | null;
  declineCode?: string | null;
}

export interface ReservationSummary {
  id: string;
  productName: string;
  quantity: number;
  expiresAt?: Date | null;
  orderId?: string | null;
  /** Taken back by the shop before its time: the sale was called off, or the shopper blocked. */
  revoked?: 'SALE_CANCELLED' | 'BLOCKED' | null;
}

export interface ProductSummary {
  id: string;
  name: string;
  startsAt?: Date | null;
  endsAt?: Date | null;
  /** product.sale_rescheduled: the sale was already open when its window moved (only its end can). */
  open?: boolean;
}

/** A time as messages show it: ISO 8601 in UTC, to the second. */
export const when = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** What a template gets: the event's facts, loaded by the relay. */
export interface MessageView {
  order?: OrderSummary;
  reservation?: ReservationSummary;
  product?: ProductSummary;
}

export interface Rendered {
  subject: string;
  /** Plain-text email body. */
  text: string;
  /** HTML email body. */
  html: string;
  /** The SMS text (short). */
  sms: string;
}

export interface Template {
  render(view: MessageView): Rendered;
}

export function money(amount: number, currency: string): string {
  try {
    return new Intl.NumberFormat('en-US', { style: 'currency', currency }).format(amount / 100);
  } catch {
    return `${(amount / 100).toFixed(2)} ${currency}`;
  }
}

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`template needs ${what}`);
  return value;
}

/** The order summary as plain text lines. */
export function summaryText(o: OrderSummary): string {
  const lines = o.items.map((i) => `  ${i.quantity} x ${i.name} @ ${money(i.unitAmount, o.currency)} = ${money(i.unitAmount * i.quantity, o.currency)}`);
  return [`Order ${o.id}`, ...lines, `  Total: ${money(o.total, o.currency)}`].join('\n');
}

/** The order summary as an HTML table. */
export function summaryHtml(o: OrderSummary): string {
  const rows = o.items
    .map(
      (i) =>
        `<tr><td>${esc(i.name)}</td><td align="right">${i.quantity}</td><td align="right">${esc(money(i.unitAmount, o.currency))}</td><td align="right">${esc(money(i.unitAmount * i.quantity, o.currency))}</td></tr>`,
    )
    .join('');
  return `<p>Order <code>${esc(o.id)}</code></p>
<table cellpadding="4" style="border-collapse:collapse">
<thead><tr><th align="left">Item</th><th align="right">Qty</th><th align="right">Price</th><th align="right">Amount</th></tr></thead>
<tbody>${rows}</tbody>
<tfoot><tr><th align="left" colspan="3">Total</th><th align="right">${esc(money(o.total, o.currency))}</th></tr></tfoot>
</table>`;
}

export function page(title: string, body: string): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body style="font-family:sans-serif">
<h1 style="font-size:20px">${esc(title)}</h1>
${body}
<p style="color:#888;font-size:12px">You receive this because you asked flashsale to notify you. Change your channels with updateContact.</p>
</body></html>`;
}
