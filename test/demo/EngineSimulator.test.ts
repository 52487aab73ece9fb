import { afterEach, assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Result } from "effect"
import {
  EngineBehavior,
  EngineSimulator,
  EngineSimulatorError,
  GARBAGE_LINE,
  renderEnginePage
} from "../../src/demo/EngineSimulator.ts"
import type { MetricFamily, ParsedPage, Sample } from "../../src/exposition/MetricFamily.ts"
import { parse } from "../../src/exposition/Parser.ts"
import { metricsOfPage, pageSelection } from "../../src/metrics/EnginePage.ts"
import { type Engine, engineProfiles } from "../../src/metrics/MetricCatalogue.ts"
import { MetricValue } from "../../src/store/MetricValue.ts"
import { histogramSeries } from "../support/histogramSeries.ts"

const MODELS = ["meta-llama/Llama-3.1-8B-Instruct", "qwen-7b"]

/** The engine families the spec's metric table and PromQL templates read, by kind. */
const SPEC_GAUGES = [
  "num_requests_running",
  "num_requests_waiting",
  "num_requests_swapped",
  "avg_prompt_throughput_toks_per_s",
  "avg_generation_throughput_toks_per_s",
  "gpu_cache_usage_perc",
  "cpu_cache_usage_perc"
]
const SPEC_HISTOGRAMS = [
  "iteration_tokens_total",
  "time_to_first_token_seconds",
  "time_per_output_token_seconds",
  "e2e_request_latency_seconds",
  "request_queue_time_seconds",
  "request_inference_time_seconds",
  "request_decode_time_seconds",
  "request_prefill_time_seconds",
  "request_prompt_tokens",
  "request_generation_tokens"
]
const SPEC_COUNTERS = ["request_success_total", "prompt_tokens_total", "generation_tokens_total"]

const simulators: Array<EngineSimulator> = []
const startSimulator = async (models: ReadonlyArray<string> = MODELS): Promise<EngineSimulator> => {
  const simulator = await EngineSimulator.start({ models })
  simulators.push(simulator)
  return simulator
}
afterEach(async () => {
  await Promise.all(simulators.splice(0).map((simulator) => simulator.stop()))
})

const parsed = (text: string): ParsedPage => {
  const result = parse(text)
  if (Result.isFailure(result)) assert.fail(result.failure.message)
  return result.success
}

const scrape = async (simulator: EngineSimulator): Promise<ParsedPage> => {
  const response = await fetch(simulator.metricsUrl)
  assert.strictEqual(response.status, 200)
  return parsed(await response.text())
}

const family = (page: ParsedPage, name: string): MetricFamily => {
  const found = page.families.get(name)
  if (found === undefined) assert.fail(`no family ${name}`)
  return found
}

const sampleOf = (page: ParsedPage, familyName: string, name: string, labels: Record<string, string>): Sample => {
  const found = family(page, familyName).samples.find(
    (sample) => sample.name === name && Object.entries(labels).every(([label, value]) => sample.labels[label] === value)
  )
  if (found === undefined) assert.fail(`no sample ${name} ${JSON.stringify(labels)}`)
  return found
}

const gaugeValue = (page: ParsedPage, gauge: string, model: string): number =>
  sampleOf(page, `vllm:${gauge}`, `vllm:${gauge}`, { model_name: model }).value

describe("EngineSimulator", () => {
  it("serves a page on 127.0.0.1 with the spec's families for every model, and the process noise", async () => {
    const simulator = await startSimulator()
    assert.match(simulator.metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    assert.isAbove(simulator.port, 0)
    const response = await fetch(simulator.metricsUrl)
    assert.strictEqual(response.status, 200)
    assert.strictEqual(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8")
    const page = parsed(await response.text())
    for (const model of MODELS) {
      for (const gauge of SPEC_GAUGES) {
        assert.strictEqual(family(page, `vllm:${gauge}`).type, "gauge")
        assert.strictEqual(gaugeValue(page, gauge, model), 0)
      }
      for (const histogram of SPEC_HISTOGRAMS) {
        const found = family(page, `vllm:${histogram}`)
        assert.strictEqual(found.type, "histogram")
        const series = histogramSeries(found).find((one) => one.labels["model_name"] === model)
        assert.isDefined(series)
        assert.strictEqual(series!.count, 0)
        assert.strictEqual(series!.buckets.get(Infinity), 0)
      }
      for (const counter of SPEC_COUNTERS) {
        assert.strictEqual(family(page, `vllm:${counter}`).type, "counter")
        assert.strictEqual(sampleOf(page, `vllm:${counter}`, `vllm:${counter}`, { model_name: model }).value, 0)
      }
    }
    const lora = family(page, "vllm:lora_requests_info").samples
    assert.strictEqual(lora.length, 1)
    assert.deepStrictEqual(Object.keys(lora[0]!.labels).sort(), [
      "max_lora",
      "running_lora_adapters",
      "waiting_lora_adapters"
    ])
    for (const noise of [
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
      "python_info",
      "python_gc_objects_collected_total"
    ]) {
      assert.isTrue(page.families.has(noise), noise)
    }
    assert.strictEqual(simulator.scrapes, 1)
  })

  it("shows value changes: gauges, completed requests, LoRA adapters", async () => {
    const simulator = await startSimulator()
    const [first, second] = MODELS as [string, string]
    simulator.metrics.setGauge(first, "num_requests_running", 5)
    simulator.metrics.setGauge(second, "gpu_cache_usage_perc", 0.75)
    simulator.metrics.completeRequests(first, 10)
    simulator.metrics.setLora({ maxLora: 4, running: ["sql-lora", "chat-lora"], waiting: ["new-lora"] })
    const page = await scrape(simulator)
    assert.strictEqual(gaugeValue(page, "num_requests_running", first), 5)
    assert.strictEqual(gaugeValue(page, "num_requests_running", second), 0)
    assert.strictEqual(gaugeValue(page, "gpu_cache_usage_perc", second), 0.75)
    const success = sampleOf(page, "vllm:request_success_total", "vllm:request_success_total", {
      model_name: first,
      finished_reason: "stop"
    })
    assert.strictEqual(success.value, 10)
    for (const histogram of SPEC_HISTOGRAMS.filter(
      (name) => name.startsWith("request_") || name.endsWith("latency_seconds")
    )) {
      const series = histogramSeries(family(page, `vllm:${histogram}`))
      assert.strictEqual(series.find((one) => one.labels["model_name"] === first)!.count, 10, histogram)
      assert.strictEqual(series.find((one) => one.labels["model_name"] === second)!.count, 0, histogram)
    }
    const e2e = histogramSeries(family(page, "vllm:e2e_request_latency_seconds")).find(
      (one) => one.labels["model_name"] === first
    )!
    assert.isAbove(e2e.sum, 0)
    const counts = [...e2e.buckets.values()]
    assert.deepStrictEqual(
      counts,
      [...counts].sort((a, b) => a - b),
      "buckets are cumulative"
    )
    const prompt = sampleOf(page, "vllm:prompt_tokens_total", "vllm:prompt_tokens_total", { model_name: first }).value
    assert.strictEqual(prompt, simulator.metrics.counter(first, "prompt_tokens_total"))
    assert.isAbove(prompt, 10)
    assert.deepStrictEqual(family(page, "vllm:lora_requests_info").samples[0]!.labels, {
      max_lora: "4",
      running_lora_adapters: "sql-lora,chat-lora",
      waiting_lora_adapters: "new-lora"
    })
    simulator.metrics.setGauge(first, "num_requests_running", 6)
    assert.strictEqual(gaugeValue(await scrape(simulator), "num_requests_running", first), 6)
  })

  it("answers late when told to delay, and never when told to hang", async () => {
    const simulator = await startSimulator()
    simulator.behave(EngineBehavior.delay(300))
    const started = performance.now()
    const late = await scrape(simulator)
    assert.isAtLeast(performance.now() - started, 290)
    assert.isTrue(late.families.has("vllm:num_requests_running"))
    simulator.behave(EngineBehavior.hang)
    const error = await fetch(simulator.metricsUrl, { signal: AbortSignal.timeout(300) }).then(
      () => undefined,
      (cause: unknown) => cause
    )
    assert.instanceOf(error, Error)
    assert.strictEqual((error as Error).name, "TimeoutError")
    simulator.behave(EngineBehavior.serve)
    assert.isTrue((await scrape(simulator)).families.has("vllm:num_requests_running"))
    assert.strictEqual(simulator.scrapes, 3)
  })

  it("fails with the status it is told, and answers 404 off /metrics", async () => {
    const simulator = await startSimulator()
    simulator.behave(EngineBehavior.fail(503))
    assert.strictEqual((await fetch(simulator.metricsUrl)).status, 503)
    simulator.behave(EngineBehavior.fail())
    assert.strictEqual((await fetch(simulator.metricsUrl)).status, 500)
    assert.strictEqual((await fetch(`${simulator.url}/other`)).status, 404)
  })

  it("serves a page that does not parse when told to corrupt it", async () => {
    const simulator = await startSimulator()
    simulator.behave(EngineBehavior.corrupt("garbage"))
    const garbage = await (await fetch(simulator.metricsUrl)).text()
    const lines = garbage.split("\n")
    const failed = parse(garbage)
    assert.isTrue(Result.isFailure(failed))
    if (Result.isFailure(failed)) assert.strictEqual(failed.failure.line, lines.indexOf(GARBAGE_LINE) + 1)
    const skipped = parse(garbage, { malformed: "skip" })
    assert.isTrue(Result.isSuccess(skipped))
    if (Result.isSuccess(skipped)) {
      assert.strictEqual(skipped.success.skippedLines, 1)
      assert.strictEqual(gaugeValue(skipped.success, "num_requests_running", MODELS[0]!), 0)
    }
    simulator.behave(EngineBehavior.corrupt("truncate"))
    const truncated = await (await fetch(simulator.metricsUrl)).text()
    assert.isBelow(truncated.length, simulator.page().length)
    const cut = parse(truncated)
    assert.isTrue(Result.isFailure(cut))
    if (Result.isFailure(cut)) assert.strictEqual(cut.failure.line, truncated.split("\n").length)
  })

  it("listens on the port it is given", async () => {
    const first = await startSimulator()
    const port = first.port
    await first.stop()
    simulators.splice(simulators.indexOf(first), 1)
    const second = await EngineSimulator.start({ port })
    simulators.push(second)
    assert.strictEqual(second.port, port)
    assert.strictEqual((await fetch(second.metricsUrl)).status, 200)
  })

  it.effect("is a scoped resource: it stops when its scope closes; a busy port is a typed error", () =>
    Effect.gen(function* () {
      const url = yield* Effect.scoped(
        Effect.gen(function* () {
          const simulator = yield* EngineSimulator.scoped({ models: ["m"] })
          const status = yield* Effect.promise(() => fetch(simulator.metricsUrl).then((response) => response.status))
          assert.strictEqual(status, 200)
          const busy = yield* Effect.exit(Effect.scoped(EngineSimulator.scoped({ port: simulator.port })))
          assert.isTrue(Exit.isFailure(busy))
          const error = yield* Effect.flip(Effect.scoped(EngineSimulator.scoped({ port: simulator.port })))
          assert.instanceOf(error, EngineSimulatorError)
          return simulator.metricsUrl
        })
      )
      const after = yield* Effect.promise(() =>
        fetch(url).then(
          () => "answered",
          () => "refused"
        )
      )
      assert.strictEqual(after, "refused")
    })
  )
})

describe("EngineSimulator as another engine", () => {
  const engines: ReadonlyArray<Engine> = ["vllm", "sglang", "trtllm", "xllm"]
  for (const engine of engines) {
    it(`speaks ${engine}'s page layout at ${engineProfiles[engine].metricsPath}: the canonical names read its values`, async () => {
      const simulator = await EngineSimulator.start({ models: ["m1"], engine })
      simulators.push(simulator)
      simulator.metrics.setGauge("m1", "num_requests_running", 5)
      simulator.metrics.setGauge("m1", "num_requests_waiting", 2)
      simulator.metrics.setGauge("m1", "gpu_cache_usage_perc", 0.5)
      simulator.metrics.completeRequests("m1", 3)
      const response = await fetch(simulator.metricsUrl)
      assert.strictEqual(response.status, 200)
      const selection = pageSelection(engineProfiles[engine])
      const page = parse(await response.text(), { families: selection.families })
      if (Result.isFailure(page)) assert.fail(page.failure.message)
      const values = metricsOfPage(page.success, selection, "m1").metrics.models.get("m1")
      assert.deepStrictEqual(values?.get("num_requests_running"), MetricValue.simple(5))
      assert.deepStrictEqual(values?.get("num_requests_waiting"), MetricValue.simple(2))
      assert.deepStrictEqual(values?.get("kv_cache_usage_perc"), MetricValue.simple(0.5))
      const ttft = values?.get("time_to_first_token_seconds")
      if (engine === "xllm") assert.isUndefined(ttft, "xLLM's page has no histograms")
      else assert.isTrue(ttft !== undefined && MetricValue.isHistogram(ttft) && ttft.count === 3)
      const elsewhere = engine === "trtllm" ? "/metrics" : "/prometheus/metrics"
      assert.strictEqual((await fetch(`${simulator.url}${elsewhere}`)).status, 404)
    })
  }
})

describe("renderEnginePage", () => {
  it("renders a realistic page of about 50 KB for two models, the same every time", () => {
    const page = renderEnginePage(MODELS)
    assert.strictEqual(page, renderEnginePage(MODELS))
    assert.isAbove(page.length, 40_000)
    assert.isBelow(page.length, 70_000)
    const parsedPage = parsed(page)
    for (const model of MODELS) {
      assert.isAbove(gaugeValue(parsedPage, "num_requests_running", model), 0)
      const ttft = histogramSeries(family(parsedPage, "vllm:time_to_first_token_seconds")).find(
        (one) => one.labels["model_name"] === model
      )!
      assert.isAbove(ttft.count, 100)
      // Requests vary: they fall in more than one bucket.
      const filled = new Set(ttft.buckets.values())
      assert.isAbove(filled.size, 2)
    }
    // Written as the Python client writes values.
    assert.include(page, 'vllm:num_requests_swapped{model_name="qwen-7b"} 0.0\n')
    assert.include(page, "process_virtual_memory_bytes 3.7342781184e+010\n")
  })
})
