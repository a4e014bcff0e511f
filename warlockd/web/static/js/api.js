// The HTTP API as the page calls it: the session's cookie goes by itself; every change
// carries the session's CSRF token; errors become ApiError with the API's words and hint.

export const BASE = "/api/v1";
let csrf = null;
export const session = { who: null, scope: null };

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.hint = body && body.hint;
  }
}

export function setSession(data) {
  csrf = data.csrf_token;
  session.who = data.who || (data.user && !data.user.includes(":") ? `user:${data.user}` : data.user);
  session.scope = data.scope;
}

export function can(scope) {
  const order = { read: 1, operate: 2, admin: 3 };
  return (order[session.scope] || 0) >= order[scope];
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") {
    if (csrf) headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) headers["Content-Type"] = "application/json";
  }
  const res = await fetch(BASE + path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  const type = res.headers.get("content-type") || "";
  if (type.includes("json")) data = await res.json();
  if (res.status === 401 && !path.startsWith("/login")) {
    location.assign(`/login?next=${encodeURIComponent(location.pathname + location.hash)}`);
    throw new ApiError(401, data);
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}
