import {
  type BlockedNetwork as BlockedNetworkRow,
  type BlockedShopper as BlockedRow,
  blockNetworks,
  blockShoppers,
  listBlocked,
  listBlockedNetworks,
  MAX_BLOCK_BATCH,
  MAX_BLOCKED_PAGE,
  MIN_PREFIX,
  unblockNetworks,
  unblockShoppers,
} from '../domain/blocks.js';
import { builder, orThrow } from './builder.js';

const BlockedShopper = builder.objectRef<BlockedRow>('BlockedShopper').implement({
  description: 'A shopper an operator blocked from reserving.',
  fields: (t) => ({
    userId: t.exposeID('userId'),
    reason: t.exposeString('reason'),
    blockedBy: t.exposeString('blockedBy'),
    blockedAt: t.expose('blockedAt', { type: 'DateTime' }),
  }),
});

const BlockShoppersResult = builder.objectRef<{ blocked: number; holdsRevoked: number }>('BlockShoppersResult').implement({
  fields: (t) => ({
    blocked: t.exposeInt('blocked', { description: 'Shoppers newly blocked (one already blocked keeps its first reason).' }),
    holdsRevoked: t.exposeInt('holdsRevoked', { description: 'Their holds taken back: the units are on sale again, their unpaid orders cancelled.' }),
  }),
});

const UnblockShoppersResult = builder.objectRef<{ unblocked: number }>('UnblockShoppersResult').implement({
  fields: (t) => ({ unblocked: t.exposeInt('unblocked') }),
});

builder.queryFields((t) => ({
  blockedShoppers: t.field({
    type: [BlockedShopper],
    description: `Admin only: the blocked shoppers in user-id order, a page at a time (first: 1-${MAX_BLOCKED_PAGE}; after: the last userId seen).`,
    authScopes: { admin: true },
    args: { first: t.arg.int({ required: true, defaultValue: 100 }), after: t.arg.id() },
    resolve: async (_root, { first, after }, ctx) => orThrow(await listBlocked(ctx.deps, first, after == null ? null : String(after))),
  }),
}));

builder.mutationFields((t) => ({
  blockShoppers: t.field({
    type: BlockShoppersResult,
    description:
      `Admin only: block shoppers (bots, abuse) from reserving, at most ${MAX_BLOCK_BATCH} per call. Their holds are taken back at once ` +
      '(units on sale again, unpaid orders cancelled; an order whose payment is in flight is left to settle) and their later ' +
      'reserves are refused with FORBIDDEN, in every api process within seconds. Audited; a repeat changes nothing.',
    authScopes: { admin: true },
    args: { userIds: t.arg.idList({ required: true }), reason: t.arg.string({ required: true }) },
    resolve: async (_root, { userIds, reason }, ctx) => orThrow(await blockShoppers(ctx.deps, ctx.actor!, userIds.map(String), reason)),
  }),
  unblockShoppers: t.field({
    type: UnblockShoppersResult,
    description: 'Admin only: let blocked shoppers reserve again (their revoked holds are not given back).',
    authScopes: { admin: true },
    args: { userIds: t.arg.idList({ required: true }) },
    resolve: async (_root, { userIds }, ctx) => orThrow(await unblockShoppers(ctx.deps, userIds.map(String))),
  }),
}));

const BlockedNetwork = builder.objectRef<BlockedNetworkRow>('BlockedNetwork').implement({
  description: 'A network (an address or a CIDR range) an operator blocked from reserving.',
  fields: (t) => ({
    network: t.exposeString('network', { description: 'As stored: a range as its network with its prefix (203.0.113.0/24), an address with /32 or /128.' }),
    reason: t.exposeString('reason'),
    blockedBy: t.exposeString('blockedBy'),
    blockedAt: t.expose('blockedAt', { type: 'DateTime' }),
  }),
});

const BlockNetworksResult = builder.objectRef<{ blocked: number }>('BlockNetworksResult').implement({
  fields: (t) => ({
    blocked: t.exposeInt('blocked', { description: 'Networks newly blocked (one already blocked keeps its first reason).' }),
  }),
});

const UnblockNetworksResult = builder.objectRef<{ unblocked: number }>('UnblockNetworksResult').implement({
  fields: (t) => ({ unblocked: t.exposeInt('unblocked') }),
});

builder.queryFields((t) => ({
  blockedNetworks: t.field({
    type: [BlockedNetwork],
    description: `Admin only: the blocked networks in address order, a page at a time (first: 1-${MAX_BLOCKED_PAGE}; after: the last network seen).`,
    authScopes: { admin: true },
    args: { first: t.arg.int({ required: true, defaultValue: 100 }), after: t.arg.string() },
    resolve: async (_root, { first, after }, ctx) => orThrow(await listBlockedNetworks(ctx.deps, first, after ?? null)),
  }),
}));

builder.mutationFields((t) => ({
  blockNetworks: t.field({
    type: BlockNetworksResult,
    description:
      `Admin only: refuse every reserve from these networks (bots that rotate accounts, not addresses), at most ${MAX_BLOCK_BATCH} per call: ` +
      `each an IPv4 or IPv6 address or a CIDR range (203.0.113.0/24; at most an IPv4 /${MIN_PREFIX.ipv4} or an IPv6 /${MIN_PREFIX.ipv6}). ` +
      "A reserve from a client address inside one (the socket's, or with TRUST_PROXY the proxy's X-Forwarded-For) is refused with " +
      'FORBIDDEN, whoever the shopper, in every api process within seconds. Holds carry no address, so none is taken back ' +
      '(blockShoppers does that for accounts). Audited; a repeat changes nothing.',
    authScopes: { admin: true },
    args: { networks: t.arg.stringList({ required: true }), reason: t.arg.string({ required: true }) },
    resolve: async (_root, { networks, reason }, ctx) => orThrow(await blockNetworks(ctx.deps, ctx.actor!, networks, reason)),
  }),
  unblockNetworks: t.field({
    type: UnblockNetworksResult,
    description: 'Admin only: let reserves from these networks through again (each named as it was blocked, or as listed).',
    authScopes: { admin: true },
    args: { networks: t.arg.stringList({ required: true }) },
    resolve: async (_root, { networks }, ctx) => orThrow(await unblockNetworks(ctx.deps, networks)),
  }),
}));
