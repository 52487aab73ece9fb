/**
 * The Kubernetes manifests of `deploy/`, parsed: the Deployment runs the
 * image's entry point under the ServiceAccount of rbac.yaml, listens on every
 * interface, probes the API's own health routes, and drains before it stops;
 * the Service and the ServiceMonitor reach its port.
 */
import { assert, describe, it } from "@effect/vitest"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { parseAllDocuments } from "yaml"
import { CacheApi } from "../../src/service/ServiceApi.ts"
import { parseDockerfile } from "../support/dockerfile.ts"

type Json = Record<string, unknown>

const documents = (file: string): ReadonlyArray<Json> =>
  parseAllDocuments(readFileSync(join("deploy", file), "utf8")).map((document) => {
    assert.deepStrictEqual(document.errors, [], file)
    return document.toJS() as Json
  })

const only = (file: string, kind: string): Json => {
  const found = documents(file).filter((document) => document["kind"] === kind)
  assert.strictEqual(found.length, 1, `one ${kind} in ${file}`)
  return found[0]!
}

/** A nested field, failing the test with its path when it is missing. */
const at = <A = unknown>(value: unknown, ...path: ReadonlyArray<string | number>): A => {
  let current = value
  for (const key of path) {
    assert.isObject(current, `${path.join(".")}: no ${key}`)
    current = (current as Record<string | number, unknown>)[key]
  }
  assert.isDefined(current, path.join("."))
  return current as A
}

const deployment = only("deployment.yaml", "Deployment")
const service = only("service.yaml", "Service")
const serviceMonitor = only("servicemonitor.yaml", "ServiceMonitor")
const podSpec = at<Json>(deployment, "spec", "template", "spec")
const containers = at<ReadonlyArray<Json>>(podSpec, "containers")
const container = containers[0]!
const args = at<ReadonlyArray<string>>(container, "args")
const flag = (name: string): string | undefined => {
  const index = args.indexOf(name)
  return index === -1 ? undefined : args[index + 1]
}
const namedPort = (name: string): Json | undefined =>
  at<ReadonlyArray<Json>>(container, "ports").find((port) => port["name"] === name)

describe("deploy/", () => {
  it("the Deployment runs under the ServiceAccount rbac.yaml binds, in its namespace", () => {
    assert.strictEqual(containers.length, 1)
    const account = only("rbac.yaml", "ServiceAccount")
    assert.strictEqual(at(podSpec, "serviceAccountName"), at(account, "metadata", "name"))
    const namespace = at(deployment, "metadata", "namespace")
    assert.strictEqual(at(account, "metadata", "namespace"), namespace)
    assert.strictEqual(at(service, "metadata", "namespace"), namespace)
    const subjects = at<ReadonlyArray<Json>>(only("rbac.yaml", "ClusterRoleBinding"), "subjects")
    assert.deepInclude(subjects, { kind: "ServiceAccount", name: at(account, "metadata", "name"), namespace })
  })

  it("the container runs the image's entry point, listening on every interface at its http port", () => {
    assert.notProperty(container, "command", "the Dockerfile's ENTRYPOINT runs, as PID 1")
    const entry = parseDockerfile(readFileSync("Dockerfile", "utf8")).stages.at(-1)?.instructions.at(-1)
    assert.strictEqual(entry?.keyword, "CMD", "args replace the image's CMD, not its ENTRYPOINT")
    assert.strictEqual(flag("--host"), "0.0.0.0")
    const http = namedPort("http")
    assert.isDefined(http)
    assert.strictEqual(String(at(http, "containerPort")), flag("--port"))
    const labels = at<Json>(deployment, "spec", "template", "metadata", "labels")
    for (const [name, value] of Object.entries(at<Json>(deployment, "spec", "selector", "matchLabels")))
      assert.strictEqual(labels[name], value, `the Deployment selects its pods by ${name}`)
  })

  it("liveness probes /healthz and readiness /readyz, the API's own routes, on the http port", () => {
    const { healthz, readyz } = CacheApi.groups.ops.endpoints
    assert.deepStrictEqual(at(container, "livenessProbe", "httpGet"), { path: healthz.path, port: "http" })
    assert.deepStrictEqual(at(container, "readinessProbe", "httpGet"), { path: readyz.path, port: "http" })
    assert.deepStrictEqual([healthz.path, readyz.path], ["/healthz", "/readyz"])
  })

  it("requests resources, caps memory, runs as the image's non-root user, and drains before it stops", () => {
    for (const resource of ["cpu", "memory"]) assert.isString(at(container, "resources", "requests", resource))
    assert.isString(at(container, "resources", "limits", "memory"))
    const user = parseDockerfile(readFileSync("Dockerfile", "utf8"))
      .stages.at(-1)
      ?.instructions.filter((instruction) => instruction.keyword === "USER")
      .at(-1)?.args
    assert.strictEqual(at(podSpec, "securityContext", "runAsNonRoot"), true)
    assert.strictEqual(
      `${at(podSpec, "securityContext", "runAsUser")}:${at(podSpec, "securityContext", "runAsGroup")}`,
      user
    )
    // The endpoints drop the pod while it still serves; then SIGTERM, and the service stops within 10 s.
    const preStop = at<ReadonlyArray<string>>(container, "lifecycle", "preStop", "exec", "command")
    assert.strictEqual(preStop[0], "/bin/sleep")
    const drain = Number(preStop[1])
    assert.isAtLeast(drain, 1)
    assert.isAbove(at<number>(podSpec, "terminationGracePeriodSeconds"), drain + 10)
  })

  it("the Service selects the pods and reaches the http port", () => {
    const labels = at<Json>(deployment, "spec", "template", "metadata", "labels")
    const selector = at<Json>(service, "spec", "selector")
    assert.isNotEmpty(Object.keys(selector))
    for (const [name, value] of Object.entries(selector)) assert.strictEqual(labels[name], value, name)
    const port = at<ReadonlyArray<Json>>(service, "spec", "ports").find((port) => port["name"] === "http")
    assert.isDefined(port)
    assert.isDefined(namedPort(at(port, "targetPort")), "targetPort names a container port")
    assert.strictEqual(at(port, "port"), 8080)
  })

  it("the optional ServiceMonitor scrapes /metrics through the Service's port", () => {
    const serviceLabels = at<Json>(service, "metadata", "labels")
    for (const [name, value] of Object.entries(at<Json>(serviceMonitor, "spec", "selector", "matchLabels")))
      assert.strictEqual(serviceLabels[name], value, name)
    const endpoint = at<ReadonlyArray<Json>>(serviceMonitor, "spec", "endpoints")[0]
    assert.strictEqual(at(endpoint, "path"), CacheApi.groups.ops.endpoints.metrics.path)
    assert.strictEqual(at(endpoint, "port"), "http")
  })

  it("kustomization.yaml applies the RBAC, the Deployment and the Service (the ServiceMonitor needs its CRD)", () => {
    const resources = at<ReadonlyArray<string>>(only("kustomization.yaml", "Kustomization"), "resources")
    assert.sameMembers([...resources], ["rbac.yaml", "deployment.yaml", "service.yaml"])
    for (const file of resources) assert.isTrue(existsSync(join("deploy", file)), file)
  })
})
