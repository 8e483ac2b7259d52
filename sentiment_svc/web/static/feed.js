// A live feed websocket that reconnects by itself after a drop, with exponential backoff
// (0.5 s doubling to 15 s, with jitter). `url` is an async function giving a fresh address
// for each attempt (tickets are single-use). A close for a bad token (4401) or a wrong role
// (4403), or a refused ticket request (401/403), is final: the page must sign in again. `onOpen(reconnected)` runs on every
// (re)connection, so a page can fetch what it missed while it was away.

const FATAL = new Set([4401, 4403]);
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;
const STABLE_MS = 5000;  // a connection that lasted this long starts the backoff afresh

export class Feed {
  constructor(url, { onMessage, onOpen, onStatus, onFatal } = {}) {
    this.url = url;
    this.handlers = { onMessage, onOpen, onStatus, onFatal };
    this.socket = null;
    this.attempt = 0;
    this.opened = false;
    this.openedAt = 0;
    this.stopped = true;
    this.timer = null;
    this.retryNow = () => {
      if (this.timer) this.connect();
    };
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this.retryNow);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.retryNow);
    clearTimeout(this.timer);
    this.timer = null;
    if (this.socket) this.socket.close(1000, "signed out");
    this.socket = null;
    this.status("closed");
  }

  /** Send a JSON message; false when the socket is not open (the caller may retry). */
  send(message) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  get isOpen() {
    return Boolean(this.socket && this.socket.readyState === WebSocket.OPEN);
  }

  status(state, detail = {}) {
    this.handlers.onStatus?.(state, detail);
  }

  async connect() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.stopped) return;
    this.status("connecting");
    let url;
    try {
      url = await this.url();
    } catch (error) {
      if (this.stopped) return;
      if (error.status === 401 || error.status === 403) return this.fatal(error.status + 4000, error.message);
      return this.retry();
    }
    if (this.stopped || this.socket) return;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      const reconnected = this.opened;
      this.opened = true;
      this.openedAt = Date.now();
      this.status("open");
      this.handlers.onOpen?.(reconnected);
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.handlers.onMessage?.(message);
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.socket || this.stopped) return;
      this.socket = null;
      if (FATAL.has(event.code)) return this.fatal(event.code, event.reason);
      if (this.openedAt && Date.now() - this.openedAt > STABLE_MS) this.attempt = 0;
      this.openedAt = 0;
      this.retry();
    });
  }

  fatal(code, reason) {
    this.stopped = true;
    this.status("closed");
    this.handlers.onFatal?.(code, reason);
  }

  retry() {
    const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt += 1;
    this.status("retry", { delay });
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
