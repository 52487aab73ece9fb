/**
 * Where the Kubernetes source finds its cluster, and the one search for it
 * (the service chooses its source with it too): the files `KUBECONFIG` names,
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

/** The service account's token, as a pod mounts it (under the prefix of the search). */
const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"

/** Where a kubeconfig was found, in the order the search looks. */
export type KubeConfigLocation =
  | { readonly _tag: "KubeConfigVariable"; readonly value: string; readonly files: ReadonlyArray<string> }
  | { readonly _tag: "DefaultFile"; readonly path: string }
  | { readonly _tag: "InCluster"; readonly serviceAccountPrefix: string }

export interface KubeConfigSearchOptions {
  /**
   * Prepended to the service account's paths (`/var/run/secrets/...`), as the
   * client's `loadFromCluster` does; "" by default.
   */
  readonly serviceAccountPrefix?: string | undefined
}

/** A variable's value, unset when blank. */
const nonBlank = (name: string): Config.Config<Option.Option<string>> =>
  Config.option(Config.String(name)).pipe(Config.map(Option.filter((value) => value.trim() !== "")))

const Environment = Config.all({
  kubeconfig: nonBlank("KUBECONFIG"),
  home: nonBlank("HOME"),
  serviceHost: nonBlank("KUBERNETES_SERVICE_HOST")
})

/**
 * Looks for a kubeconfig as the client would, but only where one is: the
 * files `KUBECONFIG` names, else `$HOME/.kube/config`, else the in-cluster
 * environment, which takes both `KUBERNETES_SERVICE_HOST` and the service
 * account's token file. Finding none fails with `KubeConfigNotFound`, saying
 * where it looked. Reads the variables with `Config`; nothing is loaded yet.
 */
export const findKubeConfig = (
  options: KubeConfigSearchOptions = {}
): Effect.Effect<KubeConfigLocation, KubeConfigNotFound | KubeConfigInvalid> =>
  Effect.gen(function* () {
    const env = yield* Effect.mapError(
      Environment,
      (error) => new KubeConfigInvalid({ source: "environment", reason: error.message })
    )
    if (Option.isSome(env.kubeconfig)) {
      const value = env.kubeconfig.value
      const files = value.split(path.delimiter).filter((file) => file.trim() !== "")
      if (files.length > 0) return { _tag: "KubeConfigVariable", value, files } as const
    }
    const searched = ["KUBECONFIG (unset)"]
    const defaultFile = path.join(
      Option.getOrElse(env.home, () => os.homedir()),
      ".kube",
      "config"
    )
    if (fs.existsSync(defaultFile)) return { _tag: "DefaultFile", path: defaultFile } as const
    searched.push(`${defaultFile} (absent)`)
    const serviceAccountPrefix = options.serviceAccountPrefix ?? ""
    const token = `${serviceAccountPrefix}${SERVICE_ACCOUNT_TOKEN}`
    if (Option.isSome(env.serviceHost) && fs.existsSync(token))
      return { _tag: "InCluster", serviceAccountPrefix } as const
    searched.push(
      Option.isNone(env.serviceHost) ? "in-cluster (KUBERNETES_SERVICE_HOST unset)" : `in-cluster (${token} absent)`
    )
    return yield* new KubeConfigNotFound({ searched })
  })

/** Loads the kubeconfig found there (the files merged in order); an unreadable one fails naming where it is. */
export const loadKubeConfigAt = (location: KubeConfigLocation): Effect.Effect<KubeConfig, KubeConfigInvalid> => {
  switch (location._tag) {
    case "KubeConfigVariable":
      return fromFiles(location.files, `KUBECONFIG=${location.value}`)
    case "DefaultFile":
      return fromFiles([location.path], location.path)
    case "InCluster":
      return inCluster(location.serviceAccountPrefix)
  }
}

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

const inCluster = (serviceAccountPrefix: string): Effect.Effect<KubeConfig, KubeConfigInvalid> =>
  Effect.try({
    try: () => {
      const config = new KubeConfig()
      config.loadFromCluster(serviceAccountPrefix)
      return config
    },
    catch: (error) => new KubeConfigInvalid({ source: "in-cluster", reason: describeError(error) })
  })

/** The kubeconfig the environment points at (see `findKubeConfig`), loaded. */
export const loadKubeConfig: Effect.Effect<KubeConfig, KubeConfigNotFound | KubeConfigInvalid> = Effect.flatMap(
  findKubeConfig(),
  loadKubeConfigAt
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
