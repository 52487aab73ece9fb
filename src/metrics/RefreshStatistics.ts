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

/** A cumulative histogram of durations, as a `/metrics` page shows it. */
export interface DurationHistogramSnapshot {
  /** Upper bound in seconds -> cumulative count, ascending; `+Inf` is `count`. */
  readonly buckets: ReadonlyArray<readonly [bound: number, cumulative: number]>
  /** Seconds in all. */
  readonly sum: number
  readonly count: number
}

export interface EngineRefreshStatistics {
  readonly cycles: number
  readonly lastCycleMs: number
  /** The durations of the latest cycles (up to `DURATION_WINDOW`), oldest first. */
  readonly recentCycleMs: ReadonlyArray<number>
  /** Every cycle's duration since start. */
  readonly cycleDurations: DurationHistogramSnapshot
  /** Every scrape's duration since start, whatever its outcome. */
  readonly scrapeDurations: DurationHistogramSnapshot
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

/** Upper bounds, in seconds, of the cycle and scrape duration histograms. */
export const DURATION_BOUNDS: ReadonlyArray<number> = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
]

/** Counts durations into fixed buckets; recording one allocates nothing. */
export class DurationHistogram {
  readonly #bounds: ReadonlyArray<number>
  /** Per bucket, not cumulative: a duration counts in the first bucket whose bound holds it. */
  readonly #counts: Float64Array
  #count = 0
  #sum = 0

  constructor(bounds: ReadonlyArray<number> = DURATION_BOUNDS) {
    this.#bounds = bounds
    this.#counts = new Float64Array(bounds.length)
  }

  record(ms: number): void {
    const seconds = ms / 1000
    this.#count++
    this.#sum += seconds
    const bounds = this.#bounds
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= bounds[i]!) {
        this.#counts[i]!++
        return
      }
    }
  }

  snapshot(): DurationHistogramSnapshot {
    let cumulative = 0
    const buckets = this.#bounds.map((bound, i) => {
      cumulative += this.#counts[i]!
      return [bound, cumulative] as const
    })
    return { buckets, sum: this.#sum, count: this.#count }
  }
}

/** The value at percentile `p` (0..100) of the given durations, nearest rank; 0 when empty. */
export const percentileOf = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)))
  return sorted[rank - 1]!
}
