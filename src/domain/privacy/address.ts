import type { OrderRow } from '../../adapters/db/schema/tables.js';
import type { Deps } from '../context.js';
import type { Address } from '../orders/checkout.js';
import { open, seal } from './crypto.js';

/**
 * The one place shipping addresses are written and read. Sealed with AES-256-GCM under
 * the current data key; the order id is bound in as associated data, so a sealed
 * address copied onto another order does not open.
 */
const aad = (orderId: string) => `orders.shipping_address:${orderId}`;

/** The columns to store for an order's address: plaintext column empty, sealed column set. */
export function sealAddress(deps: Pick<Deps, 'keyring'>, orderId: string, address: Address) {
  const clean: Address = {
    addressLine1: address.addressLine1,
    addressLine2: address.addressLine2 ?? null,
    city: address.city,
    postalCode: address.postalCode,
    country: address.country,
  };
  return { shippingAddress: null, shippingAddressSealed: seal(deps.keyring, JSON.stringify(clean), aad(orderId)) };
}

/** The order's shipping address, opened; null once erased. Reads a legacy plaintext value too. */
export function shippingAddressOf(deps: Pick<Deps, 'keyring'>, order: Pick<OrderRow, 'id' | 'shippingAddress' | 'shippingAddressSealed'>): Address | null {
  if (order.shippingAddressSealed) return JSON.parse(open(deps.keyring, order.shippingAddressSealed, aad(order.id))) as Address;
  return (order.shippingAddress as Address | null) ?? null;
}

/** Re-seals under the current key (key rotation); undefined when already current or empty. */
export function resealAddress(deps: Pick<Deps, 'keyring'>, order: Pick<OrderRow, 'id' | 'shippingAddress' | 'shippingAddressSealed'>) {
  const address = shippingAddressOf(deps, order);
  return address ? sealAddress(deps, order.id, address) : undefined;
}
