/**
 * The appliance's HTTP API, authenticated by the session cookie set at login. Every change (POST)
 * carries the session's CSRF token in a header, which a page of another site cannot send.
 */
export class ApiError extends Error {}

let session;

/** The logged-in operator and the CSRF token (GET /session, once per page load). */
export function currentSession() {
  session ??= request('/session').catch((err) => {
    session = undefined;
    throw err;
  });
  return session;
}

export async function api(path, { method = 'GET', body } = {}) {
  const headers = body === undefined ? {} : { 'content-type': 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = (await currentSession()).csrf_token;
  return request(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function request(path, { method = 'GET', headers = {}, body } = {}) {
  const res = await fetch(path, { method, headers, body, credentials: 'same-origin' });
  const text = await res.text();
  const data = text ? JSON.parse(text) : undefined;
  if (res.status === 401) {
    // Not logged in, or the session expired: the login page says which, and brings the operator back.
    location.assign(`/login?why=${encodeURIComponent(data?.error ?? 'log in')}`);
    throw new ApiError(data?.error ?? 'not logged in');
  }
  if (!res.ok) throw new ApiError(data?.error ?? `HTTP ${res.status}`);
  return data;
}

export async function logOut() {
  await api('/logout', { method: 'POST', body: {} }).catch(() => undefined);
  location.assign('/login');
}
