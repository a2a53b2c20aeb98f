/**
 * A ready tracing layer: Curator's spans (and any Effect spans of the
 * program) exported over OTLP/HTTP (JSON) by `@effect/opentelemetry`,
 * configured by the standard OpenTelemetry environment variables.
 *
 * @example
 * Pipeline.run(pipeline).pipe(Effect.provide(NodeCurator.layer()), Effect.provide(OtlpTracing.layer))
 */
import * as OtlpSerialization from "@effect/opentelemetry/OtlpSerialization"
import * as OtlpTracer from "@effect/opentelemetry/OtlpTracer"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Config, type ConfigError, Effect, Layer } from "effect"

/** The exporter's settings, as read from the environment. */
export interface Settings {
  /** Full traces URL: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, else `http://localhost:4318/v1/traces`. */
  readonly url: string
  /** `OTEL_SERVICE_NAME`, default `curator`. */
  readonly serviceName: string
  /** `OTEL_EXPORTER_OTLP_HEADERS` then `OTEL_EXPORTER_OTLP_TRACES_HEADERS` (`key=value,key=value`). */
  readonly headers: Readonly<Record<string, string>>
  /** `OTEL_RESOURCE_ATTRIBUTES` (`key=value,key=value`). */
  readonly resourceAttributes: Readonly<Record<string, string>>
  /** `OTEL_SDK_DISABLED=true` turns exporting off. */
  readonly disabled: boolean
}

/** Percent-decodes a value, keeping it as written when it is not valid percent-encoding. */
const decode = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** Parses the `key=value,key=value` lists of the OTEL_* variables (values may be percent-encoded). */
const keyValues = (text: string): Record<string, string> => {
  const pairs: Record<string, string> = {}
  for (const item of text.split(",")) {
    const at = item.indexOf("=")
    if (at <= 0) continue
    pairs[decode(item.slice(0, at).trim())] = decode(item.slice(at + 1).trim())
  }
  return pairs
}

const optional = (name: string) => Config.option(Config.string(name))

/** Reads the settings through `Config`, so a `ConfigProvider` can supply them. */
export const settings: Config.Config<Settings> = Config.all({
  tracesEndpoint: optional("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
  endpoint: Config.string("OTEL_EXPORTER_OTLP_ENDPOINT").pipe(Config.withDefault("http://localhost:4318")),
  serviceName: Config.string("OTEL_SERVICE_NAME").pipe(Config.withDefault("curator")),
  headers: Config.string("OTEL_EXPORTER_OTLP_HEADERS").pipe(Config.withDefault("")),
  tracesHeaders: Config.string("OTEL_EXPORTER_OTLP_TRACES_HEADERS").pipe(Config.withDefault("")),
  resourceAttributes: Config.string("OTEL_RESOURCE_ATTRIBUTES").pipe(Config.withDefault("")),
  // As the OpenTelemetry specification says: "true" in any case disables; any other value does not.
  disabled: Config.string("OTEL_SDK_DISABLED").pipe(
    Config.map((value) => value.trim().toLowerCase() === "true"),
    Config.withDefault(false)
  )
}).pipe(Config.map((env): Settings => ({
  url: env.tracesEndpoint._tag === "Some"
    ? env.tracesEndpoint.value
    : `${env.endpoint.replace(/\/+$/, "")}/v1/traces`,
  serviceName: env.serviceName,
  headers: { ...keyValues(env.headers), ...keyValues(env.tracesHeaders) },
  resourceAttributes: keyValues(env.resourceAttributes),
  disabled: env.disabled
})))

/** Exports spans over OTLP/HTTP as the OTEL_* variables say; does nothing when `OTEL_SDK_DISABLED=true`. */
export const layer: Layer.Layer<never, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.map(settings, (s) =>
    s.disabled
      ? Layer.empty
      : OtlpTracer.layer({
        url: s.url,
        headers: s.headers,
        resource: { serviceName: s.serviceName, attributes: s.resourceAttributes }
      }).pipe(Layer.provide(OtlpSerialization.layerJson), Layer.provide(NodeHttpClient.layerUndici)))
)
