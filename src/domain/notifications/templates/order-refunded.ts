import { esc, need, page, summaryHtml, summaryText, money, type Template } from './layout.js';

/** order.refunded: an operator cancelled a paid order and gave the whole payment back. */
export const orderRefunded: Template = {
  render(view) {
    const o = need(view.order, 'order');
    const subject = `Order ${o.id.slice(0, 8)} cancelled: ${money(o.total, o.currency)} refunded`;
    const why = `Your order was cancelled and the ${money(o.total, o.currency)} you paid is being refunded to the card or account you paid with. Banks usually take a few days to show it.`;
    const tx = o.transactionId ? `Payment reference: ${o.transactionId}` : '';
    return {
      subject,
      text: `${why}\n\n${summaryText(o)}\n${tx ? `\n${tx}\n` : ''}`,
      html: page(subject, `<p>${esc(why)}</p>\n${summaryHtml(o)}${tx ? `\n<p>${esc(tx)}</p>` : ''}`),
      sms: `flashsale: order ${o.id} was cancelled; ${money(o.total, o.currency)} is being refunded to how you paid.`,
    };
  },
};
