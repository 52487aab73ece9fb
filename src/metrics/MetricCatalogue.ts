/**
 * Every metric the cache keeps, as data: its canonical name, where it comes
 * from (an engine's `/metrics` page, a PromQL query, or the gateway itself),
 * its kind and its scope. An engine metric names, per engine, the raw
 * families that answer it, in order: the first one a page holds (and holds
 * well formed) wins, so one canonical name reads every release of an engine.
 * Adding an engine is adding a column here; the refresh loops read nothing else.
 */

/** The engines whose pages the cache reads, chosen per pod by its `model.aibrix.ai/engine` label. */
export const ENGINES = ["vllm", "sglang", "trtllm", "xllm"] as const
export type Engine = (typeof ENGINES)[number]

/** The engine of a pod without an engine label. */
export const DEFAULT_ENGINE: Engine = "vllm"

export const isEngine = (value: string): value is Engine => (ENGINES as ReadonlyArray<string>).includes(value)

/** What the cache needs to know of an engine beyond its families. */
export interface EngineProfile {
  readonly engine: Engine
  /** The path of its Prometheus page. */
  readonly metricsPath: string
  /**
   * The labels that name a sample's model, in order of preference. A sample
   * whose model label is missing, empty or `undefined` belongs to the pod's
   * base model.
   */
  readonly modelLabels: ReadonlyArray<string>
  /** A prefix only this engine's families carry, to recognise its page on a pod without an engine label. */
  readonly familyPrefix: string | undefined
}

export const METRICS_PATH = "/metrics"
/** trtllm-serve's `/metrics` answers JSON iteration statistics; its Prometheus page is here. */
export const TRTLLM_METRICS_PATH = "/prometheus/metrics"

export const engineProfiles: Readonly<Record<Engine, EngineProfile>> = {
  vllm: { engine: "vllm", metricsPath: METRICS_PATH, modelLabels: ["model_name"], familyPrefix: "vllm:" },
  // SGLang named the model `name` until December 2024.
  sglang: { engine: "sglang", metricsPath: METRICS_PATH, modelLabels: ["model_name", "name"], familyPrefix: "sglang:" },
  // Triton's TensorRT-LLM backend names it `model`.
  trtllm: {
    engine: "trtllm",
    metricsPath: TRTLLM_METRICS_PATH,
    modelLabels: ["model_name", "model"],
    familyPrefix: "trtllm_"
  },
  xllm: { engine: "xllm", metricsPath: METRICS_PATH, modelLabels: ["model_name", "model"], familyPrefix: undefined }
}

/** Pod scope is read with `getMetricValueByPod`, pod-model scope with `getMetricValueByPodModel`. */
export type MetricScope = "pod" | "podModel"

/**
 * How samples of one model (or of the pod) combine when the engine exposes
 * several, as a data-parallel engine does with one series per engine index:
 * loads add up, a usage fraction takes the busiest one.
 */
export type SampleMerge = "sum" | "max"

/** Per engine, the raw families that answer a canonical metric, the first present winning. */
export type RawFamilies = Readonly<Partial<Record<Engine, ReadonlyArray<string>>>>

/** A counter or gauge of the engine, one value per model. */
export interface EngineSimpleMetric {
  readonly source: "engine"
  readonly kind: "simple"
  readonly name: string
  readonly families: RawFamilies
  readonly scope: "podModel"
  readonly merge: SampleMerge
}

/** A histogram of the engine, one per model: cumulative buckets, sum and count. */
export interface EngineHistogramMetric {
  readonly source: "engine"
  readonly kind: "histogram"
  readonly name: string
  readonly families: RawFamilies
  readonly scope: "podModel"
}

/** A label of an engine info metric, whose value is the string the label carries. */
export interface EngineLabelMetric {
  readonly source: "engine"
  readonly kind: "label"
  readonly name: string
  readonly families: RawFamilies
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

const simple = (name: string, families: RawFamilies, merge: SampleMerge = "sum"): EngineSimpleMetric => ({
  source: "engine",
  kind: "simple",
  name,
  families,
  scope: "podModel",
  merge
})

const histogram = (name: string, families: RawFamilies): EngineHistogramMetric => ({
  source: "engine",
  kind: "histogram",
  name,
  families,
  scope: "podModel"
})

/** The family whose single series carries vLLM's LoRA state in its labels. */
export const LORA_INFO_FAMILY = "vllm:lora_requests_info"

const loraLabel = (name: string): EngineLabelMetric => ({
  source: "engine",
  kind: "label",
  name,
  families: { vllm: [LORA_INFO_FAMILY] },
  label: name,
  scope: "pod"
})

const promql = (name: string, scope: MetricScope, query: string): PromQLMetric => ({
  source: "promql",
  name,
  scope,
  query
})

/** vLLM's family of this name. */
const vllm = (name: string): string => `vllm:${name}`

/** KV-cache usage, a fraction: vLLM renamed its gauge, SGLang calls it token usage. */
const kvCacheUsage = (preferred: "gpu_cache_usage_perc" | "kv_cache_usage_perc"): RawFamilies => ({
  vllm:
    preferred === "kv_cache_usage_perc"
      ? [vllm("kv_cache_usage_perc"), vllm("gpu_cache_usage_perc")]
      : [vllm("gpu_cache_usage_perc"), vllm("kv_cache_usage_perc")],
  sglang: ["sglang:token_usage"],
  trtllm: ["trtllm_kv_cache_utilization"],
  xllm: ["kv_cache_utilization", "kv_cache_utilization_perc"]
})

/** Time per output token: vLLM and SGLang renamed it inter-token latency; either answers for the other. */
const interTokenLatency = (preferred: "time_per_output_token_seconds" | "inter_token_latency_seconds"): RawFamilies => {
  const other =
    preferred === "inter_token_latency_seconds" ? "time_per_output_token_seconds" : "inter_token_latency_seconds"
  return {
    vllm: [vllm(preferred), vllm(other)],
    sglang: [`sglang:${preferred}`, `sglang:${other}`],
    trtllm: ["trtllm_time_per_output_token_seconds"]
  }
}

/** A histogram every engine with request timings names alike: `vllm:`, `sglang:` and `trtllm_` prefixes. */
const requestHistogram = (name: string, engines: ReadonlyArray<"sglang" | "trtllm">): RawFamilies => ({
  vllm: [vllm(name)],
  ...(engines.includes("sglang") ? { sglang: [`sglang:${name}`] } : {}),
  ...(engines.includes("trtllm") ? { trtllm: [`trtllm_${name}`] } : {})
})

export const engineMetrics: ReadonlyArray<EngineMetric> = [
  simple("num_requests_running", {
    vllm: [vllm("num_requests_running")],
    // SGLang's names since December 2024, then its 2024 ones.
    sglang: ["sglang:num_running_reqs", "sglang:num_requests_running"],
    trtllm: ["trtllm_num_requests_running"],
    xllm: ["num_running_requests"]
  }),
  simple("num_requests_waiting", {
    vllm: [vllm("num_requests_waiting")],
    sglang: ["sglang:num_queue_reqs", "sglang:num_requests_waiting"],
    trtllm: ["trtllm_num_requests_waiting"],
    xllm: ["num_waiting_requests"]
  }),
  simple("num_requests_swapped", { vllm: [vllm("num_requests_swapped")], sglang: ["sglang:num_retracted_reqs"] }),
  simple("avg_prompt_throughput_toks_per_s", { vllm: [vllm("avg_prompt_throughput_toks_per_s")] }),
  simple("avg_generation_throughput_toks_per_s", {
    vllm: [vllm("avg_generation_throughput_toks_per_s")],
    sglang: ["sglang:gen_throughput"]
  }),
  simple("gpu_cache_usage_perc", kvCacheUsage("gpu_cache_usage_perc"), "max"),
  simple("kv_cache_usage_perc", kvCacheUsage("kv_cache_usage_perc"), "max"),
  simple("cpu_cache_usage_perc", { vllm: [vllm("cpu_cache_usage_perc")] }, "max"),
  simple("engine_utilization", { xllm: ["engine_utilization"] }, "max"),
  simple("prompt_tokens_total", {
    vllm: [vllm("prompt_tokens_total")],
    sglang: ["sglang:prompt_tokens_total"],
    trtllm: ["trtllm_prompt_tokens_total"]
  }),
  simple("generation_tokens_total", {
    vllm: [vllm("generation_tokens_total")],
    sglang: ["sglang:generation_tokens_total"],
    trtllm: ["trtllm_generation_tokens_total"]
  }),
  simple("request_success_total", {
    vllm: [vllm("request_success_total")],
    sglang: ["sglang:num_requests_total", "sglang:request_success_total"],
    trtllm: ["trtllm_request_success_total"]
  }),
  simple("num_preemptions_total", { vllm: [vllm("num_preemptions_total")] }),
  simple("prefix_cache_queries_total", {
    vllm: [vllm("prefix_cache_queries_total"), vllm("gpu_prefix_cache_queries_total")]
  }),
  simple("prefix_cache_hits_total", { vllm: [vllm("prefix_cache_hits_total"), vllm("gpu_prefix_cache_hits_total")] }),
  histogram("iteration_tokens_total", { vllm: [vllm("iteration_tokens_total")] }),
  histogram("time_to_first_token_seconds", requestHistogram("time_to_first_token_seconds", ["sglang", "trtllm"])),
  histogram("time_per_output_token_seconds", interTokenLatency("time_per_output_token_seconds")),
  histogram("inter_token_latency_seconds", interTokenLatency("inter_token_latency_seconds")),
  histogram("e2e_request_latency_seconds", requestHistogram("e2e_request_latency_seconds", ["sglang", "trtllm"])),
  histogram("request_queue_time_seconds", requestHistogram("request_queue_time_seconds", ["trtllm"])),
  histogram("request_inference_time_seconds", requestHistogram("request_inference_time_seconds", ["trtllm"])),
  histogram("request_decode_time_seconds", requestHistogram("request_decode_time_seconds", ["trtllm"])),
  histogram("request_prefill_time_seconds", requestHistogram("request_prefill_time_seconds", ["trtllm"])),
  loraLabel("max_lora"),
  loraLabel("running_lora_adapters"),
  loraLabel("waiting_lora_adapters")
]

/** The raw families of an engine metric on one engine's pages, in order of preference. */
export const familiesOn = (metric: EngineMetric, engine: Engine): ReadonlyArray<string> => metric.families[engine] ?? []

/** The engine whose families' prefix the page carries at the start of a line, if any. */
export const engineOfPage = (text: string): Engine | undefined => {
  for (const engine of ENGINES) {
    const prefix = engineProfiles[engine].familyPrefix
    if (prefix !== undefined && (text.startsWith(prefix) || text.includes(`\n${prefix}`))) return engine
  }
  return undefined
}

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
