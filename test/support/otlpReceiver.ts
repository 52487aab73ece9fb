/**
 * An OTLP/HTTP traces receiver on a free loopback port, as a collector would
 * be: it takes `POST /v1/traces` in JSON or in protobuf (decoded here from the
 * wire format, for the fields a test reads) and keeps every span it got, with
 * the resource's attributes.
 */
import { createServer, type IncomingMessage } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, type Scope } from "effect"

export type AttributeValue = string | number | boolean | undefined

export interface ReceivedSpan {
  readonly name: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string
  /** OTLP's enum: 1 internal, 2 server, 3 client. */
  readonly kind: number
  readonly attributes: Readonly<Record<string, AttributeValue>>
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  readonly statusCode: number
  readonly resource: Readonly<Record<string, AttributeValue>>
  /** When the receiver got it (ms since the epoch). */
  readonly receivedAt: number
}

export interface OtlpReceiver {
  /** The base URL, for `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  readonly endpoint: string
  readonly spans: ReadonlyArray<ReceivedSpan>
  /** Requests received, by content type. */
  readonly requests: ReadonlyArray<{ readonly path: string; readonly contentType: string }>
}

// ---- protobuf wire format: just enough of opentelemetry/proto/trace/v1 -------

interface Field {
  readonly number: number
  /** Varints as numbers (exact below 2^53); length-delimited and fixed64 fields as bytes. */
  readonly value: number | Uint8Array
}

const fields = (bytes: Uint8Array): Array<Field> => {
  const result: Array<Field> = []
  let at = 0
  const varint = (): number => {
    let value = 0
    let scale = 1
    while (true) {
      const byte = bytes[at++]!
      value += (byte & 0x7f) * scale
      if (byte < 0x80) return value
      scale *= 128
    }
  }
  while (at < bytes.length) {
    const key = varint()
    const wire = key & 7
    const number = Math.floor(key / 8)
    if (wire === 0) result.push({ number, value: varint() })
    else if (wire === 1) {
      result.push({ number, value: bytes.subarray(at, at + 8) })
      at += 8
    } else if (wire === 2) {
      const length = varint()
      result.push({ number, value: bytes.subarray(at, at + length) })
      at += length
    } else if (wire === 5) at += 4
    else throw new Error(`unknown wire type ${wire}`)
  }
  return result
}

const all = (message: Uint8Array, number: number): Array<Uint8Array> =>
  fields(message).flatMap((field) =>
    field.number === number && field.value instanceof Uint8Array ? [field.value] : []
  )
const one = (message: Uint8Array, number: number): Field["value"] | undefined =>
  fields(message).find((field) => field.number === number)?.value
const text = (value: Field["value"] | undefined): string =>
  value instanceof Uint8Array ? new TextDecoder().decode(value) : ""
const hex = (value: Field["value"] | undefined): string =>
  value instanceof Uint8Array ? Buffer.from(value).toString("hex") : ""

/** AnyValue: 1 string, 2 bool, 3 int, 4 double. */
const anyValue = (message: Uint8Array): AttributeValue => {
  for (const field of fields(message)) {
    if (field.number === 1) return text(field.value)
    if (field.number === 2) return field.value === 1
    if (field.number === 3 && typeof field.value === "number") return field.value
    if (field.number === 4 && field.value instanceof Uint8Array)
      return new DataView(field.value.buffer, field.value.byteOffset, 8).getFloat64(0, true)
  }
  return undefined
}

const protobufAttributes = (keyValues: ReadonlyArray<Uint8Array>): Record<string, AttributeValue> =>
  Object.fromEntries(
    keyValues.map((keyValue) => {
      const value = one(keyValue, 2)
      return [text(one(keyValue, 1)), value instanceof Uint8Array ? anyValue(value) : undefined]
    })
  )

const fromProtobuf = (body: Uint8Array, receivedAt: number): Array<ReceivedSpan> =>
  all(body, 1).flatMap((resourceSpans) => {
    const resourceMessage = one(resourceSpans, 1)
    const resource = resourceMessage instanceof Uint8Array ? protobufAttributes(all(resourceMessage, 1)) : {}
    return all(resourceSpans, 2).flatMap((scopeSpans) =>
      all(scopeSpans, 2).map((span) => {
        const status = one(span, 15)
        return {
          traceId: hex(one(span, 1)),
          spanId: hex(one(span, 2)),
          parentSpanId: hex(one(span, 4)),
          name: text(one(span, 5)),
          kind: Number(one(span, 6) ?? 0),
          attributes: protobufAttributes(all(span, 9)),
          statusCode: status instanceof Uint8Array ? Number(one(status, 3) ?? 0) : 0,
          resource,
          receivedAt
        }
      })
    )
  })

// ---- JSON -------------------------------------------------------------------

interface JsonKeyValue {
  readonly key: string
  readonly value: {
    readonly stringValue?: string
    readonly boolValue?: boolean
    readonly intValue?: string | number
    readonly doubleValue?: number
  }
}

const jsonAttributes = (keyValues: ReadonlyArray<JsonKeyValue> | undefined): Record<string, AttributeValue> =>
  Object.fromEntries(
    (keyValues ?? []).map(({ key, value }) => [
      key,
      value.stringValue ??
        value.boolValue ??
        (value.intValue === undefined ? value.doubleValue : Number(value.intValue))
    ])
  )

interface JsonTraces {
  readonly resourceSpans?: ReadonlyArray<{
    readonly resource?: { readonly attributes?: ReadonlyArray<JsonKeyValue> }
    readonly scopeSpans?: ReadonlyArray<{
      readonly spans?: ReadonlyArray<{
        readonly traceId: string
        readonly spanId: string
        readonly parentSpanId?: string
        readonly name: string
        readonly kind: number
        readonly attributes?: ReadonlyArray<JsonKeyValue>
        readonly status?: { readonly code?: number }
      }>
    }>
  }>
}

const fromJson = (body: Uint8Array, receivedAt: number): Array<ReceivedSpan> => {
  const data = JSON.parse(new TextDecoder().decode(body)) as JsonTraces
  return (data.resourceSpans ?? []).flatMap((resourceSpans) => {
    const resource = jsonAttributes(resourceSpans.resource?.attributes)
    return (resourceSpans.scopeSpans ?? []).flatMap((scope) =>
      (scope.spans ?? []).map((span) => ({
        traceId: span.traceId,
        spanId: span.spanId,
        parentSpanId: span.parentSpanId ?? "",
        name: span.name,
        kind: span.kind,
        attributes: jsonAttributes(span.attributes),
        statusCode: span.status?.code ?? 0,
        resource,
        receivedAt
      }))
    )
  })
}

const bodyOf = (request: IncomingMessage): Promise<Uint8Array> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks)))
    request.on("error", reject)
  })

/** The receiver for the test's scope. */
export const otlpReceiver: Effect.Effect<OtlpReceiver, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(async () => {
    const spans: Array<ReceivedSpan> = []
    const requests: Array<{ path: string; contentType: string }> = []
    const server = createServer(async (request, response) => {
      const body = await bodyOf(request)
      const contentType = request.headers["content-type"] ?? ""
      requests.push({ path: request.url ?? "", contentType })
      if (request.method !== "POST" || request.url !== "/v1/traces") {
        response.writeHead(404).end()
        return
      }
      const now = Date.now()
      spans.push(...(contentType.startsWith("application/json") ? fromJson(body, now) : fromProtobuf(body, now)))
      response.writeHead(200, { "content-type": contentType }).end()
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const { port } = server.address() as AddressInfo
    return { server, receiver: { endpoint: `http://127.0.0.1:${port}`, spans, requests } }
  }),
  ({ server }) =>
    Effect.promise(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        })
    )
).pipe(Effect.map(({ receiver }) => receiver))
