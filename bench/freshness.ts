/**
 * Freshness under bad engines, as a user runs the service: `node src/main.ts
 * --static FILE` scraping 50 good engines (the real vLLM V1 page) and three
 * bad ones, one hung, one 3 s slow and one answering 500, all in another
 * process, at the default 50 ms interval. Counted on the engines' side: the
 * scrapes per second each good pod gets. Read from the service: which pods
 * `GET /v1/models/{model}/pods` shows stale, and its /metrics (stale pods, the
 * oldest age, scrapes by outcome). The service's own CPU is shown too.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface, type Interface } from "node:readline"
import { Result } from "effect"
import { parse } from "../src/exposition/Parser.ts"
import { printFigure } from "./report.ts"

const GOOD = 50
const MODEL = "bench-llama"
const WARMUP_MS = 3000
const MEASURE_MS = 5000
const TARGET = 15

interface Ports {
  readonly good: ReadonlyArray<number>
  readonly hung: number
  readonly slow: number
  readonly failing: number
}

interface Counts {
  readonly good: ReadonlyArray<number>
  readonly hung: number
  readonly slow: number
  readonly failing: number
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Linux reports process times in ticks of 1/100 s. */
const cpuSecondsOf = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) / 100
}

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })

/** The next line the child writes, as JSON. */
const nextLine = <A>(lines: Interface): Promise<A> =>
  new Promise((resolve) => lines.once("line", (line) => resolve(JSON.parse(line) as A)))

const stopped = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once("exit", () => resolve()))

const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

export const run = async (): Promise<void> => {
  const engines = spawn(process.execPath, [new URL("./freshnessEngines.ts", import.meta.url).pathname, String(GOOD)], {
    stdio: ["pipe", "pipe", "inherit"]
  })
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
    `127.0.0.2:${ports.hung}`,
    `127.0.0.3:${ports.slow}`,
    `127.0.0.4:${ports.failing}`
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
    const cpuBefore = cpuSecondsOf(service.pid!)
    const engineCpuBefore = cpuSecondsOf(engines.pid!)
    const started = performance.now()
    await sleep(MEASURE_MS)
    const after = await counts()
    const seconds = (performance.now() - started) / 1000
    const cores = (cpuSecondsOf(service.pid!) - cpuBefore) / seconds
    const engineCores = (cpuSecondsOf(engines.pid!) - engineCpuBefore) / seconds
    const rates = after.good.map((n, i) => (n - before.good[i]!) / seconds)
    const pods = (await (await fetch(`${url}/v1/models/${MODEL}/pods`)).json()) as {
      readonly pods: ReadonlyArray<{ readonly ip: string; readonly stale: boolean }>
    }
    const page = parse(await (await fetch(`${url}/metrics`)).text())
    const families = Result.isSuccess(page) ? page.success.families : new Map()
    const value = (family: string, label?: readonly [string, string]) =>
      families
        .get(family)
        ?.samples.find(
          (sample: { labels: Record<string, string> }) => label === undefined || sample.labels[label[0]] === label[1]
        )?.value as number | undefined

    const goodPods = pods.pods.filter((pod) => pod.ip === "127.0.0.1")
    const stale = pods.pods.filter((pod) => pod.stale).map((pod) => pod.ip)
    console.log(
      `freshness: ${GOOD} good engines + hung + slow (${3} s) + failing, service --static, interval 50 ms, ` +
        `${MEASURE_MS / 1000} s measured after ${WARMUP_MS / 1000} s`
    )
    console.log(
      `scrapes per good pod per second: min ${Math.min(...rates).toFixed(1)}, p50 ${percentile(rates, 50).toFixed(
        1
      )}, max ${Math.max(...rates).toFixed(1)} (due 20; target >= ${TARGET})`
    )
    console.log(
      `bad engines, requests in the window: hung ${after.hung - before.hung}, slow ${after.slow - before.slow}, ` +
        `failing ${after.failing - before.failing}`
    )
    console.log(
      `stale in /v1/models/${MODEL}/pods: ${stale.length} (${stale.sort().join(", ")}); ` +
        `good pods fresh: ${goodPods.filter((pod) => !pod.stale).length} of ${goodPods.length}`
    )
    console.log(
      `/metrics: stale pods ${value("aibrix_cache_stale_pods")}, dropped pods ${value("aibrix_cache_dropped_pods")}, ` +
        `oldest value age ${value("aibrix_cache_oldest_value_age_seconds")?.toFixed(3)} s, scrapes ok ` +
        `${value("aibrix_cache_scrapes_total", ["outcome", "ok"])}, timeout ` +
        `${value("aibrix_cache_scrapes_total", ["outcome", "timeout"])}, status ` +
        `${value("aibrix_cache_scrapes_total", ["outcome", "status"])}`
    )
    const duration = (suffix: string) =>
      families
        .get("aibrix_cache_scrape_duration_seconds")
        ?.samples.find((sample: { name: string }) => sample.name.endsWith(suffix))?.value as number | undefined
    console.log(
      `scrape duration, mean since start: ${(((duration("_sum") ?? 0) / (duration("_count") ?? 1)) * 1000).toFixed(1)} ms`
    )
    printFigure("freshness: service CPU", cores, "cores")
    printFigure("freshness: engines' CPU (same machine)", engineCores, "cores")
    printFigure("freshness: scrapes per good pod, slowest pod", Math.min(...rates), "/s", `>= ${TARGET} /s`)
    const done =
      Math.min(...rates) >= TARGET &&
      goodPods.length === GOOD &&
      goodPods.every((pod) => !pod.stale) &&
      stale.length === 3 &&
      ["127.0.0.2", "127.0.0.3", "127.0.0.4"].every((ip) => stale.includes(ip))
    console.log(`freshness: ${done ? "met" : "NOT met"}`)
  } finally {
    service.kill("SIGTERM")
    await stopped(service)
    engines.stdin!.end()
    await stopped(engines)
    rmSync(dir, { recursive: true, force: true })
  }
}
