import type { OrderItemRow, OrderRow, ProductRow, ReservationRow } from '../adapters/db/schema/tables.js';
import type { CartView } from '../domain/cart/reserve.js';
import type { InventorySnapshot } from '../domain/events.js';
import { builder } from './builder.js';

// Object references only; each type is implemented in its own file.
export const Product = builder.objectRef<ProductRow>('Product');
export const Sale = builder.objectRef<ProductRow>('Sale');
export const Inventory = builder.objectRef<InventorySnapshot>('Inventory');
export const Reservation = builder.objectRef<ReservationRow>('Reservation');
export const Cart = builder.objectRef<CartView>('Cart');
export const Order = builder.objectRef<OrderRow>('Order');
export const OrderItem = builder.objectRef<OrderItemRow>('OrderItem');
