/**
 * A real headless Chromium (the system's `chromium`, installed by
 * ensure-tools.sh) driven by puppeteer-core over a pipe, with a fresh profile
 * removed after; closed when the scope closes.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, type Scope } from "effect"
import puppeteer, { type Browser } from "puppeteer-core"

export const CHROMIUM = "/usr/bin/chromium"

/** Headless, and nothing that reaches past loopback on its own (updates, sync, QUIC, first-run pages). */
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

export const chromium: Effect.Effect<Browser, never, Scope.Scope> = Effect.gen(function* () {
  const profile = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "aibrix-chromium-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
  return yield* Effect.acquireRelease(
    Effect.promise(() =>
      puppeteer.launch({
        executablePath: CHROMIUM,
        ignoreDefaultArgs: true,
        args: [...FLAGS, `--user-data-dir=${profile}`],
        pipe: true
      })
    ),
    (browser) => Effect.promise(() => browser.close())
  )
})
