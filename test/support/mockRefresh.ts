/**
 * The refresh over a test cache, its engines answered by a mock HTTP layer,
 * on the TestClock. Scrapes that answer at once still resolve their bodies on
 * the event loop, so tests wait for the refresh's statistics to change, or
 * move the clock in small steps with turns of the event loop between them;
 * never for wall time. Backoff jitter is fixed: every draw is 0.5.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { assert } from "@effect/vitest"
import { Clock, Effect, Layer, Random } from "effect"
import { TestClock } from "effect/testing"
import { newTestCacheWithPods, withMetricRefresh } from "../../layers/index.ts"
import { defaultScrapeOptions, type PromQLOptions, type ScrapeOptions } from "../../src/metrics/MetricRefreshConfig.ts"
import type { OutcomeCounts, RefreshStatistics } from "../../src/metrics/RefreshStatistics.ts"
import { makePod } from "./fixtures.ts"
import { type MockConnections, type MockHandler, type MockResponse, mockHttpLayer } from "./mockHttp.ts"
import { statistics } from "./refreshStatistics.ts"

export { statistics }

export const MODEL = "m1"

/** A page of the engine serving these models, with this many requests running on each. */
export const pageOf = (running: Readonly<Record<string, number>>): string => {
  const models = Object.keys(running)
  const perModel = (line: (model: string) => string) => models.map((model) => `${line(model)}\n`).join("")
  return `# HELP vllm:num_requests_running Number of requests currently running on GPU.
# TYPE vllm:num_requests_running gauge
${perModel((model) => `vllm:num_requests_running{model_name="${model}"} ${running[model]}`)}\
# TYPE vllm:num_requests_waiting gauge
${perModel((model) => `vllm:num_requests_waiting{model_name="${model}"} 1`)}\
# TYPE vllm:lora_requests_info gauge
vllm:lora_requests_info{max_lora="4",running_lora_adapters="lora-a",waiting_lora_adapters=""} 1.7e9
# TYPE vllm:e2e_request_latency_seconds histogram
${perModel(
  (model) =>
    `vllm:e2e_request_latency_seconds_bucket{le="1.0",model_name="${model}"} 3
vllm:e2e_request_latency_seconds_bucket{le="+Inf",model_name="${model}"} 4
vllm:e2e_request_latency_seconds_sum{model_name="${model}"} 5.5
vllm:e2e_request_latency_seconds_count{model_name="${model}"} 4`
)}`
}

export const enginePage = (running: number, model = MODEL): string => pageOf({ [model]: running })

export const ok = (body: string): Effect.Effect<MockResponse> => Effect.succeed({ body })

export const failing = (status = 503): Effect.Effect<MockResponse> => Effect.succeed({ status, body: "" })

export const pod = (name: string, ip: string, extra: Partial<Parameters<typeof makePod>[0]> = {}): V1Pod =>
  makePod({ name, ip, ...extra })

/** Every draw of the refresh's backoff jitter is 0.5: a delay is 3/4 of its ceiling. */
const halfway: Layer.Layer<never> = Layer.succeed(Random.Random, {
  nextIntUnsafe: () => 0,
  nextDoubleUnsafe: () => 0.5
})

/** A cache holding these pods, its refresh running against the handler. */
export const refreshing = (
  pods: ReadonlyArray<V1Pod>,
  handler: MockHandler,
  scrape: Partial<ScrapeOptions> = {},
  promql?: PromQLOptions,
  connections?: MockConnections
) =>
  withMetricRefresh(
    newTestCacheWithPods(pods, MODEL),
    { scrape: { ...defaultScrapeOptions, ...scrape }, promql },
    mockHttpLayer(handler, connections)
  ).pipe(Layer.provide(halfway))

/** One turn of the event loop: a mock answer's body resolves there. */
const turn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/** Turns of the event loop until the statistics pass the check; fails after many. */
export const eventually = (check: (statistics: RefreshStatistics) => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 500; i++) {
      if (check(yield* statistics)) return
      yield* turn
    }
    assert.fail(`never held: ${JSON.stringify(yield* statistics)}`)
  })

const total = (outcomes: Readonly<OutcomeCounts>): number => Object.values(outcomes).reduce((sum, n) => sum + n, 0)

/** Waits until the refresh has ended `n` scrapes in all. */
export const scrapesDone = (n: number) => eventually((s) => total(s.engine.outcomes) >= n)

/** Lets pending work run without the clock moving, to show that nothing happens. */
export const quietTurns = Effect.gen(function* () {
  for (let i = 0; i < 20; i++) yield* turn
})

/** Moves the TestClock `ms` forward in steps of `step`, letting the event loop turn after each. */
export const advance = (ms: number, step = 1) =>
  Effect.gen(function* () {
    for (let moved = 0; moved < ms; moved += step) {
      yield* TestClock.adjust(Math.min(step, ms - moved))
      for (let i = 0; i < 4; i++) yield* turn
    }
  })

/** Records each request's URL and virtual time. */
export const recorder = () => {
  const requests: Array<{ readonly url: string; readonly host: string; readonly at: number }> = []
  const record = (url: URL): Effect.Effect<void> =>
    Clock.currentTimeMillis.pipe(Effect.map((at) => void requests.push({ url: url.href, host: url.hostname, at })))
  const at = (host: string) => requests.filter((request) => request.host === host).map((request) => request.at)
  return { requests, record, at }
}

/** A handler that answers after `delayMs` (TestClock), counting the requests in flight now and at most. */
export class InFlight {
  now = 0
  most = 0
  readonly #answer: () => Effect.Effect<MockResponse>
  readonly #delayMs: number

  constructor(answer: () => Effect.Effect<MockResponse>, delayMs = 10) {
    this.#answer = answer
    this.#delayMs = delayMs
  }

  readonly handler: MockHandler = () =>
    Effect.sync(() => {
      this.now++
      this.most = Math.max(this.most, this.now)
    }).pipe(
      Effect.andThen(Effect.sleep(this.#delayMs)),
      Effect.andThen(this.#answer()),
      Effect.ensuring(Effect.sync(() => this.now--))
    )
}

/** The phase of the k-th schedule the refresh started: how late in the interval its scrapes fall, in whole ms. */
export const phaseOf = (k: number, intervalMs = defaultScrapeOptions.intervalMs): number =>
  Math.floor((((k * (Math.sqrt(5) - 1)) / 2) % 1) * intervalMs)
