/**
 * An engine's parsed page turned into the values the store keeps, per the
 * catalogue, in two steps: each raw family is read on its own (per model for
 * counters, gauges and histograms, per label for an info family), then every
 * canonical metric takes the first of its engine's raw families that the page
 * holds well formed.
 *
 * A family that would give a wrong number gives none, and says why: two
 * samples of one series (they would add up), a histogram series without its
 * `+Inf` bucket, `_count` or `_sum`, or a line the parser found malformed in
 * a way that spoils only its family (a value out of float range, a label
 * value that was not UTF-8).
 */
import { parseSampleValue } from "../exposition/Lexing.ts"
import type { MetricFamily, ParsedPage, Sample } from "../exposition/MetricFamily.ts"
import type { EngineMetrics } from "../store/FleetStore.ts"
import { Histogram, MetricValue } from "../store/MetricValue.ts"
import { detached } from "./internal/Detached.ts"
import {
  type EngineMetric,
  type EngineProfile,
  engineMetrics,
  engineProfiles,
  familiesOn,
  type SampleMerge
} from "./MetricCatalogue.ts"

/** A model label whose value stands for no model: the sample belongs to the pod's base model. */
export const UNDEFINED_MODEL = "undefined"

/** How one raw family is read, whichever canonical metrics it answers. */
export type FamilyReading =
  | { readonly kind: "simple"; readonly merge: SampleMerge }
  | { readonly kind: "histogram" }
  | { readonly kind: "label"; readonly labels: ReadonlyArray<string> }

/** What one family of a page gave: values by model (or by label, for an info family), or why it gave none. */
export type FamilyRead =
  | { readonly _tag: "Values"; readonly values: ReadonlyMap<string, MetricValue> }
  | { readonly _tag: "Malformed"; readonly reason: string }

/** The engine metrics to read from one engine's pages, and how each of their families is read. */
export interface PageSelection {
  readonly profile: EngineProfile
  readonly metrics: ReadonlyArray<EngineMetric>
  readonly readings: ReadonlyMap<string, FamilyReading>
  /** The families the parser is asked for: the keys of `readings`. */
  readonly families: ReadonlySet<string>
}

const readingOf = (metric: EngineMetric): FamilyReading => {
  switch (metric.kind) {
    case "simple":
      return { kind: "simple", merge: metric.merge }
    case "histogram":
      return { kind: "histogram" }
    case "label":
      return { kind: "label", labels: [metric.label] }
  }
}

/** How a family answering several metrics is read: one way, or the catalogue is wrong. */
const combined = (family: string, before: FamilyReading | undefined, reading: FamilyReading): FamilyReading => {
  if (before === undefined) return reading
  if (before.kind === "label" && reading.kind === "label") {
    return { kind: "label", labels: [...new Set([...before.labels, ...reading.labels])] }
  }
  if (before.kind === reading.kind && (before.kind !== "simple" || before.merge === (reading as typeof before).merge)) {
    return before
  }
  throw new Error(`the catalogue reads ${family} two ways`)
}

/** The selection of these metrics on one engine's pages. */
export const pageSelection = (
  profile: EngineProfile,
  metrics: ReadonlyArray<EngineMetric> = engineMetrics
): PageSelection => {
  const readings = new Map<string, FamilyReading>()
  for (const metric of metrics) {
    for (const family of familiesOn(metric, profile.engine)) {
      readings.set(family, combined(family, readings.get(family), readingOf(metric)))
    }
  }
  return { profile, metrics, readings, families: new Set(readings.keys()) }
}

/** What a page yields: the values, the canonical metrics it left unanswered, and its malformed families. */
export interface PageMetrics {
  readonly metrics: EngineMetrics
  readonly missing: ReadonlyArray<string>
  readonly malformed: ReadonlyArray<{ readonly family: string; readonly reason: string }>
}

/** The model a sample belongs to: its first model label that names one, else the pod's base model. */
const modelOf = (sample: Sample, modelLabels: ReadonlyArray<string>, baseModel: string): string => {
  for (let i = 0; i < modelLabels.length; i++) {
    const model = sample.labels[modelLabels[i]!]
    if (model !== undefined && model !== "" && model !== UNDEFINED_MODEL) return model
  }
  return baseModel
}

/** A series' identity: its sample name and its labels, in name order. */
const seriesKey = (sample: Sample): string => {
  const names = Object.keys(sample.labels).sort()
  let key = sample.name
  for (const name of names) key += `\u0000${name}\u0001${sample.labels[name]}`
  return key
}

/** Whether two samples of the family are one series. Exporters write each series once. */
const hasDuplicateSeries = (family: MetricFamily): boolean => {
  const seen = new Set<string>()
  for (const sample of family.samples) {
    const key = seriesKey(sample)
    if (seen.has(key)) return true
    seen.add(key)
  }
  return false
}

export const DUPLICATE: FamilyRead = { _tag: "Malformed", reason: "two samples of one series" }

/** A counter's samples are named `<family>_total`; a gauge's carry the family's name. */
const isValueSample = (sample: Sample, family: MetricFamily): boolean =>
  sample.name === family.name || sample.name === `${family.name}_total`

const readSimple = (
  family: MetricFamily,
  merge: SampleMerge,
  modelLabels: ReadonlyArray<string>,
  baseModel: string
): FamilyRead => {
  const merged = new Map<string, number>()
  let checked = false
  for (const sample of family.samples) {
    if (!isValueSample(sample, family)) continue
    const model = modelOf(sample, modelLabels, baseModel)
    const previous = merged.get(model)
    if (previous === undefined) {
      merged.set(model, sample.value)
      continue
    }
    // Several series of one model (one per engine of a data-parallel deployment) are fine; one series twice is not.
    if (!checked) {
      if (hasDuplicateSeries(family)) return DUPLICATE
      checked = true
    }
    merged.set(model, merge === "sum" ? previous + sample.value : Math.max(previous, sample.value))
  }
  const values = new Map<string, MetricValue>()
  for (const [model, value] of merged) values.set(detached(model), MetricValue.simple(value))
  return { _tag: "Values", values }
}

const BUCKET_SUFFIX = "_bucket".length
const SUM_SUFFIX = "_sum".length
const COUNT_SUFFIX = "_count".length

/** One model's series of a histogram family, summed. */
export interface HistogramParts {
  sum: number
  count: number
  readonly buckets: Map<number, number>
  /** Pages list buckets by ascending bound: then they need no sorting. */
  ascending: boolean
  lastBound: number
  /** `+Inf` buckets, `_count` and `_sum` samples seen: a whole series has one of each. */
  infinities: number
  counts: number
  sums: number
}

export const newParts = (): HistogramParts => ({
  sum: 0,
  count: 0,
  buckets: new Map(),
  ascending: true,
  lastBound: -Infinity,
  infinities: 0,
  counts: 0,
  sums: 0
})

/**
 * Series of one model with different other labels (one per engine of a
 * data-parallel deployment) add up: same bounds, summed counts.
 */
const readHistogram = (family: MetricFamily, modelLabels: ReadonlyArray<string>, baseModel: string): FamilyRead => {
  const byModel = new Map<string, HistogramParts>()
  // The parser files only `<family>_bucket`, `_sum` and `_count` samples under a
  // histogram family, so the suffix's length tells which one a sample is.
  const base = family.name.length
  let checked = false
  let lastModel: string | undefined
  let parts: HistogramParts | undefined
  for (const sample of family.samples) {
    const model = modelOf(sample, modelLabels, baseModel)
    if (model !== lastModel || parts === undefined) {
      lastModel = model
      parts = byModel.get(model)
      if (parts === undefined) {
        parts = newParts()
        byModel.set(model, parts)
      }
    }
    let collided = false
    switch (sample.name.length - base) {
      case BUCKET_SUFFIX: {
        const le = sample.labels.le
        const bound = le === undefined ? undefined : parseSampleValue(le)
        if (bound === undefined || Number.isNaN(bound)) break
        collided = addBucket(parts, bound, sample.value)
        break
      }
      case SUM_SUFFIX:
        collided = parts.sums++ > 0
        parts.sum += sample.value
        break
      case COUNT_SUFFIX:
        collided = parts.counts++ > 0
        parts.count += sample.value
        break
    }
    if (collided && !checked) {
      if (hasDuplicateSeries(family)) return DUPLICATE
      checked = true
    }
  }
  // The parser's model names are slices of the page: the values keep names of their own.
  const owned = new Map<string, HistogramParts>()
  for (const [model, parts] of byModel) owned.set(detached(model), parts)
  return histogramsOf(owned)
}

/** Adds a bucket's count to the model's series; whether the bound was there already. */
export const addBucket = (parts: HistogramParts, bound: number, value: number): boolean => {
  if (bound === Infinity) parts.infinities++
  const previous = parts.buckets.get(bound)
  if (previous === undefined) {
    if (bound < parts.lastBound) parts.ascending = false
    parts.lastBound = bound
    parts.buckets.set(bound, value)
    return false
  }
  parts.buckets.set(bound, previous + value)
  return true
}

/**
 * Each model's histogram, or why the family gives none: a series without its
 * `+Inf` bucket, `_count` or `_sum`. The model names are kept as given: not
 * slices of a page (`Detached`).
 */
export const histogramsOf = (byModel: ReadonlyMap<string, HistogramParts>): FamilyRead => {
  const values = new Map<string, MetricValue>()
  for (const [model, parts] of byModel) {
    if (parts.infinities === 0 || parts.infinities !== parts.counts || parts.counts !== parts.sums) {
      return { _tag: "Malformed", reason: `a series of model ${model} lacks its +Inf bucket, _count or _sum` }
    }
    values.set(
      model,
      parts.ascending
        ? new Histogram(parts.sum, parts.count, parts.buckets)
        : MetricValue.histogram({ sum: parts.sum, count: parts.count, buckets: parts.buckets })
    )
  }
  return { _tag: "Values", values }
}

/**
 * The engine sets its info gauge to the time of its latest update, so when the
 * page holds several series (old label values linger), the largest is current.
 */
const readLabels = (family: MetricFamily, labels: ReadonlyArray<string>): FamilyRead => {
  if (family.samples.length > 1 && hasDuplicateSeries(family)) return DUPLICATE
  const values = new Map<string, MetricValue>()
  for (const label of labels) {
    let latest: Sample | undefined
    for (const sample of family.samples) {
      if (sample.labels[label] === undefined) continue
      if (latest === undefined || sample.value > latest.value) latest = sample
    }
    const value = latest?.labels[label]
    if (value !== undefined) values.set(label, MetricValue.label(detached(value)))
  }
  return { _tag: "Values", values }
}

/** One family of a page read as the selection reads it. */
export const readFamily = (
  family: MetricFamily,
  reading: FamilyReading,
  profile: EngineProfile,
  baseModel: string
): FamilyRead => {
  switch (reading.kind) {
    case "simple":
      return readSimple(family, reading.merge, profile.modelLabels, baseModel)
    case "histogram":
      return readHistogram(family, profile.modelLabels, baseModel)
    case "label":
      return readLabels(family, reading.labels)
  }
}

type ModelValues = Map<string, Map<string, MetricValue>>

const modelValues = (models: ModelValues, model: string): Map<string, MetricValue> => {
  let values = models.get(model)
  if (values === undefined) {
    values = new Map()
    models.set(model, values)
  }
  return values
}

/**
 * The page's values: each metric of the selection from the first of its
 * families that was read well; `reads` has no entry for a family the page lacks.
 */
export const assemble = (selection: PageSelection, reads: ReadonlyMap<string, FamilyRead>): PageMetrics => {
  const pod = new Map<string, MetricValue>()
  const models: ModelValues = new Map()
  const missing: Array<string> = []
  for (const metric of selection.metrics) {
    let answered = false
    for (const family of familiesOn(metric, selection.profile.engine)) {
      const read = reads.get(family)
      if (read === undefined || read._tag === "Malformed") continue
      answered = true
      if (metric.kind === "label") {
        const value = read.values.get(metric.label)
        if (value !== undefined) pod.set(metric.name, value)
        else answered = false
      } else {
        for (const [model, value] of read.values) modelValues(models, model).set(metric.name, value)
      }
      if (answered) break
    }
    if (!answered) missing.push(metric.name)
  }
  // In the selection's order, however the reads were gathered.
  const malformed: Array<{ family: string; reason: string }> = []
  for (const family of selection.readings.keys()) {
    const read = reads.get(family)
    if (read?._tag === "Malformed") malformed.push({ family, reason: read.reason })
  }
  return { metrics: { pod, models }, missing, malformed }
}

/** A whole parsed page's values for the selection, on a pod whose base model is `baseModel`. */
export const metricsOfPage = (
  page: ParsedPage,
  selection: PageSelection = pageSelection(engineProfiles.vllm),
  baseModel = ""
): PageMetrics => {
  const reads = new Map<string, FamilyRead>()
  for (const [name, reason] of page.malformedFamilies) {
    if (selection.readings.has(name)) reads.set(name, { _tag: "Malformed", reason: detached(reason) })
  }
  for (const [name, reading] of selection.readings) {
    const family = page.families.get(name)
    if (family !== undefined) reads.set(name, readFamily(family, reading, selection.profile, baseModel))
  }
  return assemble(selection, reads)
}
