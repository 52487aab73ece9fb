/**
 * The last minutes of every pod's load, for the fleet page: each `sample`
 * reads every tracked pod's key figures once and keeps them in a ring per pod
 * (`capacity` samples), numbered by a sequence that grows by one per sample.
 * A pod's history lasts as long as its store entry: a recreated pod starts a
 * new one, a removed pod's is dropped at the next sample.
 */
import type { FleetStore, PodEntry } from "../store/FleetStore.ts"
import { keyMetrics, keyValues } from "./FleetViews.ts"
import type { KeyMetrics } from "./ServiceApi.ts"

/** The figures kept per pod and sample, in the order a sample stores them. */
export const LOAD_SERIES = ["running", "waiting", "kv_cache", "gateway_running"] as const
export type LoadSeries = (typeof LOAD_SERIES)[number]

/** One pod's samples, each series oldest first; `null` where the figure was unknown. */
export type LoadHistory = Record<LoadSeries, Array<number | null>>

const SERIES_COUNT = LOAD_SERIES.length

/**
 * A pod's key figures under its base model (`figures`, when already read), as
 * the page shows them. The gateway's running count is the pod's own count
 * until the metric that mirrors it is first set (it is set on every change of
 * the count).
 */
export const podFigures = (
  entry: PodEntry,
  figures: KeyMetrics = keyMetrics(keyValues(entry, entry.baseModel))
): KeyMetrics =>
  figures.realtime_num_requests_running === null
    ? { ...figures, realtime_num_requests_running: entry.running }
    : figures

class PodHistory {
  /** Sequence number of the oldest sample held, and of the newest. */
  first: number
  last: number
  /** `capacity` samples of `SERIES_COUNT` figures, sample `seq` at `(seq % capacity) * SERIES_COUNT`; NaN: unknown. */
  readonly figures: Float64Array

  constructor(seq: number, capacity: number) {
    this.first = seq
    this.last = seq
    this.figures = new Float64Array(capacity * SERIES_COUNT)
  }
}

export class FleetHistory {
  readonly capacity: number
  readonly #pods = new Map<PodEntry, PodHistory>()
  #seq = 0
  #at = 0

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer`)
    this.capacity = capacity
  }

  /** The sequence number of the latest sample; 0 before the first. */
  get seq(): number {
    return this.#seq
  }

  /** When the latest sample was taken (epoch ms); 0 before the first. */
  get at(): number {
    return this.#at
  }

  /** Takes one sample of every pod in the store at `now` (epoch ms). */
  sample(store: FleetStore, now: number): void {
    const seq = ++this.#seq
    this.#at = now
    for (const entry of store.podEntries()) {
      let history = this.#pods.get(entry)
      if (history === undefined) {
        history = new PodHistory(seq, this.capacity)
        this.#pods.set(entry, history)
      }
      const figures = podFigures(entry)
      const at = (seq % this.capacity) * SERIES_COUNT
      history.figures[at] = figures.num_requests_running ?? Number.NaN
      history.figures[at + 1] = figures.num_requests_waiting ?? Number.NaN
      history.figures[at + 2] = figures.gpu_cache_usage_perc ?? Number.NaN
      history.figures[at + 3] = figures.realtime_num_requests_running ?? Number.NaN
      history.last = seq
      history.first = Math.max(history.first, seq - this.capacity + 1)
    }
    for (const [entry, history] of this.#pods) if (history.last !== seq) this.#pods.delete(entry)
  }

  /** The pod's samples numbered above `after` (all it holds when undefined); empty series when it has none. */
  history(entry: PodEntry, after: number | undefined): LoadHistory {
    const result: LoadHistory = { running: [], waiting: [], kv_cache: [], gateway_running: [] }
    const history = this.#pods.get(entry)
    if (history === undefined) return result
    const from = after === undefined ? history.first : Math.max(history.first, after + 1)
    for (let seq = from; seq <= history.last; seq++) {
      const at = (seq % this.capacity) * SERIES_COUNT
      for (let i = 0; i < SERIES_COUNT; i++) {
        const value = history.figures[at + i]!
        result[LOAD_SERIES[i]!].push(Number.isNaN(value) ? null : value)
      }
    }
    return result
  }
}
