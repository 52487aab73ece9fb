import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Option } from "effect"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { chooseSource, describeSource, type SourceFlags } from "../../src/service/ServiceSource.ts"

const noFlags: SourceFlags = { staticFile: Option.none(), demo: false }

/** A home directory with or without `.kube/config`, removed after the test. */
const withHome = <A, E, R>(kubeConfig: boolean, body: (home: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const home = mkdtempSync(join(tmpdir(), "aibrix-home-"))
      if (kubeConfig) {
        mkdirSync(join(home, ".kube"))
        writeFileSync(join(home, ".kube", "config"), "apiVersion: v1\nkind: Config\n")
      }
      return home
    }),
    body,
    (home) => Effect.sync(() => rmSync(home, { recursive: true, force: true }))
  )

/** A directory holding a service account token where a pod has it, removed after the test. */
const serviceAccount = Effect.acquireRelease(
  Effect.sync(() => {
    const prefix = mkdtempSync(join(tmpdir(), "aibrix-sa-"))
    const dir = join(prefix, "var", "run", "secrets", "kubernetes.io", "serviceaccount")
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, "token"), "token")
    return prefix
  }),
  (prefix) => Effect.sync(() => rmSync(prefix, { recursive: true, force: true }))
)

/** A prefix under which no service account is mounted. */
const noServiceAccount = join(tmpdir(), "aibrix-no-service-account")

const choose = (flags: SourceFlags, env: Record<string, string>, serviceAccountPrefix = noServiceAccount) =>
  chooseSource(flags, { serviceAccountPrefix }).pipe(
    Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))
  )

describe("the choice of the service's source", () => {
  it.effect("--static wins over everything, then AIBRIX_STATIC_CONFIG", () =>
    withHome(true, (home) =>
      Effect.gen(function* () {
        const env = {
          HOME: home,
          KUBECONFIG: "/k",
          AIBRIX_STATIC_CONFIG: "/env.yaml",
          KUBERNETES_SERVICE_HOST: "10.0.0.1"
        }
        assert.deepStrictEqual(yield* choose({ ...noFlags, staticFile: Option.some("/flag.yaml") }, env), {
          _tag: "Static",
          path: "/flag.yaml",
          from: "--static"
        })
        assert.deepStrictEqual(yield* choose(noFlags, env), {
          _tag: "Static",
          path: "/env.yaml",
          from: "AIBRIX_STATIC_CONFIG"
        })
      })
    )
  )

  it.effect("then KUBECONFIG, the default kubeconfig file, the in-cluster environment", () =>
    Effect.gen(function* () {
      yield* withHome(true, (home) =>
        Effect.gen(function* () {
          assert.deepStrictEqual(yield* choose(noFlags, { HOME: home, KUBECONFIG: "/k" }), {
            _tag: "Kubernetes",
            from: "KUBECONFIG"
          })
          const fromFile = yield* choose(noFlags, { HOME: home, KUBERNETES_SERVICE_HOST: "10.0.0.1" })
          assert.deepStrictEqual(fromFile, {
            _tag: "Kubernetes",
            from: "kubeconfig file",
            path: join(home, ".kube", "config")
          })
          assert.include(describeSource(fromFile), join(home, ".kube", "config"))
        })
      )
      const prefix = yield* serviceAccount
      yield* withHome(false, (home) =>
        Effect.map(choose(noFlags, { HOME: home, KUBERNETES_SERVICE_HOST: "10.0.0.1" }, prefix), (source) =>
          assert.deepStrictEqual(source, { _tag: "Kubernetes", from: "in-cluster" })
        )
      )
    }).pipe(Effect.scoped)
  )

  it.effect("in-cluster takes the service account's token file, not only KUBERNETES_SERVICE_HOST", () =>
    withHome(false, (home) =>
      Effect.map(choose(noFlags, { HOME: home, KUBERNETES_SERVICE_HOST: "10.0.0.1" }), (source) =>
        assert.deepStrictEqual(source, { _tag: "Demo", reason: "nothing configured" })
      )
    )
  )

  it.effect("otherwise the demo, and --demo forces it; blank variables count as unset", () =>
    Effect.gen(function* () {
      // A token is there: only the blank KUBERNETES_SERVICE_HOST keeps this from being in-cluster.
      const prefix = yield* serviceAccount
      yield* withHome(false, (home) =>
        Effect.gen(function* () {
          const env = { HOME: home, KUBECONFIG: " ", AIBRIX_STATIC_CONFIG: "", KUBERNETES_SERVICE_HOST: " " }
          const nothing = yield* choose(noFlags, env, prefix)
          assert.deepStrictEqual(nothing, { _tag: "Demo", reason: "nothing configured" })
          assert.include(describeSource(nothing), "demo")
          assert.deepStrictEqual(yield* choose({ ...noFlags, demo: true }, { HOME: home, KUBECONFIG: "/k" }), {
            _tag: "Demo",
            reason: "--demo"
          })
        })
      )
    }).pipe(Effect.scoped)
  )
})
