/**
 * A page is used only whole. Real engine pages served over loopback HTTP and
 * cut at a random byte, with their content-length or chunked, the connection
 * then dropped: the scrape fails as truncated, so the refresh keeps the
 * values of the last whole page and never reads one the whole page does not
 * hold. A body that arrives whole but does not end its last line is refused
 * the same way.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Exit, ManagedRuntime } from "effect"
import fc from "fast-check"
import { defaultScrapeOptions } from "../../src/metrics/MetricRefreshConfig.ts"
import type { PageBody } from "../../src/metrics/EngineScrape.ts"
import { type EngineConnection, EngineTransport } from "../../src/metrics/EngineTransport.ts"
import { ENGINE_PAGES } from "../support/enginePages.ts"
import { PageServer } from "../support/pageServer.ts"

let server: PageServer
const transport = ManagedRuntime.make(EngineTransport.layer)
/** One connection for every scrape, as a pod has: a cut body costs it its socket, the next scrape opens another. */
let connection: EngineConnection

beforeAll(async () => {
  server = await PageServer.start("/metrics", "")
  connection = await transport.runPromise(
    EngineTransport.use((engines) => Effect.sync(() => engines.connect(`http://127.0.0.1:${server.port}`)))
  )
})

afterAll(async () => {
  await transport.dispose()
  await server.stop()
})

const fetchNow = (): Promise<Exit.Exit<PageBody, { readonly reason: string }>> =>
  Effect.runPromise(Effect.exit(connection.get("/metrics", defaultScrapeOptions)))

/** The failure's reason, or "none" when the scrape read a page. */
const reasonOf = (exit: Exit.Exit<PageBody, { readonly reason: string }>): string =>
  Exit.isSuccess(exit) ? "none" : (JSON.stringify(exit.cause).match(/"reason":"([a-z_]+)"/)?.[1] ?? "unknown")

describe("a scrape takes a page only whole", () => {
  it("every real page served whole reads whole", async () => {
    for (const fixture of ENGINE_PAGES) {
      server.page = Buffer.from(fixture.text)
      server.answer = { _tag: "Whole" }
      const exit = await fetchNow()
      assert.strictEqual(reasonOf(exit), "none", fixture.file)
      assert.isTrue(Exit.isSuccess(exit) && exit.value.text === fixture.text && exit.value.utf8, fixture.file)
    }
  })

  it("a real page cut at any byte, its connection dropped, is a truncated scrape", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(ENGINE_PAGES.length - 1),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        fc.constantFrom("length" as const, "chunked" as const),
        async (index, at, framing) => {
          const page = Buffer.from(ENGINE_PAGES[index]!.text)
          const bytes = Math.floor(at * page.length)
          server.page = page
          server.answer = { _tag: "Cut", bytes, framing }
          assert.strictEqual(reasonOf(await fetchNow()), "truncated", `cut at ${bytes} of ${page.length}`)
        }
      ),
      { numRuns: 120 }
    )
  })

  it("a body that arrives whole without its final line break is a truncated scrape", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(ENGINE_PAGES.length - 1),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        async (index, at) => {
          const fixture = ENGINE_PAGES[index]!
          const text = fixture.text.slice(0, 1 + Math.floor(at * (fixture.text.length - 1)))
          fc.pre(!text.endsWith("\n"))
          server.page = Buffer.from(text)
          server.answer = { _tag: "Whole" }
          assert.strictEqual(reasonOf(await fetchNow()), "truncated", `cut at ${text.length}`)
        }
      ),
      { numRuns: 60 }
    )
  })

  it("a page whose bytes are not all UTF-8 says so", async () => {
    server.page = Buffer.concat([
      Buffer.from('vllm:num_requests_running{model_name="a'),
      Buffer.from([0xff]),
      Buffer.from('"} 1\n')
    ])
    server.answer = { _tag: "Whole" }
    const exit = await fetchNow()
    assert.isTrue(Exit.isSuccess(exit) && !exit.value.utf8 && exit.value.text.includes("\uFFFD"))
  })
})
