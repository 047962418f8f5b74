import { esc, need, page, type Template } from './layout.js';

/** reservation.expired: a hold ran out and its stock went back on sale. */
export const reservationExpired: Template = {
  render(view) {
    const r = need(view.reservation, 'reservation');
    const subject = `Your hold on ${r.productName} expired`;
    const line = `Your hold on ${r.quantity} x ${r.productName} expired and went back on sale.${r.orderId ? ` Order ${r.orderId} was cancelled.` : ''}`;
    return {
      subject,
      text: `${line}\n\nReservation ${r.id}\n`,
      html: page(subject, `<p>${esc(line)}</p>\n<p>Reservation <code>${esc(r.id)}</code></p>`),
      sms: `flashsale: ${line}`,
    };
  },
};
