/**
 * Every metric the cache keeps, as data: its stored name, where it comes from
 * (the engine's `/metrics` page, a PromQL query, or the gateway itself), its
 * kind and its scope. The refresh loops read nothing else.
 */

/** Pod scope is read with `getMetricValueByPod`, pod-model scope with `getMetricValueByPodModel`. */
export type MetricScope = "pod" | "podModel"

/**
 * How samples of one model (or of the pod) combine when the engine exposes
 * several, as a data-parallel engine does with one series per engine index:
 * loads add up, a usage fraction takes the busiest one.
 */
export type SampleMerge = "sum" | "max"

/** A counter or gauge of the engine, one value per model. */
export interface EngineSimpleMetric {
  readonly source: "engine"
  readonly kind: "simple"
  readonly name: string
  readonly family: string
  readonly scope: "podModel"
  readonly merge: SampleMerge
}

/** A histogram of the engine, one per model: cumulative buckets, sum and count. */
export interface EngineHistogramMetric {
  readonly source: "engine"
  readonly kind: "histogram"
  readonly name: string
  readonly family: string
  readonly scope: "podModel"
}

/** A label of an engine info metric, whose value is the string the label carries. */
export interface EngineLabelMetric {
  readonly source: "engine"
  readonly kind: "label"
  readonly name: string
  readonly family: string
  /** The label of the family's sample whose value is stored. */
  readonly label: string
  readonly scope: "pod"
}

export type EngineMetric = EngineSimpleMetric | EngineHistogramMetric | EngineLabelMetric

/** A value a Prometheus server computes, queried with a PromQL template. */
export interface PromQLMetric {
  readonly source: "promql"
  readonly name: string
  readonly scope: MetricScope
  /** With `${instance}` and, in pod-model scope, `${model_name}` placeholders. */
  readonly query: string
}

/** A value the gateway keeps itself. */
export interface GatewayMetric {
  readonly source: "gateway"
  readonly kind: "simple"
  readonly name: string
  readonly scope: "pod"
}

export type CatalogueMetric = EngineMetric | PromQLMetric | GatewayMetric

/** Engine metric names carry this prefix. */
export const ENGINE_PREFIX = "vllm:"

const simple = (name: string, merge: SampleMerge = "sum"): EngineSimpleMetric => ({
  source: "engine",
  kind: "simple",
  name,
  family: `${ENGINE_PREFIX}${name}`,
  scope: "podModel",
  merge
})

const histogram = (name: string): EngineHistogramMetric => ({
  source: "engine",
  kind: "histogram",
  name,
  family: `${ENGINE_PREFIX}${name}`,
  scope: "podModel"
})

/** The family whose single series carries the engine's LoRA state in its labels. */
export const LORA_INFO_FAMILY = `${ENGINE_PREFIX}lora_requests_info`

const loraLabel = (name: string): EngineLabelMetric => ({
  source: "engine",
  kind: "label",
  name,
  family: LORA_INFO_FAMILY,
  label: name,
  scope: "pod"
})

const promql = (name: string, scope: MetricScope, query: string): PromQLMetric => ({
  source: "promql",
  name,
  scope,
  query
})

export const engineMetrics: ReadonlyArray<EngineMetric> = [
  simple("num_requests_running"),
  simple("num_requests_waiting"),
  simple("num_requests_swapped"),
  simple("avg_prompt_throughput_toks_per_s"),
  simple("avg_generation_throughput_toks_per_s"),
  simple("gpu_cache_usage_perc", "max"),
  simple("cpu_cache_usage_perc", "max"),
  histogram("iteration_tokens_total"),
  histogram("time_to_first_token_seconds"),
  histogram("time_per_output_token_seconds"),
  histogram("e2e_request_latency_seconds"),
  histogram("request_queue_time_seconds"),
  histogram("request_inference_time_seconds"),
  histogram("request_decode_time_seconds"),
  histogram("request_prefill_time_seconds"),
  loraLabel("max_lora"),
  loraLabel("running_lora_adapters"),
  loraLabel("waiting_lora_adapters")
]

const rateQuantile = (family: string, selector: string): string =>
  `histogram_quantile(0.95, sum by(le) (rate(${family}_bucket{${selector}}[5m])))`

const ratio = (family: string, selector: string, range: string): string =>
  `increase(${family}_sum{${selector}}[${range}]) / increase(${family}_count{${selector}}[${range}])`

const perMinute = (family: string, selector: string): string => `increase(${family}{${selector}}[5m]) / 5`

const POD = `instance="\${instance}", job="pods"`
const POD_MODEL = `instance="\${instance}", model_name="\${model_name}", job="pods"`

export const promQLMetrics: ReadonlyArray<PromQLMetric> = [
  promql("p95_ttft_5m", "podModel", rateQuantile("vllm:time_to_first_token_seconds", POD_MODEL)),
  promql("p95_ttft_5m_pod", "pod", rateQuantile("vllm:time_to_first_token_seconds", POD)),
  promql("avg_ttft_5m_pod", "pod", ratio("vllm:time_to_first_token_seconds", POD, "5m")),
  promql("p95_tpot_5m_pod", "pod", rateQuantile("vllm:time_per_output_token_seconds", POD)),
  // The reference divides by `_sum` here, which is always 1; the mean needs `_count`.
  promql("avg_tpot_pod_5m", "pod", ratio("vllm:time_per_output_token_seconds", POD, "5m")),
  promql("avg_prompt_toks_per_req", "podModel", ratio("vllm:request_prompt_tokens", POD_MODEL, "1d")),
  promql("avg_generation_toks_per_req", "podModel", ratio("vllm:request_generation_tokens", POD_MODEL, "1d")),
  promql("avg_e2e_latency_pod", "pod", ratio("vllm:e2e_request_latency_seconds", POD, "5m")),
  promql("avg_requests_per_min_pod", "pod", perMinute("vllm:request_success_total", POD)),
  promql("avg_prompt_throughput_toks_per_min_pod", "pod", perMinute("vllm:prompt_tokens_total", POD)),
  promql("avg_generation_throughput_toks_per_min_pod", "pod", perMinute("vllm:generation_tokens_total", POD))
]

export const gatewayMetrics: ReadonlyArray<GatewayMetric> = [
  { source: "gateway", kind: "simple", name: "realtime_num_requests_running", scope: "pod" }
]

/** The whole catalogue, engine metrics first. */
export const catalogue: ReadonlyArray<CatalogueMetric> = [...engineMetrics, ...promQLMetrics, ...gatewayMetrics]

/** The families these engine metrics are read from. */
export const familiesOf = (metrics: ReadonlyArray<EngineMetric>): ReadonlySet<string> =>
  new Set(metrics.map((metric) => metric.family))

/** The engine families the scrape needs; the parser skips every other one. */
export const engineFamilies: ReadonlySet<string> = familiesOf(engineMetrics)

/**
 * The metrics worth refreshing: every one while nobody subscribed, else only
 * those some subscriber named (`addSubscriber`), so a gateway whose routers
 * read a few metrics does not parse and query the rest.
 */
export const subscribedOf = <M extends CatalogueMetric>(
  metrics: ReadonlyArray<M>,
  subscribed: ReadonlySet<string>
): ReadonlyArray<M> => (subscribed.size === 0 ? metrics : metrics.filter((metric) => subscribed.has(metric.name)))

/** The catalogue entry of a stored metric name. */
export const metricByName: ReadonlyMap<string, CatalogueMetric> = new Map(
  catalogue.map((metric) => [metric.name, metric])
)
