import { esc, need, page, type Template } from './layout.js';

/** product.back_in_stock: an operator restocked a followed product that had sold out. */
export const backInStock: Template = {
  render(view) {
    const p = need(view.product, 'product');
    const subject = `${p.name} is back in stock`;
    const line = `${p.name} is back in stock: more units were just put on sale. First come, first served.`;
    return {
      subject,
      text: `${line}\n\nProduct ${p.id}\n`,
      html: page(subject, `<p>${esc(line)}</p>\n<p>Product <code>${esc(p.id)}</code></p>`),
      sms: `flashsale: ${p.name} is back in stock.`,
    };
  },
};
