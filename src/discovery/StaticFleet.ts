/**
 * A fleet described by a file instead of discovered from a cluster:
 *
 * ```yaml
 * models:
 *   - name: llama-3-8b
 *     endpoints: ["10.0.0.7:8000", "gpu-box:8001"]
 * ```
 *
 * YAML or JSON (JSON is YAML). Each endpoint becomes a synthetic ready pod
 * labelled with its model: pod IP = host, metric port = port, in namespace
 * `static`, with a name and UID derived from model and endpoint so that the
 * same entry is the same pod across reloads and restarts.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { Exit, Schema, SchemaIssue } from "effect"
import { createHash } from "node:crypto"
import { isNode, LineCounter, parseDocument } from "yaml"
import { METRIC_PORT_LABEL, MODEL_LABEL, podKey, type PodKey } from "../store/Pod.ts"

export const STATIC_NAMESPACE = "static"

/** `host:port`, where host is a name, an IPv4 address or a bracketed IPv6 address. */
const ENDPOINT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/

export interface Endpoint {
  readonly host: string
  readonly port: number
}

export const parseEndpoint = (text: string): Endpoint | undefined => {
  const match = ENDPOINT.exec(text)
  if (match === null) return undefined
  const port = Number(match[2])
  if (port < 1 || port > 65535) return undefined
  const host = match[1]!
  return { host: host.startsWith("[") ? host.slice(1, -1) : host, port }
}

const EndpointText = Schema.String.check(
  Schema.makeFilter(
    (text: string) =>
      parseEndpoint(text) !== undefined ||
      `expected "host:port" with a port from 1 to 65535, got ${JSON.stringify(text)}`
  )
)

const StaticModel = Schema.Struct({
  name: Schema.NonEmptyString,
  endpoints: Schema.Array(EndpointText)
}).check(
  Schema.makeFilter((model) => {
    const seen = new Set<string>()
    const issues: Array<Schema.FilterIssue> = []
    model.endpoints.forEach((endpoint, index) => {
      if (seen.has(endpoint)) issues.push({ path: ["endpoints", index], issue: `duplicate endpoint "${endpoint}"` })
      seen.add(endpoint)
    })
    return issues
  })
)

/** The file: `models: [{ name, endpoints: ["host:port"] }]`. */
export const StaticFleetFile = Schema.Struct({
  models: Schema.Array(StaticModel)
}).check(
  Schema.makeFilter((file) => {
    const seen = new Set<string>()
    const issues: Array<Schema.FilterIssue> = []
    file.models.forEach((model, index) => {
      if (seen.has(model.name)) {
        issues.push({ path: ["models", index, "name"], issue: `duplicate model "${model.name}"` })
      }
      seen.add(model.name)
    })
    return issues
  })
)

export type StaticFleetFile = typeof StaticFleetFile.Type

const decodeFleet = Schema.decodeUnknownExit(StaticFleetFile)
const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.length === 0
    ? "(top level)"
    : path
        .map((key, index) => (typeof key === "number" ? `[${key}]` : index === 0 ? String(key) : `.${String(key)}`))
        .join("")

/**
 * Parses the file's text; on failure, one line per problem: where (line and
 * field) and what was expected.
 */
export const parseStaticFleet = (text: string): Exit.Exit<StaticFleetFile, ReadonlyArray<string>> => {
  const lineCounter = new LineCounter()
  const document = parseDocument(text, { lineCounter, prettyErrors: false })
  if (document.errors.length > 0) {
    return Exit.fail(
      document.errors.map((error) => {
        const at = lineCounter.linePos(error.pos[0])
        return `line ${at.line}, column ${at.col}: ${error.message}`
      })
    )
  }
  const content: unknown = document.toJS()
  if (content === null || content === undefined) return Exit.fail(["the file is empty: expected `models: [...]`"])
  const decoded = decodeFleet(content, { errors: "all", onExcessProperty: "error" })
  if (Exit.isSuccess(decoded)) return Exit.succeed(decoded.value)
  const error = decoded.cause.reasons.find((reason) => reason._tag === "Fail")?.error
  if (error === undefined) return Exit.fail(["the file could not be decoded"])
  const lineOf = (path: ReadonlyArray<PropertyKey>): number | undefined => {
    // A missing key has no node: point at the closest enclosing one.
    for (let length = path.length; length >= 0; length--) {
      const node = document.getIn(path.slice(0, length), true)
      if (isNode(node) && node.range !== undefined && node.range !== null) {
        return lineCounter.linePos(node.range[0]).line
      }
    }
    return undefined
  }
  return Exit.fail(
    formatIssue(error.issue).issues.map(({ message, path }) => {
      const keys = (path ?? []).map((segment) => (typeof segment === "object" ? segment.key : segment))
      const line = lineOf(keys)
      return `${line === undefined ? "" : `line ${line}, `}${formatPath(keys)}: ${message}`
    })
  )
}

const slug = (text: string): string =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40) || "x"

/** The synthetic ready pod of one endpoint of a model. */
export const staticPod = (model: string, endpointText: string, endpoint: Endpoint): V1Pod => {
  const hash = createHash("sha256").update(`${model}\n${endpointText}`).digest("hex")
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: `${slug(model)}-${slug(endpoint.host)}-${endpoint.port}-${hash.slice(0, 6)}`,
      namespace: STATIC_NAMESPACE,
      uid: `${hash.slice(0, 8)}-${hash.slice(8, 12)}-${hash.slice(12, 16)}-${hash.slice(16, 20)}-${hash.slice(20, 32)}`,
      labels: { [MODEL_LABEL]: model, [METRIC_PORT_LABEL]: String(endpoint.port) }
    },
    status: {
      phase: "Running",
      podIP: endpoint.host,
      conditions: [{ type: "Ready", status: "True" }]
    }
  }
}

/** The fleet's pods by key. */
export const staticPods = (fleet: StaticFleetFile): ReadonlyMap<PodKey, V1Pod> => {
  const pods = new Map<PodKey, V1Pod>()
  for (const model of fleet.models) {
    for (const text of model.endpoints) {
      const pod = staticPod(model.name, text, parseEndpoint(text)!)
      pods.set(podKey(STATIC_NAMESPACE, pod.metadata!.name!), pod)
    }
  }
  return pods
}
