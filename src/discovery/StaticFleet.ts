/**
 * A fleet described by a file instead of discovered from a cluster, in the
 * format of AIBrix's static discovery provider:
 *
 * ```yaml
 * models:
 *   - name: Qwen/Qwen2.5-1.5B-Instruct
 *     engine: vllm                       # optional: the pods' engine label
 *     endpoints: ["10.0.0.7:8000", "gpu-box"]
 *   - name: Qwen/Qwen2.5-72B
 *     rolesets:                          # prefill/decode groups, instead of endpoints
 *       - name: default
 *         prefill: ["prefill-0:8000"]
 *         decode: ["decode-0:8000"]
 * ```
 *
 * YAML or JSON (JSON is YAML). Each endpoint becomes a synthetic ready pod
 * labelled with its model (and engine, and for a roleset its `role-name` and
 * `roleset-name`, as AIBrix labels them): pod IP = host, metric port = port
 * (8000 for a bare host), in namespace `standalone`, with a name and UID
 * derived from model, roleset, role and endpoint, so that the same entry is
 * the same pod across reloads and restarts.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { Exit, Schema, SchemaIssue } from "effect"
import { createHash } from "node:crypto"
import { isNode, LineCounter, parseDocument } from "yaml"
import { ENGINE_LABEL, METRIC_PORT_LABEL, MODEL_LABEL, podKey, type PodKey } from "../store/Pod.ts"

/** The namespace of the file's pods, as AIBrix's static provider names it. */
export const STATIC_NAMESPACE = "standalone"
/** The port of an endpoint given as a bare host. */
export const DEFAULT_ENDPOINT_PORT = 8000
/** The role (`prefill`, `decode`) of a roleset's pod. */
export const ROLE_LABEL = "role-name"
/** The roleset a pod belongs to: prefill and decode pods of one roleset are paired. */
export const ROLESET_LABEL = "roleset-name"
// The serving port, which AIBrix's static provider sets too.
const PORT_LABEL = "model.aibrix.ai/port"

export const ROLES = ["prefill", "decode"] as const
export type Role = (typeof ROLES)[number]

/** A host (a name, an IPv4 address or a bracketed IPv6 address), then `:port` unless the port is 8000. */
const HOST_AND_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(\d{1,5}))?$/
/** An IPv6 address without brackets: a bare host, since its colons leave no room for a port. */
const BARE_IPV6 = /^[0-9A-Fa-f]*:[0-9A-Fa-f]*:[0-9A-Fa-f:.]*$/

export interface Endpoint {
  readonly host: string
  readonly port: number
}

/** `host:port` or a bare host (port 8000); undefined when the text is neither. */
export const parseEndpoint = (text: string): Endpoint | undefined => {
  if (BARE_IPV6.test(text)) return { host: text, port: DEFAULT_ENDPOINT_PORT }
  const match = HOST_AND_PORT.exec(text)
  if (match === null) return undefined
  const port = match[2] === undefined ? DEFAULT_ENDPOINT_PORT : Number(match[2])
  if (port < 1 || port > 65535) return undefined
  const host = match[1]!
  return { host: host.startsWith("[") ? host.slice(1, -1) : host, port }
}

/** The endpoint as `host:port`, IPv6 hosts bracketed: one text per endpoint however it was written. */
export const endpointText = (endpoint: Endpoint): string =>
  `${endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`

const EndpointText = Schema.String.check(
  Schema.makeFilter(
    (text: string) =>
      parseEndpoint(text) !== undefined ||
      `expected "host:port" with a port from 1 to 65535, or a bare host (port 8000), got ${JSON.stringify(text)}`
  )
)

/** A list that YAML may leave empty (`endpoints:` with nothing after it). */
const OptionalList = <S extends Schema.Top>(item: S) => Schema.optional(Schema.NullOr(Schema.Array(item)))

/** Issues for endpoints written twice in one list (the same `host:port` however written). */
const duplicateEndpoints = (
  list: ReadonlyArray<string> | null | undefined,
  path: ReadonlyArray<PropertyKey>
): Array<Schema.FilterIssue> => {
  const seen = new Set<string>()
  const issues: Array<Schema.FilterIssue> = []
  ;(list ?? []).forEach((text, index) => {
    const normalized = endpointText(parseEndpoint(text)!)
    if (seen.has(normalized)) issues.push({ path: [...path, index], issue: `duplicate endpoint "${text}"` })
    seen.add(normalized)
  })
  return issues
}

const StaticRoleSet = Schema.Struct({
  name: Schema.String.check(Schema.makeFilter((name: string) => name !== "" || "roleset name is required")),
  prefill: OptionalList(EndpointText),
  decode: OptionalList(EndpointText)
}).check(Schema.makeFilter((roleset) => ROLES.flatMap((role) => duplicateEndpoints(roleset[role], [role]))))

const StaticModel = Schema.Struct({
  name: Schema.NonEmptyString,
  engine: Schema.optional(Schema.NullOr(Schema.String)),
  endpoints: OptionalList(EndpointText),
  rolesets: OptionalList(StaticRoleSet)
}).check(
  Schema.makeFilter((model) => {
    if ((model.endpoints?.length ?? 0) > 0 && (model.rolesets?.length ?? 0) > 0) {
      return "endpoints and rolesets are mutually exclusive: a model is served by plain endpoints or by prefill/decode rolesets"
    }
    const issues = duplicateEndpoints(model.endpoints, ["endpoints"])
    const seen = new Set<string>()
    ;(model.rolesets ?? []).forEach((roleset, index) => {
      if (seen.has(roleset.name)) {
        issues.push({ path: ["rolesets", index, "name"], issue: `duplicate roleset "${roleset.name}"` })
      }
      seen.add(roleset.name)
    })
    return issues
  })
)

/** The file: `models: [{ name, engine?, endpoints | rolesets }]`. */
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

/** One endpoint of the file: its model, engine, place in a roleset if any, and address. */
export interface StaticEndpoint {
  readonly model: string
  readonly engine?: string | undefined
  readonly roleset?: { readonly name: string; readonly role: Role } | undefined
  readonly endpoint: Endpoint
}

/** The synthetic ready pod of one endpoint. */
export const staticPod = ({ endpoint, engine, model, roleset }: StaticEndpoint): V1Pod => {
  const address = endpointText(endpoint)
  const identity = roleset === undefined ? [model, address] : [model, roleset.name, roleset.role, address]
  const hash = createHash("sha256").update(identity.join("\n")).digest("hex")
  const place = roleset === undefined ? [] : [slug(roleset.name), roleset.role]
  const port = String(endpoint.port)
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: [slug(model), ...place, slug(endpoint.host), port, hash.slice(0, 6)].join("-"),
      namespace: STATIC_NAMESPACE,
      uid: `${hash.slice(0, 8)}-${hash.slice(8, 12)}-${hash.slice(12, 16)}-${hash.slice(16, 20)}-${hash.slice(20, 32)}`,
      labels: {
        [MODEL_LABEL]: model,
        [PORT_LABEL]: port,
        [METRIC_PORT_LABEL]: port,
        ...(engine === undefined ? {} : { [ENGINE_LABEL]: engine }),
        ...(roleset === undefined ? {} : { [ROLE_LABEL]: roleset.role, [ROLESET_LABEL]: roleset.name })
      }
    },
    status: {
      phase: "Running",
      podIP: endpoint.host,
      conditions: [{ type: "Ready", status: "True" }]
    }
  }
}

/** Every endpoint of the file, in its order: a model's endpoints, or its rolesets' prefill then decode. */
export const staticEndpoints = (fleet: StaticFleetFile): ReadonlyArray<StaticEndpoint> =>
  fleet.models.flatMap((model) => {
    const engine = model.engine === null || model.engine === "" ? undefined : model.engine
    const plain = (model.endpoints ?? []).map((text) => ({ model: model.name, engine, endpoint: parseEndpoint(text)! }))
    const grouped = (model.rolesets ?? []).flatMap((roleset) =>
      ROLES.flatMap((role) =>
        (roleset[role] ?? []).map((text) => ({
          model: model.name,
          engine,
          roleset: { name: roleset.name, role },
          endpoint: parseEndpoint(text)!
        }))
      )
    )
    return [...plain, ...grouped]
  })

/** The fleet's pods by key. */
export const staticPods = (fleet: StaticFleetFile): ReadonlyMap<PodKey, V1Pod> => {
  const pods = new Map<PodKey, V1Pod>()
  for (const entry of staticEndpoints(fleet)) {
    const pod = staticPod(entry)
    pods.set(podKey(STATIC_NAMESPACE, pod.metadata!.name!), pod)
  }
  return pods
}
