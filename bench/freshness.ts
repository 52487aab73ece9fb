/**
 * The service as a user runs it, `node src/main.ts --static FILE`, scraping
 * engines in another process (`refreshEngines.ts`, the real vLLM V1 page with
 * moving values) at the default 50 ms interval:
 *
 * - 200 good engines: the scrapes per second each pod gets (counted on the
 *   engines' side; due: 20, target at least 17) and the service's CPU (target
 *   under one core);
 * - 50 good engines and three bad ones, one hung, one 3 s slow and one
 *   answering 500: the scrapes each good pod gets (target at least 15), and
 *   which pods `GET /v1/models/{model}/pods` shows stale (target: exactly the
 *   three bad ones).
 *
 * Read from the service's /metrics too: stale pods, the oldest age, scrapes
 * by outcome, the mean scrape duration.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { type AddressInfo, createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { Result } from "effect"
import type { MetricFamily } from "../src/exposition/MetricFamily.ts"
import { parse } from "../src/exposition/Parser.ts"
import { percentileOf } from "../src/metrics/RefreshStatistics.ts"
import { cpuSecondsOf, nextLine, stopped } from "./childProcess.ts"
import { printFigure } from "./report.ts"

const MODEL = "bench-llama"
const WARMUP_MS = 3000
const MEASURE_MS = 5000
const BAD_HOSTS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]

interface Ports {
  readonly good: ReadonlyArray<number>
  readonly hung?: number
  readonly slow?: number
  readonly failing?: number
}

interface Counts {
  readonly good: ReadonlyArray<number>
  readonly hung: number
  readonly slow: number
  readonly failing: number
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })

interface Seen {
  /** Scrapes per second of each good engine. */
  readonly rates: ReadonlyArray<number>
  readonly cores: number
  readonly engineCores: number
  readonly bad: { readonly hung: number; readonly slow: number; readonly failing: number }
  /** The pods' IPs and stale flags, as the API shows them. */
  readonly pods: ReadonlyArray<{ readonly ip: string; readonly stale: boolean }>
  readonly families: ReadonlyMap<string, MetricFamily>
}

/** The service over `good` engines (and the three bad ones), measured after a warm-up. */
const serviceOver = async (good: number, bad: boolean): Promise<Seen> => {
  const flags = bad ? ["--hung", "--slow", "--failing"] : []
  const engines = spawn(
    process.execPath,
    [new URL("./refreshEngines.ts", import.meta.url).pathname, String(good), ...flags],
    {
      stdio: ["pipe", "pipe", "inherit"]
    }
  )
  const engineLines = createInterface({ input: engines.stdout! })
  const ports = await nextLine<Ports>(engineLines)
  const counts = () => {
    const answer = nextLine<Counts>(engineLines)
    engines.stdin!.write("counts\n")
    return answer
  }
  const dir = mkdtempSync(join(tmpdir(), "aibrix-freshness-"))
  const endpoints = [
    ...ports.good.map((port) => `127.0.0.1:${port}`),
    ...(bad ? [`127.0.0.2:${ports.hung}`, `127.0.0.3:${ports.slow}`, `127.0.0.4:${ports.failing}`] : [])
  ]
  const fleet = join(dir, "fleet.json")
  writeFileSync(fleet, JSON.stringify({ models: [{ name: MODEL, endpoints }] }))
  const port = await freePort()
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("AIBRIX_") && name !== "KUBECONFIG")
  )
  const service = spawn(
    process.execPath,
    [new URL("../src/main.ts", import.meta.url).pathname, "--static", fleet, "--port", String(port)],
    { stdio: ["ignore", "ignore", "inherit"], env }
  )
  const url = `http://127.0.0.1:${port}`
  try {
    for (let i = 0; ; i++) {
      const ready = await fetch(`${url}/readyz`).then(
        (response) => response.status === 200,
        () => false
      )
      if (ready) break
      if (i > 300) throw new Error("the service never got ready")
      await sleep(100)
    }
    await sleep(WARMUP_MS)
    const before = await counts()
    const cpu = cpuSecondsOf(service.pid!)
    const engineCpu = cpuSecondsOf(engines.pid!)
    const started = performance.now()
    await sleep(MEASURE_MS)
    const after = await counts()
    const seconds = (performance.now() - started) / 1000
    const cores = (cpuSecondsOf(service.pid!) - cpu) / seconds
    const engineCores = (cpuSecondsOf(engines.pid!) - engineCpu) / seconds
    const { pods } = (await (await fetch(`${url}/v1/models/${MODEL}/pods`)).json()) as {
      readonly pods: ReadonlyArray<{ readonly ip: string; readonly stale: boolean }>
    }
    const page = parse(await (await fetch(`${url}/metrics`)).text())
    return {
      rates: after.good.map((n, i) => (n - before.good[i]!) / seconds),
      cores,
      engineCores,
      bad: {
        hung: after.hung - before.hung,
        slow: after.slow - before.slow,
        failing: after.failing - before.failing
      },
      pods,
      families: Result.isSuccess(page) ? page.success.families : new Map()
    }
  } finally {
    service.kill("SIGTERM")
    await stopped(service)
    engines.stdin!.end()
    await stopped(engines)
    rmSync(dir, { recursive: true, force: true })
  }
}

const sampleValue = (families: ReadonlyMap<string, MetricFamily>, name: string, label?: readonly [string, string]) =>
  families.get(name)?.samples.find((sample) => label === undefined || sample.labels[label[0]] === label[1])?.value

const describeService = (seen: Seen): string => {
  const { families } = seen
  const duration = (suffix: string) =>
    families.get("aibrix_cache_scrape_duration_seconds")?.samples.find((sample) => sample.name.endsWith(suffix))
      ?.value ?? 0
  const outcome = (name: string) => sampleValue(families, "aibrix_cache_scrapes_total", ["outcome", name]) ?? 0
  return (
    `stale pods ${sampleValue(families, "aibrix_cache_stale_pods")}, oldest value age ` +
    `${(sampleValue(families, "aibrix_cache_oldest_value_age_seconds") ?? 0).toFixed(3)} s, scrapes ok ${outcome("ok")}, ` +
    `timeout ${outcome("timeout")}, status ${outcome("status")}, mean scrape ` +
    `${((duration("_sum") / Math.max(1, duration("_count"))) * 1000).toFixed(1)} ms`
  )
}

const rateLine = (rates: ReadonlyArray<number>): string =>
  `min ${Math.min(...rates).toFixed(1)}, p50 ${percentileOf(rates, 50).toFixed(1)}, max ${Math.max(...rates).toFixed(1)}`

export const run = async (): Promise<void> => {
  const fleet = await serviceOver(200, false)
  console.log(
    `freshness, 200 good engines: scrapes per pod per second ${rateLine(fleet.rates)} (due 20); service CPU ` +
      `${fleet.cores.toFixed(2)} cores, engines' ${fleet.engineCores.toFixed(2)} cores; /metrics: ${describeService(fleet)}`
  )
  printFigure("freshness N=200: scrapes per pod, slowest pod", Math.min(...fleet.rates), "/s", ">= 17 /s (goal 19)")
  printFigure("freshness N=200: service CPU", fleet.cores, "cores", "< 1 core")

  const mixed = await serviceOver(50, true)
  const good = mixed.pods.filter((pod) => pod.ip === "127.0.0.1")
  const stale = mixed.pods
    .filter((pod) => pod.stale)
    .map((pod) => pod.ip)
    .sort()
  console.log(
    `freshness, 50 good engines + hung + slow (3 s) + failing: scrapes per good pod per second ` +
      `${rateLine(mixed.rates)} (due 20); bad engines' requests in ${MEASURE_MS / 1000} s: hung ${mixed.bad.hung}, ` +
      `slow ${mixed.bad.slow}, failing ${mixed.bad.failing}; service CPU ${mixed.cores.toFixed(2)} cores; ` +
      `/metrics: ${describeService(mixed)}`
  )
  console.log(
    `freshness, 50 good + 3 bad: stale in /v1/models/${MODEL}/pods: ${stale.length} (${stale.join(", ")}); ` +
      `good pods fresh: ${good.filter((pod) => !pod.stale).length} of ${good.length}`
  )
  printFigure("freshness 50+3: scrapes per good pod, slowest pod", Math.min(...mixed.rates), "/s", ">= 15 /s")
  const exactlyBad = stale.length === 3 && BAD_HOSTS.every((ip) => stale.includes(ip))
  console.log(`freshness 50+3: exactly the three bad pods stale: ${exactlyBad ? "yes" : "no"}`)
}
