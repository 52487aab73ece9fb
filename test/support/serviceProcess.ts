/**
 * The service as a child process, as a user runs it: `node src/main.ts` (or
 * `npm start`) with the test's arguments and environment, its log lines
 * collected, stopped with a signal. Each runs in a process group of its own,
 * killed whole at the end, so that no test leaves a service running.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert } from "@effect/vitest"
import { Effect, type Scope } from "effect"

const NODE = join(process.cwd(), "node_modules", ".bin", "node")
const MAIN = join(process.cwd(), "src", "main.ts")

/** Variables that would point the service at a real fleet or Redis; the tests set what they need. */
const SOURCE_VARIABLES = [
  "KUBECONFIG",
  "KUBERNETES_SERVICE_HOST",
  "KUBERNETES_SERVICE_PORT",
  "AIBRIX_STATIC_CONFIG",
  "AIBRIX_HOST",
  "AIBRIX_PORT",
  "AIBRIX_LOG_FORMAT",
  "AIBRIX_GPU_OPTIMIZER_TRACING_FLAG",
  "AIBRIX_SHUTDOWN_DRAIN_MS",
  "AIBRIX_REPLICA_SYNC",
  "POD_NAME",
  "REDIS_HOST",
  "REDIS_PORT",
  "REDIS_PASSWORD",
  "PROMETHEUS_ENDPOINT"
]

export interface ServiceProcess {
  readonly url: string
  /** Every stdout line so far. */
  readonly lines: ReadonlyArray<string>
  /** Everything the process wrote to stderr so far. */
  readonly stderr: () => string
  /** Waits until a stdout line matches; fails with the output so far after `timeoutMs`. */
  readonly waitForLine: (match: (line: string) => boolean, timeoutMs?: number) => Effect.Effect<string>
  /** Waits until the process exits by itself; its exit code. */
  readonly exited: Effect.Effect<number | null>
  /** Sends the signal and waits for the exit: the code (or signal) and how long it took. */
  readonly stop: (signal: NodeJS.Signals) => Effect.Effect<{ readonly code: number | null; readonly ms: number }>
}

const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((resolve) => child.once("exit", (code) => resolve(code)))

/** How the service is started: its entry run by Node, or the `start` script run by npm. */
export type Launcher = "node" | "npm start"

const command = (launcher: Launcher, args: ReadonlyArray<string>): readonly [string, ReadonlyArray<string>] =>
  launcher === "node" ? [NODE, [MAIN, ...args]] : ["npm", ["start", "--silent", "--", ...args]]

/**
 * Starts the service on `port` with `args`, HOME set to an empty directory and
 * none of the source variables unless `env` sets them; its process group is
 * killed at scope close. The port goes in `--port`, unless `env` gives it as
 * `AIBRIX_PORT`. `stop` signals the launched process (with `npm start`, npm).
 */
export const serviceProcess = (
  port: number,
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>> = {},
  launcher: Launcher = "node"
): Effect.Effect<ServiceProcess, never, Scope.Scope> =>
  Effect.gen(function* () {
    const home = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "aibrix-service-home-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    const childEnv: Record<string, string> = {}
    for (const [name, value] of Object.entries(process.env)) {
      if (value !== undefined && !SOURCE_VARIABLES.includes(name)) childEnv[name] = value
    }
    Object.assign(childEnv, { HOME: home }, env)
    const lines: Array<string> = []
    let stderr = ""
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const portFlag = env["AIBRIX_PORT"] === String(port) ? [] : ["--port", String(port)]
        const [file, fileArgs] = command(launcher, [...portFlag, ...args])
        const child = spawn(file, fileArgs, { env: childEnv, detached: true })
        let partial = ""
        child.stdout.on("data", (chunk: Buffer) => {
          const text = partial + chunk.toString()
          const parts = text.split("\n")
          partial = parts.pop() ?? ""
          lines.push(...parts)
        })
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
        return child
      }),
      (child) =>
        Effect.promise(async () => {
          try {
            process.kill(-child.pid!, "SIGKILL")
          } catch {
            // The whole group is gone already.
          }
          await exited(child)
        })
    )
    const output = () => `stdout:\n${lines.join("\n")}\nstderr:\n${stderr}`
    return {
      url: `http://127.0.0.1:${port}`,
      lines,
      stderr: () => stderr,
      waitForLine: (match, timeoutMs = 30_000) =>
        Effect.promise(async () => {
          const deadline = Date.now() + timeoutMs
          while (Date.now() < deadline) {
            const line = lines.find(match)
            if (line !== undefined) return line
            if (child.exitCode !== null) break
            await new Promise((resolve) => setTimeout(resolve, 20))
          }
          throw new Error(`no such line within ${timeoutMs} ms (exit ${child.exitCode})\n${output()}`)
        }).pipe(Effect.orDie),
      exited: Effect.promise(() => exited(child)),
      stop: (signal) =>
        Effect.promise(async () => {
          const start = Date.now()
          child.kill(signal)
          const code = await exited(child)
          return { code, ms: Date.now() - start }
        })
    }
  })

/** GETs a path of the service; `undefined` while it does not answer. */
export const get = (url: string): Effect.Effect<{ readonly status: number; readonly text: string } | undefined> =>
  Effect.promise(() =>
    fetch(url).then(
      async (response) => ({ status: response.status, text: await response.text() }),
      () => undefined
    )
  )

/** Polls `attempt` (in real time) until it yields a value; dies with `what` after `timeoutMs`. */
export const poll = <A>(what: string, attempt: Effect.Effect<A | undefined>, timeoutMs = 30_000): Effect.Effect<A> =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const value = yield* attempt
      if (value !== undefined) return value
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

/** The service's last line once it failed to start: exit 1, nothing on stderr, one `failed` line at ERROR. */
export const failedStart = (service: ServiceProcess): Effect.Effect<string> =>
  Effect.gen(function* () {
    assert.strictEqual(yield* service.exited, 1, service.lines.join("\n"))
    assert.strictEqual(service.stderr(), "", "reported once, in the log")
    const last = service.lines.filter((line) => line.length > 0).at(-1) ?? ""
    assert.include(last, "level=ERROR")
    assert.include(last, "message=failed")
    return last
  })
