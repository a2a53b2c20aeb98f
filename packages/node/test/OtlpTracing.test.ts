/**
 * OTLP tracing configured by the OTEL_* variables: a real HTTP server on
 * 127.0.0.1 stands in for a collector and records what it receives; the
 * variables come from a `ConfigProvider`, never the process environment.
 */
import { Backend, CheckpointStore, Filter, Pipeline, Sink, Source } from "@curator/core"
import { OtlpTracing } from "@curator/node/otlp"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either, Layer, Logger, type Scope } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"

/** A request the collector received. */
interface Received {
  readonly method: string
  readonly path: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
}

/** An HTTP server answering 200 to everything and recording each request, closed with the scope. */
const collector: Effect.Effect<{ readonly url: string; readonly received: Array<Received> }, never, Scope.Scope> = Effect
  .acquireRelease(
    Effect.async<{ readonly server: http.Server; readonly url: string; readonly received: Array<Received> }>((resume) => {
      const received: Array<Received> = []
      const server = http.createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          received.push({
            method: request.method ?? "",
            path: request.url ?? "",
            headers: request.headers,
            body: Buffer.concat(chunks).toString("utf8")
          })
          response.writeHead(200, { "content-type": "application/json" })
          response.end("{}")
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ server, url: `http://127.0.0.1:${port}`, received }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

const Live = Layer.mergeAll(CheckpointStore.layerMemory, Backend.layerFibers, Logger.remove(Logger.defaultLogger))

const pipeline = Pipeline.from(Source.fromArray("Numbers", [1, 2, 3])).pipe(
  Pipeline.filter(Filter.map({ name: "Double", f: (n: number) => n * 2 })),
  Pipeline.write(Sink.drain({ name: "Drop", pathOf: (i) => [`/drop/${i}`] }))
)

/** Runs the pipeline with `OtlpTracing.layer` configured by `env`; the layer flushes its spans as it is released. */
const runTraced = (env: Record<string, string>) =>
  Pipeline.run(pipeline, { concurrency: 2 }).pipe(
    Effect.provide(OtlpTracing.layer),
    Effect.provide(Live),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
  )

interface OtlpAttribute {
  readonly key: string
  readonly value: { readonly stringValue?: string }
}
interface OtlpTraces {
  readonly resourceSpans: ReadonlyArray<{
    readonly resource: { readonly attributes: ReadonlyArray<OtlpAttribute> }
    readonly scopeSpans: ReadonlyArray<{ readonly spans: ReadonlyArray<{ readonly name: string }> }>
  }>
}

const spanNames = (received: ReadonlyArray<Received>) =>
  received.flatMap((request) =>
    (JSON.parse(request.body) as OtlpTraces).resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((span) => span.name)))
  )

const resourceAttributes = (request: Received) =>
  Object.fromEntries(
    (JSON.parse(request.body) as OtlpTraces).resourceSpans[0]!.resource.attributes.map((a) => [a.key, a.value.stringValue])
  )

describe("OtlpTracing", () => {
  describe("layer", () => {
    it.scopedLive("posts Curator's spans as JSON to OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces, with the service name", () =>
      Effect.gen(function*() {
        const { received, url } = yield* collector
        const result = yield* runTraced({
          OTEL_EXPORTER_OTLP_ENDPOINT: `${url}/`,
          OTEL_SERVICE_NAME: "curator-otlp-test",
          OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test"
        })
        expect(result.outcomes.every((o) => o._tag === "Completed")).toBe(true)

        expect(received.length).toBeGreaterThan(0)
        for (const request of received) {
          expect([request.method, request.path]).toEqual(["POST", "/v1/traces"])
          expect(request.headers["content-type"]).toMatch(/^application\/json/)
        }
        const names = spanNames(received)
        expect(names.filter((name) => name === "curator.run")).toHaveLength(1)
        expect(names.filter((name) => name === "curator.index")).toHaveLength(3)
        expect(names.filter((name) => name.startsWith("curator.stage"))).toHaveLength(9)
        expect(resourceAttributes(received[0]!)).toMatchObject({
          "service.name": "curator-otlp-test",
          "deployment.environment": "test"
        })
      }))

    it.scopedLive("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT wins over OTEL_EXPORTER_OTLP_ENDPOINT, used as the full URL", () =>
      Effect.gen(function*() {
        const { received, url } = yield* collector
        yield* runTraced({
          OTEL_EXPORTER_OTLP_ENDPOINT: `${url}/elsewhere`,
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${url}/custom/traces`
        })
        expect(received.length).toBeGreaterThan(0)
        expect(new Set(received.map((request) => request.path))).toEqual(new Set(["/custom/traces"]))
        expect(spanNames(received)).toContain("curator.run")
        // The default service name.
        expect(resourceAttributes(received[0]!)["service.name"]).toBe("curator")
      }))

    it.scopedLive("sends the headers of OTEL_EXPORTER_OTLP_HEADERS, percent-decoded, with the traces-only ones on top", () =>
      Effect.gen(function*() {
        const { received, url } = yield* collector
        yield* runTraced({
          OTEL_EXPORTER_OTLP_ENDPOINT: url,
          OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=s3cret, x-tenant=data%20team,x-scope=all",
          OTEL_EXPORTER_OTLP_TRACES_HEADERS: "x-scope=traces"
        })
        expect(received.length).toBeGreaterThan(0)
        for (const request of received) {
          expect(request.headers).toMatchObject({ "x-api-key": "s3cret", "x-tenant": "data team", "x-scope": "traces" })
        }
      }))

    it.scopedLive("OTEL_SDK_DISABLED=true sends nothing, and the run works", () =>
      Effect.gen(function*() {
        const { received, url } = yield* collector
        const result = yield* runTraced({ OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_SDK_DISABLED: "true" })
        expect(result.outcomes.map((o) => o._tag)).toEqual(["Completed", "Completed", "Completed"])
        expect(received).toEqual([])
      }))
  })

  describe("settings", () => {
    const read = (env: Record<string, string>) =>
      Effect.withConfigProvider(Effect.either(OtlpTracing.settings), ConfigProvider.fromMap(new Map(Object.entries(env))))

    it.effect("defaults: the local collector, service curator, no headers, enabled", () =>
      Effect.gen(function*() {
        expect(yield* read({})).toEqual(Either.right({
          url: "http://localhost:4318/v1/traces",
          serviceName: "curator",
          headers: {},
          resourceAttributes: {},
          disabled: false
        }))
      }))

    it.effect("the endpoint gets /v1/traces (without doubling a slash); the traces endpoint is taken as it is", () =>
      Effect.gen(function*() {
        const urlOf = (env: Record<string, string>) => Effect.map(Effect.flatten(read(env)), (s) => s.url)
        expect(yield* urlOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://otel.example.com:4318" }))
          .toBe("https://otel.example.com:4318/v1/traces")
        expect(yield* urlOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://otel.example.com/base//" }))
          .toBe("https://otel.example.com/base/v1/traces")
        expect(yield* urlOf({
          OTEL_EXPORTER_OTLP_ENDPOINT: "https://otel.example.com",
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://traces.example.com/ingest"
        })).toBe("https://traces.example.com/ingest")
      }))

    it.effect("headers and resource attributes: key=value lists, trimmed, percent-decoded, malformed items skipped", () =>
      Effect.gen(function*() {
        const settings = yield* Effect.flatten(read({
          OTEL_SERVICE_NAME: "shards",
          OTEL_EXPORTER_OTLP_HEADERS: " authorization=Bearer%20abc ,x-a=1,broken,=nokey",
          OTEL_EXPORTER_OTLP_TRACES_HEADERS: "x-a=2",
          OTEL_RESOURCE_ATTRIBUTES: "service.namespace=curation,host.name=node%2D7"
        }))
        expect(settings.serviceName).toBe("shards")
        expect(settings.headers).toEqual({ authorization: "Bearer abc", "x-a": "2" })
        expect(settings.resourceAttributes).toEqual({ "service.namespace": "curation", "host.name": "node-7" })
      }))

    it.effect("OTEL_SDK_DISABLED: true disables, false keeps exporting", () =>
      Effect.gen(function*() {
        const disabled = (value: string) =>
          Effect.map(Effect.flatten(read({ OTEL_SDK_DISABLED: value })), (s) => s.disabled)
        expect(yield* disabled("true")).toBe(true)
        expect(yield* disabled("false")).toBe(false)
      }))
  })
})
