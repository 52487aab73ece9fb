/**
 * The refresh at scale, in this process, against engines in a child process
 * (`refreshEngines.ts`) serving the real vLLM V1 page (about 46 KB, one
 * model) with moving values: N ready pods, each due every 50 ms, for N = 50,
 * 200, 500 and 1,000. Each run reports the pages a second reached against
 * those due (a run that falls behind must not look cheap), the scrapes per
 * pod and second, the age of the values a reader finds (p50/p99, sampled over
 * the good pods and time), the CPU this process used in all and per page, and
 * the engines' CPU (on a small machine they compete with the cache for it).
 *
 * First, in this process alone: the CPU one page's parse and store costs, on
 * pages with normal churn and on busy ones (every request histogram moved
 * since the page before), beside a whole-page parse of the same pages.
 *
 * At 200 pods also: the baseline, the same transport, parse and store in a
 * plain loop (an undici `Client` per engine, each page read and stored as the
 * refresh does, no Effect), to hold the refresh within 1.25x of it; the
 * refresh with the four metrics a router subscribes to; with one hung and one
 * slow (3 s) engine among the 200; and with busy engines, whose every request
 * histogram changes between two scrapes.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { Effect, Layer, type Scope } from "effect"
import { Client } from "undici"
import { initForTest, withMetricRefresh } from "../layers/index.ts"
import { CacheWriter, DiscoveryEvent, MetricCache } from "../src/index.ts"
import { metricsOfPage, pageSelection } from "../src/metrics/EnginePage.ts"
import { EnginePageReader } from "../src/metrics/EnginePageReader.ts"
import { engineProfiles } from "../src/metrics/MetricCatalogue.ts"
import { MetricRefresh } from "../src/metrics/MetricRefresh.ts"
import { defaultScrapeOptions } from "../src/metrics/MetricRefreshConfig.ts"
import { type OutcomeCounts, percentileOf } from "../src/metrics/RefreshStatistics.ts"
import { parse } from "../src/exposition/Parser.ts"
import { RealPageEngine } from "./realPageEngine.ts"
import { FleetStore } from "../src/store/FleetStore.ts"
import { METRIC_PORT_LABEL, MODEL_LABEL } from "../src/store/Pod.ts"
import { childScript, cpuSecondsOf, nextLine } from "./childProcess.ts"
import { printComparison, printFigure } from "./report.ts"

/** The fleet sizes run; `BENCH_REFRESH_SIZES=50,200` runs only those. */
const FLEET_SIZES = (process.env["BENCH_REFRESH_SIZES"] ?? "50,200,500,1000").split(",").map(Number)
const WARMUP_MS = 2000
const MEASURE_MS = 4000
const INTERVAL_MS = defaultScrapeOptions.intervalMs
const MODEL = "llama-3-8b"
const ROUTER_METRICS = [
  "num_requests_running",
  "num_requests_waiting",
  "kv_cache_usage_perc",
  "time_to_first_token_seconds"
]

interface Figures {
  readonly pods: number
  /** Scrapes ended per second, whatever their outcome, over every pod. */
  readonly pagesPerSecond: number
  /** Scrapes due per second over the good pods: each once an interval. */
  readonly duePerSecond: number
  /** Scrapes per second of each good pod, the slowest and the median. */
  readonly perPod: { readonly min: number; readonly p50: number }
  /** CPU this process used. */
  readonly cores: number
  /** CPU the engines' process used meanwhile, on the same machine. */
  readonly engineCores: number
  /** How old the values a reader found were (ms), sampled over the good pods and time; undefined for the baseline. */
  readonly age: { readonly p50: number; readonly p99: number } | undefined
  readonly failedScrapes: number
}

interface Ports {
  readonly good: ReadonlyArray<number>
  readonly hung?: number
  readonly slow?: number
}

interface Engines {
  readonly ports: Ports
  readonly pid: number
}

/** The child process's engines, for as long as the scope. */
const engines = (count: number, flags: ReadonlyArray<string> = []): Effect.Effect<Engines, never, Scope.Scope> =>
  Effect.flatMap(
    childScript(new URL("./refreshEngines.ts", import.meta.url), [String(count), ...flags]),
    ({ child, lines }) =>
      Effect.map(
        Effect.promise(() => nextLine<Ports>(lines)),
        (ports) => ({ ports, pid: child.pid ?? 0 })
      )
  )

const podOf = (name: string, ip: string, port: number): V1Pod => ({
  metadata: {
    name,
    namespace: "default",
    uid: `uid-${name}`,
    labels: { [MODEL_LABEL]: MODEL, [METRIC_PORT_LABEL]: String(port) }
  },
  status: { podIP: ip, conditions: [{ type: "Ready", status: "True" }] }
})

/** The good engines' pods, `engine-<i>`, then the bad ones on their own addresses. */
const podsOf = (ports: Ports): ReadonlyArray<V1Pod> => [
  ...ports.good.map((port, i) => podOf(`engine-${i}`, "127.0.0.1", port)),
  ...(ports.hung === undefined ? [] : [podOf("hung", "127.0.0.2", ports.hung)]),
  ...(ports.slow === undefined ? [] : [podOf("slow", "127.0.0.3", ports.slow)])
]

const scrapesOf = (outcomes: Readonly<OutcomeCounts>): number => Object.values(outcomes).reduce((sum, n) => sum + n, 0)

/** How often the values' ages are sampled: not a divisor of the interval, so the samples fall all over it. */
const AGE_SAMPLE_MS = 37

/** The refresh over the engines' pods, measured after a warm-up. */
const refresh = (fleet: Engines, subscribed?: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const writer = yield* CacheWriter
    yield* writer.applyAll(podsOf(fleet.ports).map((pod) => DiscoveryEvent.PodAdded({ pod })))
    if (subscribed !== undefined) {
      yield* MetricCache.use((metrics) => metrics.addSubscriber({ subscribedMetrics: subscribed }))
    }
    const statistics = MetricRefresh.use((refresh) => refresh.statistics)
    const isGood = (key: string) => key.startsWith("default/engine-")
    yield* Effect.sleep(WARMUP_MS)
    const before = (yield* statistics).engine
    const cpu = process.cpuUsage()
    const engineCpu = cpuSecondsOf(fleet.pid)
    const started = performance.now()
    const ages: Array<number> = []
    yield* Effect.raceFirst(
      Effect.gen(function* () {
        while (true) {
          yield* Effect.sleep(AGE_SAMPLE_MS)
          for (const pod of (yield* statistics).engine.pods) if (isGood(pod.key)) ages.push(pod.ageMs ?? Infinity)
        }
      }),
      Effect.sleep(MEASURE_MS)
    )
    const after = (yield* statistics).engine
    const used = process.cpuUsage(cpu)
    const seconds = (performance.now() - started) / 1000
    const scrapesBefore = new Map(before.pods.map((pod) => [pod.key, scrapesOf(pod.outcomes)]))
    const rates = after.pods
      .filter((pod) => isGood(pod.key))
      .map((pod) => (scrapesOf(pod.outcomes) - (scrapesBefore.get(pod.key) ?? 0)) / seconds)
    const failed = (outcomes: OutcomeCounts) => scrapesOf(outcomes) - outcomes.ok
    return {
      pods: fleet.ports.good.length,
      pagesPerSecond: (scrapesOf(after.outcomes) - scrapesOf(before.outcomes)) / seconds,
      duePerSecond: (fleet.ports.good.length * 1000) / INTERVAL_MS,
      perPod: { min: Math.min(...rates), p50: percentileOf(rates, 50) },
      cores: (used.user + used.system) / 1e6 / seconds,
      engineCores: (cpuSecondsOf(fleet.pid) - engineCpu) / seconds,
      age: { p50: percentileOf(ages, 50), p99: percentileOf(ages, 99) },
      failedScrapes: failed(after.outcomes) - failed(before.outcomes)
    } satisfies Figures
  }).pipe(Effect.provide(withMetricRefresh(initForTest, { scrape: defaultScrapeOptions, promql: undefined })))

/**
 * The baseline: the refresh's own transport, parse and store, in a plain
 * loop. Each engine has an undici `Client`; each page is gathered by a
 * dispatch handler, read by a page reader of its own and stored, and the next
 * request leaves an interval after the last one did (at once if it is late).
 */
const plainLoop = (fleet: Engines): Promise<Figures> =>
  new Promise((resolve) => {
    const store = new FleetStore()
    const pods = podsOf({ good: fleet.ports.good })
    for (const pod of pods) store.apply(DiscoveryEvent.PodAdded({ pod }))
    const selection = pageSelection(engineProfiles.vllm)
    let pages = 0
    let failed = 0
    let measuring = false
    let stopped = false
    const perPod = new Array<number>(pods.length).fill(0)
    const loops = pods.map((pod, i) => {
      const entry = store.podEntry("default", pod.metadata!.name!)!
      const client = new Client(`http://127.0.0.1:${fleet.ports.good[i]}`, { keepAliveTimeout: 30_000 })
      const reader = new EnginePageReader()
      let due = performance.now() + (i / pods.length) * INTERVAL_MS
      const next = () => {
        if (stopped) return
        setTimeout(scrape, Math.max(0, due - performance.now()))
      }
      const scrape = () => {
        const begun = performance.now()
        const chunks: Array<Buffer> = []
        let size = 0
        let status = 0
        const done = (ok: boolean) => {
          if (measuring) {
            pages++
            perPod[i]!++
            if (!ok) failed++
          }
          due = Math.max(due + INTERVAL_MS, performance.now())
          next()
        }
        client.dispatch(
          { path: "/metrics", method: "GET" },
          {
            onRequestStart: () => undefined,
            onResponseStart: (_controller, statusCode) => {
              status = statusCode
            },
            onResponseData: (_controller, chunk) => {
              chunks.push(chunk)
              size += chunk.byteLength
            },
            onResponseEnd: () => {
              const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)
              const read = reader.read(bytes, selection, entry.baseModel)
              const ok = status === 200 && read._tag === "Success"
              if (read._tag === "Success") store.replaceEngineMetrics(entry, read.success.metrics, begun)
              done(ok)
            },
            onResponseError: () => done(false)
          }
        )
      }
      next()
      return client
    })
    setTimeout(() => {
      measuring = true
      const cpu = process.cpuUsage()
      const engineCpu = cpuSecondsOf(fleet.pid)
      const started = performance.now()
      setTimeout(() => {
        measuring = false
        stopped = true
        const used = process.cpuUsage(cpu)
        const seconds = (performance.now() - started) / 1000
        const rates = perPod.map((n) => n / seconds)
        void Promise.all(loops.map((client) => client.destroy())).then(() =>
          resolve({
            pods: pods.length,
            pagesPerSecond: pages / seconds,
            duePerSecond: (pods.length * 1000) / INTERVAL_MS,
            perPod: { min: Math.min(...rates), p50: percentileOf(rates, 50) },
            cores: (used.user + used.system) / 1e6 / seconds,
            engineCores: (cpuSecondsOf(fleet.pid) - engineCpu) / seconds,
            age: undefined,
            failedScrapes: failed
          })
        )
      }, MEASURE_MS)
    }, WARMUP_MS)
  })

/** Pods and scrapes of the parse-and-store measure: their pages are made before it starts. */
const PARSE_PODS = 20
const PARSE_SCRAPES = 30

/**
 * CPU per page (µs) of the page reader and the store, each pod's pages in
 * turn as the refresh reads them, the median of interleaved rounds; beside the
 * whole page parsed and read from scratch. Each pod's reader has read a page
 * before a round starts (the refresh reads a pod's first page once in its
 * life), and its pages come round again in the next round.
 */
const parseAndStore = (): { readonly normal: number; readonly busy: number; readonly whole: number } => {
  const store = new FleetStore()
  const pods = Array.from({ length: PARSE_PODS }, (_, i) => podOf(`engine-${i}`, "10.0.0.1", 8000))
  for (const pod of pods) store.apply(DiscoveryEvent.PodAdded({ pod }))
  const entries = pods.map((pod) => store.podEntry("default", pod.metadata!.name!)!)
  const selection = pageSelection(engineProfiles.vllm)
  // Normal churn: requests end on each engine once a second (every 20th scrape); busy: before every scrape.
  const pagesOf = (busy: boolean) =>
    entries.map((_, p) => {
      const engine = new RealPageEngine()
      return Array.from({ length: PARSE_SCRAPES }, (_, scrape) => {
        engine.spendCpu(0.01)
        if (busy || (scrape + p) % 20 === 0) engine.completeRequests(2)
        return engine.page()
      })
    })
  const cpu = (round: () => void): number => {
    const before = process.cpuUsage()
    round()
    const used = process.cpuUsage(before)
    return (used.user + used.system) / (PARSE_PODS * PARSE_SCRAPES)
  }
  const read = (pages: ReadonlyArray<ReadonlyArray<Buffer>>) => {
    const readers = entries.map((entry, p) => {
      const reader = new EnginePageReader()
      reader.read(pages[p]![PARSE_SCRAPES - 1]!, selection, entry.baseModel)
      return reader
    })
    return () => {
      for (let scrape = 0; scrape < PARSE_SCRAPES; scrape++) {
        for (let p = 0; p < PARSE_PODS; p++) {
          const page = readers[p]!.read(pages[p]![scrape]!, selection, entries[p]!.baseModel)
          if (page._tag === "Success") store.replaceEngineMetrics(entries[p]!, page.success.metrics, scrape)
        }
      }
    }
  }
  const whole = (pages: ReadonlyArray<ReadonlyArray<Buffer>>) => () => {
    for (let scrape = 0; scrape < PARSE_SCRAPES; scrape++) {
      for (let p = 0; p < PARSE_PODS; p++) {
        const page = parse(pages[p]![scrape]!.toString("latin1"), { families: selection.families, malformed: "fail" })
        if (page._tag === "Success") metricsOfPage(page.success, selection, entries[p]!.baseModel)
      }
    }
  }
  const normal = pagesOf(false)
  const busy = pagesOf(true)
  const rounds = { normal: [] as Array<number>, busy: [] as Array<number>, whole: [] as Array<number> }
  for (let round = 0; round < 9; round++) {
    rounds.normal.push(cpu(read(normal)))
    rounds.busy.push(cpu(read(busy)))
    rounds.whole.push(cpu(whole(busy)))
  }
  // The first rounds warm up.
  const median = (values: Array<number>) => percentileOf(values.slice(2), 50)
  return { normal: median(rounds.normal), busy: median(rounds.busy), whole: median(rounds.whole) }
}

const formatCount = (n: number): string => Math.round(n).toLocaleString("en-US")

/** CPU per page, in microseconds of this process. */
const cpuPerPage = (figures: Figures): number => (figures.cores * 1e6) / figures.pagesPerSecond

const describe = (figures: Figures): string =>
  `${formatCount(figures.pagesPerSecond)} of ${formatCount(figures.duePerSecond)} pages/s due; per pod ` +
  `${figures.perPod.p50.toFixed(1)}/s (slowest ${figures.perPod.min.toFixed(1)}); ` +
  (figures.age === undefined
    ? ""
    : `age p50 ${figures.age.p50.toFixed(0)} ms, p99 ${figures.age.p99.toFixed(0)} ms; `) +
  `CPU ${figures.cores.toFixed(2)} cores, ${cpuPerPage(figures).toFixed(0)} µs/page ` +
  `(engines ${figures.engineCores.toFixed(2)} cores; ${figures.failedScrapes} failed scrapes)`

const atScale = (count: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const fleet = yield* engines(count)
      const all = yield* refresh(fleet)
      console.log(`refresh N=${count}, every catalogue metric: ${describe(all)}`)
      if (count !== 200 && process.env["BENCH_REFRESH_SIZES"] === undefined) return all
      const plain = yield* Effect.promise(() => plainLoop(fleet))
      console.log(`refresh N=${count}, baseline: transport + parse + store in a plain loop: ${describe(plain)}`)
      printComparison(
        `refresh N=${count} CPU per page`,
        { label: "refresh", value: cpuPerPage(all) },
        { label: "plain loop", value: cpuPerPage(plain) },
        "µs"
      )
      const router = yield* refresh(fleet, ROUTER_METRICS)
      console.log(`refresh N=${count}, ${ROUTER_METRICS.length} subscribed metrics: ${describe(router)}`)
      return all
    })
  )

const variant = (count: number, flags: ReadonlyArray<string>, title: string) =>
  Effect.scoped(
    Effect.flatMap(engines(count, flags), (fleet) =>
      Effect.map(refresh(fleet), (figures) => console.log(`refresh N=${count}, ${title}: ${describe(figures)}`))
    )
  )

export const run = (): Promise<void> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const perPage = parseAndStore()
      console.log(
        `refresh parse + store per page (real vLLM V1 page, every catalogue metric): normal churn ` +
          `${perPage.normal.toFixed(0)} µs, busy ${perPage.busy.toFixed(0)} µs; the whole page parsed and read ` +
          `${perPage.whole.toFixed(0)} µs`
      )
      printFigure("refresh parse + store per page, busy engines", perPage.busy, "µs", "<= 120 µs")
      for (const count of FLEET_SIZES) {
        const all = yield* atScale(count)
        if (count === 200) {
          printFigure(
            "refresh N=200 scrapes per pod (slowest), every catalogue metric",
            all.perPod.min,
            "/s",
            ">= 17 /s"
          )
          printFigure("refresh N=200 CPU, every catalogue metric", all.cores, "cores", "< 1 core")
          yield* variant(200, ["--hung", "--slow"], "every catalogue metric, with one hung and one slow (3 s) engine")
          yield* variant(
            200,
            ["--busy"],
            "every catalogue metric, busy engines (every histogram changes between scrapes)"
          )
        }
      }
    }).pipe(Effect.provide(Layer.empty))
  )
