/**
 * How the refresh fetches engine pages: one connection per engine origin,
 * kept open between scrapes, asked for one page at a time. The live transport
 * is an undici `Client` per origin, called through its `dispatch` API (no
 * stream or promise per page: its handler gathers the body's chunks). A test
 * swaps the whole service (`test/support/mockHttp.ts`).
 *
 * A page is fetched within a time limit and a size limit, and only whole: a
 * body cut short (shorter than its content-length, ended by a lost
 * connection, or without its final line break) is no page, and an answer
 * other than 200 is read to its end (so the connection serves the next
 * scrape) and dropped.
 */
import { Context, Effect, Layer } from "effect"
import { Client, type Dispatcher } from "undici"
import {
  declaredLength,
  type PageBody,
  pageOfAnswer,
  pageTooLarge,
  ScrapeError,
  type ScrapeLimits
} from "./EngineScrape.ts"

/** One engine origin's connection. */
export interface EngineConnection {
  /** GET `path`: the page, or why there is none. Interrupting it aborts the request. */
  readonly get: (path: string, limits: ScrapeLimits) => Effect.Effect<PageBody, ScrapeError>
  /** Closes the connection at once; a request in flight fails. */
  readonly close: () => void
}

/** Opens connections to engine origins (`http://host:port`). */
export class EngineTransport extends Context.Service<
  EngineTransport,
  { readonly connect: (origin: string) => EngineConnection }
>()("aibrix-cache/EngineTransport") {
  /** The live transport: an undici `Client` per origin; those still open are closed with the layer's scope. */
  static readonly layer: Layer.Layer<EngineTransport> = Layer.effect(
    EngineTransport,
    Effect.acquireRelease(
      Effect.sync(() => new Set<Client>()),
      (clients) =>
        Effect.promise(() => Promise.all(Array.from(clients, (client) => client.destroy().catch(() => undefined))))
    ).pipe(Effect.map((clients) => EngineTransport.of({ connect: (origin) => undiciConnection(origin, clients) })))
  )
}

/** How long an idle connection stays open: far beyond the scrape interval. */
const KEEP_ALIVE_MS = 30_000

/** A Node or undici error's code and message, as a scrape's detail says them. */
const describe = (error: Error): string => {
  const code = (error as { readonly code?: unknown }).code
  return typeof code === "string" && !error.message.includes(code) ? `${code}: ${error.message}` : error.message
}

/** Why the handler aborted a request itself. */
class Stop extends Error {
  readonly failure: ScrapeError
  constructor(failure: ScrapeError) {
    super(failure.detail)
    this.failure = failure
  }
}

/**
 * One request's handler: gathers the body, enforcing the size limit as the
 * chunks come, and resumes the scrape exactly once.
 */
class PageHandler implements Dispatcher.DispatchHandler {
  readonly #url: string
  readonly #limit: number
  readonly #resume: (effect: Effect.Effect<PageBody, ScrapeError>) => void
  readonly #timer: ReturnType<typeof setTimeout>
  #controller: Dispatcher.DispatchController | undefined = undefined
  #status = 0
  #declared: number | undefined = undefined
  #chunks: Array<Buffer> = []
  #size = 0
  #done = false

  constructor(url: string, limits: ScrapeLimits, resume: (effect: Effect.Effect<PageBody, ScrapeError>) => void) {
    this.#url = url
    this.#limit = limits.maxPageBytes
    this.#resume = resume
    this.#timer = setTimeout(
      () => this.abort(this.#failure("timeout", `no page within ${limits.timeoutMs} ms`)),
      limits.timeoutMs
    )
  }

  #failure(reason: ScrapeError["reason"], detail: string): ScrapeError {
    return new ScrapeError({ url: this.#url, reason, detail })
  }

  #finish(effect: Effect.Effect<PageBody, ScrapeError>): void {
    if (this.#done) return
    this.#done = true
    clearTimeout(this.#timer)
    this.#chunks = []
    this.#resume(effect)
  }

  /** Ends the request with this failure: the connection is dropped if the answer had begun. */
  abort(failure: ScrapeError): void {
    if (this.#done) return
    const controller = this.#controller
    this.#finish(Effect.fail(failure))
    controller?.abort(new Stop(failure))
  }

  /** The scrape was interrupted: the request goes, nobody hears of it. */
  cancel(): void {
    if (this.#done) return
    this.#done = true
    clearTimeout(this.#timer)
    this.#chunks = []
    this.#controller?.abort(new Error("scrape interrupted"))
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller
    if (this.#done) controller.abort(new Error("scrape ended"))
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | Array<string> | undefined>
  ): void {
    this.#status = statusCode
    this.#declared = declaredLength(headers["content-length"])
    if (this.#declared !== undefined && this.#declared > this.#limit) this.abort(pageTooLarge(this.#url, this.#limit))
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#done) return
    this.#size += chunk.byteLength
    if (this.#size > this.#limit) this.abort(pageTooLarge(this.#url, this.#limit))
    // An error page is read to its end and dropped.
    else if (this.#status === 200) this.#chunks.push(chunk)
  }

  onResponseEnd(): void {
    if (!this.#done) this.#finish(this.#page())
  }

  /** The page of a whole answer, or why there is none. */
  #page(): Effect.Effect<PageBody, ScrapeError> {
    const chunks = this.#chunks
    const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.#size)
    return Effect.fromResult(pageOfAnswer(this.#url, this.#status, this.#declared, bytes))
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.#done) return
    if (error instanceof Stop) {
      this.#finish(Effect.fail(error.failure))
      return
    }
    // After the answer began, the body broke off; before, there was no answer.
    this.#finish(
      Effect.fail(
        this.#status === 0
          ? this.#failure("transport", describe(error))
          : this.#failure("truncated", `the body broke off: ${describe(error)}`)
      )
    )
  }
}

/** A connection over an undici `Client` of its own. */
const undiciConnection = (origin: string, clients: Set<Client>): EngineConnection => {
  const client = new Client(origin, { keepAliveTimeout: KEEP_ALIVE_MS, keepAliveMaxTimeout: KEEP_ALIVE_MS })
  clients.add(client)
  return {
    get: (path, limits) =>
      Effect.callback<PageBody, ScrapeError>((resume) => {
        const handler = new PageHandler(origin + path, limits, resume)
        try {
          client.dispatch({ path, method: "GET" }, handler)
        } catch (error) {
          handler.abort(new ScrapeError({ url: origin + path, reason: "transport", detail: describe(error as Error) }))
        }
        return Effect.sync(() => handler.cancel())
      }),
    close: () => {
      clients.delete(client)
      void client.destroy().catch(() => undefined)
    }
  }
}
