/**
 * The metrics of one simulated engine and the page it serves. As vLLM: the
 * `vllm:` families per served model (label `model_name`), the LoRA info
 * gauge, and the `process_*` and `python_*` families of the Python client,
 * written as the Python client writes them (sorted labels, `1.0`, `1.727e+09`),
 * without the `_created` gauges, which vLLM turns off. As another engine, the
 * same state in that engine's families (`EngineLayouts`).
 */
import type { MetricFamily, Sample } from "../exposition/MetricFamily.ts"
import { formatSampleValue, render } from "../exposition/Render.ts"
import type { Engine } from "../metrics/MetricCatalogue.ts"
import { family, sample, sglangFamilies, trtllmFamilies, xllmFamilies } from "./EngineLayouts.ts"

/** The engine's gauges per model, by name without the `vllm:` prefix. */
export const ENGINE_GAUGES = [
  "num_requests_running",
  "num_requests_swapped",
  "num_requests_waiting",
  "gpu_cache_usage_perc",
  "cpu_cache_usage_perc",
  "cpu_prefix_cache_hit_rate",
  "gpu_prefix_cache_hit_rate",
  "avg_prompt_throughput_toks_per_s",
  "avg_generation_throughput_toks_per_s"
] as const
export type EngineGauge = (typeof ENGINE_GAUGES)[number]

/** The engine's counters per model, by family name without the `vllm:` prefix. */
export const ENGINE_COUNTERS = ["num_preemptions_total", "prompt_tokens_total", "generation_tokens_total"] as const
export type EngineCounter = (typeof ENGINE_COUNTERS)[number]

/** Why a request finished: the label of `vllm:request_success_total`. */
export const FINISHED_REASONS = ["stop", "length", "abort"] as const
export type FinishedReason = (typeof FINISHED_REASONS)[number]

const requestLatencyBounds = [
  0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0,
  7680.0
]
/** vLLM's 1-2-5 buckets up to a 4096-token context. */
const tokenBounds = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000]

const HISTOGRAM_SPECS = {
  iteration_tokens_total: {
    help: "Histogram of number of tokens per engine_step.",
    bounds: [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
  },
  time_to_first_token_seconds: {
    help: "Histogram of time to first token in seconds.",
    bounds: [
      0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
      160.0, 640.0, 2560.0
    ]
  },
  time_per_output_token_seconds: {
    help: "Histogram of time per output token in seconds.",
    bounds: [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0]
  },
  e2e_request_latency_seconds: {
    help: "Histogram of end to end request latency in seconds.",
    bounds: requestLatencyBounds
  },
  request_queue_time_seconds: {
    help: "Histogram of time spent in WAITING phase for request.",
    bounds: requestLatencyBounds
  },
  request_inference_time_seconds: {
    help: "Histogram of time spent in RUNNING phase for request.",
    bounds: requestLatencyBounds
  },
  request_prefill_time_seconds: {
    help: "Histogram of time spent in PREFILL phase for request.",
    bounds: requestLatencyBounds
  },
  request_decode_time_seconds: {
    help: "Histogram of time spent in DECODE phase for request.",
    bounds: requestLatencyBounds
  },
  request_prompt_tokens: { help: "Number of prefill tokens processed.", bounds: tokenBounds },
  request_generation_tokens: { help: "Number of generation tokens processed.", bounds: tokenBounds },
  request_max_num_generation_tokens: {
    help: "Histogram of maximum number of requested generation tokens.",
    bounds: tokenBounds
  },
  request_params_n: { help: "Histogram of the n request parameter.", bounds: [1, 2, 5, 10, 20] }
} as const satisfies Record<string, { readonly help: string; readonly bounds: ReadonlyArray<number> }>

/** The engine's histograms per model, by family name without the `vllm:` prefix. */
export type EngineHistogram = keyof typeof HISTOGRAM_SPECS
export const ENGINE_HISTOGRAMS = Object.keys(HISTOGRAM_SPECS) as ReadonlyArray<EngineHistogram>

const GAUGE_HELP: Record<EngineGauge, string> = {
  num_requests_running: "Number of requests currently running on GPU.",
  num_requests_swapped: "Number of requests swapped to CPU.",
  num_requests_waiting: "Number of requests waiting to be processed.",
  gpu_cache_usage_perc: "GPU KV-cache usage. 1 means 100 percent usage.",
  cpu_cache_usage_perc: "CPU KV-cache usage. 1 means 100 percent usage.",
  cpu_prefix_cache_hit_rate: "CPU prefix cache block hit rate.",
  gpu_prefix_cache_hit_rate: "GPU prefix cache block hit rate.",
  avg_prompt_throughput_toks_per_s: "Average prefill throughput in tokens/s.",
  avg_generation_throughput_toks_per_s: "Average generation throughput in tokens/s."
}

const COUNTER_HELP: Record<EngineCounter, string> = {
  num_preemptions_total: "Cumulative number of preemption from the engine.",
  prompt_tokens_total: "Number of prefill tokens processed.",
  generation_tokens_total: "Number of generation tokens processed."
}

/** The LoRA state an engine reports on `vllm:lora_requests_info`. */
export interface LoraInfo {
  readonly maxLora: number
  readonly running: ReadonlyArray<string>
  readonly waiting: ReadonlyArray<string>
}

/** What `completeRequests` simulates: the typical request; each one varies around it. */
export interface RequestShape {
  readonly promptTokens: number
  readonly generationTokens: number
  readonly queueSeconds: number
  readonly ttftSeconds: number
  readonly tpotSeconds: number
}

export const DEFAULT_REQUEST_SHAPE: RequestShape = {
  promptTokens: 512,
  generationTokens: 128,
  queueSeconds: 0.02,
  ttftSeconds: 0.12,
  tpotSeconds: 0.025
}

class HistogramState {
  readonly bounds: ReadonlyArray<number>
  /** Per bucket (not cumulative), the last one for `+Inf`. */
  readonly counts: Array<number>
  sum = 0

  constructor(bounds: ReadonlyArray<number>) {
    this.bounds = bounds
    this.counts = new Array<number>(bounds.length + 1).fill(0)
  }

  observe(value: number, times: number): void {
    let bucket = 0
    while (bucket < this.bounds.length && value > this.bounds[bucket]!) bucket++
    this.counts[bucket]! += times
    this.sum += value * times
  }
}

class ModelState {
  readonly gauges = new Map<EngineGauge, number>(ENGINE_GAUGES.map((gauge) => [gauge, 0]))
  readonly counters = new Map<EngineCounter, number>(ENGINE_COUNTERS.map((counter) => [counter, 0]))
  readonly successes = new Map<FinishedReason, number>(FINISHED_REASONS.map((reason) => [reason, 0]))
  readonly histograms = new Map<EngineHistogram, HistogramState>(
    ENGINE_HISTOGRAMS.map((name) => [name, new HistogramState(HISTOGRAM_SPECS[name].bounds)])
  )
}

/**
 * A float as the Python client writes it: `repr` (`1.0`, `0.25`), but with an
 * exponent once there are more than six digits before the point (`1.727e+09`).
 */
export const formatPythonFloat = (value: number): string => {
  if (!Number.isFinite(value)) return formatSampleValue(value)
  let text = String(value)
  if (Number.isInteger(value) && !text.includes("e")) text += ".0"
  const dot = text.indexOf(".")
  if (value > 0 && dot > 6) {
    const mantissa = `${text[0]}.${text.slice(1, dot)}`.replace(/[0.]+$/, "")
    return `${mantissa}e+0${dot - 1}`
  }
  return text
}

/** A variation factor in [0.5, 2) for the `index`-th simulated request, the same on every run. */
const spread = (index: number, salt: number): number => 0.5 + (((index * 7919 + salt * 104729) % 100) / 100) * 1.5

/** The mutable metric state of one engine; every change marks the page for rendering anew. */
export class SimulatedMetrics {
  readonly #models = new Map<string, ModelState>()
  #lora: LoraInfo = { maxLora: 1, running: [], waiting: [] }
  #requestsCompleted = 0
  /** CPU the process used beyond what finishing requests accounts for. */
  #busySeconds = 0
  #page: string | undefined = undefined
  /** The engine's families as written, kept while only the process's figures move. */
  #enginePart: string | undefined = undefined
  #processPart: string | undefined = undefined
  /** The process's start, in seconds since the epoch; also the LoRA info gauge's value. */
  readonly startedAt: number
  /** Whose page layout the page has. */
  readonly engine: Engine

  constructor(models: ReadonlyArray<string>, startedAt = Math.floor(Date.now() / 1000), engine: Engine = "vllm") {
    for (const model of models) this.#models.set(model, new ModelState())
    this.startedAt = startedAt
    this.engine = engine
  }

  get models(): ReadonlyArray<string> {
    return [...this.#models.keys()]
  }

  /** Adds a served model with every value at zero; no change when it is served already. */
  addModel(model: string): void {
    if (this.#models.has(model)) return
    this.#models.set(model, new ModelState())
    this.#changed()
  }

  removeModel(model: string): void {
    if (this.#models.delete(model)) this.#changed()
  }

  #model(model: string): ModelState {
    let state = this.#models.get(model)
    if (state === undefined) {
      state = new ModelState()
      this.#models.set(model, state)
    }
    this.#changed()
    return state
  }

  setGauge(model: string, gauge: EngineGauge, value: number): void {
    this.#model(model).gauges.set(gauge, value)
  }

  gauge(model: string, gauge: EngineGauge): number | undefined {
    return this.#models.get(model)?.gauges.get(gauge)
  }

  addToCounter(model: string, counter: EngineCounter, amount: number): void {
    const counters = this.#model(model).counters
    counters.set(counter, (counters.get(counter) ?? 0) + amount)
  }

  counter(model: string, counter: EngineCounter): number | undefined {
    return this.#models.get(model)?.counters.get(counter)
  }

  /** Records `times` observations of `value` in a histogram of the model. */
  observe(model: string, histogram: EngineHistogram, value: number, times = 1): void {
    this.#model(model).histograms.get(histogram)!.observe(value, times)
  }

  /** The histogram's count and sum, or undefined when the model is not served. */
  histogram(model: string, histogram: EngineHistogram): { readonly count: number; readonly sum: number } | undefined {
    const state = this.#models.get(model)?.histograms.get(histogram)
    if (state === undefined) return undefined
    return { count: state.counts.reduce((total, count) => total + count, 0), sum: state.sum }
  }

  setLora(lora: LoraInfo): void {
    this.#lora = lora
    this.#changed()
  }

  /**
   * Advances the process's CPU time, as a working engine's does between any
   * two scrapes: `process_cpu_seconds_total` changes and nothing else.
   */
  spendCpu(seconds: number): void {
    this.#busySeconds += seconds
    this.#page = undefined
    this.#processPart = undefined
  }

  /**
   * Simulates `count` finished requests of a model: every request histogram,
   * the token counters and `request_success_total` advance. Requests vary
   * around `shape`, the same way on every run.
   */
  completeRequests(
    model: string,
    count: number,
    shape: RequestShape = DEFAULT_REQUEST_SHAPE,
    reason: FinishedReason = "stop"
  ): void {
    const state = this.#model(model)
    const histograms = state.histograms
    const observe = (name: EngineHistogram, value: number, times = 1) => histograms.get(name)!.observe(value, times)
    for (let i = 0; i < count; i++) {
      const index = this.#requestsCompleted++
      const prompt = Math.max(1, Math.round(shape.promptTokens * spread(index, 1)))
      const generation = Math.max(1, Math.round(shape.generationTokens * spread(index, 2)))
      const queue = shape.queueSeconds * spread(index, 3)
      const ttft = queue + shape.ttftSeconds * spread(index, 4)
      const tpot = shape.tpotSeconds * spread(index, 5)
      const decode = tpot * generation
      observe("time_to_first_token_seconds", ttft)
      observe("time_per_output_token_seconds", tpot, generation)
      observe("request_queue_time_seconds", queue)
      observe("request_prefill_time_seconds", ttft - queue)
      observe("request_decode_time_seconds", decode)
      observe("request_inference_time_seconds", ttft - queue + decode)
      observe("e2e_request_latency_seconds", ttft + decode)
      observe("request_prompt_tokens", prompt)
      observe("request_generation_tokens", generation)
      observe("request_max_num_generation_tokens", shape.generationTokens * 2)
      observe("request_params_n", 1)
      observe("iteration_tokens_total", prompt)
      observe("iteration_tokens_total", 1, generation - 1)
      state.counters.set("prompt_tokens_total", state.counters.get("prompt_tokens_total")! + prompt)
      state.counters.set("generation_tokens_total", state.counters.get("generation_tokens_total")! + generation)
    }
    state.successes.set(reason, state.successes.get(reason)! + count)
  }

  #changed(): void {
    this.#page = undefined
    this.#enginePart = undefined
    this.#processPart = undefined
  }

  /** The page as the engine serves it now; rendered once per change. */
  page(): string {
    if (this.#page === undefined) {
      const { engine, process } = this.pageParts()
      this.#page = process + engine
    }
    return this.#page
  }

  /**
   * The page in two parts, the process's families then the engine's: each the
   * same string for as long as its figures hold, so that a server encodes each
   * once per change.
   */
  pageParts(): { readonly process: string; readonly engine: string } {
    this.#enginePart ??= render(this.#engineFamilies(), { formatValue: formatPythonFloat })
    this.#processPart ??= render(this.#processFamilies(), { formatValue: formatPythonFloat })
    return { process: this.#processPart, engine: this.#enginePart }
  }

  /** The families of the page, in the order the engine writes them. */
  families(): ReadonlyArray<MetricFamily> {
    return [...this.#processFamilies(), ...this.#engineFamilies()]
  }

  #engineFamilies(): ReadonlyArray<MetricFamily> {
    const models = [...this.#models]
    switch (this.engine) {
      case "sglang":
        return sglangFamilies(models, formatPythonFloat)
      case "trtllm":
        return trtllmFamilies(models, formatPythonFloat)
      case "xllm":
        return xllmFamilies(models)
      case "vllm":
        return this.#vllmFamilies(models)
    }
  }

  #vllmFamilies(models: ReadonlyArray<readonly [string, ModelState]>): ReadonlyArray<MetricFamily> {
    const byModel = (model: string): Readonly<Record<string, string>> => ({ model_name: model })
    const families: Array<MetricFamily> = []
    families.push(
      family("vllm:cache_config_info", "gauge", "Information of the LLMEngine CacheConfig", [
        sample("vllm:cache_config_info", CACHE_CONFIG_LABELS, 1)
      ])
    )
    const gauge = (name: EngineGauge) =>
      family(
        `vllm:${name}`,
        "gauge",
        GAUGE_HELP[name],
        models.map(([model, state]) => sample(`vllm:${name}`, byModel(model), state.gauges.get(name)!))
      )
    families.push(gauge("num_requests_running"), gauge("num_requests_swapped"), gauge("num_requests_waiting"))
    families.push(
      family("vllm:lora_requests_info", "gauge", "Running stats on lora requests.", [
        sample(
          "vllm:lora_requests_info",
          {
            max_lora: String(this.#lora.maxLora),
            running_lora_adapters: this.#lora.running.join(","),
            waiting_lora_adapters: this.#lora.waiting.join(",")
          },
          this.startedAt
        )
      ])
    )
    families.push(
      gauge("gpu_cache_usage_perc"),
      gauge("cpu_cache_usage_perc"),
      gauge("cpu_prefix_cache_hit_rate"),
      gauge("gpu_prefix_cache_hit_rate")
    )
    for (const name of ENGINE_COUNTERS) {
      families.push(
        family(
          `vllm:${name}`,
          "counter",
          COUNTER_HELP[name],
          models.map(([model, state]) => sample(`vllm:${name}`, byModel(model), state.counters.get(name)!))
        )
      )
    }
    for (const name of ENGINE_HISTOGRAMS) families.push(this.#histogramFamily(name, models))
    families.push(
      family(
        "vllm:request_success_total",
        "counter",
        "Count of successfully processed requests.",
        models.flatMap(([model, state]) =>
          FINISHED_REASONS.map((reason) =>
            sample(
              "vllm:request_success_total",
              { finished_reason: reason, model_name: model },
              state.successes.get(reason)!
            )
          )
        )
      )
    )
    families.push(gauge("avg_prompt_throughput_toks_per_s"), gauge("avg_generation_throughput_toks_per_s"))
    return families
  }

  #histogramFamily(name: EngineHistogram, models: ReadonlyArray<readonly [string, ModelState]>): MetricFamily {
    const familyName = `vllm:${name}`
    const samples: Array<Sample> = []
    for (const [model, state] of models) {
      const histogram = state.histograms.get(name)!
      let cumulative = 0
      histogram.bounds.forEach((bound, i) => {
        cumulative += histogram.counts[i]!
        samples.push(sample(`${familyName}_bucket`, { le: formatPythonFloat(bound), model_name: model }, cumulative))
      })
      cumulative += histogram.counts[histogram.bounds.length]!
      samples.push(sample(`${familyName}_bucket`, { le: "+Inf", model_name: model }, cumulative))
      samples.push(sample(`${familyName}_count`, { model_name: model }, cumulative))
      samples.push(sample(`${familyName}_sum`, { model_name: model }, histogram.sum))
    }
    return family(familyName, "histogram", HISTOGRAM_SPECS[name].help, samples)
  }

  #processFamilies(): ReadonlyArray<MetricFamily> {
    if (this.engine === "xllm") return []
    const completed = this.#requestsCompleted
    const generations = ["0", "1", "2"]
    return [
      family(
        "python_gc_objects_collected_total",
        "counter",
        "Objects collected during gc",
        generations.map((generation, i) =>
          sample("python_gc_objects_collected_total", { generation }, 14932 + completed * (3 - i))
        )
      ),
      family(
        "python_gc_objects_uncollectable_total",
        "counter",
        "Uncollectable objects found during GC",
        generations.map((generation) => sample("python_gc_objects_uncollectable_total", { generation }, 0))
      ),
      family(
        "python_gc_collections_total",
        "counter",
        "Number of times this generation was collected",
        generations.map((generation, i) =>
          sample("python_gc_collections_total", { generation }, 2161 + Math.floor(completed / (i + 1)))
        )
      ),
      family("python_info", "gauge", "Python platform information", [
        sample(
          "python_info",
          { implementation: "CPython", major: "3", minor: "12", patchlevel: "9", version: "3.12.9" },
          1
        )
      ]),
      family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", [
        sample("process_virtual_memory_bytes", {}, 37342781184)
      ]),
      family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", [
        sample("process_resident_memory_bytes", {}, 5718540288 + completed * 4096)
      ]),
      family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", [
        sample("process_start_time_seconds", {}, this.startedAt + 0.43)
      ]),
      family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", [
        sample("process_cpu_seconds_total", {}, 143.27 + completed * 0.01 + this.#busySeconds)
      ]),
      family("process_open_fds", "gauge", "Number of open file descriptors.", [sample("process_open_fds", {}, 72)]),
      family("process_max_fds", "gauge", "Maximum number of open file descriptors.", [
        sample("process_max_fds", {}, 1048576)
      ])
    ]
  }
}

const CACHE_CONFIG_LABELS: Readonly<Record<string, string>> = {
  block_size: "16",
  cache_dtype: "auto",
  calculate_kv_scales: "False",
  cpu_offload_gb: "0",
  enable_prefix_caching: "False",
  gpu_memory_utilization: "0.9",
  is_attention_free: "False",
  num_cpu_blocks: "2048",
  num_gpu_blocks: "27264",
  num_gpu_blocks_override: "None",
  sliding_window: "None",
  swap_space_bytes: "4294967296"
}

/**
 * One page of a busy engine serving `models`: a few hundred requests completed
 * per model, requests running and waiting, caches in use. The same on every run.
 */
export const renderEnginePage = (models: ReadonlyArray<string>, startedAt = 1_727_000_000): string => {
  const metrics = new SimulatedMetrics(models, startedAt)
  models.forEach((model, i) => {
    metrics.completeRequests(model, 300 + 137 * i)
    metrics.completeRequests(model, 12 + i, DEFAULT_REQUEST_SHAPE, "length")
    metrics.setGauge(model, "num_requests_running", 7 + i)
    metrics.setGauge(model, "num_requests_waiting", 2 * i)
    metrics.setGauge(model, "gpu_cache_usage_perc", 0.4375 + 0.1 * i)
    metrics.setGauge(model, "gpu_prefix_cache_hit_rate", 0.61)
    metrics.setGauge(model, "avg_prompt_throughput_toks_per_s", 1843.7 - 100 * i)
    metrics.setGauge(model, "avg_generation_throughput_toks_per_s", 402.3 + 10 * i)
    metrics.addToCounter(model, "num_preemptions_total", i)
  })
  metrics.setLora({ maxLora: 4, running: ["lora-sql"], waiting: [] })
  return metrics.page()
}
