/**
 * The shop's first-party clickstream tracker: the storefront client's event builders and payload fields, sent in
 * batches instead of one POST per event.
 *
 * - Events are queued and sent as `{"events": [...], "sentAt": <epoch ms>}` when `maxBatchEvents` are waiting, when
 *   the batch would pass `maxBatchBytes` (below the 64 KB a beacon may carry), or `flushIntervalMs` after the first
 *   one waits. Each event keeps its device `timestamp`: the collector corrects the device clock with `sentAt`.
 * - Bodies are `text/plain` JSON: a simple cross-origin request, no CORS preflight, and what a beacon sends.
 * - On `pagehide` or a hidden tab everything waiting goes with `navigator.sendBeacon`, which outlives the page.
 * - A failed send (network, 5xx, 429) is retried with exponential backoff; the queue lives in localStorage, so
 *   events tracked offline, or left by a tab that closed, are sent by the next page of the origin.
 * - Ids as the storefront makes them: `crypto.randomUUID()`, or on a non-secure origin (no `randomUUID`) epoch
 *   milliseconds and 8 hex digits. The client id is kept in localStorage (`isFirstVisit` is true on a new client's
 *   very first event only); the session id in sessionStorage, so each tab is a session of its own (the warehouse
 *   sessionizes per client and merges them).
 *
 * No runtime dependencies.
 */

export interface Product {
  id: string;
  name?: string;
  category?: string;
  brand?: string;
  price?: number;
  discountPrice?: number;
  urlPath?: string;
}

export interface Category {
  id: string;
  category?: string;
}

export interface ElementInfo {
  tag?: string;
  id?: string;
  role?: string;
  text?: string;
  dataset?: Record<string, string>;
}

export type ClickstreamEvent = Record<string, unknown> & { eventName: string; eventId: string; timestamp: number };

export interface TrackerOptions {
  /** The collector: `https://<api>/clickstream` (or `clickstream serve`'s `http://127.0.0.1:8080/clickstream`). */
  endpoint: string;
  maxBatchEvents?: number;
  maxBatchBytes?: number;
  flushIntervalMs?: number;
  maxRetryDelayMs?: number;
  /** Events kept waiting at most (the oldest are dropped beyond it, so a long offline spell cannot fill storage). */
  maxQueuedEvents?: number;
  /** Storage key prefix, for two trackers on one origin. */
  storageKey?: string;
}

interface Environment {
  fetch: typeof fetch;
  sendBeacon?: (url: string, data: BodyInit) => boolean;
  local?: Storage;
  session?: Storage;
  now: () => number;
  href: () => string;
  referrer: () => string;
}

const BEACON_LIMIT = 64 * 1024;
const STALE_QUEUE_MS = 10_000; // another tab's queue untouched this long: its tab is gone, this one sends it

function browserEnvironment(): Environment {
  const safe = <T>(get: () => T): T | undefined => {
    try {
      return get();
    } catch {
      return undefined; // storage blocked (privacy settings, sandboxed frames): the tracker runs without it
    }
  };
  return {
    fetch: (input, init) => fetch(input, init),
    sendBeacon: typeof navigator !== "undefined" && navigator.sendBeacon ? navigator.sendBeacon.bind(navigator) : undefined,
    local: safe(() => window.localStorage),
    session: safe(() => window.sessionStorage),
    now: () => Date.now(),
    href: () => window.location.href,
    referrer: () => document.referrer,
  };
}

/** An id as the storefront makes it: a UUID, or on a non-secure origin epoch ms and 8 hex digits. */
export function newId(now: number = Date.now()): string {
  const c = typeof crypto !== "undefined" ? crypto : undefined;
  if (c && typeof c.randomUUID === "function") {
    return c.randomUUID();
  }
  const hex = Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, "0");
  return `${now}-${hex}`;
}

function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}

export class Tracker {
  private readonly options: Required<TrackerOptions>;
  private readonly env: Environment;
  private readonly queueKey: string;
  private queue: ClickstreamEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private sending = false;
  private failures = 0;
  private userId: string | null = null;
  private clientIdValue: string;
  private sessionIdValue: string;
  private firstVisit: boolean;

  constructor(options: TrackerOptions, env: Environment = browserEnvironment()) {
    this.options = {
      maxBatchEvents: 20,
      maxBatchBytes: 60_000,
      flushIntervalMs: 3_000,
      maxRetryDelayMs: 60_000,
      maxQueuedEvents: 1_000,
      storageKey: "clickstream",
      ...options,
    };
    this.env = env;
    const key = this.options.storageKey;
    const storedClient = this.read(env.local, `${key}:client`);
    this.firstVisit = storedClient === null;
    this.clientIdValue = storedClient ?? newId(env.now());
    this.write(env.local, `${key}:client`, this.clientIdValue);
    this.sessionIdValue = this.read(env.session, `${key}:session`) ?? newId(env.now());
    this.write(env.session, `${key}:session`, this.sessionIdValue);
    this.queueKey = `${key}:queue:${this.sessionIdValue}`;
    this.queue = [...this.load(this.queueKey), ...this.adoptStaleQueues()];
    this.save();
    if (typeof window !== "undefined") {
      window.addEventListener("pagehide", () => this.flushWithBeacon());
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "hidden") this.flushWithBeacon();
      });
      window.addEventListener("online", () => this.flush());
    }
    if (this.queue.length) this.schedule(0);
  }

  get clientId(): string {
    return this.clientIdValue;
  }

  get sessionId(): string {
    return this.sessionIdValue;
  }

  /** The logged-in user (the Cognito sub), or null after a logout. */
  setUser(userId: string | null): void {
    this.userId = userId;
  }

  // -- the storefront's event builders ----------------------------------------------------------------------------
  pageView(): ClickstreamEvent {
    return this.track("page_view");
  }

  click(element: ElementInfo): ClickstreamEvent {
    return this.track("click", { element });
  }

  categoryView(category: Category): ClickstreamEvent {
    return this.track("category_view", { product: category });
  }

  productView(product: Product): ClickstreamEvent {
    return this.track("product_view", { product });
  }

  addToCart(product: Product): ClickstreamEvent {
    return this.track("add_to_cart_click", { product });
  }

  removeFromCart(product: Product): ClickstreamEvent {
    return this.track("remove_from_cart_click", { product });
  }

  wishlistToggle(product: Product, on: boolean): ClickstreamEvent {
    return this.track("wishlist_toggle", { product, element: { tag: "button", dataset: { toggledOn: String(on) } } });
  }

  shareClick(product: Product, channel: string): ClickstreamEvent {
    return this.track("share_click", { product, element: { tag: "button", dataset: { channel } } });
  }

  checkoutStart(cart: { cartId?: string; total: number; itemCount: number }): ClickstreamEvent {
    const dataset = { cartId: cart.cartId ?? "", total: String(cart.total), itemCount: String(cart.itemCount) };
    return this.track("checkout_start", { element: { tag: "button", dataset } });
  }

  checkoutComplete(order: { orderId?: string; orderNumber?: string; total: number }): ClickstreamEvent {
    const dataset = { orderId: order.orderId ?? "", orderNumber: order.orderNumber ?? "", total: String(order.total) };
    return this.track("checkout_complete", { element: { tag: "form", dataset } });
  }

  /** Any event: the common fields, then ``fields``. Returns the event as queued. */
  track(eventName: string, fields: Record<string, unknown> = {}): ClickstreamEvent {
    const now = this.env.now();
    const event: ClickstreamEvent = {
      eventName,
      eventId: newId(now),
      pageUrl: this.env.href(),
      referrer: this.env.referrer() || null,
      timestamp: now,
    };
    // Anonymous: page_view and click say "userId": null, the other events have no key (as the storefront sends).
    if (this.userId !== null || eventName === "page_view" || eventName === "click") event.userId = this.userId;
    Object.assign(event, {
      userLoginState: this.userId !== null ? "logged_in" : "anonymous",
      clientId: this.clientIdValue,
      sessionId: this.sessionIdValue,
      isFirstVisit: this.firstVisit,
      ...fields,
    });
    this.firstVisit = false;
    this.queue.push(event);
    if (this.queue.length > this.options.maxQueuedEvents) this.queue.splice(0, this.queue.length - this.options.maxQueuedEvents);
    this.save();
    if (this.queue.length >= this.options.maxBatchEvents) this.flush();
    else this.schedule(this.options.flushIntervalMs);
    return event;
  }

  // -- sending ----------------------------------------------------------------------------------------------------
  /** Send what is waiting now (batch after batch); resolves when done or when a send failed (retried later). */
  async flush(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    try {
      while (this.queue.length) {
        const [batch, body] = this.nextBatch(this.options.maxBatchBytes);
        const status = await this.post(body);
        if (status === "retry") {
          this.failures += 1;
          this.sending = false;
          this.schedule(Math.min(this.options.maxRetryDelayMs, 1000 * 2 ** (this.failures - 1)));
          return;
        }
        this.failures = 0;
        this.remove(batch); // sent, or refused for good (a 4xx: sending it again cannot help)
      }
    } finally {
      this.sending = false;
    }
  }

  /** Everything waiting, by beacon (the page is going away): batches below the beacon's 64 KB. */
  flushWithBeacon(): void {
    const beacon = this.env.sendBeacon;
    if (!beacon) {
      void this.flush();
      return;
    }
    while (this.queue.length) {
      const [batch, body] = this.nextBatch(Math.min(this.options.maxBatchBytes, BEACON_LIMIT - 1024));
      if (!beacon(this.options.endpoint, new Blob([body], { type: "text/plain;charset=UTF-8" }))) return; // kept
      this.remove(batch);
    }
  }

  private nextBatch(maxBytes: number): [ClickstreamEvent[], string] {
    const batch: ClickstreamEvent[] = [];
    let body = "";
    for (const event of this.queue.slice(0, this.options.maxBatchEvents)) {
      const candidate = JSON.stringify({ events: [...batch, event], sentAt: this.env.now() });
      if (batch.length && byteLength(candidate) > maxBytes) break;
      batch.push(event);
      body = candidate;
    }
    return [batch, body];
  }

  private async post(body: string): Promise<"done" | "retry"> {
    try {
      const response = await this.env.fetch(this.options.endpoint, {
        method: "POST",
        body,
        headers: { "content-type": "text/plain;charset=UTF-8" },
        keepalive: byteLength(body) < BEACON_LIMIT,
        credentials: "omit",
      });
      return response.status >= 500 || response.status === 429 ? "retry" : "done";
    } catch {
      return "retry"; // offline, DNS, connection refused: the queue keeps the events
    }
  }

  private schedule(delayMs: number): void {
    if (this.timer !== undefined || this.sending) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delayMs);
  }

  private remove(batch: ClickstreamEvent[]): void {
    const sent = new Set(batch.map((event) => event.eventId));
    this.queue = this.queue.filter((event) => !sent.has(event.eventId));
    this.save();
  }

  // -- storage ----------------------------------------------------------------------------------------------------
  private read(storage: Storage | undefined, key: string): string | null {
    try {
      return storage ? storage.getItem(key) : null;
    } catch {
      return null;
    }
  }

  private write(storage: Storage | undefined, key: string, value: string): void {
    try {
      storage?.setItem(key, value);
    } catch {
      // storage full or blocked: the tracker goes on in memory
    }
  }

  private load(key: string): ClickstreamEvent[] {
    try {
      const saved = JSON.parse(this.read(this.env.local, key) ?? "null");
      return Array.isArray(saved?.events) ? saved.events : [];
    } catch {
      return [];
    }
  }

  private save(): void {
    if (!this.queue.length) {
      try {
        this.env.local?.removeItem(this.queueKey);
      } catch {
        // blocked storage
      }
      return;
    }
    this.write(this.env.local, this.queueKey, JSON.stringify({ savedAt: this.env.now(), events: this.queue }));
  }

  /** Queues of other tabs that nobody touched for a while (their tab closed before sending): this tab sends them. */
  private adoptStaleQueues(): ClickstreamEvent[] {
    const local = this.env.local;
    if (!local) return [];
    const prefix = `${this.options.storageKey}:queue:`;
    const adopted: ClickstreamEvent[] = [];
    try {
      for (let index = local.length - 1; index >= 0; index -= 1) {
        const key = local.key(index);
        if (!key || !key.startsWith(prefix) || key === this.queueKey) continue;
        const saved = JSON.parse(local.getItem(key) ?? "null");
        if (saved && this.env.now() - Number(saved.savedAt) > STALE_QUEUE_MS && Array.isArray(saved.events)) {
          adopted.push(...saved.events);
          local.removeItem(key);
        }
      }
    } catch {
      // blocked storage or a foreign value under our prefix
    }
    return adopted;
  }
}

/** The tracker the storefront creates once per page. */
export function createTracker(options: TrackerOptions): Tracker {
  return new Tracker(options);
}
