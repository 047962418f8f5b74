import { and, eq, lte } from 'drizzle-orm';
import { productFollows } from '../../adapters/db/schema/notifications.js';
import type { ProductRow } from '../../adapters/db/schema/tables.js';
import type { Actor, Deps } from '../context.js';
import { getProduct } from '../inventory/products.js';
import { assertProductId, type InvalidInput, type NotFound, notFound } from '../results.js';

export interface FollowSuccess {
  __typename: 'FollowSuccess';
  product: ProductRow;
  following: boolean;
}
export type FollowResult = FollowSuccess | NotFound | InvalidInput;

/** "Notify me when the sale starts / sells out." Following twice is harmless. */
export async function followProduct(deps: Deps, actor: Actor, productId: string): Promise<FollowResult> {
  return setFollow(deps, actor, productId, true);
}

/** Stops those notices. Unfollowing a product not followed is harmless. */
export async function unfollowProduct(deps: Deps, actor: Actor, productId: string): Promise<FollowResult> {
  return setFollow(deps, actor, productId, false);
}

async function setFollow(deps: Deps, actor: Actor, productId: string, follow: boolean): Promise<FollowResult> {
  const bad = assertProductId('productId', productId);
  if (bad) return bad;
  const product = await getProduct(deps.db, productId);
  if (!product) return notFound('Product');
  if (follow) {
    await deps.db.insert(productFollows).values({ userId: actor.userId, productId }).onConflictDoNothing();
  } else {
    await deps.db.delete(productFollows).where(and(eq(productFollows.userId, actor.userId), eq(productFollows.productId, productId)));
  }
  return { __typename: 'FollowSuccess', product, following: follow };
}

export async function isFollowing(deps: Deps, actor: Actor, productId: string): Promise<boolean> {
  const [row] = await deps.db
    .select({ u: productFollows.userId })
    .from(productFollows)
    .where(and(eq(productFollows.userId, actor.userId), eq(productFollows.productId, productId)));
  return !!row;
}

/** Who follows a product (the relay's fan-out for sold-out and sale-start notices). */
export async function followersOf(deps: Deps, productId: string, followedBefore?: Date): Promise<string[]> {
  const rows = await deps.db
    .select({ userId: productFollows.userId })
    .from(productFollows)
    .where(and(eq(productFollows.productId, productId), followedBefore ? lte(productFollows.createdAt, followedBefore) : undefined));
  return rows.map((r) => r.userId);
}
