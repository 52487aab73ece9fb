/** What the store asks of the workload trace while it counts requests. */
/** The token sizes of a finished request, for the trace. */
export interface TokenCounts {
  readonly input: number
  readonly output: number
}

/**
 * The workload trace's side of request tracking. The store calls it for every
 * request it counts, exactly once per add and once per done.
 */
export interface TraceRecorder {
  /** Counts a request in the model's open window and returns the window's term. */
  addRequest(model: string): number
  /** The term of the model's open window, without counting anything. */
  currentTerm(model: string): number
  /** Counts a request finished; with token counts, also in the window's histogram. */
  doneRequest(model: string, term: number, tokens: TokenCounts | undefined): void
}
