import { need, page, summaryHtml, summaryText, money, type Template } from './layout.js';

/** order.placed: the order exists and waits for payment. */
export const orderPlaced: Template = {
  render(view) {
    const o = need(view.order, 'order');
    const subject = `Order received: ${money(o.total, o.currency)} to pay`;
    return {
      subject,
      text: `We have your order. Pay before your hold expires to keep the items.\n\n${summaryText(o)}\n`,
      html: page(subject, `<p>We have your order. Pay before your hold expires to keep the items.</p>\n${summaryHtml(o)}`),
      sms: `flashsale: order ${o.id} received, ${money(o.total, o.currency)} to pay before your hold expires.`,
    };
  },
};
