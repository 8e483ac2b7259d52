// The service's REST API and websocket addresses, and the signed-in session.
// Tokens live in sessionStorage: they last as long as the tab and are never sent anywhere
// but this service.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function loadSession(page) {
  try {
    return JSON.parse(sessionStorage.getItem(`sentiment-svc.${page}`) || "null");
  } catch {
    return null;
  }
}

export function saveSession(page, session) {
  sessionStorage.setItem(`sentiment-svc.${page}`, JSON.stringify(session));
}

export function clearSession(page) {
  sessionStorage.removeItem(`sentiment-svc.${page}`);
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** GET (or another method) a /v1 path with the bearer token; `as`: json | blob | text. */
export async function api(path, token, { params, method = "GET", as = "json" } = {}) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const response = await fetch(path + query(params), { method, headers, cache: "no-store" });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail || detail;
    } catch { /* not JSON */ }
    throw new ApiError(response.status, String(detail));
  }
  if (as === "blob") return response.blob();
  if (as === "text") return response.text();
  return response.status === 204 ? null : response.json();
}

/** ws:// (or wss://) URL of a websocket path on this service. With a token, the URL carries
 * a single-use ticket the token buys from POST /v1/ws-ticket, never the token itself (URLs
 * end up in logs); call it again for every (re)connection. An ApiError with status 401/403
 * means the token is no good. */
export async function socketUrl(path, token, params = {}) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ticket = token ? (await api("/v1/ws-ticket", token, { method: "POST" })).ticket : undefined;
  return `${scheme}//${location.host}${path}${query({ ...params, ticket })}`;
}

/** Save a Blob as a file through a temporary link. */
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
