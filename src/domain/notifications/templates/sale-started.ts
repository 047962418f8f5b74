import { esc, need, page, type Template } from './layout.js';

/** product.sale_started: the sale of a followed product is open. */
export const saleStarted: Template = {
  render(view) {
    const p = need(view.product, 'product');
    const subject = `The sale of ${p.name} has started`;
    const line = `The sale of ${p.name} is open now. First come, first served.`;
    return {
      subject,
      text: `${line}\n\nProduct ${p.id}\n`,
      html: page(subject, `<p>${esc(line)}</p>\n<p>Product <code>${esc(p.id)}</code></p>`),
      sms: `flashsale: the sale of ${p.name} is open now.`,
    };
  },
};
