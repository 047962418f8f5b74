import { need, page, summaryHtml, summaryText, money, type Template } from './layout.js';

/** payment.failed: declined; the stock went back on sale. */
export const paymentFailed: Template = {
  render(view) {
    const o = need(view.order, 'order');
    const subject = `Payment declined for order ${o.id.slice(0, 8)}`;
    const why = 'Your payment was declined, so the order was not completed and its items went back on sale.';
    return {
      subject,
      text: `${why}\n\n${summaryText(o)}\n`,
      html: page(subject, `<p>${why}</p>\n${summaryHtml(o)}`),
      sms: `flashsale: payment for order ${o.id} (${money(o.total, o.currency)}) was declined; the items went back on sale.`,
    };
  },
};
