import { esc, need, page, summaryHtml, summaryText, money, type Template } from './layout.js';

/** order.completed: paid; the items are the shopper's. */
export const orderCompleted: Template = {
  render(view) {
    const o = need(view.order, 'order');
    const subject = `Order confirmed: ${money(o.total, o.currency)} paid`;
    const tx = o.transactionId ? `Payment reference: ${o.transactionId}` : '';
    return {
      subject,
      text: `Thank you: your payment went through and the items are yours.\n\n${summaryText(o)}\n${tx ? `\n${tx}\n` : ''}`,
      html: page(
        subject,
        `<p>Thank you: your payment went through and the items are yours.</p>\n${summaryHtml(o)}${tx ? `\n<p>${esc(tx)}</p>` : ''}`,
      ),
      sms: `flashsale: order ${o.id} confirmed, ${money(o.total, o.currency)} paid. Thank you!`,
    };
  },
};
