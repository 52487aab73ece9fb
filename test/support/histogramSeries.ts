/** Groups a parsed histogram family into its series: a test helper, no part of the cache's read path. */
import { parseSampleValue } from "../../src/exposition/Lexing.ts"
import type { MetricFamily } from "../../src/exposition/MetricFamily.ts"

/** One series of a histogram family: its samples that share every label but `le`. */
export interface HistogramSeries {
  /** The series' labels, without `le`. */
  readonly labels: Readonly<Record<string, string>>
  /** Cumulative counts by upper bound, in ascending order of bound; `+Inf` is `Infinity`. */
  readonly buckets: ReadonlyMap<number, number>
  /** `NaN` when the page has no `_sum` sample for the series. */
  readonly sum: number
  /** The `_count` sample, else the `+Inf` bucket, else `NaN`. */
  readonly count: number
}

class SeriesBuilder {
  /** The labels of the series' last sample, `le` included: the next sample is likely of the same series. */
  last: Readonly<Record<string, string>>
  readonly bounds: Array<number> = []
  readonly counts: Array<number> = []
  sum = NaN
  count: number | undefined = undefined

  constructor(labels: Readonly<Record<string, string>>) {
    this.last = labels
  }

  build(): HistogramSeries {
    const bounds = this.bounds
    let ascending = true
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i - 1]! < bounds[i]!)) ascending = false
    }
    const order = bounds.map((_, i) => i)
    if (!ascending) order.sort((a, b) => bounds[a]! - bounds[b]!)
    const buckets = new Map<number, number>()
    for (const i of order) buckets.set(bounds[i]!, this.counts[i]!)
    const count = this.count ?? buckets.get(Infinity) ?? NaN
    return { labels: withoutLe(this.last), buckets, sum: this.sum, count }
  }
}

/**
 * Whether two label sets are the same but for `le`. (Label sets are plain
 * objects: `for in` sees their own names, and a name that `b` lacks reads as
 * undefined or as an inherited non-string.)
 */
const sameSeries = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean => {
  let names = 0
  for (const name in a) {
    if (name === "le") continue
    if (a[name] !== b[name]) return false
    names++
  }
  for (const name in b) {
    if (name !== "le") names--
  }
  return names === 0
}

/** A key naming a label set without `le`; independent of the order labels were written in. */
const seriesKey = (labels: Readonly<Record<string, string>>): string => {
  let key = ""
  for (const name of Object.keys(labels).sort()) {
    if (name === "le") continue
    const value = labels[name]!
    key += `${name}=${value.length}:${value}`
  }
  return key
}

const withoutLe = (labels: Readonly<Record<string, string>>): Readonly<Record<string, string>> => {
  if (!Object.hasOwn(labels, "le")) return labels
  const rest: Record<string, string> = {}
  for (const name of Object.keys(labels)) {
    if (name !== "le") Object.defineProperty(rest, name, { value: labels[name], enumerable: true, writable: true })
  }
  return rest
}

type SampleKind = 0 | 1 | 2 | 3
const SampleKind = { Other: 0, Bucket: 1, Sum: 2, Count: 3 } as const

/**
 * The series of a histogram family, in order of first appearance: for each
 * label set (without `le`), its cumulative buckets, sum and count. Buckets
 * whose `le` is not a number are left out.
 */
export const histogramSeries = (family: MetricFamily): ReadonlyArray<HistogramSeries> => {
  const bucketName = `${family.name}_bucket`
  const sumName = `${family.name}_sum`
  const countName = `${family.name}_count`
  const series: Array<SeriesBuilder> = []
  const byKey = new Map<string, SeriesBuilder>()
  let current: SeriesBuilder | undefined
  // Samples in a row mostly share their name string: its kind is then known.
  let lastName: string | undefined
  let kind: SampleKind = SampleKind.Other
  for (const sample of family.samples) {
    if (current === undefined || (current.last !== sample.labels && !sameSeries(current.last, sample.labels))) {
      const key = seriesKey(sample.labels)
      current = byKey.get(key)
      if (current === undefined) {
        current = new SeriesBuilder(sample.labels)
        byKey.set(key, current)
        series.push(current)
      }
    }
    current.last = sample.labels
    if (sample.name !== lastName) {
      lastName = sample.name
      kind =
        lastName === bucketName
          ? SampleKind.Bucket
          : lastName === sumName
            ? SampleKind.Sum
            : lastName === countName
              ? SampleKind.Count
              : SampleKind.Other
    }
    if (kind === SampleKind.Bucket) {
      const le = sample.labels["le"]
      const bound = le === undefined ? undefined : parseSampleValue(le)
      if (bound === undefined) continue
      current.bounds.push(bound)
      current.counts.push(sample.value)
    } else if (kind === SampleKind.Sum) {
      current.sum = sample.value
    } else if (kind === SampleKind.Count) {
      current.count = sample.value
    }
  }
  return series.map((builder) => builder.build())
}
