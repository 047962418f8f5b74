// The template of each outbox topic. Each template lives in its own file.
import type { Template } from './layout.js';
import { orderCompleted } from './order-completed.js';
import { orderPlaced } from './order-placed.js';
import { orderRefunded } from './order-refunded.js';
import { paymentFailed } from './payment-failed.js';
import { backInStock } from './back-in-stock.js';
import { productSoldOut } from './product-sold-out.js';
import { reservationExpired } from './reservation-expired.js';
import { reservationExpiring } from './reservation-expiring.js';
import { saleCancelled } from './sale-cancelled.js';
import { saleRescheduled } from './sale-rescheduled.js';
import { saleStarted } from './sale-started.js';

export const templates: Record<string, Template> = {
  'order.placed': orderPlaced,
  'order.completed': orderCompleted,
  'order.refunded': orderRefunded,
  'payment.failed': paymentFailed,
  'reservation.expiring': reservationExpiring,
  'reservation.expired': reservationExpired,
  'product.sold_out': productSoldOut,
  'product.back_in_stock': backInStock,
  'product.sale_started': saleStarted,
  'product.sale_rescheduled': saleRescheduled,
  'product.sale_cancelled': saleCancelled,
};
