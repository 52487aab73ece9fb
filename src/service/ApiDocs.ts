/**
 * The API's documents: `GET /openapi.json`, the OpenAPI 3.1 document of
 * `CacheApi`, and `GET /docs`, a page listing its operations for a reader.
 *
 * The page is plain HTML with inline styles, made here from the document: no
 * script, font or stylesheet from anywhere (Effect's Scalar and Swagger pages
 * fetch fonts and validators from the internet, which a cluster often cannot
 * reach and an operator may not want it to).
 */
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { OpenApi } from "effect/http-api"
import { CacheApi } from "./ServiceApi.ts"

export const OPENAPI_PATH = "/openapi.json"
export const DOCS_PATH = "/docs"

type Json = { readonly [key: string]: unknown }

const isJson = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

/** Text safe in an element or a double-quoted attribute. */
const escapeHtml = (text: string): string => text.replace(/[&<>"]/g, (char) => `&#${char.charCodeAt(0)};`)

/** A schema in a few words: its component's name, its type and fields, or the choices it allows. */
export const describeSchema = (schema: unknown, depth = 0): string => {
  if (!isJson(schema)) return "any"
  if (typeof schema["$ref"] === "string")
    return schema["$ref"]
      .split("/")
      .at(-1)!
      .replace(/Encoded$/, "")
  if (Array.isArray(schema["enum"])) return schema["enum"].map((value) => JSON.stringify(value)).join(" | ")
  for (const union of ["anyOf", "oneOf"]) {
    const members = schema[union]
    if (Array.isArray(members)) return members.map((member) => describeSchema(member, depth)).join(" | ")
  }
  if (schema["type"] === "array") return `array of ${describeSchema(schema["items"], depth)}`
  if (schema["type"] === "object") return describeObject(schema, depth)
  const limits = ["minLength", "maxLength", "pattern"]
    .filter((key) => schema[key] !== undefined)
    .map((key) => `${key} ${String(schema[key])}`)
  const type = typeof schema["type"] === "string" ? schema["type"] : "any"
  return limits.length === 0 ? type : `${type} (${limits.join(", ")})`
}

/** An object's fields, three levels deep; a record as the values it maps names to. */
const describeObject = (schema: Json, depth: number): string => {
  const properties = schema["properties"]
  if (isJson(properties) && Object.keys(properties).length > 0) {
    if (depth >= 3) return "object"
    const fields = Object.entries(properties).map(([name, field]) => `${name}: ${describeSchema(field, depth + 1)}`)
    return `{ ${fields.join(", ")} }`
  }
  return isJson(schema["additionalProperties"])
    ? `map of ${describeSchema(schema["additionalProperties"], depth)}`
    : "object"
}

/** Escaped text, with `code` in backquotes set as code. */
const prose = (text: string): string => escapeHtml(text).replace(/`([^`]*)`/g, "<code>$1</code>")

const list = (items: ReadonlyArray<string>): string =>
  items.length === 0 ? "" : `<ul>${items.map((item) => `<li>${item}</li>`).join("")}</ul>`

const operationHtml = (method: string, path: string, operation: OpenApi.OpenAPISpecOperation): string => {
  const parameters = operation.parameters.map(
    (parameter) =>
      `<code>${escapeHtml(parameter.name)}</code> (${parameter.in}${parameter.required ? ", required" : ""}): ` +
      escapeHtml(describeSchema(parameter.schema))
  )
  const responses = Object.entries(operation.responses).map(([status, response]) => {
    const content = Object.entries(response.content ?? {}).map(
      ([type, media]) => `${escapeHtml(type)}: ${escapeHtml(describeSchema(media.schema))}`
    )
    return `<strong>${status}</strong> ${escapeHtml(response.description)}${content.length === 0 ? "" : ` (${content.join("; ")})`}`
  })
  return [
    `<section id="${escapeHtml(operation.operationId)}">`,
    `<h2><span class="method">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></h2>`,
    operation.summary === undefined ? "" : `<p><strong>${prose(operation.summary)}</strong></p>`,
    operation.description === undefined ? "" : `<p>${prose(operation.description)}</p>`,
    parameters.length === 0 ? "" : `<h3>Parameters</h3>${list(parameters)}`,
    `<h3>Responses</h3>${list(responses)}`,
    "</section>"
  ].join("\n")
}

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code{font-family:ui-monospace,monospace;background:#f3f3f3;padding:0 .2em}
section{border-top:1px solid #ddd;padding-top:.5rem}h2{font-size:1.1rem}h3{font-size:.95rem;margin-bottom:0}
.method{display:inline-block;min-width:3.5em;color:#fff;background:#2a6;border-radius:3px;text-align:center;font-size:.85em}`

/** The docs page of an OpenAPI document: every operation with its parameters and responses. */
export const docsPage = (spec: OpenApi.OpenAPISpec): string => {
  const operations = Object.entries(spec.paths).flatMap(([path, item]) =>
    (["get", "put", "post", "delete", "patch", "head", "options", "trace"] as const).flatMap((method) => {
      const operation = item[method]
      return operation === undefined ? [] : [operationHtml(method, path, operation)]
    })
  )
  const title = escapeHtml(`${spec.info.title} ${spec.info.version}`)
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${title}</h1>
${spec.info.description === undefined ? "" : `<p>${prose(spec.info.description)}</p>`}
<p>The OpenAPI ${escapeHtml(spec.openapi)} document: <a href="${OPENAPI_PATH}">${OPENAPI_PATH}</a>.</p>
${operations.join("\n")}
</body>
</html>
`
}

/** `GET /docs`, the page made once, when the server starts. */
export const docsRoute = Layer.unwrap(
  Effect.sync(() => HttpRouter.add("GET", DOCS_PATH, HttpServerResponse.html(docsPage(OpenApi.fromApi(CacheApi)))))
)
