import { esc, need, page, type Template, when } from './layout.js';

/**
 * product.sale_rescheduled: an operator moved the window of a followed product's sale. The window is
 * the one set by that change (the event's own), so two moves in a row are told in order.
 */
export const saleRescheduled: Template = {
  render(view) {
    const p = need(view.product, 'product');
    const startsAt = need(p.startsAt ?? undefined, 'product.startsAt');
    const end = p.endsAt ? ` and ends at ${when(p.endsAt)}` : '';
    const subject = p.open ? `The sale of ${p.name} has a new end` : `The sale of ${p.name} has moved`;
    const said = p.open
      ? p.endsAt
        ? `sale of ${p.name} is open and now ends at ${when(p.endsAt)}.`
        : `sale of ${p.name} is open and no longer has an end.`
      : `sale of ${p.name} now starts at ${when(startsAt)}${end}.`;
    const line = `The ${said}`;
    return {
      subject,
      text: `${line}\n\nProduct ${p.id}\n`,
      html: page(subject, `<p>${esc(line)}</p>\n<p>Product <code>${esc(p.id)}</code></p>`),
      sms: `flashsale: the ${said}`,
    };
  },
};
