/**
 * The image, checked without Docker: the Dockerfile's stages and commands, and
 * what the runtime stage would hold (the package manifest it rewrites, run
 * here on a copy) against what the built code imports.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { builtinModules } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { copyArgs, execForm, type Instruction, parseDockerfile, type Stage } from "../support/dockerfile.ts"

const dockerfile = parseDockerfile(readFileSync("Dockerfile", "utf8"))
const stage = (name: string): Stage => {
  const found = dockerfile.stages.find((stage) => stage.name === name)
  assert.isDefined(found, `a stage named ${name}`)
  return found!
}
const build = stage("build")
const runtime = stage("runtime")

const of = (stage: Stage, keyword: string): ReadonlyArray<Instruction> =>
  stage.instructions.filter((instruction) => instruction.keyword === keyword)
const runs = (stage: Stage): ReadonlyArray<string> => of(stage, "RUN").map((run) => run.args)
const indexOf = (stage: Stage, match: (instruction: Instruction) => boolean): number =>
  stage.instructions.findIndex(match)
const workdir = (stage: Stage): string => of(stage, "WORKDIR").at(-1)?.args ?? "/"

const packageJson = JSON.parse(readFileSync("package.json", "utf8")) as {
  readonly dependencies: Record<string, string>
  readonly devDependencies: Record<string, string>
  readonly peerDependencies: Record<string, string>
}

/** The packages a file imports by bare name (`effect/http` -> `effect`, `@scope/pkg/x` -> `@scope/pkg`). */
const importedPackages = (file: string): ReadonlyArray<string> =>
  [...readFileSync(file, "utf8").matchAll(/(?:from|import)\s*\(?\s*"([^".][^"]*)"/g)]
    .map((match) => match[1]!)
    .filter((specifier) => !specifier.startsWith("node:") && !builtinModules.includes(specifier))
    .map((specifier) =>
      specifier
        .split("/")
        .slice(0, specifier.startsWith("@") ? 2 : 1)
        .join("/")
    )

const sourceFiles = (dir: string): ReadonlyArray<string> =>
  readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    return statSync(path).isDirectory() ? sourceFiles(path) : /\.(ts|js)$/.test(entry) ? [path] : []
  })

describe("the Dockerfile", () => {
  it("builds in a stage of its own and runs the last stage, both on Node 24 slim", () => {
    assert.deepStrictEqual(
      dockerfile.stages.map((stage) => stage.name),
      ["build", "runtime"],
      "the runtime stage is last: the image a plain `docker build` makes"
    )
    for (const { image } of dockerfile.stages) assert.match(image, /^node:24(\.\d+)*-(\w+-)?slim$/)
  })

  it("the build stage installs the dev dependencies from the lockfile and runs the TypeScript build", () => {
    const install = runs(build).find((run) => run.startsWith("npm ci"))
    assert.isDefined(install)
    assert.notInclude(install!, "--omit=dev", "tsc is a dev dependency")
    const buildAt = indexOf(build, (i) => i.keyword === "RUN" && i.args === "npm run build")
    assert.isAbove(buildAt, -1)
    const copied = new Set(
      build.instructions.slice(0, buildAt).flatMap((i) => (i.keyword === "COPY" ? copyArgs(i).sources : []))
    )
    const tsconfig = JSON.parse(readFileSync("tsconfig.build.json", "utf8")) as { readonly include: Array<string> }
    for (const needed of [
      "package.json",
      "package-lock.json",
      "tsconfig.json",
      "tsconfig.build.json",
      ...tsconfig.include
    ])
      assert.isTrue(copied.has(needed), `${needed} is in the build stage before the build`)
    for (const source of copied) assert.isTrue(existsSync(source), `${source} exists`)
  })

  it("the runtime stage has production dependencies, bin and the built dist only, and runs as a non-root user", () => {
    assert.notInclude(runs(runtime).join("\n"), "npm run build")
    const install = runs(runtime).find((run) => /npm (ci|install)/.test(run))
    assert.isDefined(install)
    assert.include(install!, "--omit=dev")
    // @effect/platform-node's entry module imports redis, a peer of it.
    assert.notMatch(install!, /--omit=peer|--legacy-peer-deps/)

    const copies = of(runtime, "COPY").map(copyArgs)
    const fromBuild = copies.filter((copy) => copy.flags.get("from") === "build")
    assert.deepStrictEqual(
      fromBuild.map((copy) => copy.sources),
      [[`${workdir(build)}/dist`]]
    )
    const fromContext = copies.filter((copy) => !copy.flags.has("from")).flatMap((copy) => copy.sources)
    assert.sameMembers(fromContext, ["package.json", "package-lock.json", "bin"])

    const user = of(runtime, "USER").at(-1)?.args
    assert.match(user ?? "", /^[1-9]\d*(:\d+)?$/, "a numeric non-root user, which runAsNonRoot can check")
    const dockerignore = readFileSync(".dockerignore", "utf8").split("\n")
    for (const local of ["node_modules", "dist"]) assert.include(dockerignore, local, "nothing local leaks in")
  })

  it("its entry point is bin/aibrix-cache.js in exec form (PID 1 gets the signals), which runs the built code", () => {
    const entry = of(runtime, "ENTRYPOINT").at(-1)
    assert.isDefined(entry)
    assert.deepStrictEqual(execForm(entry!), ["node", "bin/aibrix-cache.js"])
    const command = of(runtime, "CMD").at(-1)
    assert.deepStrictEqual(execForm(command!)?.slice(0, 2), ["--host", "0.0.0.0"])
    // bin/ runs dist/src/main.js when it exists: where the build writes main.ts.
    const tsconfig = JSON.parse(readFileSync("tsconfig.build.json", "utf8")) as {
      readonly compilerOptions: { readonly outDir: string; readonly rootDir: string }
    }
    assert.deepStrictEqual(tsconfig.compilerOptions, { ...tsconfig.compilerOptions, outDir: "dist", rootDir: "." })
    assert.include(readFileSync("bin/aibrix-cache.js", "utf8"), '"../dist/src/main.js"')
    assert.isTrue(existsSync("src/main.ts"))
  })

  it("the runtime's manifest has every package the code imports, effect and @effect/platform-node included", () => {
    // The manifest rewrite the runtime stage runs before installing, run on a copy.
    const rewrite = runs(runtime)
      .map((run) => /node -e '([^']*)'/.exec(run)?.[1])
      .find((script) => script !== undefined)
    assert.isDefined(rewrite, "the runtime stage rewrites package.json with node -e")
    const dir = mkdtempSync(join(tmpdir(), "aibrix-image-"))
    try {
      writeFileSync(join(dir, "package.json"), readFileSync("package.json"))
      execFileSync(process.execPath, ["-e", rewrite!], { cwd: dir })
      const rewritten = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        readonly dependencies: Record<string, string>
        readonly devDependencies?: unknown
      }
      assert.isUndefined(rewritten.devDependencies)
      assert.includeMembers(Object.keys(packageJson.peerDependencies), ["effect", "@effect/platform-node"])
      assert.deepStrictEqual(rewritten.dependencies, { ...packageJson.dependencies, ...packageJson.peerDependencies })
      const imported = new Set(["src", "layers", "bin"].flatMap(sourceFiles).flatMap(importedPackages))
      assert.includeMembers([...imported], ["effect", "@effect/platform-node", "@kubernetes/client-node"])
      for (const name of imported) assert.property(rewritten.dependencies, name, `the image installs ${name}`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
