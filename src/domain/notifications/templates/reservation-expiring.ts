import { esc, need, page, type Template, when as at } from './layout.js';

/** reservation.expiring: a hold is about to run out. */
export const reservationExpiring: Template = {
  render(view) {
    const r = need(view.reservation, 'reservation');
    const when = r.expiresAt ? at(r.expiresAt) : 'soon';
    const subject = `Your hold on ${r.productName} expires soon`;
    const line = `You are holding ${r.quantity} x ${r.productName} until ${when}. Check out and pay before then, or it goes back on sale.`;
    return {
      subject,
      text: `${line}\n\nReservation ${r.id}\n`,
      html: page(subject, `<p>${esc(line)}</p>\n<p>Reservation <code>${esc(r.id)}</code></p>`),
      sms: `flashsale: your hold on ${r.quantity} x ${r.productName} expires at ${when}. Check out now.`,
    };
  },
};
