/**
 * A metric value as the cache stores it: a number, a histogram, a PromQL result
 * or a label.
 */
import { Exit } from "effect"
import { InvalidPercentile } from "./Errors.ts"
import type { PromQLResult } from "./PromQLResult.ts"

export type MetricValue = Simple | Histogram | Prometheus | Label

/** A counter or gauge reading. */
export class Simple {
  readonly _tag = "Simple"
  readonly value: number
  constructor(value: number) {
    this.value = value
  }
}

/**
 * Cumulative buckets by upper bound, as a Prometheus histogram exposes them.
 * Bounds are numbers; `+Inf` is `Infinity`.
 */
export type HistogramBuckets = ReadonlyMap<number, number>

/** Buckets as a caller may give them: a map by bound (a number or an `le` string), or a record by `le` string. */
export type HistogramBucketsInput = ReadonlyMap<number | string, number> | Readonly<Record<string, number>>

export class Histogram {
  readonly _tag = "Histogram"
  readonly sum: number
  readonly count: number
  /** In ascending order of bound. */
  readonly buckets: HistogramBuckets

  constructor(sum: number, count: number, buckets: HistogramBuckets) {
    this.sum = sum
    this.count = count
    this.buckets = buckets
  }

  get mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count
  }

  /**
   * The first bound whose cumulative share of the count reaches `p` percent;
   * when that is the `+Inf` bucket, the last finite bound instead. 0 when no
   * bucket reaches it.
   */
  percentile(p: number): Exit.Exit<number, InvalidPercentile> {
    if (!(p >= 0 && p <= 100)) return Exit.fail(new InvalidPercentile({ percentile: p }))
    let previousBound = 0
    for (const [bound, cumulative] of this.buckets) {
      if ((cumulative / this.count) * 100 >= p) {
        return Exit.succeed(bound === Infinity ? previousBound : bound)
      }
      previousBound = bound
    }
    return Exit.succeed(0)
  }
}

/** A decoded PromQL result. */
export class Prometheus {
  readonly _tag = "Prometheus"
  readonly result: PromQLResult
  constructor(result: PromQLResult) {
    this.result = result
  }
}

/** A string carried by a metric's label, such as the LoRA adapters an engine runs. */
export class Label {
  readonly _tag = "Label"
  readonly value: string
  constructor(value: string) {
    this.value = value
  }
}

/** A bucket's upper bound; a bound that is no number is a caller's mistake, told at once. */
const boundOf = (le: number | string): number => {
  const bound = typeof le === "number" ? le : le === "+Inf" ? Infinity : le.trim() === "" ? NaN : Number(le)
  if (Number.isNaN(bound)) throw new RangeError(`a histogram bucket bound must be a number, got ${JSON.stringify(le)}`)
  return bound
}

const sortedBuckets = (input: HistogramBucketsInput): HistogramBuckets => {
  const given: Iterable<readonly [number | string, number]> =
    input instanceof Map
      ? (input as ReadonlyMap<number | string, number>)
      : Object.entries(input as Readonly<Record<string, number>>)
  const entries = Array.from(given, ([le, count]): [number, number] => [boundOf(le), count])
  return new Map(entries.sort((a, b) => a[0] - b[0]))
}

export const MetricValue = {
  simple: (value: number): Simple => new Simple(value),
  histogram: (histogram: {
    readonly sum: number
    readonly count: number
    readonly buckets: HistogramBucketsInput
  }): Histogram => new Histogram(histogram.sum, histogram.count, sortedBuckets(histogram.buckets)),
  prometheus: (result: PromQLResult): Prometheus => new Prometheus(result),
  label: (value: string): Label => new Label(value),
  isSimple: (value: MetricValue): value is Simple => value._tag === "Simple",
  isHistogram: (value: MetricValue): value is Histogram => value._tag === "Histogram",
  isPrometheus: (value: MetricValue): value is Prometheus => value._tag === "Prometheus",
  isLabel: (value: MetricValue): value is Label => value._tag === "Label"
} as const
