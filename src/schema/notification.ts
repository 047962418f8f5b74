import type { DeliveryRow } from '../adapters/db/schema/notifications.js';
import { myContact, updateContact, type Contact as ContactShape } from '../domain/notifications/contacts.js';
import { listDeadLetters, replayDeadLetter, type DeadLetter as DeadLetterShape } from '../domain/notifications/dead-letters.js';
import { followProduct, unfollowProduct } from '../domain/notifications/follows.js';
import type { OutboxRow } from '../domain/notifications/relay.js';
import { badInput, builder } from './builder.js';
import { byTypename, InvalidInput, NotFound } from './errors.js';
import { Product } from './refs.js';

const NotificationChannel = builder.enumType('NotificationChannel', {
  description: 'How a shopper accepts to be told about their orders, holds and followed sales.',
  values: ['EMAIL', 'SMS'] as const,
});

const Contact = builder.objectRef<ContactShape>('Contact').implement({
  description: "The signed-in shopper's contact details (stored encrypted) and accepted channels.",
  fields: (t) => ({
    email: t.exposeString('email', { nullable: true }),
    phone: t.exposeString('phone', { nullable: true, description: 'E.164, e.g. +14155550123.' }),
    channels: t.field({ type: [NotificationChannel], resolve: (c) => c.channels }),
  }),
});

const UpdateContactInput = builder.inputType('UpdateContactInput', {
  fields: (t) => ({
    email: t.string(),
    phone: t.string({ description: 'E.164: + then country code and number, e.g. +14155550123.' }),
    channels: t.field({ type: [NotificationChannel], required: true, description: 'The channels you accept; empty for none.' }),
  }),
});

const ContactSuccess = builder.objectRef<{ __typename: 'ContactSuccess'; contact: ContactShape }>('ContactSuccess').implement({
  isTypeOf: (v) => (v as { __typename?: string }).__typename === 'ContactSuccess',
  fields: (t) => ({ contact: t.expose('contact', { type: Contact }) }),
});
const UpdateContactResult = builder.unionType('UpdateContactResult', {
  types: [ContactSuccess, InvalidInput],
  resolveType: byTypename,
});

const FollowSuccess = builder
  .objectRef<{ __typename: 'FollowSuccess'; product: (typeof Product)['$inferType']; following: boolean }>('FollowSuccess')
  .implement({
    isTypeOf: (v) => (v as { __typename?: string }).__typename === 'FollowSuccess',
    fields: (t) => ({
      product: t.expose('product', { type: Product }),
      following: t.exposeBoolean('following', { description: 'Whether you are now told when its sale starts and when it sells out.' }),
    }),
  });
const FollowResult = builder.unionType('FollowResult', {
  types: [FollowSuccess, NotFound, InvalidInput],
  resolveType: byTypename,
});

const OutboxStatus = builder.enumType('OutboxStatus', { values: ['PENDING', 'DELIVERED', 'DEAD'] as const });
const DeliveryStatus = builder.enumType('DeliveryStatus', { values: ['SENDING', 'SENT', 'FAILED'] as const });

const Delivery = builder.objectRef<DeliveryRow>('NotificationDelivery').implement({
  description: 'One message of an outbox event on one channel to one shopper.',
  fields: (t) => ({
    channel: t.field({ type: NotificationChannel, resolve: (d) => d.channel }),
    userId: t.exposeString('userId'),
    messageKey: t.exposeString('messageKey', { description: 'Stable across retries: the email Message-ID, the SMS reference.' }),
    transport: t.exposeString('transport', { nullable: true }),
    status: t.field({ type: DeliveryStatus, resolve: (d) => d.status }),
    attempts: t.exposeInt('attempts'),
    providerId: t.exposeString('providerId', { nullable: true }),
    lastError: t.exposeString('lastError', { nullable: true }),
  }),
});

const OutboxEvent = builder.objectRef<OutboxRow & { deliveries?: DeliveryRow[] }>('OutboxEvent').implement({
  description: 'An event of the transactional outbox (admin).',
  fields: (t) => ({
    id: t.exposeID('id'),
    topic: t.exposeString('topic'),
    aggregateId: t.exposeString('aggregateId'),
    userId: t.exposeString('userId', { nullable: true }),
    payload: t.string({ description: 'The event payload as JSON.', resolve: (e) => JSON.stringify(e.payload) }),
    status: t.field({ type: OutboxStatus, resolve: (e) => e.status }),
    attempts: t.exposeInt('attempts'),
    lastError: t.exposeString('lastError', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    nextAttemptAt: t.expose('nextAttemptAt', { type: 'DateTime' }),
    deliveries: t.field({ type: [Delivery], resolve: (e) => e.deliveries ?? [] }),
  }),
});

const ReplaySuccess = builder.objectRef<{ __typename: 'ReplaySuccess'; event: OutboxRow }>('ReplaySuccess').implement({
  isTypeOf: (v) => (v as { __typename?: string }).__typename === 'ReplaySuccess',
  fields: (t) => ({ event: t.expose('event', { type: OutboxEvent }) }),
});
const ReplayResult = builder.unionType('ReplayResult', { types: [ReplaySuccess, NotFound, InvalidInput], resolveType: byTypename });

builder.queryFields((t) => ({
  myContact: t.field({
    type: Contact,
    nullable: true,
    description: "The signed-in shopper's contact details and channels; null until updateContact.",
    authScopes: { shopper: true },
    resolve: (_root, _args, ctx) => myContact(ctx.deps, ctx.actor!),
  }),
  deadLetters: t.field({
    type: [OutboxEvent],
    description: 'Admin only: outbox events that ran out of delivery attempts, newest first.',
    authScopes: { admin: true },
    args: { limit: t.arg.int({ defaultValue: 100 }) },
    resolve: async (_root, { limit }, ctx) => {
      const out = await listDeadLetters(ctx.deps, limit ?? 100);
      if (!Array.isArray(out)) throw badInput(out.message);
      return out satisfies DeadLetterShape[];
    },
  }),
}));

builder.mutationFields((t) => ({
  updateContact: t.field({
    type: UpdateContactResult,
    description: 'Set your email, phone (E.164) and the channels you accept for order, hold and sale notices.',
    authScopes: { shopper: true },
    args: { input: t.arg({ type: UpdateContactInput, required: true }) },
    resolve: (_root, { input }, ctx) => updateContact(ctx.deps, ctx.actor!, input),
  }),
  followProduct: t.field({
    type: FollowResult,
    description: 'Notify me when the sale of this product starts and when it sells out.',
    authScopes: { shopper: true },
    args: { productId: t.arg.id({ required: true }) },
    resolve: (_root, { productId }, ctx) => followProduct(ctx.deps, ctx.actor!, String(productId)),
  }),
  unfollowProduct: t.field({
    type: FollowResult,
    authScopes: { shopper: true },
    args: { productId: t.arg.id({ required: true }) },
    resolve: (_root, { productId }, ctx) => unfollowProduct(ctx.deps, ctx.actor!, String(productId)),
  }),
  replayDeadLetter: t.field({
    type: ReplayResult,
    description: 'Admin only: put a dead letter back in the queue with a fresh budget of attempts.',
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => replayDeadLetter(ctx.deps, String(id)),
  }),
}));
