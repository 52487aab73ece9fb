import { assert, describe, it } from "@effect/vitest"
import { Exit, Result } from "effect"
import { metricsOfPage } from "../../src/metrics/EnginePage.ts"
import { engineFamilies } from "../../src/metrics/MetricCatalogue.ts"
import { MetricValue } from "../../src/store/MetricValue.ts"
import { parse } from "../../src/exposition/Parser.ts"

const pageOf = (text: string) => {
  const result = parse(text, { families: engineFamilies })
  if (Result.isFailure(result)) throw new Error(result.failure.message)
  return metricsOfPage(result.success)
}

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
vllm:time_to_first_token_seconds_bucket{le="+Inf"} 100.0
vllm:time_to_first_token_seconds_count 100.0
`

describe("engine page to store values", () => {
  it("pod-model gauges keyed by model_name; samples without it are skipped", () => {
    const { metrics } = pageOf(`# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m1"} 3
vllm:num_requests_running{model_name="lora-a"} 1
vllm:num_requests_running 42
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="m1"} 0.25
`)
    assert.deepStrictEqual(metrics.models.get("m1")?.get("num_requests_running"), MetricValue.simple(3))
    assert.deepStrictEqual(metrics.models.get("lora-a")?.get("num_requests_running"), MetricValue.simple(1))
    assert.deepStrictEqual(metrics.models.get("m1")?.get("gpu_cache_usage_perc"), MetricValue.simple(0.25))
    assert.strictEqual(metrics.models.size, 2)
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
    const { metrics } = pageOf(`# TYPE vllm:request_queue_time_seconds histogram
vllm:request_queue_time_seconds_bucket{le="+Inf",model_name="m1"} 4
vllm:request_queue_time_seconds_bucket{le="1.0",model_name="m1"} 3
vllm:request_queue_time_seconds_bucket{le="0.5",model_name="m1"} 1
vllm:request_queue_time_seconds_count{model_name="m1"} 4
vllm:request_queue_time_seconds_sum{model_name="m1"} 2
`)
    const queue = metrics.models.get("m1")?.get("request_queue_time_seconds")
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

  it("names the catalogue families the page lacks", () => {
    const { metrics, missingFamilies } = pageOf(TTFT)
    assert.include(missingFamilies, "vllm:num_requests_running")
    assert.include(missingFamilies, "vllm:lora_requests_info")
    assert.notInclude(missingFamilies, "vllm:time_to_first_token_seconds")
    assert.strictEqual(missingFamilies.filter((family) => family === "vllm:lora_requests_info").length, 1)
    assert.strictEqual(metrics.pod.size, 0)
  })
})
