import { assert, describe, it } from "@effect/vitest"
import { Exit, Result } from "effect"
import { metricsOfPage, type PageSelection, pageSelection } from "../../src/metrics/EnginePage.ts"
import { type Engine, engineProfiles } from "../../src/metrics/MetricCatalogue.ts"
import { MetricValue } from "../../src/store/MetricValue.ts"
import { parse } from "../../src/exposition/Parser.ts"

const selections = new Map<Engine, PageSelection>()
const selectionOn = (engine: Engine): PageSelection => {
  let selection = selections.get(engine)
  if (selection === undefined) {
    selection = pageSelection(engineProfiles[engine])
    selections.set(engine, selection)
  }
  return selection
}

const BASE_MODEL = "base"

const pageOf = (text: string, engine: Engine = "vllm", invalidUtf8 = false) => {
  const selection = selectionOn(engine)
  const result = parse(text, { families: selection.families, invalidUtf8 })
  if (Result.isFailure(result)) throw new Error(result.failure.message)
  return metricsOfPage(result.success, selection, BASE_MODEL)
}

const readValue = (text: string, model: string, metric: string, engine: Engine = "vllm") =>
  pageOf(text, engine).metrics.models.get(model)?.get(metric)

const TTFT = `# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="m1"} 2.0
vllm:time_to_first_token_seconds_bucket{le="0.5",model_name="m1"} 6.0
vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="m1"} 8.0
vllm:time_to_first_token_seconds_count{model_name="m1"} 8.0
vllm:time_to_first_token_seconds_sum{model_name="m1"} 2.4
vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="m2"} 1.0
vllm:time_to_first_token_seconds_bucket{le="0.5",model_name="m2"} 1.0
vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="m2"} 1.0
vllm:time_to_first_token_seconds_count{model_name="m2"} 1.0
vllm:time_to_first_token_seconds_sum{model_name="m2"} 0.05
`

describe("engine page to store values", () => {
  it("pod-model gauges keyed by the model label; a sample naming no model belongs to the pod's base model", () => {
    const { metrics } = pageOf(`# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m1"} 3
vllm:num_requests_running{model_name="lora-a"} 1
vllm:num_requests_running 42
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name=""} 4
vllm:num_requests_waiting{model_name="undefined"} 5
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="m1"} 0.25
`)
    assert.deepStrictEqual(metrics.models.get("m1")?.get("num_requests_running"), MetricValue.simple(3))
    assert.deepStrictEqual(metrics.models.get("lora-a")?.get("num_requests_running"), MetricValue.simple(1))
    assert.deepStrictEqual(metrics.models.get(BASE_MODEL)?.get("num_requests_running"), MetricValue.simple(42))
    assert.deepStrictEqual(metrics.models.get(BASE_MODEL)?.get("num_requests_waiting"), MetricValue.simple(9))
    assert.deepStrictEqual(metrics.models.get("m1")?.get("gpu_cache_usage_perc"), MetricValue.simple(0.25))
    assert.deepStrictEqual([...metrics.models.keys()].sort(), [BASE_MODEL, "lora-a", "m1"])
    assert.strictEqual(metrics.pod.size, 0)
  })

  it("several series of one model add up (loads) or take the busiest (usage)", () => {
    const { metrics } = pageOf(`# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m1"} 2
vllm:num_requests_waiting{engine="1",model_name="m1"} 5
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{engine="0",model_name="m1"} 0.5
vllm:gpu_cache_usage_perc{engine="1",model_name="m1"} 0.75
`)
    assert.deepStrictEqual(metrics.models.get("m1")?.get("num_requests_waiting"), MetricValue.simple(7))
    assert.deepStrictEqual(metrics.models.get("m1")?.get("gpu_cache_usage_perc"), MetricValue.simple(0.75))
  })

  it("histograms per model with cumulative buckets, sum and count", () => {
    const { metrics } = pageOf(TTFT)
    const m1 = metrics.models.get("m1")?.get("time_to_first_token_seconds")
    assert.isTrue(m1 !== undefined && MetricValue.isHistogram(m1))
    if (m1 === undefined || !MetricValue.isHistogram(m1)) return
    assert.strictEqual(m1.count, 8)
    assert.strictEqual(m1.sum, 2.4)
    assert.deepStrictEqual(
      [...m1.buckets],
      [
        [0.1, 2],
        [0.5, 6],
        [Infinity, 8]
      ]
    )
    assert.deepStrictEqual(m1.percentile(50), Exit.succeed(0.5))
    const m2 = metrics.models.get("m2")?.get("time_to_first_token_seconds")
    assert.isTrue(m2 !== undefined && MetricValue.isHistogram(m2) && m2.count === 1 && m2.sum === 0.05)
    assert.deepStrictEqual([...metrics.models.keys()].sort(), ["m1", "m2"])
  })

  it("buckets listed out of order are sorted by bound", () => {
    const queue = readValue(
      `# TYPE vllm:request_queue_time_seconds histogram
vllm:request_queue_time_seconds_bucket{le="+Inf",model_name="m1"} 4
vllm:request_queue_time_seconds_bucket{le="1.0",model_name="m1"} 3
vllm:request_queue_time_seconds_bucket{le="0.5",model_name="m1"} 1
vllm:request_queue_time_seconds_count{model_name="m1"} 4
vllm:request_queue_time_seconds_sum{model_name="m1"} 2
`,
      "m1",
      "request_queue_time_seconds"
    )
    assert.isTrue(queue !== undefined && MetricValue.isHistogram(queue))
    if (queue !== undefined && MetricValue.isHistogram(queue)) {
      assert.deepStrictEqual(
        [...queue.buckets],
        [
          [0.5, 1],
          [1, 3],
          [Infinity, 4]
        ]
      )
    }
  })

  it("the lora labels of the latest lora_requests_info series, as pod labels", () => {
    const { metrics } = pageOf(`# HELP vllm:lora_requests_info Running stats on lora requests.
# TYPE vllm:lora_requests_info gauge
vllm:lora_requests_info{max_lora="2",running_lora_adapters="old",waiting_lora_adapters=""} 1.7e9
vllm:lora_requests_info{max_lora="4",running_lora_adapters="a,b",waiting_lora_adapters="c"} 1.8e9
`)
    assert.deepStrictEqual(metrics.pod.get("max_lora"), MetricValue.label("4"))
    assert.deepStrictEqual(metrics.pod.get("running_lora_adapters"), MetricValue.label("a,b"))
    assert.deepStrictEqual(metrics.pod.get("waiting_lora_adapters"), MetricValue.label("c"))
  })

  it("names the catalogue metrics the page answers no family of", () => {
    const { metrics, missing } = pageOf(TTFT)
    assert.include(missing, "num_requests_running")
    assert.include(missing, "max_lora")
    assert.notInclude(missing, "time_to_first_token_seconds")
    assert.strictEqual(metrics.pod.size, 0)
  })
})

describe("one canonical name for every release of an engine", () => {
  it("vLLM's gpu_cache_usage_perc and kv_cache_usage_perc answer for each other, each preferring its own", () => {
    const onlyKv = `# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc{model_name="m"} 0.5\n`
    const onlyGpu = `# TYPE vllm:gpu_cache_usage_perc gauge\nvllm:gpu_cache_usage_perc{model_name="m"} 0.25\n`
    for (const page of [onlyKv, onlyGpu]) {
      const expected = page === onlyKv ? 0.5 : 0.25
      assert.deepStrictEqual(readValue(page, "m", "kv_cache_usage_perc"), MetricValue.simple(expected))
      assert.deepStrictEqual(readValue(page, "m", "gpu_cache_usage_perc"), MetricValue.simple(expected))
    }
    const both = onlyKv + onlyGpu
    assert.deepStrictEqual(readValue(both, "m", "kv_cache_usage_perc"), MetricValue.simple(0.5))
    assert.deepStrictEqual(readValue(both, "m", "gpu_cache_usage_perc"), MetricValue.simple(0.25))
  })

  it("time_per_output_token_seconds falls back to inter_token_latency_seconds", () => {
    const page = `# TYPE vllm:inter_token_latency_seconds histogram
vllm:inter_token_latency_seconds_bucket{le="+Inf",model_name="m"} 3
vllm:inter_token_latency_seconds_count{model_name="m"} 3
vllm:inter_token_latency_seconds_sum{model_name="m"} 0.3
`
    const values = pageOf(page).metrics.models.get("m")
    const tpot = values?.get("time_per_output_token_seconds")
    assert.isTrue(tpot !== undefined && MetricValue.isHistogram(tpot) && tpot.count === 3)
    assert.strictEqual(values?.get("inter_token_latency_seconds"), tpot, "one value for both names")
  })

  it("SGLang: today's names first, the 2024 names and the label `name` when the page has only those", () => {
    const today = `# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="m"} 162
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="m"} 2826
# TYPE sglang:token_usage gauge
sglang:token_usage{model_name="m"} 0.28
`
    const old = `# TYPE sglang:num_requests_running gauge
sglang:num_requests_running{name="m"} 3
# TYPE sglang:num_requests_waiting gauge
sglang:num_requests_waiting{name="m"} 1
`
    assert.deepStrictEqual(readValue(today, "m", "num_requests_running", "sglang"), MetricValue.simple(162))
    assert.deepStrictEqual(readValue(today, "m", "num_requests_waiting", "sglang"), MetricValue.simple(2826))
    assert.deepStrictEqual(readValue(today, "m", "kv_cache_usage_perc", "sglang"), MetricValue.simple(0.28))
    assert.deepStrictEqual(readValue(old, "m", "num_requests_running", "sglang"), MetricValue.simple(3))
    assert.deepStrictEqual(readValue(old, "m", "num_requests_waiting", "sglang"), MetricValue.simple(1))
    assert.deepStrictEqual(readValue(today + old, "m", "num_requests_running", "sglang"), MetricValue.simple(162))
  })

  it("a page is read as its pod's engine: vLLM's families mean nothing on an SGLang pod", () => {
    const page = `# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name="m"} 3\n`
    assert.strictEqual(pageOf(page, "sglang").metrics.models.size, 0)
    assert.deepStrictEqual(readValue(page, "m", "num_requests_running", "vllm"), MetricValue.simple(3))
  })
})

describe("a family that would give a wrong number gives none", () => {
  it("two samples of one series never add up: the family is malformed, other families read", () => {
    const { metrics, malformed } = pageOf(`# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3
vllm:num_requests_running{model_name="m",engine="0"} 3
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="m"} 1
`)
    assert.isUndefined(metrics.models.get("m")?.get("num_requests_running"))
    assert.deepStrictEqual(metrics.models.get("m")?.get("num_requests_waiting"), MetricValue.simple(1))
    assert.deepStrictEqual(
      malformed.map((family) => family.family),
      ["vllm:num_requests_running"]
    )
  })

  it("a histogram series written twice, or missing its +Inf bucket, _count or _sum, is malformed", () => {
    const lines = TTFT.split("\n")
    const doubled = [...lines.slice(0, 7), lines[2]!, ...lines.slice(7)].join("\n")
    const noCount = lines
      .filter((line) => !line.startsWith('vllm:time_to_first_token_seconds_count{model_name="m2"'))
      .join("\n")
    const noInf = lines.filter((line) => !line.includes('le="+Inf",model_name="m1"')).join("\n")
    for (const page of [doubled, noCount, noInf]) {
      const { metrics, malformed } = pageOf(page)
      assert.strictEqual(metrics.models.size, 0, page)
      assert.deepStrictEqual(
        malformed.map((family) => family.family),
        ["vllm:time_to_first_token_seconds"]
      )
    }
  })

  it("a value out of float range, or a label value that was not UTF-8, spoils only its family", () => {
    const huge = pageOf(`# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 1e400
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="m"} +Inf
`)
    assert.isUndefined(huge.metrics.models.get("m")?.get("num_requests_running"))
    assert.deepStrictEqual(huge.metrics.models.get("m")?.get("num_requests_waiting"), MetricValue.simple(Infinity))
    assert.match(huge.malformed[0]!.reason, /out of float range/)
    const page = `# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m\uFFFD"} 2
vllm:num_requests_running{model_name="n"} 1
`
    assert.deepStrictEqual(
      readValue(page, "m\uFFFD", "num_requests_running"),
      MetricValue.simple(2),
      "a page of UTF-8 bytes"
    )
    const broken = pageOf(page, "vllm", true)
    assert.strictEqual(broken.metrics.models.size, 0)
    assert.match(broken.malformed[0]!.reason, /not UTF-8/)
  })

  it("a malformed family gives way to the next family of the metric", () => {
    const page = `# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="m"} 1e999
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="m"} 0.5
`
    assert.deepStrictEqual(readValue(page, "m", "kv_cache_usage_perc"), MetricValue.simple(0.5))
  })
})
