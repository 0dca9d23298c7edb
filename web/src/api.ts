/**
 * The one way the pages talk to the gateway: JSON over fetch with the signed-in token. Every
 * failure becomes an ApiFailure whose message is in words (the gateway's own message, or what went
 * wrong with the connection), never a stack.
 */
import { currentToken } from './session';
import { ApiFailure, failureOf } from './failure';

export { ApiFailure, failureOf };

export interface RequestOptions {
  method?: string;
  /** A JSON body (sent as application/json). */
  json?: unknown;
  /** A raw body with its content type (uploads). */
  raw?: { body: BodyInit; contentType: string };
  /** Override the signed-in token (sign-in itself sends none). */
  token?: string | null;
}

function headersFor(opts: RequestOptions): Record<string, string> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = opts.token === undefined ? currentToken() : opts.token;
  if (token) headers.authorization = `Bearer ${token}`;
  if (opts.json !== undefined) headers['content-type'] = 'application/json';
  if (opts.raw) headers['content-type'] = opts.raw.contentType;
  return headers;
}

export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method: opts.method ?? (opts.json !== undefined || opts.raw ? 'POST' : 'GET'),
      headers: headersFor(opts),
      body: opts.json !== undefined ? JSON.stringify(opts.json) : opts.raw?.body,
    });
  } catch {
    throw new ApiFailure('The gateway cannot be reached. Check that it is running and try again.', 0);
  }
  const text = await res.text();
  if (!res.ok) throw failureOf(res.status, text);
  return (text ? JSON.parse(text) : null) as T;
}

/** A download (quarantine files): the body as a Blob. */
export async function download(path: string): Promise<Blob> {
  const res = await fetch(path, { headers: headersFor({}) }).catch(() => {
    throw new ApiFailure('The gateway cannot be reached. Check that it is running and try again.', 0);
  });
  if (!res.ok) throw failureOf(res.status, await res.text());
  return res.blob();
}

/**
 * An upload with progress (fetch reports none for request bodies): XMLHttpRequest, resolving with
 * the JSON answer. `onProgress` gets the fraction sent, 0 to 1.
 */
export function uploadWithProgress<T>(path: string, file: Blob, contentType: string, onProgress: (fraction: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    for (const [k, v] of Object.entries(headersFor({ raw: { body: file, contentType } }))) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onerror = () => reject(new ApiFailure('The upload did not reach the gateway. Check the connection and try again.', 0));
    xhr.onload = () => {
      onProgress(1);
      // 422: a transaction Bundle that was not stored still carries its report.
      if (xhr.status >= 200 && xhr.status < 300) resolve(JSON.parse(xhr.responseText) as T);
      else if (xhr.status === 422 && xhr.responseText.includes('"batchId"')) resolve(JSON.parse(xhr.responseText) as T);
      else reject(failureOf(xhr.status, xhr.responseText));
    };
    xhr.send(file);
  });
}

/** The message of anything thrown, in words. */
export function messageOf(err: unknown): string {
  if (err instanceof ApiFailure) return err.message;
  if (err instanceof Error && err.message) return `Something went wrong in the page: ${err.message}`;
  return 'Something went wrong in the page.';
}
