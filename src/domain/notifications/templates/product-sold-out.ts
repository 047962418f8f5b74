import { esc, need, page, type Template } from './layout.js';

/** product.sold_out: a product someone follows has no stock left. */
export const productSoldOut: Template = {
  render(view) {
    const p = need(view.product, 'product');
    const subject = `${p.name} is sold out`;
    const line = `${p.name} just sold out. Holds that expire go back on sale, so it may come back for a moment.`;
    return {
      subject,
      text: `${line}\n\nProduct ${p.id}\n`,
      html: page(subject, `<p>${esc(line)}</p>\n<p>Product <code>${esc(p.id)}</code></p>`),
      sms: `flashsale: ${p.name} is sold out.`,
    };
  },
};
