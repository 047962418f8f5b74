import { eq, inArray } from 'drizzle-orm';
import { contacts, notificationChannels, type NotificationChannel } from '../../adapters/db/schema/notifications.js';
import type { Actor, Deps } from '../context.js';
import { CryptoError, keyIdOf, open, seal } from '../privacy/crypto.js';
import { type InvalidInput, invalid } from '../results.js';

/**
 * The one module that reads and writes shopper contact details. Email and phone are
 * sealed with the data keyring (AES-256-GCM, the user id as associated data, so a
 * sealed value copied onto another shopper's row does not open); nothing else in the
 * code sees the columns.
 */
export interface Contact {
  email: string | null;
  phone: string | null;
  channels: NotificationChannel[];
}

export interface UpdateContactInput {
  email?: string | null;
  phone?: string | null;
  channels: readonly string[];
}

export interface ContactSuccess {
  __typename: 'ContactSuccess';
  contact: Contact;
}

export type UpdateContactResult = ContactSuccess | InvalidInput;

// Pragmatic address check: one @, a dotted domain, no spaces or angle brackets.
const EMAIL_RE = /^[^\s@<>()[\]\\,;:"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
export const E164_RE = /^\+[1-9]\d{6,14}$/;

export function assertEmail(value: string | null | undefined): InvalidInput | undefined {
  if (value === undefined || value === null) return undefined;
  return value.length <= 254 && EMAIL_RE.test(value)
    ? undefined
    : invalid('email must be an address like name@example.com', 'email');
}

export function assertPhone(value: string | null | undefined): InvalidInput | undefined {
  if (value === undefined || value === null) return undefined;
  return E164_RE.test(value)
    ? undefined
    : invalid('phone must be in E.164 form: + then country code and number, digits only (e.g. +14155550123)', 'phone');
}

function assertChannels(input: UpdateContactInput): InvalidInput | undefined {
  for (const c of input.channels) {
    if (!(notificationChannels as readonly string[]).includes(c)) return invalid(`Unknown channel "${c}"`, 'channels');
  }
  if (input.channels.includes('EMAIL') && !input.email) return invalid('The EMAIL channel needs an email address', 'email');
  if (input.channels.includes('SMS') && !input.phone) return invalid('The SMS channel needs a phone number', 'phone');
  return undefined;
}

const aad = (userId: string, field: string) => `contact:${userId}:${field}`;

/** Replaces the shopper's contact details and accepted channels. */
export async function updateContact(deps: Deps, actor: Actor, input: UpdateContactInput): Promise<UpdateContactResult> {
  const email = input.email?.trim() || null;
  const phone = input.phone?.trim() || null;
  const normalized = { ...input, email, phone };
  const bad = assertEmail(email) || assertPhone(phone) || assertChannels(normalized);
  if (bad) return bad;
  const channels = notificationChannels.filter((c) => input.channels.includes(c));
  const values = {
    emailSealed: email ? seal(deps.keyring, email, aad(actor.userId, 'email')) : null,
    phoneSealed: phone ? seal(deps.keyring, phone, aad(actor.userId, 'phone')) : null,
    channels,
    updatedAt: deps.now(),
  };
  await deps.db
    .insert(contacts)
    .values({ userId: actor.userId, ...values })
    .onConflictDoUpdate({ target: contacts.userId, set: values });
  return { __typename: 'ContactSuccess', contact: { email, phone, channels } };
}

/** The signed-in shopper's contact details, or null when none were given. */
export async function myContact(deps: Deps, actor: Actor): Promise<Contact | null> {
  return (await contactsOf(deps, [actor.userId])).get(actor.userId) ?? null;
}

/** Contact details of several shoppers, opened (the relay's fan-out). */
export async function contactsOf(deps: Deps, userIds: readonly string[]): Promise<Map<string, Contact>> {
  const out = new Map<string, Contact>();
  if (userIds.length === 0) return out;
  const rows = await deps.db.select().from(contacts).where(inArray(contacts.userId, [...new Set(userIds)]));
  const unseal = (userId: string, field: string, sealed: string | null) => {
    if (!sealed) return null;
    try {
      return open(deps.keyring, sealed, aad(userId, field));
    } catch (cause) {
      throw new CryptoError(`The ${field} of a contact cannot be opened with this DATA_ENCRYPTION_KEY (key ${keyIdOf(sealed) ?? '?'})`, { cause });
    }
  };
  for (const r of rows) {
    out.set(r.userId, {
      email: unseal(r.userId, 'email', r.emailSealed),
      phone: unseal(r.userId, 'phone', r.phoneSealed),
      channels: r.channels.filter((c): c is NotificationChannel => (notificationChannels as readonly string[]).includes(c)),
    });
  }
  return out;
}

/** Forgets a shopper's contact details (erasure). */
export async function deleteContact(deps: Deps, userId: string): Promise<void> {
  await deps.db.delete(contacts).where(eq(contacts.userId, userId));
}

/** Where a channel reaches this contact, if they accept it. */
export function addressFor(contact: Contact, channel: NotificationChannel): string | null {
  if (!contact.channels.includes(channel)) return null;
  return channel === 'EMAIL' ? contact.email : contact.phone;
}
