/**
 * The per-model workload trace: one open window per model, swapped for fresh
 * ones at every flush. It is the store's `TraceRecorder`; the store calls it
 * exactly once per add and once per done of each request.
 */
import type { TokenCounts, TraceRecorder } from "../store/FleetStore.ts"
import { bucketOf } from "./TraceBucket.ts"
import { TraceWindow } from "./TraceWindow.ts"

export class RequestTrace implements TraceRecorder {
  #windows = new Map<string, TraceWindow>()
  // Every window opened between two swaps shares this term; each swap moves to
  // the next, so a term from before a swap never matches a window after it.
  #term: number

  /**
   * `firstTerm` must be above any term an earlier trace on the same store handed
   * out; the wall clock in milliseconds is (terms grow by one per flush).
   */
  constructor(firstTerm: number) {
    this.#term = Math.max(1, Math.floor(firstTerm))
  }

  addRequest(model: string): number {
    this.#window(model).total++
    return this.#term
  }

  currentTerm(_model: string): number {
    return this.#term
  }

  doneRequest(model: string, term: number, tokens: TokenCounts | undefined): void {
    const current = term === this.#term
    if (!current && tokens === undefined) return
    const window = this.#window(model)
    if (current) window.completed++
    // The token sizes go to the window open now, whatever the request's term.
    if (tokens !== undefined) window.addToBucket(bucketOf(tokens.input, tokens.output))
  }

  /** The open windows, without closing them. */
  get windows(): ReadonlyMap<string, TraceWindow> {
    return this.#windows
  }

  /**
   * Closes the open windows and opens fresh ones under a new term, as one
   * synchronous step: no request can land between the two. Returns the closed
   * windows (none, and no new term, when none was open).
   */
  swap(): ReadonlyMap<string, TraceWindow> {
    const closed = this.#windows
    if (closed.size === 0) return closed
    this.#windows = new Map()
    this.#term++
    return closed
  }

  #window(model: string): TraceWindow {
    let window = this.#windows.get(model)
    if (window === undefined) {
      window = new TraceWindow(this.#term)
      this.#windows.set(model, window)
    }
    return window
  }
}
