/** A request body over the limit its route takes: answered 413, nothing read past the limit. */
export class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`The body is larger than ${limit} bytes`);
    this.name = 'BodyTooLarge';
  }
}

/**
 * A request's body as bytes, at most `limit` of them: a declared length over the limit is
 * refused before anything is read, and a chunked body is counted as it comes and refused
 * as soon as it passes the limit (`Request.text()`/`.json()` would read it all, however big).
 */
export async function readBody(request: Request, limit: number): Promise<Buffer> {
  const declared = Number(request.headers.get('content-length'));
  if (declared > limit) throw new BodyTooLarge(limit);
  const stream = request.body;
  if (!stream) return Buffer.alloc(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      reader.cancel().catch(() => {});
      throw new BodyTooLarge(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

/** The body parsed as JSON, read with `readBody`'s limit; a SyntaxError when it is not JSON. */
export async function readJson(request: Request, limit: number): Promise<unknown> {
  return JSON.parse((await readBody(request, limit)).toString('utf8'));
}
