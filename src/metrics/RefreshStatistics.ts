/**
 * What the refresh loops report about themselves: cycle durations, outcomes
 * per pod and in total, and which pods' values are stale or were removed.
 */
import type { ScrapeOutcome } from "./EngineScrape.ts"
import type { Engine } from "./MetricCatalogue.ts"
import type { PodKey } from "../store/Pod.ts"

export type OutcomeCounts = Record<ScrapeOutcome, number>

export const zeroOutcomes = (): OutcomeCounts => ({
  ok: 0,
  timeout: 0,
  transport: 0,
  status: 0,
  too_large: 0,
  truncated: 0,
  malformed: 0
})

export interface PodScrapeStatistics {
  readonly key: PodKey
  readonly url: string
  /** The engine whose families its pages are read as. */
  readonly engine: Engine
  readonly ready: boolean
  readonly outcomes: Readonly<OutcomeCounts>
  /** Cycles in a row without a page (failed, or not ready). */
  readonly missedCycles: number
  /** Its values are still read, but old. */
  readonly stale: boolean
  /** Its values were removed from reads. */
  readonly dropped: boolean
}

export interface EngineRefreshStatistics {
  readonly cycles: number
  readonly lastCycleMs: number
  /** The durations of the latest cycles (up to `DURATION_WINDOW`), oldest first. */
  readonly recentCycleMs: ReadonlyArray<number>
  /** Scrapes by outcome, since start. */
  readonly outcomes: Readonly<OutcomeCounts>
  /** Pages that answered no family of at least one catalogue metric. */
  readonly pagesMissingFamilies: number
  /** Families found malformed, over every page (two samples of one series, a value out of range, ...). */
  readonly malformedFamilies: number
  readonly pods: ReadonlyArray<PodScrapeStatistics>
  readonly stalePods: number
  readonly droppedPods: number
}

export interface PromQLRefreshStatistics {
  readonly cycles: number
  readonly lastCycleMs: number
  readonly queries: number
  readonly failures: number
  readonly timeouts: number
}

export interface RefreshStatistics {
  readonly engine: EngineRefreshStatistics
  /** Undefined when no Prometheus is configured. */
  readonly promql: PromQLRefreshStatistics | undefined
}

/** How many cycle durations the statistics keep. */
export const DURATION_WINDOW = 1024

/** The latest durations in a fixed ring, so recording one allocates nothing. */
export class DurationWindow {
  readonly #values = new Float64Array(DURATION_WINDOW)
  #count = 0

  record(ms: number): void {
    this.#values[this.#count % DURATION_WINDOW] = ms
    this.#count++
  }

  get last(): number {
    return this.#count === 0 ? 0 : this.#values[(this.#count - 1) % DURATION_WINDOW]!
  }

  toArray(): ReadonlyArray<number> {
    if (this.#count <= DURATION_WINDOW) return Array.from(this.#values.subarray(0, this.#count))
    const start = this.#count % DURATION_WINDOW
    return [...this.#values.subarray(start), ...this.#values.subarray(0, start)]
  }
}

/** The value at percentile `p` (0..100) of the given durations, nearest rank; 0 when empty. */
export const percentileOf = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)))
  return sorted[rank - 1]!
}
