/**
 * An engine's parsed `/metrics` page turned into the values the store keeps,
 * per the catalogue: pod-model values keyed by each sample's `model_name`
 * (samples without it are skipped), histograms with cumulative buckets, and
 * the LoRA labels as pod values.
 */
import type { EngineMetrics } from "../store/FleetStore.ts"
import {
  type EngineHistogramMetric,
  type EngineLabelMetric,
  type EngineMetric,
  engineMetrics,
  type EngineSimpleMetric
} from "./MetricCatalogue.ts"
import { Histogram, MetricValue } from "../store/MetricValue.ts"
import { parseSampleValue } from "../exposition/Lexing.ts"
import type { MetricFamily, ParsedPage, Sample } from "../exposition/MetricFamily.ts"

/** The label that names a sample's model. */
export const MODEL_NAME_LABEL = "model_name"

/** What a page yields: the values, and the catalogue families it lacked. */
export interface PageMetrics {
  readonly metrics: EngineMetrics
  readonly missingFamilies: ReadonlyArray<string>
}

type ModelValues = Map<string, Map<string, MetricValue>>

export const metricsOfPage = (
  page: ParsedPage,
  catalogue: ReadonlyArray<EngineMetric> = engineMetrics
): PageMetrics => {
  const pod = new Map<string, MetricValue>()
  const models: ModelValues = new Map()
  const missingFamilies: Array<string> = []
  for (const metric of catalogue) {
    const family = page.families.get(metric.family)
    if (family === undefined) {
      if (!missingFamilies.includes(metric.family)) missingFamilies.push(metric.family)
      continue
    }
    switch (metric.kind) {
      case "simple":
        addSimple(models, metric, family)
        break
      case "histogram":
        addHistogram(models, metric, family)
        break
      case "label":
        addLabel(pod, metric, family)
        break
    }
  }
  return { metrics: { pod, models }, missingFamilies }
}

const modelValues = (models: ModelValues, model: string): Map<string, MetricValue> => {
  let values = models.get(model)
  if (values === undefined) {
    values = new Map()
    models.set(model, values)
  }
  return values
}

/** A counter's samples are named `<family>_total`; a gauge's carry the family's name. */
const isValueSample = (sample: Sample, family: MetricFamily): boolean =>
  sample.name === family.name || sample.name === `${family.name}_total`

const addSimple = (models: ModelValues, metric: EngineSimpleMetric, family: MetricFamily): void => {
  const merged = new Map<string, number>()
  for (const sample of family.samples) {
    const model = sample.labels[MODEL_NAME_LABEL]
    if (model === undefined || !isValueSample(sample, family)) continue
    const previous = merged.get(model)
    merged.set(
      model,
      previous === undefined
        ? sample.value
        : metric.merge === "sum"
          ? previous + sample.value
          : Math.max(previous, sample.value)
    )
  }
  for (const [model, value] of merged) modelValues(models, model).set(metric.name, MetricValue.simple(value))
}

const BUCKET_SUFFIX = "_bucket".length
const SUM_SUFFIX = "_sum".length
const COUNT_SUFFIX = "_count".length

interface HistogramParts {
  sum: number
  count: number | undefined
  readonly buckets: Map<number, number>
  /** Pages list buckets by ascending bound: then they need no sorting. */
  ascending: boolean
  lastBound: number
}

/**
 * Series of one model with different other labels (one per engine of a
 * data-parallel deployment) add up: same bounds, summed counts.
 */
const addHistogram = (models: ModelValues, metric: EngineHistogramMetric, family: MetricFamily): void => {
  const byModel = new Map<string, HistogramParts>()
  // The parser files only `<family>_bucket`, `_sum` and `_count` samples under a
  // histogram family, so the suffix's length tells which one a sample is.
  const base = family.name.length
  let lastModel: string | undefined
  let parts: HistogramParts | undefined
  for (const sample of family.samples) {
    const model = sample.labels[MODEL_NAME_LABEL]
    if (model === undefined) continue
    if (model !== lastModel || parts === undefined) {
      lastModel = model
      parts = byModel.get(model)
      if (parts === undefined) {
        parts = { sum: 0, count: undefined, buckets: new Map(), ascending: true, lastBound: -Infinity }
        byModel.set(model, parts)
      }
    }
    switch (sample.name.length - base) {
      case BUCKET_SUFFIX: {
        const le = sample.labels.le
        const bound = le === undefined ? undefined : parseSampleValue(le)
        if (bound === undefined || Number.isNaN(bound)) break
        const previous = parts.buckets.get(bound)
        if (previous === undefined) {
          if (bound < parts.lastBound) parts.ascending = false
          parts.lastBound = bound
          parts.buckets.set(bound, sample.value)
        } else {
          parts.buckets.set(bound, previous + sample.value)
        }
        break
      }
      case SUM_SUFFIX:
        parts.sum += sample.value
        break
      case COUNT_SUFFIX:
        parts.count = (parts.count ?? 0) + sample.value
        break
    }
  }
  for (const [model, parts] of byModel) {
    if (parts.buckets.size === 0 && parts.count === undefined) continue
    const count = parts.count ?? parts.buckets.get(Infinity) ?? 0
    modelValues(models, model).set(
      metric.name,
      parts.ascending
        ? new Histogram(parts.sum, count, parts.buckets)
        : MetricValue.histogram({ sum: parts.sum, count, buckets: parts.buckets })
    )
  }
}

/**
 * The engine sets its info gauge to the time of its latest update, so when the
 * page holds several series (old label values linger), the largest is current.
 */
const addLabel = (pod: Map<string, MetricValue>, metric: EngineLabelMetric, family: MetricFamily): void => {
  let latest: Sample | undefined
  for (const sample of family.samples) {
    if (sample.labels[metric.label] === undefined) continue
    if (latest === undefined || sample.value > latest.value) latest = sample
  }
  const value = latest?.labels[metric.label]
  if (value !== undefined) pod.set(metric.name, MetricValue.label(value))
}
