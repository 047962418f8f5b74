// Loads every type file (each registers its types and entry points) and exports the schema only.
import { builder } from './builder.js';
import './errors.js';
import './product.js';
import './inventory.js';
import './reservation.js';
import './cart.js';
import './order.js';
import './notification.js';
import './privacy.js';
import './stats.js';
import './blocks.js';

export const schema = builder.toSchema({ sortSchema: false });
