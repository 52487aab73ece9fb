/**
 * Where the Kubernetes source finds its cluster: the files `KUBECONFIG` names,
 * else the default kubeconfig file, else the in-cluster service account.
 * Unlike the client's `loadFromDefault`, which silently falls back to
 * `http://localhost:8080`, finding nothing is an error that says where we looked.
 */
import { HttpMethod, KubeConfig, RequestContext } from "@kubernetes/client-node"
import { Config, Effect, Option } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { KubeConfigInvalid, KubeConfigNotFound } from "./DiscoveryErrors.ts"
import { describeError } from "./internal/ErrorDescription.ts"

const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"

const Environment = Config.all({
  kubeconfig: Config.option(Config.String("KUBECONFIG")),
  home: Config.option(Config.String("HOME")),
  serviceHost: Config.option(Config.String("KUBERNETES_SERVICE_HOST"))
})

/** Loads and merges the files; `source` names them in errors. */
const fromFiles = (files: ReadonlyArray<string>, source: string): Effect.Effect<KubeConfig, KubeConfigInvalid> =>
  Effect.try({
    try: () => {
      const config = new KubeConfig()
      config.loadFromFile(files[0]!)
      for (const file of files.slice(1)) {
        const more = new KubeConfig()
        more.loadFromFile(file)
        config.mergeConfig(more)
      }
      return config
    },
    catch: (error) => new KubeConfigInvalid({ source, reason: describeError(error) })
  })

const inCluster: Effect.Effect<KubeConfig, KubeConfigInvalid> = Effect.try({
  try: () => {
    const config = new KubeConfig()
    config.loadFromCluster()
    return config
  },
  catch: (error) => new KubeConfigInvalid({ source: "in-cluster", reason: describeError(error) })
})

/** Loads the kubeconfig from the environment (read with `Config`), or says where it looked. */
export const loadKubeConfig: Effect.Effect<KubeConfig, KubeConfigNotFound | KubeConfigInvalid> = Effect.gen(
  function* () {
    const env = yield* Effect.mapError(
      Environment,
      (error) => new KubeConfigInvalid({ source: "environment", reason: error.message })
    )
    const kubeconfig = Option.getOrElse(env.kubeconfig, () => "")
    const files = kubeconfig.split(path.delimiter).filter((file) => file !== "")
    if (files.length > 0) return yield* fromFiles(files, `KUBECONFIG=${kubeconfig}`)
    const searched = ["KUBECONFIG (unset)"]
    const defaultFile = path.join(
      Option.getOrElse(env.home, () => os.homedir()),
      ".kube",
      "config"
    )
    if (fs.existsSync(defaultFile)) return yield* fromFiles([defaultFile], defaultFile)
    searched.push(`${defaultFile} (absent)`)
    if (Option.isSome(env.serviceHost) && fs.existsSync(SERVICE_ACCOUNT_TOKEN)) return yield* inCluster
    searched.push(
      Option.isNone(env.serviceHost)
        ? "in-cluster (KUBERNETES_SERVICE_HOST unset)"
        : `in-cluster (${SERVICE_ACCOUNT_TOKEN} absent)`
    )
    return yield* new KubeConfigNotFound({ searched })
  }
)

/**
 * Fails now, not at the first request, on a kubeconfig the client cannot use:
 * no current cluster, plain HTTP without `insecure-skip-tls-verify`, broken
 * credentials files.
 */
export const checkKubeConfig = (config: KubeConfig): Effect.Effect<void, KubeConfigInvalid> =>
  Effect.gen(function* () {
    const cluster = config.getCurrentCluster()
    const source = `context ${config.getCurrentContext() ?? "(none)"}`
    if (cluster === null) return yield* new KubeConfigInvalid({ source, reason: "no current cluster" })
    yield* Effect.tryPromise({
      try: () => config.applySecurityAuthentication(new RequestContext(cluster.server, HttpMethod.GET)),
      catch: (error) => new KubeConfigInvalid({ source, reason: describeError(error) })
    })
  })
