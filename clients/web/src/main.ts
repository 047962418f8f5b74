// The flashsale storefront: live stock, sale countdown, reserve, the hold's countdown,
// checkout with the sandbox test cards, the order's live status. No framework: the SDK + DOM.
import './style.css';
import { createFlashSaleClient, FlashSaleError, type gql, type Subscription } from '../../sdk/src/index.js';

type Product = gql.ProductFieldsFragment;
type Reservation = gql.ReservationFieldsFragment;
type Order = gql.OrderFieldsFragment;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const TOKEN_KEY = 'flashsale.token';

let token: string | undefined = sessionStorage.getItem(TOKEN_KEY) ?? undefined;
const client = createFlashSaleClient({
  url: new URL('/graphql', location.href).href,
  getToken: () => token,
  onConnectionChange: (state) => {
    $('live').textContent = state === 'connected' ? 'Live updates on' : state === 'connecting' ? 'Connecting…' : 'Reconnecting…';
  },
});

// ---------- messages ----------
function showAlert(text: string, kind: 'error' | 'info' | 'success' = 'error', state?: string) {
  const el = $('alert');
  el.textContent = text;
  el.className = `alert ${kind}`;
  el.dataset.state = state ?? kind;
  el.hidden = false;
}
function clearAlert() {
  const el = $('alert');
  el.hidden = true;
  el.textContent = '';
  delete el.dataset.state;
}
function faultText(err: unknown): string {
  if (err instanceof FlashSaleError) {
    if (err.code === 'UNAUTHENTICATED') return 'Please sign in again: your session is not valid.';
    if (err.retryable) return 'The shop is busy right now; nothing was changed. Please try again.';
    return err.message;
  }
  return 'Something went wrong; please try again.';
}

// ---------- money & time ----------
const money = (m: { amount: number; currency: string }) => {
  try {
    const digits = new Intl.NumberFormat('en', { style: 'currency', currency: m.currency }).resolvedOptions().maximumFractionDigits ?? 2;
    return new Intl.NumberFormat(undefined, { style: 'currency', currency: m.currency }).format(m.amount / 10 ** digits);
  } catch {
    return `${m.amount} ${m.currency}`;
  }
};
const clock = (secs: number) => {
  const s = Math.max(0, Math.floor(secs));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
};

// ---------- session ----------
function subjectOf(jwt: string): string | undefined {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return (JSON.parse(atob(part)) as { sub?: string }).sub;
  } catch {
    return undefined;
  }
}
function setToken(t: string | undefined) {
  // A hold or an order on screen belongs to the previous shopper.
  if (hold) endHold();
  orderSub?.unsubscribe();
  $('order').hidden = true;
  token = t;
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
  $('who').textContent = t ? `Signed in as ${subjectOf(t) ?? 'shopper'}` : 'Not signed in';
  $('demo-sign-in').textContent = t ? 'Switch to a new demo shopper' : 'Sign in as a demo shopper';
  client.reconnectWithFreshToken();
  for (const p of products.values()) renderCard(p);
  void loadOrders();
}
$('demo-sign-in').addEventListener('click', async () => {
  clearAlert();
  try {
    const res = await fetch('/dev/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    if (res.status === 404) {
      ($('token-box') as HTMLDetailsElement).open = true;
      $('token-input').focus();
      showAlert('Demo sign-in is off on this server (production). Paste a shopper token instead.', 'info');
      return;
    }
    const body = (await res.json()) as { token: string };
    setToken(body.token);
    showAlert(`Signed in as ${subjectOf(body.token)}.`, 'success', 'signed-in');
  } catch (err) {
    showAlert(faultText(err));
  }
});
$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const value = ($('token-input') as HTMLInputElement).value.trim().replace(/^Bearer\s+/i, '');
  if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(value)) {
    $('token-input').setAttribute('aria-invalid', 'true');
    showAlert('That does not look like a token (three dot-separated parts).');
    return;
  }
  $('token-input').removeAttribute('aria-invalid');
  setToken(value);
  ($('token-box') as HTMLDetailsElement).open = false;
  clearAlert();
});

// ---------- products ----------
const products = new Map<string, Product>();
const stockSubs = new Map<string, Subscription>();
const cooldownUntil = new Map<string, number>();
let hold: { reservation: Reservation; sub?: Subscription } | undefined;
let orderSub: Subscription | undefined;
let busy = false;

function saleSecondsToStart(p: Product): number {
  return (Date.parse(p.sale.startsAt) - Date.now()) / 1000;
}
function saleEnded(p: Product): boolean {
  return p.sale.endsAt != null && Date.parse(p.sale.endsAt) <= Date.now();
}

function card(p: Product): HTMLLIElement {
  let li = document.querySelector<HTMLLIElement>(`li[data-product-id="${CSS.escape(p.id)}"]`);
  if (li) return li;
  li = document.createElement('li');
  li.className = 'card';
  li.dataset.productId = p.id;
  const titleId = `p-${p.id}-title`;
  li.setAttribute('aria-labelledby', titleId);
  li.innerHTML = `
    <h3 class="name"></h3>
    <p class="price"></p>
    <p class="sale" data-testid="sale"></p>
    <p class="stock" data-testid="stock"></p>
    <progress class="meter" max="1" value="1"></progress>
    <button type="button" class="primary reserve">Reserve</button>`;
  (li.querySelector('.name') as HTMLElement).id = titleId;
  li.querySelector('.reserve')!.addEventListener('click', () => void reserve(p.id));
  $('products').append(li);
  return li;
}

function renderCard(p: Product) {
  const li = card(p);
  const inv = p.inventory;
  li.querySelector('.name')!.textContent = p.name;
  li.querySelector('.price')!.textContent = `${money(p.price)} · limit ${p.sale.perUserLimit} per shopper`;
  const stock = li.querySelector<HTMLElement>('.stock')!;
  stock.dataset.available = String(inv.availableQuantity);
  stock.textContent = inv.soldOut || inv.availableQuantity <= 0 ? `Sold out (${inv.totalQuantity} sold or held)` : `${inv.availableQuantity} of ${inv.totalQuantity} left`;
  const meter = li.querySelector<HTMLProgressElement>('.meter')!;
  meter.max = Math.max(1, inv.totalQuantity);
  meter.value = inv.availableQuantity;
  meter.setAttribute('aria-label', `${inv.availableQuantity} of ${inv.totalQuantity} left`);
  const toStart = saleSecondsToStart(p);
  const sale = li.querySelector<HTMLElement>('.sale')!;
  const btn = li.querySelector<HTMLButtonElement>('.reserve')!;
  const cooling = (cooldownUntil.get(p.id) ?? 0) - Date.now();
  let state: string;
  if (saleEnded(p)) {
    state = 'ended';
    sale.textContent = 'The sale has ended';
  } else if (toStart > 0) {
    state = 'scheduled';
    sale.textContent = `Sale starts in ${clock(toStart)}`;
  } else if (inv.soldOut || inv.availableQuantity <= 0) {
    state = 'sold-out';
    sale.textContent = 'Sold out — held items that expire come back';
  } else {
    state = 'live';
    sale.textContent = 'On sale now';
  }
  li.dataset.state = state;
  btn.disabled = state !== 'live' || busy || cooling > 0 || hold !== undefined;
  btn.textContent =
    state === 'sold-out' ? 'Sold out' : state === 'scheduled' ? 'Not yet on sale' : state === 'ended' ? 'Sale ended' : cooling > 0 ? `Wait ${Math.ceil(cooling / 1000)} s` : 'Reserve';
  btn.setAttribute('aria-label', `${btn.textContent}: ${p.name}`);
}

async function loadProducts() {
  try {
    const list = await client.products();
    $('products-empty').hidden = list.length > 0;
    for (const p of list) {
      products.set(p.id, p);
      renderCard(p);
      if (!stockSubs.has(p.id)) {
        stockSubs.set(
          p.id,
          client.onStockChanged(p.id, (inv) => {
            const cur = products.get(p.id);
            if (!cur) return;
            cur.inventory = inv;
            // The window comes with every update: an operator who reschedules or ends the sale is shown at once.
            cur.sale = { ...cur.sale, startsAt: inv.saleStartsAt, endsAt: inv.saleEndsAt ?? null };
            renderCard(cur);
          }),
        );
      }
    }
  } catch (err) {
    showAlert(faultText(err));
  }
}

setInterval(() => {
  for (const p of products.values()) renderCard(p);
}, 1000);

// ---------- reserve ----------
async function reserve(productId: string) {
  clearAlert();
  if (!token) {
    showAlert('Sign in first: use the demo shopper button or a token.', 'error', 'signed-out');
    $('demo-sign-in').focus();
    return;
  }
  const p = products.get(productId)!;
  busy = true;
  renderCard(p);
  try {
    const r = await client.reserve({ productId, quantity: 1 });
    switch (r.__typename) {
      case 'ReserveSuccess':
        startHold(r.reservation);
        break;
      case 'SoldOut':
        showAlert(`Sold out: ${p.name} has no stock left right now. Held items that expire come back on sale.`, 'error', 'sold-out');
        break;
      case 'LimitExceeded':
        showAlert(`Limit reached: at most ${r.limit} per shopper.`, 'error', 'limit-reached');
        break;
      case 'RateLimited':
        cooldownUntil.set(productId, Date.now() + r.retryAfterSeconds * 1000);
        showAlert(`Too many tries: please wait ${r.retryAfterSeconds} s and try again.`, 'error', 'rate-limited');
        break;
      case 'SaleNotOpen':
        showAlert(r.code === 'SALE_ENDED' ? 'The sale has ended.' : `The sale has not started yet.`, 'error', 'sale-not-open');
        break;
      case 'CaptchaRequired':
        showAlert('We could not confirm you are human; please try again.', 'error', 'captcha');
        break;
      default:
        showAlert(r.message, 'error', r.code.toLowerCase());
    }
  } catch (err) {
    showAlert(faultText(err));
  } finally {
    busy = false;
    renderCard(p);
  }
}

// ---------- hold ----------
function startHold(reservation: Reservation) {
  hold = { reservation };
  $('hold-product').textContent = `${reservation.product.name} (${money(reservation.product.price)})`;
  $('pay-button').textContent = `Pay ${money({ amount: reservation.product.price.amount * reservation.quantity, currency: reservation.product.price.currency })}`;
  $('hold-countdown').textContent = clock((Date.parse(reservation.expiresAt) - Date.now()) / 1000);
  $('hold').hidden = false;
  $('order').hidden = true;
  $('hold-title').focus();
  const mine = hold;
  mine.sub = client.onReservationCountdown(reservation.id, (c) => {
    if (hold !== mine) return;
    $('hold-countdown').textContent = clock(c.secondsLeft);
    if (c.reservation.status === 'EXPIRED') {
      endHold();
      showAlert('Your hold expired and the item went back on sale.', 'error', 'expired');
    } else if (c.reservation.status === 'RELEASED') {
      endHold();
    }
  });
  for (const p of products.values()) renderCard(p);
}
function endHold() {
  hold?.sub?.unsubscribe();
  hold = undefined;
  $('hold').hidden = true;
  for (const p of products.values()) renderCard(p);
}
$('release-button').addEventListener('click', async () => {
  if (!hold) return;
  const r = await client.releaseReservation(hold.reservation.id).catch((err) => {
    showAlert(faultText(err));
    return undefined;
  });
  if (!r) return;
  endHold();
  if (r.__typename === 'ReleaseSuccess') showAlert('Given back. Thank you!', 'info', 'released');
  else if (r.__typename === 'ReservationExpired') showAlert('Your hold had already expired.', 'error', 'expired');
  $('main').focus();
});

// ---------- the shopper's orders ----------
type PastOrder = Awaited<ReturnType<typeof client.orders>>[number];

/** What became of an order, in words, and a state for styling and tests. */
function pastState(o: PastOrder): [state: string, text: string] {
  if (o.status === 'COMPLETED') return ['paid', 'Paid'];
  if (o.status === 'FAILED') return ['failed', 'Payment failed; nothing was charged'];
  if (o.status === 'CANCELLED' && o.paymentStatus === 'COMPLETED') {
    const made = o.refunds.filter((r) => r.status === 'SUCCEEDED');
    return made.length
      ? ['refunded', `Cancelled and refunded: ${made.map((r) => money(r.amount)).join(' + ')}`]
      : ['refunding', 'Cancelled; your refund is on its way'];
  }
  if (o.status === 'CANCELLED') return ['cancelled', 'Cancelled'];
  return ['pending', 'Waiting for payment'];
}

let ordersAsked = 0;
/** The signed-in shopper's orders, newest first (each with its refunds: one request). */
async function loadOrders() {
  const asked = ++ordersAsked;
  if (!token) {
    $('history').hidden = true;
    return;
  }
  let list: PastOrder[];
  try {
    list = await client.orders();
  } catch {
    return; // Shown again at the next change; the rest of the page does not depend on it.
  }
  if (asked !== ordersAsked) return;
  const ul = $('history-list');
  ul.replaceChildren(
    ...list.map((o) => {
      const [state, text] = pastState(o);
      const li = document.createElement('li');
      li.dataset.orderId = o.id;
      li.dataset.state = state;
      const what = o.items.map((i) => `${i.quantity} × ${i.product.name}`).join(', ');
      li.textContent = `${what} — ${money(o.total)} — ${text}`;
      return li;
    }),
  );
  $('history-empty').hidden = list.length > 0;
  $('history').hidden = false;
}

// ---------- checkout & pay ----------
/** An order as checkout and pay answer it, or as its live stream sends it (with its refunds). */
type ShownOrder = Order & { refunds?: { status: string; amount: { amount: number; currency: string } }[] };

/** What a cancelled paid order's page says about the money: the live stream sends it again when the refund is made or fails. */
function refundNote(o: ShownOrder): string {
  const made = (o.refunds ?? []).filter((r) => r.status === 'SUCCEEDED');
  if (made.length) return `The order was cancelled and the ${made.map((r) => money(r.amount)).join(' + ')} you paid was refunded to your card.`;
  if ((o.refunds ?? []).some((r) => r.status === 'FAILED')) return `The order was cancelled; the refund of the ${money(o.total)} you paid did not go through, and we will make it by hand.`;
  return `The order was cancelled; the ${money(o.total)} you paid is being refunded to your card.`;
}

function showOrder(o: ShownOrder) {
  void loadOrders();
  $('order-id').textContent = o.id;
  const status = $('order-status');
  status.textContent = o.status;
  status.dataset.status = o.status;
  $('order-note').textContent =
    o.status === 'COMPLETED'
      ? `Paid ${money(o.total)}. Transaction ${o.transactionId ?? ''}. It is yours!`
      : o.status === 'FAILED'
        ? 'The payment failed; nothing was charged and the item went back on sale.'
        : o.status === 'CANCELLED' && o.paymentStatus === 'COMPLETED'
          ? // A paid order is cancelled only with its refund (refundOrder, cancelSale, the gateway's dashboard).
            refundNote(o)
          : o.status === 'CANCELLED'
            ? 'The order was cancelled.'
          : 'Waiting for the payment…';
}

$('checkout-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!hold || busy) return;
  clearAlert();
  const form = e.target as HTMLFormElement;
  const data = new FormData(form);
  const field = (k: string) => String(data.get(k) ?? '').trim();
  let firstBad: HTMLInputElement | undefined;
  for (const input of form.querySelectorAll<HTMLInputElement>('input[required]')) {
    const bad = !input.value.trim() || (input.name === 'country' && !/^[A-Za-z]{2}$/.test(input.value.trim()));
    if (bad) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
    if (bad && !firstBad) firstBad = input;
  }
  if (firstBad) {
    showAlert(`Please fill in ${form.querySelector(`label[for="${firstBad.id}"]`)?.textContent ?? 'the address'}.`, 'error', 'invalid');
    firstBad.focus();
    return;
  }
  const card = field('card');
  busy = true;
  ($('pay-button') as HTMLButtonElement).disabled = true;
  try {
    const c = await client.checkout({
      cartId: hold.reservation.cartId,
      paymentMethod: card,
      shippingAddress: {
        addressLine1: field('addressLine1'),
        addressLine2: field('addressLine2') || null,
        city: field('city'),
        postalCode: field('postalCode'),
        country: field('country').toUpperCase(),
      },
    });
    if (c.__typename !== 'CheckoutSuccess') {
      if (c.__typename === 'ReservationExpired') {
        endHold();
        showAlert('Your hold expired and the item went back on sale.', 'error', 'expired');
      } else if (c.__typename === 'RateLimited') showAlert(`Too many tries: please wait ${c.retryAfterSeconds} s.`, 'error', 'rate-limited');
      else showAlert(c.message, 'error', c.code.toLowerCase());
      return;
    }
    const order = c.order;
    endHold();
    $('order').hidden = false;
    showOrder(order);
    $('order-title').focus();
    orderSub?.unsubscribe();
    orderSub = client.onOrderStatusChanged(order.id, showOrder);
    const p = await client.pay({ orderId: order.id, paymentMethod: card, amount: order.total.amount });
    switch (p.__typename) {
      case 'PaySuccess':
        showOrder(p.order);
        showAlert('Payment accepted. Thank you!', 'success', 'paid');
        break;
      case 'AlreadyPaid':
        showOrder(p.order);
        break;
      case 'PaymentDeclined':
        showAlert(`Your card was declined${p.declineCode ? ` (${p.declineCode})` : ''}. Nothing was charged.`, 'error', 'declined');
        break;
      case 'PaymentUnavailable':
        showAlert(`The payment service is unavailable; nothing was charged. Try again in ${p.retryAfter ?? 5} s.`, 'error', 'payment-unavailable');
        break;
      case 'ReservationExpired':
        showAlert('Your hold expired before the payment and the item went back on sale.', 'error', 'expired');
        break;
      case 'RateLimited':
        showAlert(`Too many tries: please wait ${p.retryAfterSeconds} s.`, 'error', 'rate-limited');
        break;
      default:
        showAlert(p.message, 'error', p.code.toLowerCase());
    }
  } catch (err) {
    showAlert(faultText(err));
  } finally {
    busy = false;
    ($('pay-button') as HTMLButtonElement).disabled = false;
    for (const p of products.values()) renderCard(p);
  }
});

$('shop-again').addEventListener('click', () => {
  orderSub?.unsubscribe();
  $('order').hidden = true;
  clearAlert();
  $('products-title').setAttribute('tabindex', '-1');
  $('products-title').focus();
});

// ---------- start ----------
setToken(token);
void loadProducts();
// New products appear without a reload; stock itself is pushed live.
setInterval(() => void loadProducts(), 30_000);
