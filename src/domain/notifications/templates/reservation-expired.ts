import { esc, need, page, type Template } from './layout.js';

/** reservation.expired: a hold ran out (or the shop took it back) and its stock went back on sale. */
export const reservationExpired: Template = {
  render(view) {
    const r = need(view.reservation, 'reservation');
    const cancelledOrder = r.orderId ? ` Order ${r.orderId} was cancelled; nothing was charged.` : '';
    const subject =
      r.revoked === 'SALE_CANCELLED' ? `The sale of ${r.productName} was called off` : r.revoked ? `Your hold on ${r.productName} was released` : `Your hold on ${r.productName} expired`;
    const line =
      r.revoked === 'SALE_CANCELLED'
        ? `The shop called off the sale of ${r.productName}, so your hold on ${r.quantity} x ${r.productName} was released.${cancelledOrder}`
        : r.revoked
          ? `The shop released your hold on ${r.quantity} x ${r.productName}.${cancelledOrder}`
          : `Your hold on ${r.quantity} x ${r.productName} expired and went back on sale.${r.orderId ? ` Order ${r.orderId} was cancelled.` : ''}`;
    return {
      subject,
      text: `${line}\n\nReservation ${r.id}\n`,
      html: page(subject, `<p>${esc(line)}</p>\n<p>Reservation <code>${esc(r.id)}</code></p>`),
      sms: `flashsale: ${line}`,
    };
  },
};
