/**
 * How engines other than vLLM lay out the simulated engine's state on their
 * Prometheus pages: SGLang (`sglang:` families, label `model_name`),
 * trtllm-serve (`trtllm_` families, labels `model_name` and `engine_type`,
 * served at `/prometheus/metrics`) and xLLM (brpc gauges without labels, one
 * model per engine). Names and help texts follow each engine's source (see
 * the fixtures under `test/fixtures/pages`); the simulator's gauges are named
 * as vLLM names them, and each layout maps them onto its own.
 */
import type { MetricFamily, Sample } from "../exposition/MetricFamily.ts"
import type { EngineCounter, EngineGauge, EngineHistogram, FinishedReason } from "./SimulatedMetrics.ts"

/** One histogram of the simulated engine: bounds, per-bucket counts (the last for `+Inf`), sum. */
export interface HistogramView {
  readonly bounds: ReadonlyArray<number>
  readonly counts: ReadonlyArray<number>
  readonly sum: number
}

/** What the simulated engine knows of one model. */
export interface ModelView {
  readonly gauges: ReadonlyMap<EngineGauge, number>
  readonly counters: ReadonlyMap<EngineCounter, number>
  readonly successes: ReadonlyMap<FinishedReason, number>
  readonly histograms: ReadonlyMap<EngineHistogram, HistogramView>
}

export type Models = ReadonlyArray<readonly [model: string, state: ModelView]>

export const sample = (name: string, labels: Readonly<Record<string, string>>, value: number): Sample => ({
  name,
  labels,
  value,
  timestamp: undefined
})

export const family = (
  name: string,
  type: MetricFamily["type"],
  help: string,
  samples: ReadonlyArray<Sample>
): MetricFamily => ({ name, type, help, samples })

/** A histogram family with one series per model, labelled as `labelsOf` says, cumulative buckets. */
export const histogramFamily = (
  name: string,
  help: string,
  models: Models,
  histogram: EngineHistogram,
  labelsOf: (model: string) => Readonly<Record<string, string>>,
  formatBound: (bound: number) => string
): MetricFamily => {
  const samples: Array<Sample> = []
  for (const [model, state] of models) {
    const values = state.histograms.get(histogram)!
    const labels = labelsOf(model)
    let cumulative = 0
    values.bounds.forEach((bound, i) => {
      cumulative += values.counts[i]!
      samples.push(sample(`${name}_bucket`, { ...labels, le: formatBound(bound) }, cumulative))
    })
    cumulative += values.counts[values.bounds.length]!
    samples.push(sample(`${name}_bucket`, { ...labels, le: "+Inf" }, cumulative))
    samples.push(sample(`${name}_count`, labels, cumulative))
    samples.push(sample(`${name}_sum`, labels, values.sum))
  }
  return family(name, "histogram", help, samples)
}

const gaugeOf = (name: string, help: string, models: Models, gauge: EngineGauge, labelsOf: LabelsOf): MetricFamily =>
  family(
    name,
    "gauge",
    help,
    models.map(([model, state]) => sample(name, labelsOf(model), state.gauges.get(gauge)!))
  )

const counterOf = (
  name: string,
  help: string,
  models: Models,
  counter: EngineCounter,
  labelsOf: LabelsOf
): MetricFamily =>
  family(
    name,
    "counter",
    help,
    models.map(([model, state]) => sample(name, labelsOf(model), state.counters.get(counter)!))
  )

type LabelsOf = (model: string) => Readonly<Record<string, string>>

const successes = (state: ModelView): number => [...state.successes.values()].reduce((total, n) => total + n, 0)

/** SGLang's page, with the names it uses since December 2024. */
export const sglangFamilies = (models: Models, formatBound: (bound: number) => string): ReadonlyArray<MetricFamily> => {
  const labels: LabelsOf = (model) => ({ model_name: model })
  const histogram = (name: string, help: string, of: EngineHistogram) =>
    histogramFamily(`sglang:${name}`, help, models, of, labels, formatBound)
  return [
    counterOf(
      "sglang:prompt_tokens_total",
      "Number of prefill tokens processed.",
      models,
      "prompt_tokens_total",
      labels
    ),
    counterOf(
      "sglang:generation_tokens_total",
      "Number of generation tokens processed.",
      models,
      "generation_tokens_total",
      labels
    ),
    gaugeOf("sglang:token_usage", "The token usage", models, "gpu_cache_usage_perc", labels),
    histogram(
      "time_to_first_token_seconds",
      "Histogram of time to first token in seconds.",
      "time_to_first_token_seconds"
    ),
    histogram(
      "e2e_request_latency_seconds",
      "Histogram of End-to-end request latency in seconds",
      "e2e_request_latency_seconds"
    ),
    histogram(
      "time_per_output_token_seconds",
      "Histogram of time per output token in seconds.",
      "time_per_output_token_seconds"
    ),
    gaugeOf("sglang:num_running_reqs", "The number of running requests", models, "num_requests_running", labels),
    gaugeOf(
      "sglang:gen_throughput",
      "The generate throughput (token/s)",
      models,
      "avg_generation_throughput_toks_per_s",
      labels
    ),
    gaugeOf(
      "sglang:num_queue_reqs",
      "The number of requests in the waiting queue",
      models,
      "num_requests_waiting",
      labels
    ),
    family(
      "sglang:num_requests_total",
      "counter",
      "Number of requests processed.",
      models.map(([model, state]) => sample("sglang:num_requests_total", labels(model), successes(state)))
    )
  ]
}

/** trtllm-serve's page, as its `MetricsCollector` declares it. */
export const trtllmFamilies = (models: Models, formatBound: (bound: number) => string): ReadonlyArray<MetricFamily> => {
  const labels: LabelsOf = (model) => ({ engine_type: "trtllm", model_name: model })
  const histogram = (name: string, help: string, of: EngineHistogram) =>
    histogramFamily(`trtllm_${name}`, help, models, of, labels, formatBound)
  return [
    family(
      "trtllm_request_success_total",
      "counter",
      "Count of successfully processed requests.",
      models.flatMap(([model, state]) =>
        [...state.successes].map(([reason, count]) =>
          sample("trtllm_request_success_total", { ...labels(model), finished_reason: reason }, count)
        )
      )
    ),
    histogram(
      "e2e_request_latency_seconds",
      "Histogram of end to end request latency in seconds.",
      "e2e_request_latency_seconds"
    ),
    histogram(
      "time_to_first_token_seconds",
      "Histogram of time to first token in seconds.",
      "time_to_first_token_seconds"
    ),
    histogram(
      "time_per_output_token_seconds",
      "Histogram of time per output token in seconds.",
      "time_per_output_token_seconds"
    ),
    histogram(
      "request_queue_time_seconds",
      "Histogram of time spent in WAITING phase for request.",
      "request_queue_time_seconds"
    ),
    counterOf(
      "trtllm_prompt_tokens_total",
      "Cumulative number of prompt (input) tokens processed.",
      models,
      "prompt_tokens_total",
      labels
    ),
    counterOf(
      "trtllm_generation_tokens_total",
      "Cumulative number of generation (output) tokens produced.",
      models,
      "generation_tokens_total",
      labels
    ),
    gaugeOf("trtllm_kv_cache_utilization", "KV cache utilization", models, "gpu_cache_usage_perc", labels),
    gaugeOf("trtllm_num_requests_running", "Number of active requests", models, "num_requests_running", labels),
    gaugeOf("trtllm_num_requests_waiting", "Number of queued requests", models, "num_requests_waiting", labels)
  ]
}

/** xLLM's page: brpc's gauges, in name order, without labels; an engine serves one model. */
export const xllmFamilies = (models: Models): ReadonlyArray<MetricFamily> => {
  const total = (gauge: EngineGauge) => models.reduce((sum, [, state]) => sum + state.gauges.get(gauge)!, 0)
  const busiest = (gauge: EngineGauge) => models.reduce((max, [, state]) => Math.max(max, state.gauges.get(gauge)!), 0)
  const gauge = (name: string, value: number) => family(name, "gauge", name, [sample(name, {}, value)])
  const running = total("num_requests_running")
  return [
    gauge("engine_utilization", Math.min(1, running / 16)),
    gauge("kv_cache_utilization", busiest("gpu_cache_usage_perc")),
    gauge("kv_cache_utilization_perc", busiest("gpu_cache_usage_perc")),
    gauge("num_running_requests", running),
    gauge("num_waiting_requests", total("num_requests_waiting"))
  ]
}
