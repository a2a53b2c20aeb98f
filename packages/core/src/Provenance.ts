/**
 * Provenance: the configuration document that identifies a pipeline, and its
 * SHA-256 hash. Equal configurations hash equal on every machine, because the
 * document is encoded canonically (RFC 8785, JSON Canonicalization Scheme)
 * before hashing.
 */
// Hashing is @noble/hashes' audited pure-JavaScript SHA-256: the same digest
// on any platform, with no `node:crypto` in core.
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js"
import canonicalize from "canonicalize"
import { Data, Either, ParseResult, Schema } from "effect"

/** A JSON value: what a component's params may hold. */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

/** A component's parameters: its provenance, recorded in the database. */
export type Params = { readonly [key: string]: Json }

/** The name and params of one component (source, filter or sink). */
export interface ComponentConfig {
  readonly name: string
  readonly params: Params
}

/** A pipeline's configuration document, as stored in `pipeline_runs.config_json`. */
export interface PipelineConfig {
  readonly source: ComponentConfig
  readonly filters: ReadonlyArray<ComponentConfig>
  readonly sink: ComponentConfig
}

/**
 * Thrown when a component is built with params that are not plain JSON
 * (a function, a class instance, `NaN`, `undefined`, a cycle...).
 * It names the component and the offending key, so it can be fixed at once.
 */
export class InvalidParams extends Data.TaggedError("InvalidParams")<{
  readonly component: string
  readonly key: string
  readonly reason: string
}> {
  override get message() {
    return `${this.component}: params.${this.key} ${this.reason}; params must be plain JSON (null, booleans, finite numbers, strings, arrays and plain objects)`
  }
}

const isPlainObject = (u: unknown): u is Record<string, unknown> => {
  if (typeof u !== "object" || u === null || Array.isArray(u)) return false
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

const plainObject = <A, I, R>(record: Schema.Schema<A, I, R>) =>
  Schema.declare([record], {
    decode: (record) => (input, options, ast) =>
      isPlainObject(input)
        ? ParseResult.decodeUnknown(record)(input, options)
        : ParseResult.fail(new ParseResult.Type(ast, input, describeNonJson(input))),
    encode: (record) => (input, options) => ParseResult.encodeUnknown(record)(input, options)
  })

const describeNonJson = (u: unknown): string => {
  if (typeof u === "function") return "is a function"
  if (typeof u === "object" && u !== null) {
    return `is an instance of ${u.constructor?.name ?? "a class"}`
  }
  return `is ${typeof u}`
}

/** The Schema of a JSON value. */
export const Json: Schema.Schema<Json> = Schema.Union(
  Schema.Null,
  Schema.Boolean,
  Schema.Number.pipe(Schema.finite({ message: () => "is not a finite number" })),
  Schema.String,
  Schema.Array(Schema.suspend(() => Json)),
  plainObject(Schema.Record({ key: Schema.String, value: Schema.suspend(() => Json) }))
).annotations({ identifier: "Json", message: (issue) => describeNonJson(issue.actual) })

const ParamsSchema = plainObject(Schema.Record({ key: Schema.String, value: Json }))

/** Finds a reference cycle, which Schema would otherwise recurse into forever. */
const findCycle = (value: unknown, path: ReadonlyArray<string>, ancestors: Set<unknown>): string | undefined => {
  if (typeof value !== "object" || value === null) return undefined
  if (ancestors.has(value)) return path.join(".")
  ancestors.add(value)
  for (const [key, child] of Object.entries(value)) {
    const found = findCycle(child, [...path, key], ancestors)
    if (found !== undefined) return found
  }
  ancestors.delete(value)
  return undefined
}

/**
 * Finds the first value that is not JSON, with its key path. Schema's report
 * of a failed union names the outermost key and its first member ("Expected
 * null"), not the offending value, so the value is walked here instead.
 */
const findNonJson = (
  value: unknown,
  path: ReadonlyArray<string>
): { readonly path: ReadonlyArray<string>; readonly reason: string } | undefined => {
  if (value === null || typeof value === "boolean" || typeof value === "string") return undefined
  if (typeof value === "number") return Number.isFinite(value) ? undefined : { path, reason: "is not a finite number" }
  if (!Array.isArray(value) && !isPlainObject(value)) return { path, reason: describeNonJson(value) }
  for (const [key, child] of Object.entries(value)) {
    const found = findNonJson(child, [...path, key])
    if (found !== undefined) return found
  }
  return undefined
}

/**
 * Checks that `params` is plain JSON and returns it; throws {@link InvalidParams}
 * naming `component` and the first offending key otherwise.
 */
export const validateParams = (component: string, params: unknown): Params => {
  const cycle = findCycle(params, [], new Set())
  if (cycle !== undefined) {
    throw new InvalidParams({ component, key: cycle, reason: "refers back to one of its parents (a cycle)" })
  }
  const decoded = Schema.decodeUnknownEither(ParamsSchema, { errors: "first" })(params)
  if (Either.isRight(decoded)) return decoded.right
  const found = isPlainObject(params) ? findNonJson(params, []) : { path: [], reason: describeNonJson(params) }
  const [issue] = found === undefined ? ParseResult.ArrayFormatter.formatErrorSync(decoded.left) : []
  const path = found?.path ?? issue?.path.map(String) ?? []
  throw new InvalidParams({
    component,
    key: path.length === 0 ? "(root)" : path.join("."),
    reason: found?.reason ?? issue?.message ?? "is not JSON"
  })
}

/** The canonical (RFC 8785) encoding of a configuration document. */
export const canonicalJson = (config: PipelineConfig): string => canonicalize(config) as string

/** The SHA-256 hash, in hex, of a configuration document's canonical encoding. */
export const hash = (config: PipelineConfig): string => sha256Hex(canonicalJson(config))

/** The SHA-256 of a text's UTF-8 bytes, in hex. */
export const sha256Hex = (text: string): string => bytesToHex(sha256(utf8ToBytes(text)))

/**
 * The canonical JSON (RFC 8785) of any JSON value, or undefined when the
 * value is not JSON (a function, a class instance, a cycle...).
 */
export const canonicalJsonOf = (value: unknown): string | undefined => {
  if (findCycle(value, [], new Set()) !== undefined) return undefined
  if (findNonJson(value, []) !== undefined) return undefined
  return canonicalize(value) as string | undefined
}
