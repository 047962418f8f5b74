import type { Context } from './builder.js';

/** A subscription's own abort signal, also aborted when the server shuts down (the stream then completes). */
export function streamSignal(ctx: Pick<Context, 'closing'>): AbortController {
  const abort = new AbortController();
  const closing = ctx.closing;
  if (closing) {
    if (closing.aborted) abort.abort();
    else {
      const onClose = () => abort.abort();
      closing.addEventListener('abort', onClose, { once: true });
      abort.signal.addEventListener('abort', () => closing.removeEventListener('abort', onClose), { once: true });
    }
  }
  return abort;
}
