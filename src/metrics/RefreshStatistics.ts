/**
 * What the refresh loops report about themselves: outcomes per pod and in
 * total, how old each pod's values are, and which are stale or were removed.
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
  /** Scrapes in a row that failed (its backoff grows with them); 0 after a good one. */
  readonly failures: number
  /** Time since the scrape its values come from; undefined while it has none. */
  readonly ageMs: number | undefined
  /** Its last good scrape is older than the stale horizon, or it has none: its values (if any) are old. */
  readonly stale: boolean
  /** Its values were removed from reads after failing past the drop horizon, and no scrape succeeded since. */
  readonly dropped: boolean
}

export interface EngineRefreshSummary {
  /** Scrapes by outcome, since start. */
  readonly outcomes: Readonly<OutcomeCounts>
  /** Pages that answered no family of at least one catalogue metric. */
  readonly pagesMissingFamilies: number
  /** Families found malformed, over every page (two samples of one series, a value out of range, ...). */
  readonly malformedFamilies: number
  readonly stalePods: number
  readonly droppedPods: number
  /** The oldest values among ready pods: time since a pod's last good scrape (since its start, for one never scraped). */
  readonly oldestAgeMs: number
}

export interface EngineRefreshStatistics extends EngineRefreshSummary {
  readonly pods: ReadonlyArray<PodScrapeStatistics>
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

/** How many cycle durations the PromQL loop's statistics keep. */
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
