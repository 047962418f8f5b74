import { esc, need, page, type Template } from './layout.js';

/** product.sale_cancelled: an operator called off the sale of a followed product (cancelSale). */
export const saleCancelled: Template = {
  render(view) {
    const p = need(view.product, 'product');
    const subject = `The sale of ${p.name} was called off`;
    const line = `The shop called off the sale of ${p.name}: it is not on sale any more, and holds on it were released.`;
    return {
      subject,
      text: `${line}\n\nProduct ${p.id}\n`,
      html: page(subject, `<p>${esc(line)}</p>\n<p>Product <code>${esc(p.id)}</code></p>`),
      sms: `flashsale: ${line}`,
    };
  },
};
