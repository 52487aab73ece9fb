/**
 * Engines (or a service) run in a child process, so that their CPU is not the
 * benchmark's: started with a pipe on stdin and stdout, read line by line,
 * stopped by closing stdin, and their CPU time read from /proc.
 */
import { type ChildProcess, type ChildProcessByStdio, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { createInterface, type Interface } from "node:readline"
import type { Readable, Writable } from "node:stream"
import { Effect, type Scope } from "effect"

export type Child = ChildProcessByStdio<Writable, Readable, null>

/** CPU seconds a process used so far, from /proc (Linux reports ticks of 1/100 s); 0 for a process gone. */
export const cpuSecondsOf = (pid: number): number => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}

/** The next line the child writes, as JSON. */
export const nextLine = <A>(lines: Interface): Promise<A> =>
  new Promise((resolve) => lines.once("line", (line) => resolve(JSON.parse(line) as A)))

/** Resolves once the child has exited. */
export const stopped = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once("exit", () => resolve()))

/** `node script ...args` in a child process with its stdout's lines, for as long as the scope; closing its stdin stops it. */
export const childScript = (
  script: URL,
  args: ReadonlyArray<string>
): Effect.Effect<{ readonly child: Child; readonly lines: Interface }, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(process.execPath, [script.pathname, ...args], { stdio: ["pipe", "pipe", "inherit"] })
      return { child, lines: createInterface({ input: child.stdout }) }
    }),
    ({ child }) =>
      Effect.promise(() => {
        const exited = stopped(child)
        child.stdin.end()
        return exited
      })
  )
