/**
 * The requests between their add and their done, by id, each with a deadline
 * (added at + the maximum lifetime) after which it is released unfinished.
 *
 * Deadlines fall into windows a quarter of a second wide, kept in a list from
 * the oldest to the newest; each window links its requests. Adding appends to
 * the newest window (times only grow, so it is nearly always the right one),
 * finishing unlinks in constant time, and taking the expired walks only the
 * windows that closed and the requests in them: the cost of expiry is what
 * expires, never what is in flight, and no request has a timer of its own.
 */
import type { PodReference } from "./PodEntry.ts"

/** Width of an expiry window: a request is released at most this long after its deadline plus the sweep's period. */
export const EXPIRY_WINDOW_MS = 250

/** Default maximum lifetime of a request: longer than any streamed completion should run. */
export const DEFAULT_REQUEST_LIFETIME_MS = 3_600_000

/** The gateway's count of a model's requests not yet finished. */
export interface PendingCounter {
  count: number
  /** The model is not in the store (set when it leaves, cleared when it comes back): the counter goes once nothing is pending in it. */
  modelGone: boolean
}

/** A request between `addRequest` and its `doneRequest`, and what it counted. */
export class InFlightRequest {
  readonly id: string
  readonly model: string
  /** The counter the request added itself to, if the model existed then. */
  readonly pending: PendingCounter | undefined
  /** The very pod entry whose running count the request holds, if any. */
  readonly pod: PodReference | undefined
  window: ExpiryWindow | undefined
  previous: InFlightRequest | undefined
  next: InFlightRequest | undefined

  constructor(id: string, model: string, pending: PendingCounter | undefined, pod: PodReference | undefined) {
    this.id = id
    this.model = model
    this.pending = pending
    this.pod = pod
    this.window = undefined
    this.previous = undefined
    this.next = undefined
  }
}

/** The requests whose deadlines fall in one window, released together once it closes. */
class ExpiryWindow {
  /** The window's end: every request in it is past its deadline from this time on. */
  readonly closesAt: number
  first: InFlightRequest | undefined = undefined
  last: InFlightRequest | undefined = undefined
  older: ExpiryWindow | undefined = undefined
  newer: ExpiryWindow | undefined = undefined

  constructor(closesAt: number) {
    this.closesAt = closesAt
  }

  append(request: InFlightRequest): void {
    request.window = this
    request.previous = this.last
    if (this.last === undefined) this.first = request
    else this.last.next = request
    this.last = request
  }

  /** Unlinks the request; true when the window is left empty. */
  remove(request: InFlightRequest): boolean {
    if (request.previous === undefined) this.first = request.next
    else request.previous.next = request.next
    if (request.next === undefined) this.last = request.previous
    else request.next.previous = request.previous
    letGo(request)
    return this.first === undefined
  }
}

/** Clears a request's links, so that one held elsewhere keeps neither its window nor its neighbours alive. */
const letGo = (request: InFlightRequest): void => {
  request.window = undefined
  request.previous = undefined
  request.next = undefined
}

/**
 * A key no request has, kept in the map by id: V8 shrinks a map that a delete
 * leaves empty, a runtime call each time, and a gateway with one request in
 * flight at a time would pay it on every done.
 */
const NEVER_EMPTY: unique symbol = Symbol("never empty")

export class InFlightRequests {
  readonly #byId = new Map<string | typeof NEVER_EMPTY, InFlightRequest | undefined>([[NEVER_EMPTY, undefined]])
  #oldest: ExpiryWindow | undefined = undefined
  #newest: ExpiryWindow | undefined = undefined
  /** The window the last add went to, when not the newest: after the clock went back, adds go there. */
  #recent: ExpiryWindow | undefined = undefined
  #lifetimeMs: number

  constructor(lifetimeMs: number) {
    this.#lifetimeMs = checkedLifetime(lifetimeMs)
  }

  /** How long a request may stay in flight; a new value holds for requests added after. */
  get lifetimeMs(): number {
    return this.#lifetimeMs
  }

  set lifetimeMs(value: number) {
    this.#lifetimeMs = checkedLifetime(value)
  }

  get size(): number {
    return this.#byId.size - 1
  }

  has(id: string): boolean {
    return this.#byId.has(id)
  }

  /** Tracks a request added at `now`, whose id is not in flight. */
  add(request: InFlightRequest, now: number): void {
    this.#byId.set(request.id, request)
    this.#windowFor(now + this.#lifetimeMs).append(request)
  }

  /** Stops tracking the request of this id and returns it; undefined when it is not in flight. */
  take(id: string): InFlightRequest | undefined {
    const request = this.#byId.get(id)
    if (request === undefined) return undefined
    this.#byId.delete(id)
    const window = request.window
    // The newest window stays while empty: the next add, within the same quarter second, reuses it.
    if (window?.remove(request) && window !== this.#newest) this.#unlinkWindow(window)
    return request
  }

  /** True when some request is past its deadline at `now`: one comparison, for the request path. */
  hasExpired(now: number): boolean {
    return this.#oldest !== undefined && this.#oldest.closesAt <= now
  }

  /** Stops tracking every request past its deadline at `now`, handing each to `release`; returns how many. */
  takeExpired(now: number, release: (request: InFlightRequest) => void): number {
    let released = 0
    for (let window = this.#oldest; window !== undefined && window.closesAt <= now; window = this.#oldest) {
      this.#unlinkWindow(window)
      for (let request = window.first; request !== undefined; ) {
        const next = request.next
        this.#byId.delete(request.id)
        letGo(request)
        release(request)
        released++
        request = next
      }
    }
    return released
  }

  /** The window closing at the first window boundary at or after `deadline`. */
  #windowFor(deadline: number): ExpiryWindow {
    const newest = this.#newest
    if (newest !== undefined && holds(newest, deadline)) return newest
    const recent = this.#recent
    if (recent !== undefined && holds(recent, deadline)) return recent
    const closesAt = Math.ceil(deadline / EXPIRY_WINDOW_MS) * EXPIRY_WINDOW_MS
    // The clock went back, or the lifetime was shortened: walk back to its place, once.
    let older = newest
    while (older !== undefined && older.closesAt > closesAt) older = older.older
    const window =
      older !== undefined && older.closesAt === closesAt ? older : this.#insertAfter(older, new ExpiryWindow(closesAt))
    this.#recent = window === this.#newest ? undefined : window
    return window
  }

  #insertAfter(older: ExpiryWindow | undefined, window: ExpiryWindow): ExpiryWindow {
    const newer = older === undefined ? this.#oldest : older.newer
    window.older = older
    window.newer = newer
    if (older === undefined) this.#oldest = window
    else older.newer = window
    if (newer === undefined) this.#newest = window
    else newer.older = window
    return window
  }

  #unlinkWindow(window: ExpiryWindow): void {
    if (window === this.#recent) this.#recent = undefined
    if (window.older === undefined) this.#oldest = window.newer
    else window.older.newer = window.newer
    if (window.newer === undefined) this.#newest = window.older
    else window.newer.older = window.older
    window.older = undefined
    window.newer = undefined
  }
}

/** Whether a request with this deadline belongs in the window. */
const holds = (window: ExpiryWindow, deadline: number): boolean =>
  deadline <= window.closesAt && deadline > window.closesAt - EXPIRY_WINDOW_MS

const checkedLifetime = (lifetimeMs: number): number => {
  if (!(lifetimeMs > 0) || !Number.isFinite(lifetimeMs)) {
    throw new RangeError(`a request lifetime must be a positive number of milliseconds, got ${lifetimeMs}`)
  }
  return lifetimeMs
}
