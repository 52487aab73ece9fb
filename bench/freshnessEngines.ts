/**
 * The engines of the freshness benchmark, run as a child process:
 * `node bench/freshnessEngines.ts N` starts N good engines serving the real
 * vLLM V1 page on 127.0.0.1 (requests finishing on each about once a second),
 * and three bad ones: on 127.0.0.2 one that accepts connections and never
 * answers, on 127.0.0.3 one that answers after 3 s, on 127.0.0.4 one that
 * answers 500. It prints their ports as one JSON line; each line "counts" on
 * stdin is answered with the requests each has received so far; it stops when
 * its stdin closes.
 */
import { createServer as createHttpServer, type Server } from "node:http"
import { createServer as createTcpServer, type Socket } from "node:net"
import type { AddressInfo } from "node:net"
import { createInterface } from "node:readline"
import { RealPageEngine, serveRealPage } from "./realPageEngine.ts"

export const SLOW_MS = 3000

const listening = <S extends Server | ReturnType<typeof createTcpServer>>(server: S, host: string): Promise<number> =>
  new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)))

const count = Number(process.argv[2] ?? "50")
const good = await Promise.all(
  Array.from({ length: count }, async () => {
    const engine = new RealPageEngine()
    return { engine, ...(await serveRealPage(engine)) }
  })
)

const sockets = new Set<Socket>()
let hungRequests = 0
const hung = createTcpServer((socket) => {
  sockets.add(socket)
  socket.on("data", () => void hungRequests++)
  socket.on("close", () => sockets.delete(socket))
})

const slowEngine = new RealPageEngine()
const timers = new Set<ReturnType<typeof setTimeout>>()
let slowRequests = 0
const slow = createHttpServer((_, response) => {
  slowRequests++
  const timer = setTimeout(() => {
    timers.delete(timer)
    const page = slowEngine.page()
    response.writeHead(200, { "content-type": "text/plain; version=0.0.4", "content-length": page.length })
    response.end(page)
  }, SLOW_MS)
  timers.add(timer)
})
slow.keepAliveTimeout = 60_000

let failingRequests = 0
const failing = createHttpServer((_, response) => {
  failingRequests++
  response.writeHead(500, { "content-type": "text/plain" }).end("engine error\n")
})
failing.keepAliveTimeout = 60_000

const ports = {
  good: good.map(({ port }) => port),
  hung: await listening(hung, "127.0.0.2"),
  slow: await listening(slow, "127.0.0.3"),
  failing: await listening(failing, "127.0.0.4")
}
process.stdout.write(`${JSON.stringify(ports)}\n`)

let next = 0
const TICK_MS = 50
const perTick = Math.max(1, Math.ceil(count / (1000 / TICK_MS)))
const traffic = setInterval(() => {
  for (const { engine } of good) engine.spendCpu(0.01)
  for (let i = 0; i < perTick; i++) good[next++ % count]!.engine.completeRequests(2)
}, TICK_MS)

const input = createInterface({ input: process.stdin })
input.on("line", (line) => {
  if (line.trim() !== "counts") return
  const counts = {
    good: good.map(({ engine }) => engine.served),
    hung: hungRequests,
    slow: slowRequests,
    failing: failingRequests
  }
  process.stdout.write(`${JSON.stringify(counts)}\n`)
})
input.on("close", () => {
  clearInterval(traffic)
  for (const timer of timers) clearTimeout(timer)
  for (const socket of sockets) socket.destroy()
  const closing: Array<Server | ReturnType<typeof createTcpServer>> = [
    hung,
    slow,
    failing,
    ...good.map((g) => g.server)
  ]
  for (const server of closing) if ("closeAllConnections" in server) server.closeAllConnections()
  void Promise.all(closing.map((server) => new Promise<void>((resolve) => server.close(() => resolve())))).then(() =>
    process.exit(0)
  )
})
